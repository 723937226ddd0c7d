"""Mixpanel's own client against `group-etl serve`: mixpanel-utils (from PyPI), changed
only in the host it talks to, exports 2,500 group profiles of a cohort over three pages;
its file holds exactly what `group-etl export profiles --to` writes for the same
selection. On DuckDB and PostgreSQL; the server is the real command, on a free port."""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from tests.companies import build_companies
from tests.serving import SCRIPT, SECRET, USER, environment, running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(module_settings, tmp_path_factory) -> Iterator[SimpleNamespace]:  # noqa: ANN001
    settings = dataclasses.replace(module_settings, session_dir=str(tmp_path_factory.mktemp("sessions")))
    data_group_id = build_companies(settings, extra=2498)  # the enterprise cohort: c1, c2 and 2,498 more
    log = tmp_path_factory.mktemp("log") / "serve.log"
    with running_server(settings, log) as base:
        yield SimpleNamespace(base=base, env=environment(settings), key=data_group_id, log=log)


def get(server, **params: str) -> dict:  # noqa: ANN001
    request = urllib.request.Request(f"{server.base}/api/2.0/engage?{urllib.parse.urlencode(params)}", headers={
        "Authorization": "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def test_mixpanel_utils_exports_a_cohort_as_export_profiles_writes_it(server, tmp_path) -> None:  # noqa: ANN001
    from mixpanel_utils import MixpanelUtils

    client = MixpanelUtils(SECRET, service_account_username=USER, project_id=1)
    client.formatted_api = f"{server.base}/api"  # the one change: our host instead of mixpanel.com
    params = {"data_group_id": str(server.key), "filter_by_cohort": '{"id": 1}'}
    client.export_people(str(tmp_path / "client.json"), params)
    exported = json.loads((tmp_path / "client.json").read_text())

    done = subprocess.run([str(SCRIPT), "export", "profiles", "--data-group-id", str(server.key), "--cohort",
                           "enterprise", "--to", str(tmp_path / "cli.jsonl")],
                          env=server.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    written = [json.loads(line) for line in (tmp_path / "cli.jsonl").read_text().splitlines()]

    assert len(exported) == 2500 and exported == written
    assert [r["$distinct_id"] for r in exported[:3]] == ["c1", "c2", "e0000"]
    assert exported[0]["$properties"] == {"plan": "enterprise", "employees": 500, "tags": ["eu", "b2b"], "name": "Acme"}
    # three pages: page 0 then 1 and 2 with page 0's session, as the client's paginator asks
    lines = [line for line in server.log.read_text().splitlines() if "GET /api/2.0/engage 200" in line]
    assert len(lines) >= 3
    assert SECRET not in server.log.read_text()


def test_concurrent_pages_of_one_session_are_consistent(server) -> None:  # noqa: ANN001
    first = get(server, data_group_id=str(server.key), filter_by_cohort='{"id": 1}')
    assert (first["total"], first["page_size"], len(first["results"])) == (2500, 1000, 1000)
    session = first["session_id"]
    ask = [page for _ in range(6) for page in (2, 1)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda page: get(server, data_group_id=str(server.key), filter_by_cohort='{"id": 1}',
                                                 session_id=session, page=str(page)), ask))
    by_page: dict[int, list] = {}
    for page, answer in zip(ask, answers, strict=True):
        assert (answer["page"], answer["session_id"], answer["total"]) == (page, session, 2500)
        by_page.setdefault(page, []).append(answer["results"])
    assert all(results == by_page[1][0] for results in by_page[1]) and len(by_page[1][0]) == 1000
    assert all(results == by_page[2][0] for results in by_page[2]) and len(by_page[2][0]) == 500
    ids = [r["$distinct_id"] for r in first["results"] + by_page[1][0] + by_page[2][0]]
    assert ids == sorted(set(ids)) and len(ids) == 2500  # no row twice, none missing, in order


@pytest.mark.parametrize(("unset", "message"), [
    ("GROUP_ETL_SERVE_SECRET", "error: GROUP_ETL_SERVE_USER and GROUP_ETL_SERVE_SECRET: set both (the service "
                               "account the API accepts with HTTP basic authentication)"),
    ("GROUP_ETL_WAREHOUSE_URL", "error: warehouse duckdb:///data/warehouse.duckdb does not exist: run `group-etl init`"),
])
def test_serve_refuses_to_start_without_credentials_or_warehouse(tmp_path, unset, message) -> None:  # noqa: ANN001
    env = {**environment_of(tmp_path), unset: ""}
    if unset == "GROUP_ETL_WAREHOUSE_URL":
        del env[unset]
    done = subprocess.run([str(SCRIPT), "serve", "--port", "1"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert (done.returncode, done.stderr.strip()) == (1, message)


def environment_of(folder) -> dict[str, str]:  # noqa: ANN001
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUP_ETL_")}
    return {**env, "GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{folder}/none.duckdb", "GROUP_ETL_SERVE_USER": USER,
            "GROUP_ETL_SERVE_SECRET": SECRET}
