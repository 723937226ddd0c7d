"""The Engage query API over HTTP (FastAPI's test client), on DuckDB and PostgreSQL:
Mixpanel's parameters, response body, errors and authentication."""

from __future__ import annotations

import base64
import json
import logging
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from etl.api.app import create_app
from etl.api.settings import ServeSettings
from etl.store.warehouse import Warehouse
from tests.companies import build_companies

SECRET = "s3cr3t-Value"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"svc:{SECRET}".encode()).decode()}


@pytest.fixture(scope="module")
def api(module_settings):  # noqa: ANN001, ANN201
    data_group_id = build_companies(module_settings)
    reader = Warehouse(module_settings, read_only=True)
    app = create_app(module_settings, ServeSettings("127.0.0.1", 8000, "svc", SECRET), reader)
    with TestClient(app) as client:
        yield SimpleNamespace(client=client, key=data_group_id)
    reader.close()


def engage(api, method: str = "GET", path: str = "/api/2.0/engage", **params: object):  # noqa: ANN001, ANN201
    values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    if method == "GET":
        return api.client.get(path, params=values, headers=AUTH)
    return api.client.post(path, data=values, headers=AUTH)


def ids(body: dict) -> list[str]:
    return [r["$distinct_id"] for r in body["results"]]


@pytest.mark.parametrize("path", ["/api/2.0/engage", "/api/query/engage", "/api/2.0/engage/"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_engage_answer_in_mixpanels_shape(api, path, method) -> None:  # noqa: ANN001
    response = engage(api, method, path, data_group_id=str(api.key), project_id="1",
                      filter_by_cohort={"id": 1}, output_properties=["plan", "name"])
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"page", "page_size", "session_id", "status", "total", "results"}
    assert (body["page"], body["page_size"], body["status"], body["total"]) == (0, 1000, "ok", 2)
    assert body["results"] == [
        {"$distinct_id": "c1", "$properties": {"plan": "enterprise", "name": "Acme"}},
        {"$distinct_id": "c2", "$properties": {"plan": "enterprise", "name": "Globex"}},
    ]


@pytest.mark.parametrize(("where", "expected"), [
    ('properties["plan"] == "enterprise"', ["c1", "c2"]),
    ('properties["plan"] != "enterprise"', ["c3", "c4"]),
    ('defined(properties["region"])', ["c3"]),
    ('not defined(properties["employees"])', ["c4"]),
    ('"b2b" in properties["tags"]', ["c1"]),
    ('"b2" in properties["tags"]', []),  # a list: membership, not a substring of its JSON text
    ('"eu\\", \\"b2b" in properties["tags"]', []),
    ('not "b2b" in properties["tags"]', ["c2", "c3", "c4"]),
    ('"nite" in properties["name"]', ["c3"]),
    ('properties["employees"] > 20 and properties["employees"] <= 50', ["c3"]),
    ('properties["employees"] >= 500 or properties["plan"] == "free"', ["c1", "c4"]),
    ('not (properties["plan"] == "enterprise" or properties["plan"] == "pro")', ["c4"]),
])
def test_where_in_mixpanels_expression_grammar(api, where, expected) -> None:  # noqa: ANN001
    response = engage(api, data_group_id=str(api.key), where=where)
    assert (response.status_code, ids(response.json())) == (200, expected)


def test_cohort_ids_include_all_users_and_distinct_ids(api) -> None:  # noqa: ANN001
    small = engage(api, data_group_id=str(api.key), filter_by_cohort={"id": 2}, include_all_users="false")
    assert ids(small.json()) == ["c2", "c3"]
    one = engage(api, data_group_id=str(api.key), distinct_id="c3")
    assert ids(one.json()) == ["c3"]
    some = engage(api, data_group_id=str(api.key), distinct_ids=["c4", "c1", "nobody"])
    assert ids(some.json()) == ["c1", "c4"]


def test_pages_follow_the_session_of_page_0(api) -> None:  # noqa: ANN001
    first = engage(api, data_group_id=str(api.key), page_size="3").json()
    assert (first["total"], ids(first)) == (4, ["c1", "c2", "c3"])
    second = engage(api, "POST", data_group_id=str(api.key), page_size="3", page="1",
                    session_id=first["session_id"]).json()
    assert (second["page"], second["session_id"], ids(second)) == (1, first["session_id"], ["c4"])
    past = engage(api, data_group_id=str(api.key), page_size="3", page="2", session_id=first["session_id"]).json()
    assert (past["total"], past["results"]) == (4, [])


@pytest.mark.parametrize(("params", "message"), [
    ({"page_size": "1001"}, "page_size must be at most 1000, got 1001"),
    ({"page_size": "0"}, "page_size must be at least 1, got 0"),
    ({"page": "x"}, "page must be a whole number, got 'x'"),
    ({"page": "1_0"}, "page must be a whole number, got '1_0'"),  # int() would read 10
    ({"page_size": " 7"}, "page_size must be a whole number, got ' 7'"),
    ({"page": "\u0661"}, "page must be a whole number, got '\u0661'"),  # an Arabic-Indic 1
    ({"page_size": "9" * 5000}, f"page_size must be a whole number, got '{'9' * 40}...'"),
    ({"page": "1"}, "page > 0 needs the session_id of page 0's answer"),
    ({"data_group_id": "99"}, "data_group_id 99 is not a group key (see `group-etl keys list`)"),
    ({"data_group_id": "-5"}, "data_group_id -5 is not a group key (see `group-etl keys list`)"),  # ids are 64-bit hashes
    ({"data_group_id": "one"}, "data_group_id must be a whole number, got 'one'"),
    ({"filter_by_cohort": '{"id": 42}'}, "cohort id 42 does not exist (see `group-etl cohorts list`)"),
    ({"filter_by_cohort": '{"name": "x"}'},
     'filter_by_cohort must be {"id": N}, N a saved cohort\'s id (`group-etl cohorts list`)'),
    ({"distinct_ids": json.dumps([str(n) for n in range(2001)])}, "distinct_ids: at most 2000 ids a request, got 2001"),
    ({"output_properties": "plan"}, 'output_properties must be a JSON array of strings, such as ["a", "b"]'),
    ({"behaviors": "[]"}, "behaviors is not supported here: save the condition as a cohort (`group-etl "
                          "cohorts add`) and pass filter_by_cohort={\"id\": N}"),
    ({"session_id": "f" * 32, "page": "1"},
     f"session {'f' * 32!r} is unknown or expired (sessions last 24 hours): ask for page 0 again"),
    ({"where": 'properties["plan"] = "x"'},
     "where: cannot parse 'properties[\"plan\"] = \"x\"' at column 20: supported are properties[\"name\"] "
     "compared with ==, !=, >, >=, <, <=, defined(properties[\"name\"]), \"value\" in properties[\"name\"], "
     "and, or, not, parentheses"),
    ({"where": '1 in properties["x"]'}, "where: 'in' looks for a string in a property, got 1"),
    ({"where": " or ".join(['properties["plan"] == "x"'] * 400)}, "where: at most 10,000 characters, got 11,596"),
    ({"where": 'properties["x"]) or 1; DROP TABLE cohorts; --'}, None),
])
def test_wrong_requests_get_400_in_mixpanels_error_shape(api, params, message) -> None:  # noqa: ANN001
    response = engage(api, **params)
    assert response.status_code == 400
    body = response.json()
    assert (body["request"], body["status"]) == ("/api/2.0/engage", "error")
    if message is not None:
        assert body["error"] == message
    assert engage(api, data_group_id=str(api.key)).json()["total"] == 4  # nothing was dropped


@pytest.mark.parametrize("authorization", [
    None, "Basic " + base64.b64encode(b"svc:wrong").decode(), "Basic " + base64.b64encode(b"other:" + SECRET.encode()).decode(),
    "Basic !!!notbase64", "Bearer " + SECRET, "Basic " + base64.b64encode(SECRET.encode()).decode(),
])
def test_requests_without_the_service_account_get_401(api, authorization) -> None:  # noqa: ANN001
    headers = {"Authorization": authorization} if authorization else {}
    response = api.client.get("/api/2.0/engage", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="group-etl", charset="UTF-8"'
    assert response.json() == {"request": "/api/2.0/engage", "status": "error",
                               "error": "Unable to authenticate request: HTTP basic authentication with the "
                                        "service account's user and secret is required"}


@pytest.mark.parametrize("authorization", [b"Basic \xff\xfe", b"Basic \xc3\xa9", "Basic " + base64.b64encode(b"\xff:\xfe").decode()])
def test_credentials_that_are_no_text_get_401_not_500(api, authorization) -> None:  # noqa: ANN001
    """A header of latin-1 bytes is not base64; base64 of bytes that are not UTF-8 is no user."""
    response = api.client.get("/api/2.0/engage", headers={"Authorization": authorization})
    assert (response.status_code, response.json()["error"][:31]) == (401, "Unable to authenticate request:")


def test_a_fault_is_answered_500_and_logged_once_with_its_request_line(api, monkeypatch, caplog) -> None:  # noqa: ANN001
    import etl.api.app

    def broken(*_args: object) -> dict:
        raise RuntimeError("a fault of ours")

    monkeypatch.setattr(etl.api.app, "query_engage", broken)
    with caplog.at_level(logging.INFO):
        response = engage(api, data_group_id=str(api.key))
    assert (response.status_code, response.json()) == (500, {
        "request": "/api/2.0/engage", "error": "internal error (see the server's log)", "status": "error"})
    ours = [r for r in caplog.records if r.name == "group_etl.serve"]
    assert [(r.levelname, r.getMessage().split(" ")[:3]) for r in ours] == [
        ("ERROR", ["GET", "/api/2.0/engage", "failed"]), ("INFO", ["GET", "/api/2.0/engage", "500"])]
    assert [str(r.exc_info[1]) for r in caplog.records if r.exc_info] == ["a fault of ours"]  # one traceback


def test_form_bodies_are_bounded(api, monkeypatch) -> None:  # noqa: ANN001
    import etl.api.app

    monkeypatch.setattr(etl.api.app, "MAX_BODY", 1000)
    def post(body: bytes, kind: str = "application/x-www-form-urlencoded"):  # noqa: ANN202
        return api.client.post("/api/2.0/engage", content=body, headers={**AUTH, "Content-Type": kind})

    ok = post(f"data_group_id={api.key}&page_size=2".encode())
    assert (ok.status_code, ids(ok.json())) == (200, ["c1", "c2"])
    for response, status, error in [
        (post(b"where=" + b"x" * 1000), 413, "the request body is over 0 MB"),
        (post(b"&".join(b"a%d=1" % n for n in range(101))), 400, "the form body is not UTF-8 url-encoded text"),
        (post(b"where=%ff"), 400, "the form body is not UTF-8 url-encoded text"),
        (post(b"--x\r\n", "multipart/form-data; boundary=x"), 415,
         "send the parameters as a form (application/x-www-form-urlencoded), not multipart/form-data"),
    ]:
        assert (response.status_code, response.json()["error"]) == (status, error)


def test_nul_characters_are_no_fault(api) -> None:  # noqa: ANN001
    """PostgreSQL refuses a NUL in a bound string: an id holding one matches nothing, on both engines."""
    assert ids(engage(api, data_group_id=str(api.key), distinct_id="c1\x00").json()) == []
    assert ids(engage(api, data_group_id=str(api.key), distinct_ids=["c1", "c2\x00"]).json()) == ["c1"]
    assert engage(api, data_group_id=str(api.key), output_properties=["\x00"]).status_code == 200


def test_health_needs_no_credentials_and_says_no_more(api) -> None:  # noqa: ANN001
    from etl.store.migrations import latest_version

    response = api.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "schema_version": latest_version()})


