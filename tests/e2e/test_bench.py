"""The benchmark's smoke test: on 20,000 events, group-etl and the floor agree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_run_agrees_with_the_floor(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--events", "20000", "--data", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [result] = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert result["same_as_floor"] is True  # the floor and the storing floor give our rows
    assert result["storing_floor_seconds"] > 0 and result["ratio_to_storing_floor"] > 0
    assert result["metric_rows"] > 1000
    # 20,000 events + 1% exact copies + 2 malformed lines
    assert (result["loaded"], result["rejected"]) == (20_000 + result["duplicates"], 2)
    assert 150 <= result["duplicates"] <= 250


def test_hostile_bench_runs_each_case() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "hostile.py"), "--objects", "40", "--mib", "20", "--updates", "300"],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    cases = {r["case"]: r for r in (json.loads(line) for line in done.stdout.splitlines() if line.startswith("{"))}
    assert (cases["objects"]["many_objects"]["loaded"], cases["objects"]["one_object"]["loaded"]) == (200, 200)
    assert (cases["bomb"]["loaded"], cases["bomb"]["rejected"], cases["bomb"]["inflated_mib"]) == (1, 1, 20)
    assert cases["fold"]["group_updates"] == 300


def test_startup_bench_measures_each_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "startup.py"), "--days", "2", "--runs", "1", "--data", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert (result["warehouse_days"], result["runs"], result["against"]) == (2, 1, None)
    assert set(result["this"]) == {"help", "version", "status", "run"}
    assert [len(result["this"][name]["runs"]) for name in ("help", "version", "status")] == [1, 1, 1]
    assert len(result["this"]["run"]["overhead_runs"]) == 1 and result["this"]["run"]["stages_median"] > 0
