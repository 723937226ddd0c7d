"""Running days from the command line: the day-runner with a progress bar."""

from __future__ import annotations

from datetime import date

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from etl.config import Settings

err = Console(stderr=True)


def run_days(settings: Settings, days: list[date]) -> list:
    """Run days in order, each through the same `run_day` as the daily DAG's task, with
    a progress bar on a terminal (bytes read per day)."""
    from etl.run.day import open_stores, run_day
    from etl.store.lake import partition_prefix

    results = []
    with open_stores(settings) as (warehouse, lake), Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        console=err, disable=not err.is_terminal, transient=True,
    ) as progress:
        for day in days:
            total = sum(o.size for o in lake.list(partition_prefix("events", day.isoformat())))
            task = progress.add_task(f"load {day}", total=total or None)
            results.append(
                run_day(settings, warehouse, lake, day,
                        progress=lambda n, task=task: progress.advance(task, n))
            )
            progress.remove_task(task)
    return results
