"""Start-up (issue 21): a command imports only what it uses.

Each case runs in a fresh interpreter and names the heavy modules it loaded:
`--help` and `--version` load none of them, and reading commands load no Arrow,
numpy, pandas or Jinja. Speed itself is measured by bench/startup.py, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "duckdb", "duckdb_engine", "pyarrow", "pandas", "numpy", "jinja2", "lark",
         "matplotlib", "rich", "boto3", "pydantic", "importlib.metadata")


def loaded(code: str, env: dict | None = None) -> list[str]:
    """The heavy modules in sys.modules after `code` runs in a new interpreter."""
    report = (f"\nimport json, sys\nsys.stdout = sys.__stdout__\n"
              f"print('LOADED ' + json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code + report], capture_output=True, text=True, check=False,
                          cwd=ROOT, env={**os.environ, **(env or {})}, timeout=120)
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("LOADED ")]
    return json.loads(line.removeprefix("LOADED "))


def command(*args: str) -> str:
    """Code that runs `group-etl ARGS` in-process, as the console script does, and goes on."""
    return (f"import sys\nsys.argv = ['group-etl', *{list(args)!r}]\nfrom etl.cli import main\n"
            "try:\n    main()\nexcept SystemExit as done:\n    assert done.code in (0, None), done.code\n")


def test_importing_the_command_line_loads_nothing_heavy() -> None:
    assert loaded("import etl.cli.commands") == []
    assert loaded("import etl.config") == []  # settings parse the warehouse URL when read


def test_help_loads_nothing_heavy() -> None:
    assert loaded(command("--help")) == []


@pytest.mark.parametrize("args", [["status", "--help"], ["report", "funnel", "--help"]])
def test_a_command_help_loads_only_typer_own_coercion(args: list[str]) -> None:
    """Typer (0.2x) coerces the global options through pydantic before a command's help
    (pydantic's plugin loader reads the package metadata): none of ours."""
    assert loaded(command(*args)) == ["importlib.metadata", "pydantic"]


def test_version_reads_only_the_package_metadata() -> None:
    assert loaded(command("--version")) == ["importlib.metadata"]


def test_reading_modules_load_no_arrow_numpy_pandas_or_jinja() -> None:
    """status, keys list, groups show: SQLAlchemy only (which reads the package metadata);
    cohorts also Lark, for their filters."""
    assert loaded("import etl.serve.status, etl.model.keys, etl.serve.groups") == [
        "importlib.metadata", "sqlalchemy"]
    assert loaded("import etl.serve.cohorts") == ["importlib.metadata", "lark", "sqlalchemy"]


def test_status_loads_what_it_reads_with(tmp_path: Path) -> None:
    """`status` on a DuckDB warehouse: SQLAlchemy, DuckDB and its engine, rich for the table
    (and Typer's pydantic)."""
    (tmp_path / "lake").mkdir()
    env = {"GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'w.duckdb'}",
           "GROUP_ETL_LAKE_URL": str(tmp_path / "lake")}
    loaded(command("init"), env)
    assert loaded(command("status"), env) == ["duckdb", "duckdb_engine", "importlib.metadata", "pydantic",
                                              "rich", "sqlalchemy"]


def test_a_day_of_events_loads_no_pandas(tmp_path: Path) -> None:
    """`run` builds its Arrow arrays from buffers (etl.store.arrow): pyarrow.array would
    import pandas, 0.2-0.3 s at the start of the parse and as much at exit."""
    day = tmp_path / "lake" / "events" / "dt=2026-01-15"
    day.mkdir(parents=True)
    lines = [json.dumps({"event": "Open", "properties": {"distinct_id": f"u{n}", "time": 1768471200 + n,
                                                          "$insert_id": f"i{n}", "company_id": "c1"}})
             for n in range(3)]
    (day / "part.jsonl").write_text("\n".join([*lines, "{not json"]) + "\n")
    env = {"GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'w.duckdb'}",
           "GROUP_ETL_LAKE_URL": str(tmp_path / "lake")}
    loaded(command("keys", "add", "company_id", "--setup-at", "2026-01-01T00:00:00Z"), env)
    assert "pandas" not in loaded(command("run", "--date", "2026-01-15"), env)