def test_request_log_lines_hold_no_secret_and_no_query(api, caplog) -> None:  # noqa: ANN001
    with caplog.at_level(logging.INFO, logger="group_etl.serve"):
        engage(api, data_group_id=str(api.key), where='properties["name"] == "Acme"')
        api.client.get("/api/2.0/engage", headers={"Authorization": "Basic " + base64.b64encode(b"svc:guess").decode()})
    lines = [r.getMessage() for r in caplog.records if r.name == "group_etl.serve"]
    assert [line.split(" ")[:3] for line in lines] == [["GET", "/api/2.0/engage", "200"],
                                                      ["GET", "/api/2.0/engage", "401"]]
    assert lines[0].endswith("user=svc") and lines[1].endswith("user=-")
    assert not any(SECRET in line or "guess" in line or "Acme" in line for line in lines)


def test_cohort_ids_are_stable_and_never_reused(warehouse) -> None:  # noqa: ANN001
    from etl.serve.cohorts import add_cohort, list_cohorts, remove_cohort

    for name in ("b", "a"):
        add_cohort(warehouse, name, "{}")
    remove_cohort(warehouse, "b")
    add_cohort(warehouse, "c", "{}")
    add_cohort(warehouse, "b", "{}")  # saved again: a new number, the old one names the removed definition
    assert [(c.name, c.cohort_id) for c in list_cohorts(warehouse)] == [("a", 2), ("b", 4), ("c", 3)]


def test_the_migration_numbers_existing_cohorts_by_name(warehouse) -> None:  # noqa: ANN001
    import sqlalchemy as sa

    from etl.serve.cohorts import list_cohorts

    with warehouse.begin() as conn:  # as a warehouse of version 10 was: cohorts, no numbers
        conn.execute(sa.text("INSERT INTO cohorts VALUES ('zeta', NULL, '{}'), ('alpha', NULL, '{}')"))
        conn.execute(sa.text("DROP TABLE cohort_ids"))
        conn.execute(sa.text("DELETE FROM schema_version WHERE version = 12"))
    warehouse.migrate()
    assert [(c.name, c.cohort_id) for c in list_cohorts(warehouse)] == [("alpha", 1), ("zeta", 2)]
