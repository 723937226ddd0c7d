"""The lake parsed on Spark's executors (etl.ingest.spark) gives exactly the rows the
driver's parse gives (etl.ingest.records.parse_partition), every kind of record: the
bad-input corpus (tests/data/bad/: invalid UTF-8, cut and corrupt gzips, batch lines,
a BOM, NULs, ...) beside ordinary objects, spread over more than one task."""

from __future__ import annotations

import functools
import gzip
import json
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from etl.ingest.events import parse_day
from etl.ingest.records import parse_partition
from etl.ingest.spark import object_frame, parse_on_executors, spread
from etl.ingest.updates import parse_updates
from etl.store.columnar import columnar_engine
from etl.store.lake import LakeObject, open_lake

pytestmark = [pytest.mark.spark, pytest.mark.slow]

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
DAY = date(2024, 6, 1)
TZ = ZoneInfo("Europe/Paris")
KEY = ["source_object", "source_line", "source_index"]


def ordinary_events(number: int, count: int) -> bytes:
    lines = [json.dumps({"event": "open", "properties": {
        "distinct_id": f"u{number}-{n}", "time": 1717200000 + n, "$insert_id": f"{number}-{n}",
        "company_id": f"c{n % 7}", "token": "tok"}}) for n in range(count)]
    return "\n".join(lines).encode() + b"\n"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The corpus's objects under their kinds' partitions of DAY, and events objects of
    very different sizes (plain and gzip), so the tasks' shares differ."""
    lake = open_lake(str(tmp_path_factory.mktemp("bad") / "lake"))
    for name, case in MANIFEST.items():
        if case["kind"] != "csv":
            lake.write(f"{case['kind']}/dt={DAY}/{name}", (CORPUS / name).read_bytes())
    for number, count in enumerate([1500, 1500, 1400, 40]):
        data = ordinary_events(number, count)
        lake.write(f"events/dt={DAY}/part-{number}.jsonl.gz" if number % 2 else f"events/dt={DAY}/part-{number}.jsonl",
                   gzip.compress(data) if number % 2 else data)
    return lake


def sorted_rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: tuple(r[k] for k in KEY))


def driver_rows(parsed) -> list[dict]:  # noqa: ANN001
    return sorted_rows(parsed.rows().read_all()) if parsed.files else []


def parse_both(spark_session, lake, source: str) -> tuple:  # noqa: ANN001
    """(driver's parse, executors' parse) of DAY's `source` partition."""
    objects = lake.list(f"{source}/dt={DAY}/")
    on_executors = functools.partial(parse_on_executors, spark_session)
    with columnar_engine() as engine:
        if source == "events":
            runs = [parse_day(engine, lake, objects, DAY, TZ, "tok", parse=parse) for parse in
                    (parse_partition, on_executors)]
        else:
            kind = "group" if source == "groups" else "user"
            runs = [parse_updates(engine, lake, objects, kind, DAY, TZ, "tok", ["company_id"], parse=parse)
                    for parse in (parse_partition, on_executors)]
        return runs[0], driver_rows(runs[0]), runs[1]


@pytest.mark.parametrize("source", ["events", "groups", "people"])
def test_the_executors_parse_gives_the_drivers_rows(spark_session, lake, source: str) -> None:  # noqa: ANN001
    driver, rows, spark = parse_both(spark_session, lake, source)
    assert sorted_rows(spark.rows().toArrow()) == rows
    assert (spark.loaded, spark.rejected) == (driver.loaded, driver.rejected)
    assert spark.rejected > 0 and spark.loaded + spark.rejected == len(rows)


def test_every_reject_reason_of_the_corpus_comes_from_the_executors(spark_session, lake) -> None:  # noqa: ANN001
    reasons = set()
    for source in ("events", "groups", "people"):
        _, _, spark = parse_both(spark_session, lake, source)
        reasons |= {r.reason for r in spark.rows().select("reason").distinct().collect() if r.reason}
    expected = {r for case in MANIFEST.values() if case["kind"] != "csv" for r in case["reasons"]}
    assert expected <= reasons
    assert {"invalid_utf8", "truncated_gzip", "empty_batch", "not_an_object", "nul_character"} <= reasons


def test_tasks_share_the_objects(spark_session, lake) -> None:  # noqa: ANN001
    from pyspark.sql import functions as F

    _, _, spark = parse_both(spark_session, lake, "events")
    tasks = spark.rows().select(F.spark_partition_id().alias("task"), "source_object").distinct().toArrow()
    by_task: dict[int, set[str]] = {}
    for task, key in zip(*tasks.to_pydict().values(), strict=True):
        by_task.setdefault(task, set()).add(key)
    assert len(by_task) == 2 and all(len(keys) > 1 for keys in by_task.values())
    assert set().union(*by_task.values()) == {o.key for o in lake.list(f"events/dt={DAY}/")}
    assert object_frame(spark_session, lake.list(f"events/dt={DAY}/"), 2).rdd.getNumPartitions() == 2


