"""`--chart FILE.png`: lines of the measure for insights, bars for funnel steps (grouped,
one series per breakdown value, the top 10 by units entering), a heat-map for retention,
stacked bars of groups per state for lifecycle (matplotlib, drawn off-screen).

A chart has to read without the command that drew it: its title names the report, the
unit and the measure, a second line the date range and the filters; axes start at zero
with whole-number ticks for counts; a legend sits outside the plot and holds at most
MAX_SERIES lines."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from etl.serve.durations import format_duration

MAX_SERIES = 10
# At most this many buckets get a labelled tick each.
MAX_TICKS = 16
OTHER = "(other)"
NONE = "(none)"
FORMATS = (".png", ".svg", ".pdf")
# Measures whose values add up across breakdown values (the rest can be one summed line).
ADDITIVE = ("events",)


def check_target(path: str) -> Path:
    """The chart's file, checked before any work: ValueError for a folder that does not
    exist or a format matplotlib is not asked to write."""
    target = Path(path)
    if target.suffix.lower() not in FORMATS:
        raise ValueError(f"expected a file ending in {', '.join(FORMATS)}, got {path!r}")
    if not target.parent.is_dir():
        raise ValueError(f"folder {str(target.parent)!r} does not exist (create it first)")
    return target


def draw(document: dict, path: str, caption: str = "") -> Path:
    """Draw the report to `path`; returns the path written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = check_target(path)
    kind = document["report"]
    painter = {"insights": _insights, "funnel": _funnel, "retention": _retention, "lifecycle": _lifecycle}[kind]
    figure, axes = plt.subplots(figsize=(10, 5), layout="constrained")
    title = painter(figure, axes, document)
    axes.set_title(f"{title}\n{caption}" if caption else title, fontsize="medium", loc="left")
    figure.savefig(target, dpi=110)
    plt.close(figure)
    return target


def _label(value: object) -> str:
    return NONE if value is None else str(value)


def _series(document: dict) -> tuple[dict[str, list[float]], str | None]:
    """Breakdown value -> its values per bucket, the top MAX_SERIES by total (an (other)
    line sums the rest of an additive measure); and the legend's title when values were
    folded or left out."""
    lines: dict[object, list[float]] = {}
    for row in document["rows"]:
        lines.setdefault(row["breakdown"], []).append(row["value"] or 0)
    if len(lines) <= MAX_SERIES:
        return {_label(k): v for k, v in lines.items()}, None
    additive = document["measure"] in ADDITIVE or document["measure"].startswith("sum")
    ranked = sorted((k for k in lines if k != OTHER), key=lambda k: (-sum(lines[k]), k is None, str(k)))
    keep = ranked[:MAX_SERIES - 1] if additive else ranked[:MAX_SERIES]
    rest = [k for k in lines if k not in keep]
    kept = {_label(k): lines[k] for k in keep}
    if additive:
        kept[OTHER] = [sum(values) for values in zip(*(lines[k] for k in rest), strict=True)]
        return kept, f"top {len(keep)} of {len(lines)} values,\nthe rest as {OTHER}"
    return kept, f"top {len(keep)} of {len(lines)} values\n({len(rest)} not drawn)"


def _insights(figure, axes, document: dict) -> str:  # noqa: ANN001
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import MaxNLocator

    dates = sorted({date.fromisoformat(row["date"]) for row in document["rows"]})
    series, folded = _series(document)
    for name, values in series.items():
        axes.plot(dates, values, marker="o", markersize=4 if len(dates) > 1 else 8, linewidth=1.5, label=name)
    if len(dates) <= MAX_TICKS:  # a tick a bucket, labelled as the table labels it
        pattern = "%b %Y" if document["interval"] == "month" else "%b %d"
        axes.set_xticks(dates, [d.strftime(pattern) for d in dates])
    else:
        locator = AutoDateLocator(minticks=3, maxticks=MAX_TICKS)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    if len(dates) == 1:  # one point: a bucket either side, not a zoom into hours
        axes.set_xlim(dates[0] - timedelta(days=1), dates[0] + timedelta(days=1))
        for values in series.values():
            axes.annotate(f"{values[0]:g}", (dates[0], values[0]), xytext=(6, 0), textcoords="offset points",
                          va="center", fontsize="small")
    what = {"events": "events", "uniques": f"unique {document['unit']}"}.get(document["measure"],
                                                                              document["measure"])
    top = max((v for values in series.values() for v in values), default=0)
    axes.set_ylim(0, top * 1.1 if top > 0 else 1)
    if document["measure"] in ("events", "uniques"):
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(what)
    axes.grid(axis="y", alpha=0.3)
    if len(series) > 1 or folded:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False,
                    title=folded, title_fontsize="small", alignment="left")
    return f"insights by {document['unit']}: {document['event']}, {what} per {document['interval']}"


