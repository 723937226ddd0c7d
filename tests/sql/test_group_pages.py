"""The group pages over HTTP on DuckDB and PostgreSQL: the profile, its history and
as-of view, the feed by cursor, the cohorts, the charts, the search, the errors, and
the account-health section."""

from __future__ import annotations

import base64
import re
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from etl.api import pages
from etl.api.app import create_app
from etl.api.settings import ServeSettings
from etl.store.warehouse import Warehouse
from tests.companies import build_companies

AUTH = {"Authorization": "Basic " + base64.b64encode(b"svc:pw").decode()}


def client_for(settings, root_path: str = "") -> tuple[TestClient, Warehouse]:  # noqa: ANN001
    reader = Warehouse(settings, read_only=True)
    app = create_app(settings, ServeSettings("127.0.0.1", 8000, "svc", "pw", root_path), reader)
    return TestClient(app, root_path=root_path), reader


@pytest.fixture(scope="module")
def site(module_settings):  # noqa: ANN001, ANN201
    build_companies(module_settings)
    client, reader = client_for(module_settings)
    with client:
        yield SimpleNamespace(client=client)
    reader.close()


def section(html: str, name: str) -> str:
    found = re.search(rf'<section id="{name}">(.*?)</section>', html, re.S)
    return found.group(1) if found else ""


def cells(html: str, name: str, column: int) -> list[str]:
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", section(html, name), re.S)
    out = []
    for row in rows:
        tds = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        if len(tds) > column:
            out.append(re.sub(r"<[^>]+>", "", tds[column]).strip())
    return out


def get(site, url: str) -> tuple[int, str]:  # noqa: ANN001
    response = site.client.get(url, headers=AUTH)
    return response.status_code, response.text


def test_a_company_page_now(site) -> None:  # noqa: ANN001
    status, html = get(site, "/groups/company_id/c1")
    assert status == 200
    assert re.search(r'<h1 id="group">(.*?)</h1>', html).group(1) == "Acme"
    assert dict(zip(re.findall(r"<th>(\w+)</th><td", section(html, "profile")), cells(html, "profile", 0), strict=True)) \
        == {"employees": "500", "name": "Acme", "plan": "enterprise", "tags": "[&#34;eu&#34;, &#34;b2b&#34;]"}
    assert re.findall(r'<span class="pill"[^>]*>(.*?)</span>', section(html, "cohorts")) == ["enterprise #1"]
    assert cells(html, "history", 1) == ["now", "2026-06-02 10:00"]
    assert cells(html, "feed", 1) == ["Log in", "Purchase", "Purchase", "Purchase", "Sign up"]
    assert 'id="older"' not in html and 'id="health"' in html
    activity = section(html, "activity")
    assert re.findall(r"<title>(2026-06-0\d): (\d+)</title>", activity) == [
        ("2026-06-01", "2"), ("2026-06-02", "2"), ("2026-06-01", "3"), ("2026-06-02", "2")]
    assert activity.count("<rect") == 60  # 30 days, two charts


def test_as_of_shows_the_profile_cohorts_and_feed_of_then(site) -> None:  # noqa: ANN001
    status, html = get(site, "/groups/company_id/c1?as_of=2026-06-01")
    assert status == 200 and "as of 2026-06-01" in html
    assert "<th>plan</th><td class=\"value\">pro</td>" in section(html, "profile")
    assert "In no saved cohort." in section(html, "cohorts")
    assert cells(html, "feed", 1) == ["Purchase", "Purchase", "Sign up"]


