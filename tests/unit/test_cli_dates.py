"""The CLI's YYYY-MM-DD options take exactly that form."""

from __future__ import annotations

from datetime import date

import pytest
import typer

from etl.cli.commands import _date


def test_a_date_option_is_yyyy_mm_dd_only() -> None:
    assert _date("2026-10-05", "--date") == date(2026, 10, 5)
    # date.fromisoformat alone read these as 2026-10-05 and a Monday of week 40
    for text in ("20261005", "2026-W40-1", "2026-278", "2026-10-5", "2026-10-32"):
        with pytest.raises(typer.BadParameter, match=f"^expected YYYY-MM-DD, got '{text}'$"):
            _date(text, "--list-units")
