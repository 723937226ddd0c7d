"""Layer 1: a funnel broken down charts one bar series a value, the ten entering most."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from etl.cli.charts import _funnel_by_value, draw  # noqa: E402


def steps_of(values: dict) -> list[dict]:
    return [{"breakdown": value, "event": event, "units": units, "conversion_from_first": 0.0}
            for value, counts in values.items() for event, units in zip(["Open", "Buy"], counts, strict=True)]


def test_a_funnel_by_value_draws_the_ten_values_with_most_units_entering() -> None:
    values = {f"v{n:02d}": [n, n // 2] for n in range(12)} | {None: [5, 1], "(other)": [30, 3]}
    figure, axes = plt.subplots()
    _funnel_by_value(axes, steps_of(values))
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    # by units at the first step; v05 ties with null and comes first, as listed
    assert legend == ["(other)", "v11", "v10", "v09", "v08", "v07", "v06", "v05", "(none)", "v04"]
    assert [bar.get_height() for bar in axes.patches[:4]] == [30, 3, 11, 5]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["1. Open", "2. Buy"]
    plt.close(figure)


def test_a_funnel_and_retention_by_value_draw_to_a_png(tmp_path) -> None:  # noqa: ANN001
    draw({"report": "funnel", "unit": "users", "window_seconds": 60, "steps": steps_of({"a": [2, 1], None: [1, 0]})},
         str(tmp_path / "f.png"))
    draw({"report": "retention", "unit": "users", "period": "day",
          "cohorts": [{"breakdown": "a", "cohort_date": "2026-05-01", "size": 2, "retained": [2, 1]}]},
         str(tmp_path / "r.png"))
    assert (tmp_path / "f.png").read_bytes()[:4] == (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_an_insights_title_names_its_unit_whatever_the_measure() -> None:
    from etl.cli.charts import _insights

    rows = [{"date": "2026-09-28", "breakdown": None, "events": 3, "uniques": 2, "value": 11.5}]
    figure, axes = plt.subplots()
    title = _insights(figure, axes, {"report": "insights", "unit": "company_id", "event": "Purchase",
                                      "measure": "sum:amount", "interval": "week", "rows": rows})
    assert title == "insights by company_id: Purchase, sum:amount per week"  # the unit was missing
    plt.close(figure)
