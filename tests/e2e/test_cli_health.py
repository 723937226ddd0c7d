"""Account health on the command line: `groups show`'s summary, `report lifecycle`
(table, JSON, --chart) and `cohorts add --static` (file or stdin), with their exit codes."""

from __future__ import annotations

import io
import json
import sys

from tests.e2e.test_cli import group_etl  # noqa: F401 - the fixture
from tests.sql.test_drilldown import journeys  # noqa: F401 - the fixture
from tests.sql.test_group_activity import load_example as load


def load_example(settings, warehouse, lake) -> None:  # noqa: ANN001
    """The README's example, loaded; the warehouse closed so that the CLI may open it."""
    load(settings, warehouse, lake)
    warehouse.close()


def test_groups_show_prints_the_health_summary_above_the_feed(settings, warehouse, lake, group_etl) -> None:  # noqa: ANN001, F811
    load_example(settings, warehouse, lake)
    code, out, _ = group_etl("groups", "show", "--key", "company_id", "--id", "acme", "--limit", "1")
    assert code == 0
    lines = out.splitlines()
    health = ("health on 2024-06-08: active users 0 (1 day), 2 (7 days), 3 (28 days); dormant, churned, "
              "3 days since active")
    assert lines[2] == health
    assert lines.index(health) < next(n for n, line in enumerate(lines) if "events" in line)
    code, out, _ = group_etl("groups", "show", "--key", "company_id", "--id", "acme", "--format", "json")
    assert json.loads(out)["health"]["lifecycle"] == "dormant"


def test_the_health_line() -> None:
    from etl.cli.commands import health_line

    row = {"activity_date": "2024-06-02", "active_users": 1, "active_users_7d": 2, "active_users_28d": 2,
           "lifecycle": "dormant", "churned": False, "days_since_active": 1}
    assert health_line(row) == ("health on 2024-06-02: active users 1 (1 day), 2 (7 days), 2 (28 days); "
                                "dormant, 1 day since active")
    assert health_line(None) == "health: no attributed events yet"


def test_report_lifecycle(settings, warehouse, lake, group_etl, tmp_path) -> None:  # noqa: ANN001, F811
    load_example(settings, warehouse, lake)
    chart = tmp_path / "lifecycle.png"
    code, out, _ = group_etl("report", "lifecycle", "--by", "company_id", "--from", "2024-06-03",
                             "--to", "2024-06-05", "--format", "json", "--chart", str(chart))
    assert code == 0
    assert json.loads(out) == {"report": "lifecycle", "unit": "company_id", "from": "2024-06-03",
                               "to": "2024-06-05", "rows": [
        {"date": "2024-06-03", "new": 0, "returning": 0, "resurrected": 0, "dormant": 2, "churned": 0},
        {"date": "2024-06-04", "new": 0, "returning": 0, "resurrected": 0, "dormant": 1, "churned": 1},
        {"date": "2024-06-05", "new": 0, "returning": 0, "resurrected": 1, "dormant": 0, "churned": 1}]}
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = group_etl("report", "lifecycle", "--by", "company_id", "--from", "2024-06-05",
                             "--to", "2024-06-05", "--format", "csv")
    assert (code, out) == (0, "date,new,returning,resurrected,dormant,churned\r\n2024-06-05,0,0,1,0,1\r\n")
    code, _, err = group_etl("report", "lifecycle", "--by", "plan", "--from", "2024-06-05", "--to", "2024-06-05")
    assert code == 1 and "group key 'plan' is not set up" in err
    code, _, err = group_etl("report", "lifecycle", "--by", "company_id", "--from", "June", "--to", "2024-06-05")
    assert code == 2 and "expected YYYY-MM-DD" in err


def test_stacked_bars_stack_the_states() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from etl.cli.charts import _stacked_states

    figure, axes = plt.subplots()
    _stacked_states(axes, {"unit": "company_id", "rows": [
        {"date": "d1", "new": 2, "returning": 0, "resurrected": 0, "dormant": 1, "churned": 3}]})
    assert [(p.get_y(), p.get_height()) for p in axes.patches] == [(0, 2), (2, 0), (2, 0), (2, 1), (3, 3)]
    plt.close(figure)


