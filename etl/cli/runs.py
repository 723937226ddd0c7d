"""Running days from the command line: the day-runner with a progress bar."""

from __future__ import annotations

from datetime import date

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from etl.cli.interrupts import stopped_by_ctrl_c
from etl.config import Settings
from etl.errors import Interrupted

err = Console(stderr=True)


def run_days(settings: Settings, days: list[date], allow_empty: bool = False,
             allow_shrink: bool = False) -> list:
    """Run days in order, each through the same `run_day` as the daily DAG's task, with
    a progress bar on a terminal (bytes read per day). Every day of a range must have
    landed before the first one runs: a mistyped range stops before it writes anything.
    Ctrl-C stops with Interrupted naming the day rolled back and the days written."""
    results: list = []
    written: list[date] = []
    try:
        _run_days(settings, days, allow_empty, allow_shrink, results, written)
    except BaseException as error:
        if not stopped_by_ctrl_c(error):
            raise
        raise Interrupted(interrupted_message(days, written)) from None
    return results


def interrupted_message(days: list[date], done: list[date]) -> str:
    """One line: the day whose transaction was rolled back, and the days already written."""
    if len(done) == len(days):
        return "interrupted; every day was written"
    line = f"interrupted; nothing of day {days[len(done)]} was written"
    if done:
        span = str(done[0]) if len(done) == 1 else f"{done[0]} to {done[-1]}"
        line += f" ({len(done)} day{'s' if len(done) > 1 else ''} before it {'were' if len(done) > 1 else 'was'} " \
                f"written: {span})"
    return line


def _run_days(settings: Settings, days: list[date], allow_empty: bool, allow_shrink: bool,
              results: list, written: list[date]) -> None:
    from etl.run.day import lake_listings, open_stores, run_day

    with open_stores(settings) as (warehouse, lake), Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        console=err, disable=not err.is_terminal, transient=True,
    ) as progress:
        if not allow_empty and len(days) > 1:
            _refuse_days_not_landed(settings, lake, days)
        for day in days:
            listings = lake_listings(settings, lake, day)  # listed once: the bar's total and the run
            total = sum(o.size for o in listings["events"])
            task = progress.add_task(f"load {day}", total=total or None)
            results.append(
                run_day(settings, warehouse, lake, day,
                        progress=lambda n, task=task: progress.advance(task, n),
                        # the day is written once its transaction commits, whatever comes after
                        hook=lambda mark, day=day: written.append(day) if mark == "committed" else None,
                        allow_empty=allow_empty, allow_shrink=allow_shrink, listings=listings)
            )
            progress.remove_task(task)


def _refuse_days_not_landed(settings: Settings, lake, days: list[date]) -> None:  # noqa: ANN001
    from etl.errors import NotLandedError
    from etl.run.day import check_landed, lake_listings

    missing = []
    for day in days:
        try:
            check_landed(settings, lake, day, lake_listings(settings, lake, day))
        except NotLandedError:
            missing.append(day.isoformat())
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise NotLandedError(f"{len(missing)} of the {len(days)} days have not landed in the lake {lake.url} "
                             f"({shown}); nothing was run: check the range, or run with --allow-empty "
                             "to load them as empty days")
