"""`status` lists the lake once (issue 21): ListedLake answers each day's listing as the
lake itself would, through the same `day_listings` rule as a run, on a folder and on S3."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from etl.ingest.landing import day_listings
from etl.serve.status import ListedLake, lake_days
from etl.store.lake import LocalLake, S3Lake

KEYS = [
    "events/dt=2026-10-01/part-0000.jsonl.gz", "events/dt=2026-10-01/_SUCCESS",
    "events/dt=2026-10-01/_SUCCESS.tmp", "events/dt=2026-10-01/sub/part-9.jsonl",
    "events/dt=2026-10-02/a.jsonl", "events/dt=2026-10-021/not-the-2nd.jsonl",
    "groups/dt=2026-10-02/g.jsonl", "people/dt=2026-10-03/p.jsonl", "events/stray.jsonl",
    "exports/cohort/dt=2026-10-01/part-0000.jsonl",
]


class Counting:
    """A lake that counts its listings."""

    def __init__(self, lake: LocalLake | S3Lake) -> None:
        self.lake, self.url = lake, lake.url
        self.listed: list[str] = []

    def list(self, prefix: str):  # noqa: ANN201
        self.listed.append(prefix)
        return self.lake.list(prefix)


@pytest.fixture(params=["folder", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Counting:
    if request.param == "folder":
        store = LocalLake(tmp_path)
    else:
        store = S3Lake(request.getfixturevalue("s3_bucket"), "lake")
    for n, key in enumerate(KEYS):
        store.write(key, b"x" * n)
    return Counting(store)


@pytest.mark.parametrize("marker", [None, "_SUCCESS"])
def test_each_day_lists_as_the_lake_does(lake: Counting, marker: str | None) -> None:
    listed = ListedLake(lake)
    assert lake.listed == ["events/", "groups/", "people/"]
    for day in [date(2026, 10, d) for d in (1, 2, 3, 4)]:
        assert day_listings(listed, day, marker) == day_listings(lake, day, marker)
    assert lake_days(listed) == lake_days(lake) == {date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)}
    assert listed.list("events/dt=2026-10-0") == lake.list("events/dt=2026-10-0")
    assert lake.listed.count("events/") == 2  # once for ListedLake, once for lake_days(lake) above


def test_a_day_keeps_every_object_under_its_folder(lake: Counting) -> None:
    keys = [o.key for o in ListedLake(lake).list("events/dt=2026-10-01/")]
    assert keys == ["events/dt=2026-10-01/_SUCCESS", "events/dt=2026-10-01/_SUCCESS.tmp",
                    "events/dt=2026-10-01/part-0000.jsonl.gz", "events/dt=2026-10-01/sub/part-9.jsonl"]