def _funnel(figure, axes, document: dict) -> str:  # noqa: ANN001
    import textwrap

    from matplotlib.ticker import MaxNLocator

    steps = document["steps"]
    if steps and "breakdown" in steps[0]:
        _funnel_by_value(axes, steps)
        axes.set_ylabel(document["unit"])
        return f"funnel by {document['unit']}"
    names = [textwrap.fill(f"{n + 1}. {s['event']}", 18) for n, s in enumerate(steps)]
    bars = axes.bar(names, [s["units"] for s in steps], color="tab:blue")
    for bar, step, n in zip(bars, steps, range(len(steps)), strict=True):
        text = f"{step['units']}\n{step['conversion_from_first']:.1%} of step 1"
        if n and step["median_seconds_to_convert"] is not None:
            text += f"\nmedian {format_duration(step['median_seconds_to_convert'])}"
        axes.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                      fontsize="small", xytext=(0, 2), textcoords="offset points")
    top = max((s["units"] for s in steps), default=0)
    axes.set_ylim(0, top * 1.3 if top else 1)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(document["unit"])
    axes.grid(axis="y", alpha=0.3)
    return f"funnel by {document['unit']}"


def _funnel_by_value(axes, steps: list[dict]) -> None:  # noqa: ANN001
    """Grouped bars: per step, one bar a breakdown value, the MAX_SERIES values with the
    most units at the first step (ties: in the document's order); the legend outside."""
    import textwrap

    from matplotlib.ticker import MaxNLocator

    series: dict = {}
    for step in steps:
        series.setdefault(step["breakdown"], []).append(step["units"])
    top = sorted(series, key=lambda v: -series[v][0])[:MAX_SERIES]
    names = [s["event"] for s in steps[:len(series[top[0]])]]
    width = 0.8 / len(top)
    for n, value in enumerate(top):
        axes.bar([i + n * width for i in range(len(names))], series[value], width, label=_label(value))
    axes.set_xticks([i + 0.4 - width / 2 for i in range(len(names))],
                    [textwrap.fill(f"{i + 1}. {e}", 18) for i, e in enumerate(names)])
    axes.set_ylim(0, max(max(v) for v in series.values()) * 1.1 or 1)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(axis="y", alpha=0.3)
    title = f"top {len(top)} of {len(series)} values" if len(series) > len(top) else None
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False,
                title=title, title_fontsize="small", alignment="left")


def _retention(figure, axes, document: dict) -> str:  # noqa: ANN001
    cohorts = document["cohorts"]
    width = max((len(c["retained"]) for c in cohorts), default=1)
    grid = [[(c["retained"][n] / c["size"]) if n < len(c["retained"]) and c["size"] else float("nan")
             for n in range(width)] for c in cohorts] or [[float("nan")]]
    image = axes.imshow(grid, aspect="auto", cmap="Blues", vmin=0, vmax=1)
    for row, cohort in enumerate(cohorts):
        for n, count in enumerate(cohort["retained"]):
            share = grid[row][n]
            if share == share:  # not NaN
                axes.text(n, row, f"{share:.0%}\n{count}", ha="center", va="center", fontsize="small",
                          color="white" if share > 0.6 else "black")
    axes.set_xticks(range(width), [str(n) for n in range(width)])
    axes.set_yticks(range(len(cohorts)), [" ".join(([] if "breakdown" not in c else [_label(c["breakdown"])])
                                                   + [f"{c['cohort_date']} ({c['size']})"]) for c in cohorts])
    axes.set_xlabel(f"{document['period']}s after the first event")
    axes.set_ylabel("cohort (size)")
    figure.colorbar(image, ax=axes, label="share retained", format="{x:.0%}")
    return f"retention by {document['unit']}, per {document['period']}"


def _lifecycle(figure, axes, document: dict) -> str:  # noqa: ANN001
    """One bar a day, groups stacked by state (the report's state columns, in order)."""
    from matplotlib.ticker import MaxNLocator

    from etl.serve.health import REPORT_STATES

    days = [date.fromisoformat(str(row["date"])) for row in document["rows"]]
    bottom = [0] * len(days)
    for state in REPORT_STATES:
        counts = [row[state] for row in document["rows"]]
        axes.bar(days, counts, bottom=bottom, label=state, width=0.8)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    if len(days) <= MAX_TICKS:
        axes.set_xticks(days, [d.strftime("%b %d") for d in days])
    axes.set_ylim(0, max(bottom, default=0) * 1.1 or 1)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(f"groups of {document['unit']}")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    return f"lifecycle of {document['unit']}, groups per state per day"
