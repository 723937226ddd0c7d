"""`--chart FILE.png`: lines of the measure for insights, bars for funnel steps (grouped,
one series per breakdown value, the top 10 by units entering), a heat-map for retention
(matplotlib, drawn off-screen)."""

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
    elif kind == "funnel" and document["steps"] and "breakdown" in document["steps"][0]:
        _funnel_by_value(axes, document["steps"])
        axes.set_ylabel(document["unit"])
        axes.set_title(f"funnel by {document['unit']}, window {document['window_seconds']} s")
    elif kind == "funnel":
        steps = document["steps"]
        bars = axes.bar([f"{n + 1}. {s['event']}" for n, s in enumerate(steps)], [s["units"] for s in steps])
        for bar, step in zip(bars, steps, strict=True):
            axes.annotate(f"{step['conversion_from_first']:.0%}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom")
        axes.set_ylabel(document["unit"])
        axes.set_title(f"funnel by {document['unit']}, window {document['window_seconds']} s")
    else:
        cohorts = document["cohorts"]
        width = max((len(c["retained"]) for c in cohorts), default=1)
        grid = [[(c["retained"][n] / c["size"]) if n < len(c["retained"]) and c["size"] else float("nan")
                 for n in range(width)] for c in cohorts] or [[float("nan")]]
        image = axes.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=1)
        axes.set_yticks(range(len(cohorts)), [" ".join(([] if "breakdown" not in c else [_label(c["breakdown"])])
                                                       + [f"{c['cohort_date']} ({c['size']})"]) for c in cohorts])
        axes.set_xlabel(f"{document['period']}s after birth")
        axes.set_title(f"retention by {document['unit']}")
        figure.colorbar(image, ax=axes, label="share retained")
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


SERIES = 10


def _label(value: object) -> str:
    return "null" if value is None else str(value)


def _funnel_by_value(axes, steps: list[dict]) -> None:  # noqa: ANN001
    """Grouped bars: per step, one bar a breakdown value, the SERIES values with the
    most units at the first step (ties: in the document's order)."""
    series: dict = {}
    for step in steps:
        series.setdefault(step["breakdown"], []).append(step["units"])
    top = sorted(series, key=lambda v: -series[v][0])[:SERIES]
    names = [s["event"] for s in steps[:len(series[top[0]])]]
    width = 0.8 / len(top)
    for n, value in enumerate(top):
        axes.bar([i + n * width for i in range(len(names))], series[value], width, label=_label(value))
    axes.set_xticks([i + 0.4 - width / 2 for i in range(len(names))], [f"{i + 1}. {e}" for i, e in enumerate(names)])
    axes.legend(fontsize="small")
