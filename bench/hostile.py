"""Benchmark: what hostile or unlucky inputs cost a `group-etl run` (issue 16).

Each case builds a fresh lake and warehouse, runs the console script in a
subprocess and prints one JSON line: wall seconds and the run's peak RSS.

- `objects`: a day of `--objects` small objects (5 events each) against the
  same events in one object; the difference over the count is the cost of an
  object (`ms_per_object`).
- `bomb`: a gzip of a few hundred KB that inflates to one line of `--mib` MiB
  with no newline, beside one good event: the line is one `oversized_record`.
- `fold`: `--updates` updates to one group profile, each `$set` of a new
  property, all without `$time` (so at one instant, the end of the day).

    python bench/hostile.py [--case objects|bomb|fold|all] [--objects 2000] [--mib 500] [--updates 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import zlib
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import group_etl  # noqa: E402

DAY = date(2026, 1, 15)
NOON = int(datetime(2026, 1, 15, 12, tzinfo=UTC).timestamp())


def event(n: int) -> str:
    return json.dumps({"event": "Open", "properties": {"distinct_id": f"u{n % 97}", "time": NOON,
                                                       "$insert_id": f"i{n}", "company_id": f"c{n % 13}"}})


def run_day(lake: Path, work: Path, name: str) -> dict:
    env = {**os.environ, "GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{work / name}.duckdb",
           "GROUP_ETL_LAKE_URL": str(lake)}
    group_etl(["keys", "add", "company_id", "--setup-at", "2026-01-01T00:00:00Z"], env)
    wall, rss, out = group_etl(["run", "--date", DAY.isoformat(), "--format", "json"], env)
    [row] = json.loads(out)["rows"]
    return {"wall_seconds": round(wall, 2), "peak_rss_mb": rss, "loaded": row["loaded"], "rejected": row["rejected"],
            "group_updates": row["group_updates"], "stage_seconds": row["seconds"]}


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def case_objects(work: Path, objects: int) -> dict:
    lines = [event(n) for n in range(objects * 5)]
    many, one = work / "many", work / "one"
    for number in range(objects):
        write(many / f"events/dt={DAY}/part-{number:05d}.jsonl", "\n".join(lines[number * 5:number * 5 + 5]).encode())
    write(one / f"events/dt={DAY}/part-00000.jsonl", "\n".join(lines).encode())
    spread, single = run_day(many, work, "many"), run_day(one, work, "one")
    per_object = (spread["wall_seconds"] - single["wall_seconds"]) / objects * 1000
    return {"case": "objects", "objects": objects, "events": len(lines), "many_objects": spread,
            "one_object": single, "ms_per_object": round(per_object, 2)}


def case_bomb(work: Path, mib: int) -> dict:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"x" * (1 << 20)
    body = b"".join([packer.compress(event(0).encode() + b"\n")] + [packer.compress(block) for _ in range(mib)]
                    + [packer.flush()])
    lake = work / "bomb"
    write(lake / f"events/dt={DAY}/bomb.jsonl.gz", body)
    return {"case": "bomb", "compressed_kb": len(body) // 1024, "inflated_mib": mib, **run_day(lake, work, "bomb")}


def case_fold(work: Path, updates: int) -> dict:
    lake = work / "fold"
    lines = [json.dumps({"$token": "t", "$group_key": "company_id", "$group_id": "c1", "$set": {f"p{n}": n}})
             for n in range(updates)]
    write(lake / f"events/dt={DAY}/e.jsonl", event(1).encode())
    write(lake / f"groups/dt={DAY}/g.jsonl", "\n".join(lines).encode())
    return {"case": "fold", "updates": updates, **run_day(lake, work, "fold")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=["objects", "bomb", "fold", "all"], default="all")
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--mib", type=int, default=500)
    parser.add_argument("--updates", type=int, default=5000)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="group-etl-hostile-") as folder:
        work = Path(folder)
        if args.case in ("objects", "all"):
            print(json.dumps(case_objects(work, args.objects)))
        if args.case in ("bomb", "all"):
            print(json.dumps(case_bomb(work, args.mib)))
        if args.case in ("fold", "all"):
            print(json.dumps(case_fold(work, args.updates)))


if __name__ == "__main__":
    main()
