"""Layer 2: the lake, the same tests on a local folder and on moto's S3."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from etl.errors import StorageError
from etl.run.day import run_day
from etl.store.lake import DecodeState, Lake, iter_decompressed, open_lake, replace_partition
from tests.support import event, make_settings, write_jsonl


@pytest.fixture(params=["local", "s3"])
def any_lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    if request.param == "local":
        return open_lake(f"file://{tmp_path}/lake")
    bucket = request.getfixturevalue("s3_bucket")
    return open_lake(f"s3://{bucket}/some/prefix")


def read_all(lake: Lake, key: str) -> tuple[bytes, bool]:
    obj = next(o for o in lake.list(key) if o.key == key)
    state = DecodeState()
    return b"".join(iter_decompressed(lake, obj, state)), state.truncated


def test_write_list_and_read(any_lake: Lake) -> None:
    any_lake.write("events/dt=2024-01-02/b.jsonl", b"two\n")
    any_lake.write("events/dt=2024-01-02/a.jsonl", b"one\n")
    any_lake.write("events/dt=2024-01-03/a.jsonl", b"other day\n")
    listed = any_lake.list("events/dt=2024-01-02/")
    assert [(o.key, o.size) for o in listed] == [
        ("events/dt=2024-01-02/a.jsonl", 4), ("events/dt=2024-01-02/b.jsonl", 4)]
    assert all(o.etag for o in listed)
    assert read_all(any_lake, "events/dt=2024-01-02/b.jsonl") == (b"two\n", False)
    assert any_lake.list("events/dt=2024-01-09/") == []


def test_gzip_detected_by_magic_bytes(any_lake: Lake) -> None:
    body = b"x" * 10_000 + b"\n"
    any_lake.write("a/one.jsonl.gz", gzip.compress(body))
    any_lake.write("a/two.jsonl", gzip.compress(body))
    any_lake.write("a/three.jsonl.gz", gzip.compress(body[:5000]) + gzip.compress(body[5000:]))
    for key in ("a/one.jsonl.gz", "a/two.jsonl", "a/three.jsonl.gz"):
        assert read_all(any_lake, key) == (body, False)


def test_plain_text_named_gz_is_read_as_plain_text(any_lake: Lake) -> None:
    """The magic bytes decide, not the name: three lines named .gz stay three lines."""
    body = b'{"a": 1}\n{"a": 2}\n{"a": 3}\n'
    any_lake.write("a/plain.jsonl.gz", body)
    assert read_all(any_lake, "a/plain.jsonl.gz") == (body, False)


def test_truncated_gzip_is_flagged_with_what_could_be_read(any_lake: Lake) -> None:
    body = b"".join(b"line %d\n" % n for n in range(5000))
    packed = gzip.compress(body)
    any_lake.write("a/cut.gz", packed[: len(packed) - 100])
    data, truncated = read_all(any_lake, "a/cut.gz")
    assert truncated
    assert 0 < len(data) < len(body) and body.startswith(data)


def test_gzip_checks_and_trailing_bytes_are_reported_in_the_decode_state(any_lake: Lake) -> None:
    body = b"".join(b"line %d\n" % n for n in range(5000))
    packed = gzip.compress(body)
    bad_crc = packed[:-8] + b"\0\0\0\0" + packed[-4:]
    cases = {
        "crc": (bad_crc + packed, body + body, DecodeState(failed_checks=1)),
        "trailing": (packed + b"tail\n", body, DecodeState(trailing=b"tail\n", trailing_size=5)),
        "header_cut": (packed + packed[:5], body, DecodeState(truncated=True)),
        "trailer_cut": (packed[:-3], body, DecodeState(truncated=True)),
        "not_deflate": (packed[:10] + b"\xff" * 20, b"", DecodeState(truncated=True)),
    }
    for name, (content, expected, state) in cases.items():
        any_lake.write(f"a/{name}.gz", content)
        obj = next(o for o in any_lake.list(f"a/{name}.gz"))
        got = DecodeState()
        assert (b"".join(iter_decompressed(any_lake, obj, got)), got) == (expected, state), name


def test_delete_prefix(any_lake: Lake) -> None:
    any_lake.write("exports/c/dt=1/a.jsonl", b"1")
    any_lake.write("exports/c/dt=2/a.jsonl", b"2")
    any_lake.delete_prefix("exports/c/dt=1/")
    assert [o.key for o in any_lake.list("exports/")] == ["exports/c/dt=2/a.jsonl"]


def test_local_lake_refuses_keys_outside_its_root(tmp_path: Path) -> None:
    lake = open_lake(str(tmp_path / "lake"))
    with pytest.raises(StorageError, match="outside the lake"):
        lake.write("../escape.txt", b"x")
    assert not (tmp_path / "escape.txt").exists()


def test_an_object_that_vanishes_between_list_and_read_is_a_clear_error(any_lake: Lake) -> None:
    any_lake.write("a/gone.jsonl", b"x\n")
    [obj] = any_lake.list("a/")
    any_lake.delete_prefix("a/")
    with pytest.raises(StorageError, match="a/gone.jsonl: object vanished between listing and reading"):
        b"".join(iter_decompressed(any_lake, obj))


def test_s3_server_errors_are_retried_then_fail_clearly(s3_bucket: str) -> None:
    """botocore's standard retries: a throttled then 500'd read still succeeds; a
    persistent 503 becomes a StorageError naming the object."""
    from botocore.stub import Stubber

    lake = open_lake(f"s3://{s3_bucket}")
    lake.write("a/x.jsonl", b"hello\n")
    calls = {"n": 0}

    def flaky(request, **_kwargs):  # noqa: ANN001, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] <= 2:
            raise_code = 503 if calls["n"] == 1 else 500
            from botocore.awsrequest import AWSResponse

            return AWSResponse(request.url, raise_code, {}, _Raw(b"<Error><Code>SlowDown</Code></Error>"))
        return None

    lake.client.meta.events.register("before-send.s3.GetObject", flaky)
    assert read_all(lake, "a/x.jsonl") == (b"hello\n", False)
    assert calls["n"] == 3

    def always_503(request, **_kwargs):  # noqa: ANN001, ANN003, ANN202
        from botocore.awsrequest import AWSResponse

        calls["n"] += 1
        return AWSResponse(request.url, 503, {}, _Raw(b"<Error><Code>ServiceUnavailable</Code></Error>"))

    lake.client.meta.events.unregister("before-send.s3.GetObject", flaky)
    lake.client.meta.events.register("before-send.s3.GetObject", always_503)
    calls["n"] = 0
    with pytest.raises(StorageError, match=r"reading a/x.jsonl failed"):
        read_all(lake, "a/x.jsonl")
    assert calls["n"] == 5  # total_max_attempts
    assert Stubber  # botocore is importable for stubbing in other tests


class _Raw:
    """Just enough of a urllib3 response for botocore's AWSResponse."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        yield self._body

    def read(self, *_args) -> bytes:  # noqa: ANN002
        return self._body


