"""The saved cohorts a group belongs to: each cohort of its key asked, through the
export's own selection, whether it selects that one id."""

from __future__ import annotations

from datetime import date, datetime

from etl.serve.cohorts import Cohort, list_cohorts
from etl.serve.export import Selection, all_results
from etl.store.warehouse import Warehouse


def member_cohorts(warehouse: Warehouse, group_key: str, data_group_id: int, group_id: str,
                   as_of: date, at: datetime | None = None) -> list[Cohort]:
    """The cohorts of `group_key` whose members include the group: its profile as it was
    at `at` (None: now), behaviours counted up to day `as_of`."""
    return [cohort for cohort in list_cohorts(warehouse) if cohort.group_key == group_key
            and all_results(warehouse, Selection(data_group_id, cohort.name, at=at, ids=(group_id,)),
                            ["$none"], as_of)]
