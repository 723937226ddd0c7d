"""The package as a user installs it: a wheel built from the checkout's build inputs,
installed in a fresh venv, run from a folder outside the checkout with no
PYTHONPATH and no settings (the defaults: data/lake and data/warehouse.duckdb
under the working directory).

Guards the SQL shipping inside the package (`etl.sql`): before the SQL moved
there, an installed wheel failed `group-etl init` with FileNotFoundError on
sql/schema.sql.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from etl.store.lake import open_lake
from tests.support import event, write_jsonl

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# What a wheel is built from; docker/Dockerfile's build stage copies the same.
BUILD_INPUTS = ("pyproject.toml", "README.md", "etl", "sql")
T = int(datetime(2024, 7, 1, 12, tzinfo=UTC).timestamp())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel --no-deps` over a copy of the build inputs only (nothing else of the
    checkout can leak in, and no build/ folder is left in it)."""
    src = tmp_path_factory.mktemp("src")
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
                    "--wheel-dir", str(dist), str(src)], check=True, capture_output=True, timeout=600)
    [built] = dist.glob("*.whl")
    return built


def test_the_wheel_ships_every_module_and_sql_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    sql = {f"etl/sql/{p.relative_to(ROOT / 'sql').as_posix()}" for p in (ROOT / "sql").rglob("*.sql")}
    modules = {f"etl/{p.relative_to(ROOT / 'etl').as_posix()}" for p in (ROOT / "etl").rglob("*.py")}
    assert "etl/__init__.py" in names and "etl/sql/__init__.py" in names and "etl/sql/store/migrations/0005_baseline.sql" in names
    assert {n for n in names if n.startswith("etl/sql/") and n.endswith(".sql")} == sql
    assert modules - names == set()
    templates = {f"etl/api/templates/{p.name}" for p in (ROOT / "etl" / "api" / "templates").glob("*.html")}
    assert templates and templates <= names  # the group pages render from the installed package
    distribution, version = wheel.name.split("-")[:2]
    assert {n.split("/")[0] for n in names} == {"etl", f"{distribution}-{version}.dist-info"}  # no tests, no dags
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "group-etl = etl.cli:console" in entry_points


def test_the_installed_wheel_runs_a_day_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python, group_etl = venv / "bin" / "python", venv / "bin" / "group-etl"
    # dependencies from the package index (pip's cache makes a repeat quick)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
                   check=True, capture_output=True, timeout=1200)

    work = tmp_path / "work"  # outside the checkout: nothing there to import or read
    work.mkdir()
    assert not work.is_relative_to(ROOT)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GROUP_ETL_", "PYTHON", "VIRTUAL_ENV")) and k != "AIRFLOW_HOME"}
    env["COLUMNS"] = "200"
    write_jsonl(open_lake(str(work / "data" / "lake")), "events/dt=2024-07-01/part-0.jsonl", [
        event("Open", "u1", T, "i1", company_id="c1"),
        event("Open", "u2", T + 60, "i2", company_id="c1"),
        event("Buy", "u1", T + 120, "i3", company_id="c1"),
        event("Open", "u1", T, "i1", company_id="c1"),  # the first one again: a duplicate
        "{not json",
    ])

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert re.fullmatch(r"warehouse ready \(schema version none -> \d+\)\n", run(str(group_etl), "init"))
    assert int(run(str(group_etl), "keys", "add", "company_id", "--setup-at", "2024-01-01T00:00:00+00:00")) != 0
    [row] = json.loads(run(str(group_etl), "run", "--date", "2024-07-01", "--format", "json"))["rows"]
    row.pop("seconds")
    assert row == {"date": "2024-07-01", "input_records": 5, "loaded": 4, "rejected": 1, "duplicates": 1,
                   "invalid_group_id": 0, "group_updates": 0, "user_updates": 0}
    report = json.loads(run(str(group_etl), "report", "insights", "--event", "Open", "--from", "2024-07-01",
                            "--to", "2024-07-01", "--by", "company_id", "--format", "json"))
    assert report == {"report": "insights", "unit": "company_id", "event": "Open", "measure": "uniques",
                      "interval": "day",
                      "rows": [{"date": "2024-07-01", "breakdown": None, "events": 2, "uniques": 1, "value": 1}]}
    assert (work / "data" / "warehouse.duckdb").is_file()

    purelib = run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    assert run(str(python), "-c", "import etl; print(etl.__file__)") == f"{purelib}/etl/__init__.py\n"
    code = ("import etl\n"
            "with etl.connect() as an:\n"
            "    print(an.table('events', columns=['event', 'distinct_id']).value_counts().sort_index().to_dict())\n")
    assert run(str(python), "-c", code) == "{('Buy', 'u1'): 1, ('Open', 'u1'): 2, ('Open', 'u2'): 1}\n"
