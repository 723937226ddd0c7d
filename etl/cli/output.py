"""Printing results as a table (for people), JSON or CSV (for machines and
spreadsheets: a text cell that would run as a formula gets a leading ').

A table never cuts a value: ids, dates, keys and numbers keep their whole width,
and only free-text columns (JSON properties, definitions, errors) wrap. When
stdout is not a terminal the table is printed at its full width. rich is imported
when a table is printed, not when the command line starts."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from etl.serve.spreadsheet import spreadsheet_cell

# Free-text columns that may wrap in a narrow terminal; every other column keeps its width.
WRAPPING = frozenset({"properties", "definition", "rejected_by_reason", "error", "display_name", "meaning"})
# A wrapping column keeps at least this many characters a line.
NARROWEST = 12


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def to_jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def print_json(document: Any, indent: int | None = None) -> None:
    sys.stdout.write(json.dumps(to_jsonable(document), ensure_ascii=False, indent=indent) + "\n")


def percent(share: float | None) -> str:
    """0.8936 -> '89.4%'."""
    return "" if share is None else f"{share:.1%}"


Formatter = Callable[[Any], str]


def print_rows(rows: Sequence[dict], columns: Sequence[str], fmt: Format, title: str | None = None, *,
               formats: Mapping[str, Formatter] | None = None, headers: Mapping[str, str] | None = None,
               csv_formats: Mapping[str, Formatter] | None = None) -> None:
    """One listing: JSON prints `{"rows": [...]}` and nothing else; `formats` (table) and
    `csv_formats` (CSV) turn a column's values into text, `headers` name table columns."""
    if fmt is Format.json:
        print_json({"rows": list(rows)})
    elif fmt is Format.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow([spreadsheet_cell(c) for c in columns])
        shown = csv_formats or {}
        for row in rows:
            writer.writerow([spreadsheet_cell(shown[c](row.get(c))) if c in shown
                             else spreadsheet_cell(row.get(c), _text(row.get(c))) for c in columns])
    else:
        width = _terminal_width()
        sys.stdout.write(render_table(rows, columns, title, formats=formats, headers=headers, width=width))


def print_feed(events: Sequence[dict]) -> None:
    sys.stdout.write(render_feed(events, _terminal_width()))


def render_feed(events: Sequence[dict], width: int | None = None) -> str:
    """An activity feed: a line an event (time, event, distinct_id), its event_id under it
    (ids never cut), then its properties as JSON, wrapped to a terminal `width` (None:
    one line)."""
    import textwrap

    lines = ["events (time  event  distinct_id; event_id and properties below)"]
    for item in events:
        lines.append("  ".join(_text(item.get(c)) for c in ("time", "event", "distinct_id")))
        lines.append(f"    event_id {_text(item.get('event_id'))}")
        text = _text(item.get("properties"))
        if width is None:
            lines.append("    " + text)
        else:
            lines += textwrap.wrap(text, max(width, 24), initial_indent="    ", subsequent_indent="    ",
                                   break_on_hyphens=False) or ["    "]
    return "\n".join(lines) + "\n"


def _terminal_width() -> int | None:
    """The terminal's width, or None when stdout is a pipe or a file."""
    from rich.console import Console

    console = Console()
    return console.width if console.is_terminal else None


def render_table(rows: Sequence[dict], columns: Sequence[str], title: str | None = None, *,
                 formats: Mapping[str, Formatter] | None = None, headers: Mapping[str, str] | None = None,
                 width: int | None = None) -> str:
    """The table as text for a terminal `width` columns wide (None: no terminal, full width)."""
    from rich import box
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    formats, headers = formats or {}, headers or {}
    cells = [[_cell(row.get(c), formats.get(c)) for c in columns] for row in rows]
    wraps = [c in WRAPPING or any(isinstance(r.get(c), dict | list) for r in rows) for c in columns]
    widest = [max([0] + [cell_len(line) for row in cells for line in row[n].splitlines()])
              for n in range(len(columns))]
    names = [_header(headers.get(c, c.replace("_", " ")), w) for c, w in zip(columns, widest, strict=True)]
    natural = [max([w] + [cell_len(line) for line in name.splitlines()]) for w, name in zip(widest, names, strict=True)]
    frame = 2 * (len(columns) - 1)  # two spaces between columns
    least = sum(min(w, NARROWEST) if wrap else w for w, wrap in zip(natural, wraps, strict=True)) + frame
    # The terminal's width if every id fits in it (the terminal shows a longer line wrapped,
    # never cut); without a terminal, the whole table on one line a row.
    full = sum(natural) + frame
    wide = full if width is None else max(width, least)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for n, column in enumerate(columns):
        values = [r.get(column) for r in rows if r.get(column) is not None]
        numeric = bool(values) and all(_is_number(v) for v in values)
        table.add_column(Text(names[n]), no_wrap=not wraps[n], overflow="fold",
                         justify="right" if numeric else "left", min_width=None if wraps[n] else natural[n])
    for row in cells:
        table.add_row(*[Text(text) for text in row])
    console = Console(width=wide, file=io.StringIO(), force_terminal=width is not None and sys.stdout.isatty(),
                      highlight=False)
    console.print(table)
    lines = [line.rstrip() for line in console.file.getvalue().splitlines()]
    return "\n".join(([title] if title else []) + lines) + "\n"


def _header(name: str, width: int) -> str:
    """A header folded at its spaces to the width of the column's values (or its longest word)."""
    import textwrap

    return textwrap.fill(name, max([width] + [len(word) for word in name.split()])) or name


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: Any, formatter: Formatter | None = None) -> str:
    """A table cell: a float with at most two decimals, a boolean as JSON writes it."""
    if formatter is not None:
        return formatter(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return _text(value)


def _text(value: Any) -> str:
    """A value as text, whole (CSV's cells, and a table's by default)."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(to_jsonable(value), ensure_ascii=False)
    return str(to_jsonable(value))
