"""Printing results as a table (for people), JSON or CSV (for machines and
spreadsheets: a text cell that would run as a formula gets a leading ')."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

from etl.serve.spreadsheet import spreadsheet_cell


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


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(document), ensure_ascii=False) + "\n")


def print_rows(rows: Sequence[dict], columns: Sequence[str], fmt: Format, title: str | None = None) -> None:
    """One listing: JSON prints `{"rows": [...]}` and nothing else."""
    if fmt is Format.json:
        print_json({"rows": list(rows)})
    elif fmt is Format.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow([spreadsheet_cell(c) for c in columns])
        for row in rows:
            writer.writerow([spreadsheet_cell(row.get(c), _cell(row.get(c))) for c in columns])
    else:
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*[_cell(row.get(c)) for c in columns])
        Console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(to_jsonable(value), ensure_ascii=False)
    return str(to_jsonable(value))
