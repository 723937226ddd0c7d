"""A lake partition parsed on Spark's executors (GROUP_ETL_ENGINE=spark, docs/spark.md).

The day's objects become a DataFrame, one row an object, spread over tasks by size
(`spread`); each task runs the parse every engine runs
(`etl.ingest.records.parse_batches`: lines split by numpy and Arrow, the SQL rules of
sql/ingest/ run by a DuckDB of its own over Arrow) on its objects and hands Spark the
parsed rows as Arrow batches (`mapInArrow`). The rules keep one text, the work per
record stays in columns, and no Python runs per record.

Executors read the objects with the project's own lake reader (etl.store.lake: a
folder, or S3 through boto3), not Spark's text reader: the rejects and a record's
identity must be the ones the other engines give, and Spark's reader numbers no lines
(source_line, and source_index inside a batch line, are the identity of a record and
of an event without $insert_id); holds lines as UTF-8 strings, so a line that is not
UTF-8 could not be kept as its bytes (invalid_utf8, its raw in base64); picks gzip by
the name's `.gz`, not by the magic bytes, and fails the task (or, ignoring corrupt
files, drops the whole object) on a cut or corrupt gzip where ours keeps the good
lines and records truncated_gzip; and knows nothing of the rest split_records.sql
expects from the reader (a BOM tolerated only before an object's first line, an empty
object, a line too long to hold kept as its prefix and length).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from etl.ingest.records import RecordKind, max_record_bytes, parse_batches, parsed_schema
from etl.store.columnar import Engine, columnar_engine
from etl.store.lake import Lake, LakeObject, open_lake

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

OBJECTS_SCHEMA = "key STRING, size BIGINT, etag STRING"


@dataclass
class SparkParsed:
    """A partition parsed on the executors, what `ParsedPartition` is on one machine:
    its rows a DataFrame checkpointed on the executors (the parse runs once, its rows
    are read twice: accepted and rejected, `SparkWarehouse.bulk_insert`), and its counts."""

    frame: DataFrame
    loaded: int = 0
    rejected: int = 0

    def rows(self) -> DataFrame:
        return self.frame


@dataclass(frozen=True)
class ParseTask:
    """What one task runs: plain values only, pickled to the executors (the lake's URL,
    not a Lake, whose S3 client does not pickle; the driver's GROUP_ETL_MAX_RECORD_BYTES,
    not an executor's environment; the registered keys inside `params`)."""

    lake_url: str
    kind: RecordKind
    params: dict
    record_limit: int
    schema: pa.Schema

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        objects = [LakeObject(**row) for batch in batches for row in batch.to_pylist()]
        if not objects:
            return
        context = TaskContext.get()
        with columnar_engine(threads=context.cpus() if context else None) as engine:
            lake = open_lake(self.lake_url)
            for table in parse_batches(engine, lake, objects, self.kind, self.params,
                                       record_limit=self.record_limit):
                yield from table.cast(self.schema).to_batches()


def spread(objects: list[LakeObject], tasks: int) -> list[list[LakeObject]]:
    """The objects in `tasks` shares of about equal bytes: the biggest first, each to the
    share with the fewest bytes so far (so a share lists its biggest objects first, and
    one huge object is a share of its own). A loop over objects, not records."""
    shares: list[list[LakeObject]] = [[] for _ in range(min(tasks, len(objects)))]
    if not shares:
        return []
    heap = [(0, n) for n in range(len(shares))]
    for obj in sorted(objects, key=lambda o: (-o.size, o.key)):
        size, n = heapq.heappop(heap)
        shares[n].append(obj)
        heapq.heappush(heap, (size + obj.size, n))
    return shares


def object_frame(spark: SparkSession, objects: list[LakeObject], tasks: int) -> DataFrame:
    """The objects as a DataFrame, one row each, a partition per share of `spread`."""
    shares = [[(o.key, o.size, o.etag) for o in share] for share in spread(objects, tasks)]
    if not shares:
        return spark.createDataFrame([], OBJECTS_SCHEMA)
    rows = spark.sparkContext.parallelize(shares, len(shares)).flatMap(lambda share: share)
    return spark.createDataFrame(rows, OBJECTS_SCHEMA)


def parse_on_executors(
    spark: SparkSession,
    engine: Engine,
    lake: Lake,
    objects: list[LakeObject],
    kind: RecordKind,
    params: dict,
    progress: Callable[[int], None] | None = None,
) -> SparkParsed:
    """Parse a partition's objects on the executors (see the module docstring); the
    driver's `engine` only gives the rows' schema. The rows are checkpointed once,
    then counted."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    schema = from_arrow_schema(parsed_schema(engine, kind, params), prefer_timestamp_ntz=False)
    if not objects:
        return SparkParsed(spark.createDataFrame([], schema))
    task = ParseTask(lake.url, kind, params, max_record_bytes(), to_arrow_schema(schema, timezone="UTC"))
    spark.sparkContext.setJobDescription(f"group-etl: parse {len(objects)} {kind.name} objects")
    try:
        frame = object_frame(spark, objects, spark.sparkContext.defaultParallelism)
        parsed = frame.mapInArrow(task, schema).localCheckpoint()
        total, rejected = parsed.agg(F.count(F.lit(1)), F.count("reason")).first()
    finally:
        spark.sparkContext.setJobDescription(None)
    if progress is not None:
        for obj in objects:
            progress(obj.size)
    return SparkParsed(parsed, total - rejected, rejected)
