"""Layer 1: the report templates (sql/serve/*.sql) render to CTE chains made of
named pieces, on both dialects, with nothing left unfilled and nothing but
bound parameters for values."""

from __future__ import annotations

import re

import jinja2
import pytest

from etl.serve.reports import Breakdown
from etl.store.sql import render_sql

DIALECTS = ["duckdb", "postgresql"]


def ctes(sql: str) -> list[str]:
    """The names of the top-level CTEs, in order."""
    return re.findall(r"^(?:WITH )?(\w+) AS \($", sql, flags=re.MULTILINE)


def units(dialect: str, by: bool = False, at_event: bool = True) -> str:
    return render_sql("serve/report_units_groups" if by else "serve/report_units_users", dialect, at_event=at_event)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("step_count", [2, 3, 5])
def test_the_funnel_has_one_cte_per_step_each_reading_the_one_before(dialect: str, step_count: int) -> None:
    sql = render_sql("serve/funnel", dialect, units=units(dialect), conditions=[], step_count=step_count,
                     breakdown=None, fold=False)
    steps = [f"step_{n}" for n in range(1, step_count + 1)]
    assert ctes(sql) == ["unit_events", "considered", *steps, "entered", "labelled", "final"]
    for n in range(2, step_count + 1):
        assert f"FROM step_{n - 1} AS p" in sql
        assert f"WHERE c.event = :step_{n}\n" in sql
    assert sql.count("UNION ALL") == step_count - 1
    assert sql.count("JOIN labelled AS l ON l.unit = s.unit\n    GROUP BY l.breakdown") == step_count
    assert sql.rstrip().endswith("SELECT step, breakdown, units, median_seconds\nFROM final\nORDER BY breakdown, step")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_conditions_become_one_where_clause(dialect: str) -> None:
    sql = render_sql("serve/retention", dialect, units=units(dialect, by=True),
                     conditions=["(x = :f1)", "EXISTS (\n    SELECT 1\n)"], breakdown=None, fold=False)
    assert ctes(sql) == ["unit_events", "considered", "births", "entered", "labelled", "born", "returned", "final"]
    assert ("    FROM unit_events AS u\n    WHERE (x = :f1)\n      AND EXISTS (\n    SELECT 1\n)\n),"
            in sql)
    unfiltered = render_sql("serve/retention", dialect, units=units(dialect), conditions=[], breakdown=None,
                            fold=False)
    assert "    FROM unit_events AS u\n),\n" in unfiltered


DAILY = {"bucket": "u.event_date", "amount": None, "aggregate": "CAST(NULL AS DOUBLE PRECISION)", "fold": False}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_insights_without_and_with_a_breakdown(dialect: str) -> None:
    plain = render_sql("serve/insights", dialect, units=units(dialect), conditions=[], breakdown=None, **DAILY)
    assert ctes(plain) == ["unit_events", "filtered", "labelled", "final"]
    assert "CAST(NULL AS VARCHAR) AS breakdown FROM filtered" in plain
    assert "WHERE u.event = :event\n      AND u.event_date BETWEEN :d1 AND :d2\n)," in plain
    by_event = Breakdown("(u.event_properties -> :b3)")
    broken_down = render_sql("serve/insights", dialect, units=units(dialect), conditions=["(c)"],
                             breakdown=by_event, **DAILY)
    assert ctes(broken_down) == ["unit_events", "filtered", "valued", "labelled", "final"]
    assert "(u.event_properties -> :b3) AS value" in broken_down  # a list split in `labelled`
    assert "FROM unit_events AS u\n    WHERE u.event = :event" in broken_down  # no join for an event property
    assert "AND u.event_date BETWEEN :d1 AND :d2\n      AND (c)\n)," in broken_down
    folded = render_sql("serve/insights", dialect, units=units(dialect), conditions=[],
                        breakdown=by_event, **{**DAILY, "fold": "values"})
    assert ctes(folded) == ["unit_events", "filtered", "valued", "labelled", "folded", "final"]
    assert "CASE WHEN breakdown IN :kept OR (breakdown IS NULL AND :keep_null) THEN breakdown" in folded


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("at_event", "profile"), [
    (True, "LEFT JOIN group_profile_history AS bp ON bp.group_key = bg.group_key AND bp.group_id = bg.group_id\n"
           "     AND NOT bp.deleted AND bp.valid_from <= u.event_time\n"
           "     AND (bp.valid_to IS NULL OR bp.valid_to > u.event_time)\n"),
    (False, "LEFT JOIN group_profiles AS bp ON bp.group_key = bg.group_key AND bp.group_id = bg.group_id\n")])