def test_a_day_loads_the_same_from_s3_as_from_a_folder(s3_bucket, warehouse_url, tmp_path) -> None:  # noqa: ANN001
    from etl.store.warehouse import Warehouse

    url, schema = warehouse_url
    day = date(2024, 1, 2)
    records = [event("Open", "u1", 1704189600, "a"), "{bad", event("Open", "u2", 1704189601, "b")]
    counts = []
    for lake_url, suffix in ((f"s3://{s3_bucket}/p", "s3"), (str(tmp_path / "lake"), "local")):
        settings = make_settings(url, lake_url, f"{schema}_{suffix}")
        lake = open_lake(lake_url)
        write_jsonl(lake, f"events/dt={day}/a.jsonl.gz", records, compress=True)
        with Warehouse(settings) as warehouse:
            warehouse.init()
            result = run_day(settings, warehouse, lake, day)
        counts.append((result.input_records, result.loaded, result.rejected))
        if url.startswith("postgresql"):
            import sqlalchemy as sa

            engine = sa.create_engine(url)
            with engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}_{suffix}" CASCADE')
            engine.dispose()
    assert counts == [(3, 2, 1), (3, 2, 1)]


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 as a real HTTP endpoint, reached through AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    yield endpoint
    server.stop()


def test_the_command_line_runs_a_day_from_an_s3_endpoint(moto_server, tmp_path) -> None:  # noqa: ANN001
    import boto3

    boto3.client("s3").create_bucket(Bucket="dumps")
    lake = open_lake("s3://dumps/project-1")
    write_jsonl(lake, "events/dt=2024-01-02/a.jsonl.gz",
                [event("Open", "u1", 1704189600, "a"), event("Open", "u1", 1704189600, "a"), "{x"],
                compress=True)
    env = {**os.environ, "GROUP_ETL_LAKE_URL": "s3://dumps/project-1",
           "GROUP_ETL_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'w.duckdb'}"}
    script = Path(sys.executable).parent / "group-etl"
    done = subprocess.run([str(script), "run", "--date", "2024-01-02", "--format", "json"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)["rows"]
    row.pop("seconds")
    assert row == {"date": "2024-01-02", "input_records": 3, "loaded": 2, "rejected": 1, "duplicates": 1,
                   "invalid_group_id": 0, "group_updates": 0, "user_updates": 0}


def test_a_key_with_dot_segments_is_refused(tmp_path: Path) -> None:
    lake = open_lake(str(tmp_path / "lake"))
    for key in ("a/../../escape.txt", "/etc/escape.txt", "a//b.txt", "a/./b.txt"):
        with pytest.raises(StorageError, match=f"refusing a key outside the lake: '{key}'"):
            lake.write(key, b"x")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["lake"]


def test_a_link_at_the_temporary_name_never_redirects_a_write(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    lake = open_lake(str(tmp_path / "lake"))
    lake.write("exports/c/dt=1/part.jsonl", b"old\n")
    (tmp_path / "lake/exports/c/dt=1/part.jsonl.tmp").symlink_to(outside)
    with pytest.raises(StorageError, match=r"^refusing to write 'exports/c/dt=1/part.jsonl': "
                                           r"'part.jsonl.tmp' is a symbolic link$"):
        lake.write("exports/c/dt=1/part.jsonl", b"new\n")
    assert outside.read_bytes() == b"precious"
    assert (tmp_path / "lake/exports/c/dt=1/part.jsonl").read_bytes() == b"old\n"


def test_a_link_at_the_object_itself_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    (tmp_path / "lake/a").mkdir(parents=True)
    (tmp_path / "lake/a/b.jsonl").symlink_to(outside)
    with pytest.raises(StorageError, match="^refusing to write 'a/b.jsonl': 'b.jsonl' is a symbolic link$"):
        open_lake(str(tmp_path / "lake")).write("a/b.jsonl", b"new\n")
    assert outside.read_bytes() == b"precious"


def test_a_linked_folder_never_redirects_a_write(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake/exports").symlink_to(outside)
    lake = open_lake(str(tmp_path / "lake"))
    with pytest.raises(StorageError, match=r"^refusing to write 'exports/c/dt=1/part.jsonl': 'exports' is not "
                                           r"a folder of the lake \(a symbolic link or a file\)"):
        lake.write("exports/c/dt=1/part.jsonl", b"new\n")
    assert list(outside.iterdir()) == []


def test_deleting_a_linked_object_removes_the_link_not_its_target(tmp_path: Path) -> None:
    lake = open_lake(str(tmp_path / "lake"))
    lake.write("a/real.jsonl", b"kept\n")
    (tmp_path / "lake/a/link.jsonl").symlink_to(tmp_path / "lake/a/real.jsonl")
    lake.delete("a/link.jsonl")
    lake.delete("a/missing.jsonl")
    lake.delete("nowhere/missing.jsonl")
    assert [o.key for o in lake.list("a/")] == ["a/real.jsonl"]
    assert (tmp_path / "lake/a/real.jsonl").read_bytes() == b"kept\n"


def test_replacing_a_partition_keeps_the_object_just_written(any_lake: Lake) -> None:
    """Issue 16: export run deleted its own fresh file when a neighbour's name was a
    prefix of it (`part-0000` beside `part-0000.jsonl`): cleanup deletes by exact name."""
    for key in ("exports/c/dt=1/part-0000", "exports/c/dt=1/part-0000.jsonl.old", "exports/c/dt=1/part-0000.jsonl",
                "exports/c/dt=10/part-0000.jsonl"):
        any_lake.write(key, b"stale\n")
    replace_partition(any_lake, "exports/c/dt=1/", "exports/c/dt=1/part-0000.jsonl", b"fresh\n")
    assert [o.key for o in any_lake.list("exports/")] == [
        "exports/c/dt=1/part-0000.jsonl", "exports/c/dt=10/part-0000.jsonl"]
    assert read_all(any_lake, "exports/c/dt=1/part-0000.jsonl") == (b"fresh\n", False)
