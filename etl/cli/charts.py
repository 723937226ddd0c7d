"""`--chart FILE.png`: lines of the measure for insights, bars for funnel steps, a heat-map
for retention, stacked bars of groups per state for lifecycle (matplotlib, drawn off-screen)."""

from __future__ import annotations

from pathlib import Path


def draw(document: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.5))
    kind = document["report"]
    if kind == "insights":
        series: dict = {}
        for row in document["rows"]:
            series.setdefault(row["breakdown"], []).append((row["date"], row["value"]))
        for value, points in series.items():
            axes.plot([d for d, _ in points], [n for _, n in points], marker="o",
                      label="all" if value is None else str(value))
        what = {"events": "events", "uniques": f"unique {document['unit']}"}.get(document["measure"],
                                                                                  document["measure"])
        axes.set_ylabel(what)
        axes.set_title(f"{document['event']}: {what} per {document['interval']}")
        axes.tick_params(axis="x", rotation=45)
        if len(series) > 1:
            axes.legend(fontsize="small")
    elif kind == "funnel":
        steps = document["steps"]
        bars = axes.bar([f"{n + 1}. {s['event']}" for n, s in enumerate(steps)], [s["units"] for s in steps])
        for bar, step in zip(bars, steps, strict=True):
            axes.annotate(f"{step['conversion_from_first']:.0%}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom")
        axes.set_ylabel(document["unit"])
        axes.set_title(f"funnel by {document['unit']}, window {document['window_seconds']} s")
    elif kind == "lifecycle":
        _stacked_states(axes, document)
    else:
        cohorts = document["cohorts"]
        width = max((len(c["retained"]) for c in cohorts), default=1)
        grid = [[(c["retained"][n] / c["size"]) if n < len(c["retained"]) and c["size"] else float("nan")
                 for n in range(width)] for c in cohorts] or [[float("nan")]]
        image = axes.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=1)
        axes.set_yticks(range(len(cohorts)), [f"{c['cohort_date']} ({c['size']})" for c in cohorts])
        axes.set_xlabel(f"{document['period']}s after birth")
        axes.set_title(f"retention by {document['unit']}")
        figure.colorbar(image, ax=axes, label="share retained")
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _stacked_states(axes, document: dict) -> None:  # noqa: ANN001
    """Lifecycle: one bar a day, groups stacked by state (states as the report's columns)."""
    from etl.serve.health import REPORT_STATES

    days = [str(row["date"]) for row in document["rows"]]
    bottom = [0] * len(days)
    for state in REPORT_STATES:
        counts = [row[state] for row in document["rows"]]
        axes.bar(days, counts, bottom=bottom, label=state)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    axes.set_ylabel(f"groups of {document['unit']}")
    axes.set_title(f"lifecycle of {document['unit']} per day")
    axes.tick_params(axis="x", rotation=45)
    axes.legend(fontsize="small")