def test_the_drivers_record_limit_reaches_the_executors(spark_session, lake, monkeypatch) -> None:  # noqa: ANN001
    # the executors' Python workers never see this variable: the limit travels as a value
    monkeypatch.setenv("GROUP_ETL_MAX_RECORD_BYTES", "1024")
    driver, rows, spark = parse_both(spark_session, lake, "events")
    assert sorted_rows(spark.rows().toArrow()) == rows
    assert sum(r["reason"] == "oversized_record" for r in rows) > sum(
        "oversized_record" in case.get("reasons", []) for case in MANIFEST.values())


def test_the_rows_are_parsed_once_then_read_from_the_checkpoint(spark_session, tmp_path) -> None:  # noqa: ANN001
    # the objects are gone before the rows are read (accepted, then rejected): a second
    # parse would fail with "object vanished"
    from etl.ingest.records import ACCEPTED, REJECTED

    lake = open_lake(str(tmp_path / "lake"))
    for number in range(3):
        lake.write(f"events/dt={DAY}/part-{number}.jsonl", ordinary_events(number, 200) + b"{bad\n")
    with columnar_engine() as engine:
        parsed = parse_day(engine, lake, lake.list(f"events/dt={DAY}/"), DAY, TZ, None,
                           parse=functools.partial(parse_on_executors, spark_session))
    lake.delete_prefix(f"events/dt={DAY}/")
    assert (parsed.rows().where(ACCEPTED).count(), parsed.rows().where(REJECTED).count()) == (600, 3)
    assert (parsed.loaded, parsed.rejected) == (600, 3)


def test_an_empty_listing_parses_to_no_rows(spark_session, lake) -> None:  # noqa: ANN001
    with columnar_engine() as engine:
        parsed = parse_day(engine, lake, [], DAY, TZ, None, parse=functools.partial(parse_on_executors, spark_session))
    assert (parsed.loaded, parsed.rejected, parsed.rows().count()) == (0, 0, 0)


def test_spread_gives_each_task_about_equal_bytes_biggest_first() -> None:
    objects = [LakeObject(f"k{n}", size, "") for n, size in enumerate([10, 100, 1, 50, 60, 5])]
    shares = spread(objects, 2)
    assert [[o.size for o in share] for share in shares] == [[100, 10, 5], [60, 50, 1]]
    assert spread(objects, 10) == [[o] for o in sorted(objects, key=lambda o: -o.size)]
    assert spread([], 4) == []


def test_the_settings_pickle() -> None:
    import pickle

    from etl.config import load_settings

    settings = load_settings(environ={"GROUP_ETL_ENGINE": "spark", "GROUP_ETL_PROJECT_TOKEN": "tok"})
    assert pickle.loads(pickle.dumps(settings)) == settings


def parse_on_cluster(master: str, lake_url: str) -> dict:
    """The driver (child process, see tests/spark/test_cluster.py): each kind of DAY
    parsed on the cluster's executors, as plain JSON."""
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master(master).appName("group-etl-parse-on-cluster")
               .config("spark.driver.host", "127.0.0.1").config("spark.ui.enabled", "false")
               .config("spark.executor.memory", "512m").config("spark.executor.cores", "1")
               .config("spark.cores.max", "2")
               .config("spark.scheduler.minRegisteredResourcesRatio", "1.0")
               .config("spark.scheduler.maxRegisteredResourcesWaitingTime", "60s")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    lake = open_lake(lake_url)
    found = {}
    try:
        for source in ("events", "groups", "people"):
            _, _, spark = parse_both(session, lake, source)
            found[source] = {"rows": json.loads(json.dumps(sorted_rows(spark.rows().toArrow()), default=str)),
                             "tasks": spark.rows().rdd.getNumPartitions(),
                             "counts": [spark.loaded, spark.rejected]}
    finally:
        session.stop()
    return found


def test_a_standalone_clusters_executors_parse_the_drivers_rows(spark_cluster: str, lake) -> None:  # noqa: ANN001
    import subprocess

    from tests.spark.cluster import driver_environment

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "tests.spark.test_spark_parse", spark_cluster, lake.url],
                          cwd=root, env=driver_environment(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    for source in ("events", "groups", "people"):
        objects = lake.list(f"{source}/dt={DAY}/")
        with columnar_engine() as engine:
            if source == "events":
                driver = parse_day(engine, lake, objects, DAY, TZ, "tok")
            else:
                driver = parse_updates(engine, lake, objects, "group" if source == "groups" else "user", DAY, TZ,
                                       "tok", ["company_id"])
            rows = json.loads(json.dumps(driver_rows(driver), default=str))
        assert found[source]["rows"] == rows
        assert found[source]["counts"] == [driver.loaded, driver.rejected]
        assert found[source]["tasks"] == min(2, len(objects))


if __name__ == "__main__":
    print(json.dumps(parse_on_cluster(*sys.argv[1:3])))
