"""Drill-down on DuckDB and PostgreSQL: the units behind a funnel step, a retention
cell and an insights date, exact lists that agree with the reports' own counts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from etl.errors import EtlError
from etl.model.keys import add_key
from etl.run.day import run_day
from etl.serve.drilldown import funnel_units, insights_units, parse_cohort_period, retention_units
from etl.serve.reports import Scope, funnel, retention
from tests.sql.test_group_activity import SETUP, at
from tests.support import event, write_jsonl

D1 = date(2024, 6, 3)  # a Monday
D2, D3 = D1 + timedelta(1), D1 + timedelta(2)
STEPS = ["Visit", "Signup", "Buy"]
WEEK = 7 * 86_400


@pytest.fixture
def journeys(settings, warehouse, lake) -> None:  # noqa: ANN001
    """u1 (acme) visits, signs up and buys; u2 (globex) visits and signs up two days later;
    u3 (initech) only visits; u4 (hooli) signs up without visiting."""
    add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
    dumps = {
        D1: [event("Visit", "u1", at(D1), "v1", company_id="acme"),
             event("Visit", "u2", at(D1), "v2", company_id="globex"),
             event("Visit", "u3", at(D1), "v3", company_id="initech"),
             event("Signup", "u4", at(D1), "s4", company_id="hooli")],
        D2: [event("Signup", "u1", at(D2), "s1", company_id="acme"),
             event("Buy", "u1", at(D2, 60), "b1", company_id="acme")],
        D3: [event("Signup", "u2", at(D3), "s2", company_id="globex")],
    }
    for day, records in dumps.items():
        write_jsonl(lake, f"events/dt={day}/a.jsonl", records)
        run_day(settings, warehouse, lake, day)


@pytest.mark.usefixtures("journeys")
@pytest.mark.parametrize(("by", "names"), [(None, ["u1", "u2", "u3"]), ("company_id", ["acme", "globex", "initech"])])
def test_funnel_units_agree_with_the_funnel(warehouse, by, names) -> None:  # noqa: ANN001
    scope = Scope(by)
    first, second, third = names

    def units(step: int, converted: bool = False) -> list[str]:
        return funnel_units(warehouse, STEPS, WEEK, D1, D3, scope, step, converted)["units"]

    assert units(2) == [third]                      # visited, never signed up
    assert units(3) == [second]                     # signed up, never bought
    assert units(1, converted=True) == [first, second, third]
    assert units(2, converted=True) == [first, second]
    assert units(3, converted=True) == [first]
    counts = [s["units"] for s in funnel(warehouse, STEPS, WEEK, D1, D3, scope)["steps"]]
    assert counts == [len(units(n, converted=True)) for n in (1, 2, 3)]
    assert [counts[n - 2] - counts[n - 1] for n in (2, 3)] == [len(units(n)) for n in (2, 3)]
    # a one-day window: u2's signup two days after the visit is out of it
    assert funnel_units(warehouse, STEPS, 86_400, D1, D3, scope, 2)["units"] == [second, third]


@pytest.mark.usefixtures("journeys")
def test_funnel_units_document_and_errors(warehouse) -> None:  # noqa: ANN001
    assert funnel_units(warehouse, STEPS, WEEK, D1, D3, Scope("company_id"), 3) == {
        "report": "funnel", "unit": "company_id", "step": 3, "event": "Buy", "converted": False,
        "units": ["globex"]}
    with pytest.raises(EtlError, match=r"^--list-units 4: the funnel's steps are 1 to 3$"):
        funnel_units(warehouse, STEPS, WEEK, D1, D3, Scope(), 4)
    with pytest.raises(EtlError, match=r"^--list-units 1 lists who dropped before step 1"):
        funnel_units(warehouse, STEPS, WEEK, D1, D3, Scope(), 1)


@pytest.mark.usefixtures("journeys")
def test_retention_units_agree_with_retention(warehouse) -> None:  # noqa: ANN001
    report = retention(warehouse, "Visit", "Signup", D1, D3, Scope("company_id"))
    assert report["cohorts"] == [{"cohort_date": "2024-06-03", "size": 3, "retained": [0, 1, 1]}]
    cells = [retention_units(warehouse, "Visit", "Signup", D1, D3, Scope("company_id"), D1, n)["units"]
             for n in range(3)]
    assert cells == [[], ["acme"], ["globex"]]
    assert retention_units(warehouse, "Visit", "Signup", D1, D3, Scope(), D1, 2, unit="day")["units"] == ["u2"]
    week = retention_units(warehouse, "Visit", "Signup", D1, D3, Scope(), D1, 0, unit="week")
    assert week == {"report": "retention", "unit": "users", "cohort_date": D1, "period": 0, "units": ["u1", "u2"]}
    with pytest.raises(EtlError, match=r"^--list-units: cohort 2024-06-03 has days 0 to 2 up to --to 2024-06-05, not 3$"):
        retention_units(warehouse, "Visit", "Signup", D1, D3, Scope(), D1, 3)
    with pytest.raises(EtlError, match=r"^--list-units: cohort date 2024-06-06 is outside --from 2024-06-03"):
        retention_units(warehouse, "Visit", "Signup", D1, D3, Scope(), D3 + timedelta(1), 0)


def test_parse_cohort_period() -> None:
    assert parse_cohort_period("2024-06-03:2") == (D1, 2)
    with pytest.raises(EtlError, match=r"^--list-units: expected COHORT_DATE:PERIOD such as 2026-10-05:1, got '2024-06-03'$"):
        parse_cohort_period("2024-06-03")
    # int() and date.fromisoformat() alone took these as 10, 3, 2024-06-03 and a week date
    for text in ("2024-06-03:1_0", "2024-06-03:\u0663", "20240603:1", "2024-W23-1:1", "2024-06-31:1",
                 "2024-06-03:-1", "2024-06-03: 1"):
        with pytest.raises(EtlError, match=r"^--list-units: expected COHORT_DATE:PERIOD"):
            parse_cohort_period(text)


@pytest.mark.usefixtures("journeys")
def test_insights_units(warehouse) -> None:  # noqa: ANN001
    assert insights_units(warehouse, "Visit", D1, D3, Scope("company_id"), D1)["units"] == ["acme", "globex", "initech"]
    assert insights_units(warehouse, "Signup", D1, D3, Scope(), D1)["units"] == ["u4"]
    assert insights_units(warehouse, "Signup", D1, D3, Scope(), D1, interval="week")["units"] == ["u1", "u2", "u4"]
    assert insights_units(warehouse, "Visit", D1, D3, Scope("company_id", where='properties["$insert_id"] == "v2"'),
                          D1)["units"] == ["globex"]
    assert insights_units(warehouse, "Visit", D1, D3, Scope(), D2)["units"] == []
    with pytest.raises(EtlError, match=r"^--list-units 2024-06-04: not a week of the report; its weeks start on 2024-06-03$"):
        insights_units(warehouse, "Visit", D1, D3, Scope(), D2, interval="week")