def test_cohorts_add_static_from_a_file_and_stdin(settings, warehouse, lake, group_etl, tmp_path,  # noqa: ANN001, F811
                                                  monkeypatch) -> None:
    load_example(settings, warehouse, lake)
    ids = tmp_path / "ids.txt"
    ids.write_bytes(b"acme\r\n\nglobex\n")
    assert group_etl("cohorts", "add", "dropped", "--static", str(ids), "--key", "company_id")[:2] == (
        0, "cohort dropped of company_id saved (2 ids)\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"u1\nu2\n")))
    assert group_etl("cohorts", "add", "users", "--static", "-")[:2] == (0, "cohort users of users saved (2 ids)\n")
    code, out, _ = group_etl("cohorts", "list", "--format", "json")
    assert json.loads(out)["rows"][0]["definition"] == {"group_key": "company_id", "static": True, "export": False}
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\n\n")))
    code, _, err = group_etl("cohorts", "add", "empty", "--static", "-")
    assert code == 1 and "--static -: no ids (one id a line; blank lines are skipped)" in err
    code, _, err = group_etl("cohorts", "add", "none", "--static", str(tmp_path / "missing.txt"))
    assert code == 1 and "cannot read it (No such file or directory)" in err
    code, _, err = group_etl("cohorts", "add", "both", "--static", str(ids), "--definition", "{}")
    assert code == 2 and "give --definition JSON or --static FILE" in err
    code, _, err = group_etl("cohorts", "add", "keyed", "--definition", "{}", "--key", "company_id")
    assert code == 2 and "--key and --export go with --static" in err


def test_dropped_companies_listed_saved_and_exported(settings, warehouse, journeys, group_etl,  # noqa: ANN001, F811
                                                     monkeypatch) -> None:
    """The account manager's path: who dropped between steps 1 and 2, saved as a static
    cohort from the list as printed, and exported."""
    warehouse.close()
    funnel = ("report", "funnel", "--steps", "Visit", "--steps", "Signup", "--steps", "Buy", "--from", "2024-06-03",
              "--to", "2024-06-05", "--by", "company_id")
    assert group_etl(*funnel, "--list-units", "2")[:2] == (0, "initech\n")
    code, listed, _ = group_etl(*funnel, "--list-units", "3", "--converted")
    assert (code, listed) == (0, "acme\n")
    code, out, _ = group_etl(*funnel, "--list-units", "2", "--converted", "--format", "csv")
    assert (code, out) == (0, "unit\r\nacme\r\nglobex\r\n")
    code, out, _ = group_etl(*funnel, "--list-units", "2", "--format", "json")
    assert json.loads(out) == {"report": "funnel", "unit": "company_id", "step": 2, "event": "Signup",
                               "converted": False, "units": ["initech"]}
    code, dropped, _ = group_etl(*funnel, "--list-units", "2")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(dropped.encode())))
    assert group_etl("cohorts", "add", "dropped", "--static", "-", "--key", "company_id")[:2] == (
        0, "cohort dropped of company_id saved (1 id)\n")
    key = json.loads(group_etl("keys", "list", "--format", "json")[1])["rows"][0]["data_group_id"]
    code, out, _ = group_etl("export", "profiles", "--data-group-id", str(key), "--cohort", "dropped",
                             "--as-of", "2024-06-05")
    assert code == 0
    assert json.loads(out)["results"] == [{"$distinct_id": "initech", "$properties": {}}]
    retention = ("report", "retention", "--born", "Visit", "--return", "Signup", "--from", "2024-06-03",
                 "--to", "2024-06-05", "--by", "company_id")
    assert group_etl(*retention, "--list-units", "2024-06-03:1")[:2] == (0, "acme\n")
    code, _, err = group_etl(*retention, "--list-units", "June:1")
    assert code == 1 and "expected COHORT_DATE:PERIOD" in err
    insights = ("report", "insights", "--event", "Visit", "--from", "2024-06-03", "--to", "2024-06-05")
    assert group_etl(*insights, "--list-units", "2024-06-03")[:2] == (0, "u1\nu2\nu3\n")
    code, _, err = group_etl(*insights, "--list-units", "2024-06-03", "--breakdown", "plan")
    assert code == 2 and "leave out --breakdown" in err
    code, _, err = group_etl(*funnel, "--converted")
    assert code == 2 and "goes with --list-units STEP" in err