def test_the_feed_pages_by_cursor(site, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(pages, "FEED_PAGE", 2)
    seen, url = [], "/groups/company_id/c1"
    while url:
        status, html = get(site, url)
        assert status == 200
        seen.append(cells(html, "feed", 1))
        older = re.search(r'<a id="older" href="([^"]+)"', html)
        url = older.group(1).replace("&amp;", "&") if older else None
    assert seen == [["Log in", "Purchase"], ["Purchase", "Purchase"], ["Sign up"]]


@pytest.mark.parametrize(("query", "found"), [
    ("?key=company_id&where=plan+%3D%3D+%22enterprise%22", ["c1", "c2"]),
    ("?key=company_id&q=c&where=employees+%3C+100", ["c2", "c3"]),
    ("?key=company_id&q=3", ["c3"]),
    ("?key=company_id&q=nobody", []),
])
def test_search_by_id_and_profile(site, query, found) -> None:  # noqa: ANN001
    status, html = get(site, "/groups" + query)
    assert status == 200
    assert re.findall(r'<a href="/groups/company_id/([^"]+)">', section(html, "results")) == found


@pytest.mark.parametrize(("url", "status", "message"), [
    ("/groups/company_id/zz", 404, "group company_id = &#39;zz&#39; is unknown: no profile and no attributed events"),
    ("/groups/plan/c1", 404, "group key &#39;plan&#39; is not set up (see `group-etl keys list`)"),
    # a NUL in the id or the cursor, a time before year 1: PostgreSQL's or Python's traceback, HTTP 500
    ("/groups/company_id/c%001", 404, None),  # show_group's message: tests/sql/test_attribution.py
    ("/groups/company_id/c1?cursor=WyIyMDI2LTEwLTA1VDE3OjAwOjUxKzAwOjAwIiwiYVx1MDAwMGIiXQ", 400,
     "--cursor &#39;WyIyMDI2LTEwLTA1VDE3OjAwOjUxKzAwOjAwIiwiYVx1MDAwMGIiXQ&#39; is not a cursor of `groups show` "
     "(use next_cursor as printed)"),
    ("/groups/company_id/c1?as_of=0001-01-01T00:00:00%2B01:00", 400, None),
    ("/groups/company_id/c1?as_of=June", 400, "as_of: not an ISO 8601 date or time: &#39;June&#39;"),
    ("/groups/company_id/c1?as_of=2026-13-01", 400,
     "as of: expected YYYY-MM-DD or an ISO 8601 time from 1970 to 9998, got &#39;2026-13-01&#39;"),
    # the end of 9999-12-31 and year 1 in UTC overflow Python's calendar: a 400, not a 500
    ("/groups/company_id/c1?as_of=9999-12-31", 400,
     "as of: expected YYYY-MM-DD or an ISO 8601 time from 1970 to 9998, got &#39;9999-12-31&#39;"),
    ("/groups/company_id/c1?as_of=0001-01-01T00:00:00%2B05:00", 400,  # before year 1 in UTC
     "as_of: &#39;0001-01-01T00:00:00+05:00&#39; is out of range"),
    ("/groups/company_id/c1?as_of=0001-01-02", 400,
     "as of: expected YYYY-MM-DD or an ISO 8601 time from 1970 to 9998, got &#39;0001-01-02&#39;"),
    ("/groups?key=plan&q=c", 404, "group key &#39;plan&#39; is not set up (see `group-etl keys list`)"),
    # PostgreSQL refuses a NUL in a bound string: said, never a fault
    ("/groups/company_id/c1%00", 404,
     "group &#39;company_id&#39; = &#39;c1\\x00&#39; is unknown: no key or group id holds a NUL character"),
    ("/groups/company%00_id/c1", 404,
     "group &#39;company\\x00_id&#39; = &#39;c1&#39; is unknown: no key or group id holds a NUL character"),
    ("/groups?key=company_id&q=c%00", 400, "id contains: no group id holds a NUL character"),
    ("/groups?key=company_id&where=" + "+or+".join(["plan+%3D%3D+%22x%22"] * 700), 400,
     "where: at most 10,000 characters, got 10,496"),
    ("/groups?key=company_id&where=plan+%3D", 400, None),
])
def test_wrong_pages_say_why(site, url, status, message) -> None:  # noqa: ANN001
    got, html = get(site, url)
    assert got == status
    shown = re.search(r'<p class="error" id="error">(.*?)</p>', html, re.S).group(1)
    if message:
        assert shown == message


def test_pages_need_the_service_account(site) -> None:  # noqa: ANN001
    for url in ("/groups", "/groups/company_id/c1"):
        assert site.client.get(url).status_code == 401


def test_names_from_data_are_escaped(settings) -> None:  # noqa: ANN001
    """A hostile group id and property value reach the page as text, never as markup."""
    from etl.run.day import run_day
    from etl.store.lake import open_lake
    from tests.companies import D1, SETUP, ts
    from tests.support import event, write_jsonl

    with Warehouse(settings) as warehouse:
        warehouse.init()
        from etl.model.keys import add_key

        add_key(warehouse, "company_id", max_keys=6, setup_at=SETUP)
        write_jsonl(open_lake(settings.lake_url), f"groups/dt={D1}/a.jsonl", [
            {"$group_key": "company_id", "$group_id": "<b>x</b>", "$time": ts(D1),
             "$set": {"name": "<script>alert(1)</script>", '"><img src=x onerror=alert(2)>': "</td><i>v</i>"}}])
        write_jsonl(open_lake(settings.lake_url), f"events/dt={D1}/a.jsonl", [
            event("<svg onload=alert(3)>", "<u>user</u>", ts(D1, 11), "i1", company_id="<b>x</b>",
                  **{"</title><script>alert(4)</script>": "javascript:alert(5)"})])
        run_day(settings, warehouse, open_lake(settings.lake_url), D1)
    client, reader = client_for(settings)
    with client:
        html = client.get("/groups/company_id/%3Cb%3Ex%3C%2Fb%3E", headers=AUTH).text
    reader.close()
    for markup in ("<script>", "<b>x</b>", "<img", "<i>v</i>", "<svg onload", "<u>user</u>", "</title><script>"):
        assert markup not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert re.findall(r'<tr class="event"><td>[^<]*</td>\s*<td>([^<]*)</td><td>([^<]*)</td>', html) == [
        ("&lt;svg onload=alert(3)&gt;", "&lt;u&gt;user&lt;/u&gt;")]
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in section(html, "profile")
    assert re.findall(r'href="([^"]*)"', html)[2:] == ["/groups/company_id/%3Cb%3Ex%3C%2Fb%3E?as_of=2026-06-01T10%3A00%3A00%2B00%3A00"]


def test_behind_a_proxy_links_carry_the_root_path(settings) -> None:  # noqa: ANN001
    build_companies(settings)
    client, reader = client_for(settings, "/analytics")
    with client:
        html = client.get("/groups?key=company_id&q=c2", headers=AUTH).text
    reader.close()
    assert re.findall(r'href="([^"]+)"', html) == ["/analytics/groups", "/analytics/groups", "/analytics/groups/company_id/c2"]


def test_the_health_section_shows_the_groups_rows_of_group_activity_daily(settings) -> None:  # noqa: ANN001
    """The day runs' account health (issue 18): 28-day actives, lifecycle, days since active."""
    build_companies(settings)  # c1: u1, u1, u2 on June 1; u1, u3 on June 2; c4: no events
    client, reader = client_for(settings)
    with client:
        html = client.get("/groups/company_id/c1", headers=AUTH).text
        other = client.get("/groups/company_id/c4", headers=AUTH).text
        quiet = client.get("/groups/company_id/c2", headers=AUTH).text  # active on June 1 only
    reader.close()
    # the last loaded day's row, not the last active day's: c2 is dormant on June 2
    assert re.findall(r"<b>(.*?)</b>", section(quiet, "health")) == ["1", "1", "dormant", "1"]
    assert "as of 2026-06-02" in section(quiet, "health")
    health = section(html, "health")
    assert re.findall(r"<b>(.*?)</b>", health) == ["3", "3", "returning", "0"]
    assert re.findall(r"<title>(2026-06-0\d): (\d+)</title>", health) == [("2026-06-01", "2"), ("2026-06-02", "3")]
    assert "No account-health rows for this group yet." in section(other, "health")