def test_a_breakdown_by_the_profiles_of_a_users_groups(dialect: str, at_event: bool, profile: str) -> None:
    by_groups = Breakdown("(bp.properties -> :b3)", key=":b4", at_event=at_event)
    for name, pieces in (("insights", DAILY), ("funnel", {"step_count": 2, "fold": False}),
                         ("retention", {"fold": False})):
        sql = render_sql(f"serve/{name}", dialect, units=units(dialect), conditions=[], breakdown=by_groups,
                         **pieces)
        joins = "LEFT JOIN user_groups AS bg ON bg.distinct_id = u.unit AND bg.group_key = :b4\n    " + profile
        assert sql.count(joins) == 1, name


@pytest.mark.parametrize("at_event", [True, False])
def test_group_reports_read_the_profile_at_the_event_or_the_current_one(at_event: bool) -> None:
    sql = units("duckdb", by=True, at_event=at_event)
    history = ("LEFT JOIN group_profile_history AS gp ON gp.group_key = g.group_key AND gp.group_id = g.group_id\n"
               "     AND NOT gp.deleted AND gp.valid_from <= g.event_time\n"
               "     AND (gp.valid_to IS NULL OR gp.valid_to > g.event_time)\n")
    current = "LEFT JOIN group_profiles AS gp ON gp.group_key = g.group_key AND gp.group_id = g.group_id\n"
    assert (history in sql, current in sql) == (at_event, not at_event)


@pytest.mark.parametrize("name", ["insights", "funnel", "retention"])
@pytest.mark.parametrize("by", [False, True])
def test_rendered_reports_carry_no_comments_or_template_syntax(name: str, by: bool) -> None:
    sql = render_sql(f"serve/{name}", "duckdb", units=units("duckdb", by), conditions=["(c)"], breakdown=None,
                     step_count=2, **DAILY)
    assert "\n    \n" not in sql and " \n" not in sql  # no blank joins left behind
    assert "--" not in sql and "{" not in sql and "}" not in sql
    # the units query sits inside the first CTE, indented with it
    assert "WITH unit_events AS (\n    SELECT " in sql
    assert (":by_key" in sql) is by


def test_a_missing_piece_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(jinja2.UndefinedError, match="'conditions' is undefined"):
        render_sql("serve/insights", "duckdb", units="SELECT 1", breakdown=None, bucket="d", amount=None,
                   aggregate="a")


@pytest.mark.parametrize(("groups", "at", "source"), [
    (True, False, "FROM group_profiles AS gp\n    WHERE gp.group_key = :export_key"),
    (True, True, "FROM group_profile_history AS gh\n    WHERE gh.group_key = :export_key"),
    (False, True, "FROM user_profiles AS up\n),"),  # users have no history: their current profile
    (False, False, "FROM user_profiles AS up\n),")])
def test_the_export_selection(groups: bool, at: bool, source: str) -> None:
    selection = render_sql("serve/export_selection", "postgresql", groups=groups, at=at, all_members=False,
                           conditions=["(a)", "(b)"])
    assert ctes(selection) == ["stored", "profiles", "selected"]
    assert source in selection
    assert ":members_first" not in selection
    assert "FROM profiles AS p\n    WHERE (a)\n      AND (b)\n)" in selection
    assert selection.rstrip().endswith("ORDER BY profile_id")


@pytest.mark.parametrize(("groups", "members"), [(True, "FROM event_groups AS eg"), (False, "FROM events_deduped AS ed")])
def test_the_export_selection_with_members_without_a_profile(groups: bool, members: str) -> None:
    selection = render_sql("serve/export_selection", "postgresql", groups=groups, at=False, all_members=True,
                           conditions=[])
    assert members in selection
    assert "CAST('{}' AS JSONB) AS properties" in selection
    assert "WHERE NOT EXISTS (SELECT 1 FROM stored AS s2 WHERE s2.profile_id = m.profile_id)" in selection
