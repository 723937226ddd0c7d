"""Small charts as inline SVG: bars over days, no script and no library. Labels are
escaped; the numbers are ours."""

from __future__ import annotations

from datetime import date
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 180, 36, 22, 12


def day_bars(points: list[tuple[date, float]], label: str) -> Markup:
    """A bar a day, the axis from 0 to the largest value, first and last day labelled."""
    peak = max((value for _, value in points), default=0) or 1
    inner_w, inner_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    step = inner_w / max(len(points), 1)
    bars = []
    for n, (day, value) in enumerate(points):
        h = inner_h * value / peak
        x, y = LEFT + n * step, TOP + inner_h - h
        bars.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}">'
                    f"<title>{escape(day.isoformat())}: {value:g}</title></rect>")
    ticks = ""
    if points:
        ticks = (f'<text x="{LEFT}" y="{HEIGHT - 6}">{escape(points[0][0].isoformat())}</text>'
                 f'<text x="{WIDTH - 8}" y="{HEIGHT - 6}" text-anchor="end">{escape(points[-1][0].isoformat())}</text>')
    return Markup(
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>"
        f'<line x1="{LEFT}" y1="{TOP + inner_h}" x2="{WIDTH - 8}" y2="{TOP + inner_h}" class="axis"/>'
        f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{peak:g}</text>'
        f'<text x="{LEFT - 4}" y="{TOP + inner_h}" text-anchor="end">0</text>'
        + "".join(bars) + ticks + "</svg>"
    )
