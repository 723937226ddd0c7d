"""Layer 1: the columnar event parser on a handful of lines (no warehouse)."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from etl.ingest.events import EVENT_COLUMNS, parse_day
from etl.ingest.records import ACCEPTED, REJECT_COLUMNS, REJECTED
from etl.store.columnar import columnar_engine
from etl.store.lake import LocalLake

DAY = date(2024, 3, 10)
T0 = int(datetime(2024, 3, 10, 12, tzinfo=UTC).timestamp())


def parse(tmp_path: Path, content: bytes, name: str = "a.jsonl", tz: str = "UTC",
          token: str | None = None) -> tuple[list[dict], list[dict]]:
    lake = LocalLake(tmp_path)
    lake.write(f"events/dt={DAY}/{name}", content)
    objects = lake.list(f"events/dt={DAY}/")
    with columnar_engine() as engine:
        parsed = parse_day(engine, lake, objects, DAY, ZoneInfo(tz), token)
        events = _rows(engine, parsed, ACCEPTED, EVENT_COLUMNS)
        rejects = _rows(engine, parsed, REJECTED, REJECT_COLUMNS)
    assert parsed.loaded == len(events) and parsed.rejected == len(rejects)
    return events, rejects


def _rows(engine, parsed, where, columns):  # noqa: ANN001, ANN202
    """The rows the warehouse would get from the parts (`Warehouse.bulk_insert`)."""
    if not parsed.files:
        return []
    engine.con.register("parts", parsed.rows())
    rel = engine.con.sql(f"SELECT {', '.join(columns)} FROM parts "  # noqa: S608
                         f"WHERE {where} ORDER BY source_line, source_index")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def line(record: object) -> str:
    return json.dumps(record)


def ev(name="Signed Up", distinct_id="u1", time=T0, insert_id="i1", **props):  # noqa: ANN001, ANN003, ANN201
    properties = {"distinct_id": distinct_id, "time": time, "$insert_id": insert_id, **props}
    return {"event": name, "properties": {k: v for k, v in properties.items() if v is not None}}


def test_a_good_event_keeps_every_property(tmp_path: Path) -> None:
    events, rejects = parse(tmp_path, (line(ev(plan="pro", n=3)) + "\n").encode())
    assert rejects == []
    [row] = events
    assert (row["event"], row["distinct_id"], row["insert_id"]) == ("Signed Up", "u1", "i1")
    assert row["event_time"] == datetime.fromtimestamp(T0, UTC)
    assert row["event_date"] == DAY
    assert json.loads(row["properties"]) == {"distinct_id": "u1", "time": T0, "$insert_id": "i1",
                                             "plan": "pro", "n": 3}
    assert (row["source_line"], row["source_index"]) == (1, 0)


def test_milliseconds_and_float_seconds(tmp_path: Path) -> None:
    content = "\n".join([line(ev(time=T0 * 1000 + 250, insert_id="a")),
                         line(ev(time=T0 + 0.5, insert_id="b"))]).encode()
    events, _ = parse(tmp_path, content)
    assert [e["event_time"] for e in events] == [
        datetime.fromtimestamp(T0 + 0.25, UTC), datetime.fromtimestamp(T0 + 0.5, UTC)]


def test_event_date_is_in_the_project_time_zone(tmp_path: Path) -> None:
    early = int(datetime(2024, 3, 10, 3, tzinfo=UTC).timestamp())  # 2024-03-09 22:00 in New York
    events, _ = parse(tmp_path, (line(ev(time=early)) + "\n").encode(), tz="America/New_York")
    assert events[0]["event_date"] == date(2024, 3, 9)


def test_batch_lines_give_one_record_per_element(tmp_path: Path) -> None:
    batch = [ev(insert_id="a"), ev(distinct_id="anon", insert_id="b"), ev(insert_id="c")]
    events, rejects = parse(tmp_path, (line(batch) + "\n").encode())
    assert [(e["source_line"], e["source_index"], e["insert_id"]) for e in events] == [(1, 0, "a"), (1, 2, "c")]
    assert [(r["source_line"], r["source_index"], r["reason"]) for r in rejects] == [(1, 1, "invalid_distinct_id")]
    assert json.loads(rejects[0]["raw"]) == batch[1]


BAD_LINES = [
    ('{"event": "x", "properties": {', "invalid_json"),
    ('"just a string"', "not_an_object"),
    ("[]", "empty_batch"),
    (line({"properties": {"distinct_id": "u", "time": T0}}), "missing_event"),
    (line({"event": 5, "properties": {"distinct_id": "u", "time": T0}}), "invalid_event"),
    (line({"event": "x"}), "missing_properties"),
    (line({"event": "x", "properties": [1]}), "invalid_properties"),
    (line(ev(distinct_id=None)), "missing_distinct_id"),
    (line(ev(distinct_id="anon")), "invalid_distinct_id"),
    (line(ev(distinct_id="NULL")), "invalid_distinct_id"),
    (line(ev(distinct_id="undefined")), "invalid_distinct_id"),
    (line(ev(distinct_id="0")), "invalid_distinct_id"),
    (line(ev(distinct_id="-1")), "invalid_distinct_id"),
    (line(ev(distinct_id="00000000-0000-0000-0000-000000000000")), "invalid_distinct_id"),
    (line(ev(distinct_id={"a": 1})), "invalid_distinct_id"),
    (line(ev(time=None)), "missing_time"),
    (line(ev(time=str(T0))), "invalid_time"),
    (line(ev(time=-5)), "time_before_1971"),
    (line(ev(time=31_535_999)), "time_before_1971"),
    (line(ev(time=T0 + 86_400 + 3600 - 12 * 3600 + 1)), "time_in_future"),
    ('{"event": "x", "properties": {"distinct_id": "u", "time": NaN}}', "invalid_number"),
    ('{"event": "x", "properties": {"distinct_id": "u", "time": 1710072000, "v": Infinity}}', "invalid_number"),
    (line(ev(v="\u0000")), "nul_character"),
    (line(ev(**{f"p{n}": n for n in range(253)})), "too_many_properties"),
    (line(ev(blob="x" * 1_100_000)), "oversized_record"),
]


@pytest.mark.parametrize(("text", "reason"), BAD_LINES, ids=[r for _, r in BAD_LINES])
def test_each_bad_record_is_rejected_with_its_reason_and_raw_text(tmp_path: Path, text: str, reason: str) -> None:
    good = line(ev(insert_id="good"))
    events, rejects = parse(tmp_path, f"{good}\n{text}\n{good}\n".encode())
    assert [(r["source_line"], r["reason"]) for r in rejects] == [(2, reason)]
    # an oversized record keeps its length and first 1024 characters
    assert rejects[0]["raw"] == (f"truncated:{len(text)}:{text[:1024]}" if reason == "oversized_record" else text)
    assert [e["source_line"] for e in events] == [1, 3]


def test_boundaries_of_the_time_rule_load(tmp_path: Path) -> None:
    last_allowed = int(datetime(2024, 3, 11, 1, tzinfo=UTC).timestamp())
    content = "\n".join([line(ev(time=31_536_000, insert_id="a")),
                         line(ev(time=last_allowed, insert_id="b"))]).encode()
    events, rejects = parse(tmp_path, content)
    assert rejects == [] and len(events) == 2


def test_a_string_containing_nan_is_not_a_bad_number(tmp_path: Path) -> None:
    events, rejects = parse(tmp_path, (line(ev(note="NaN, Infinity]", nan="banana info -inf")) + "\n").encode())
    assert rejects == [] and len(events) == 1


@pytest.mark.parametrize("token", ["nan", "-nan", "Nan", "NAN", "inf", "Inf", "INF", "-inf", "infinity", "-Infinity"])
def test_a_bare_nan_or_inf_in_any_case_is_a_bad_number(tmp_path: Path, token: str) -> None:
    # DuckDB's JSON reader takes these in any case; JSON (and PostgreSQL) take none of them
    text = f'{{"event":"e","properties":{{"distinct_id":"u1","time":1710072000,"$insert_id":"a","n":{token}}}}}'
    events, rejects = parse(tmp_path, (line(ev(insert_id="good")) + "\n" + text + "\n").encode())
    assert [(r["reason"], r["raw"]) for r in rejects] == [("invalid_number", text)]
    assert [e["insert_id"] for e in events] == ["good"]


def test_wrong_token_only_when_a_token_is_configured(tmp_path: Path) -> None:
    content = (line(ev(token="other")) + "\n" + line(ev(token="mine", insert_id="2")) + "\n").encode()
    _, rejects = parse(tmp_path, content)
    assert rejects == []
    events, rejects = parse(tmp_path / "t", content, token="mine")
    assert [r["reason"] for r in rejects] == ["wrong_token"]
    assert [e["insert_id"] for e in events] == ["2"]


def test_invalid_utf8_keeps_the_bytes_as_base64(tmp_path: Path) -> None:
    bad = b'\xff\xfe{"a":1}'
    events, rejects = parse(tmp_path, bad + b"\n" + (line(ev()) + "\n").encode())
    expected = "base64:" + base64.b64encode(bad).decode()
    assert [(r["source_line"], r["reason"], r["raw"]) for r in rejects] == [(1, "invalid_utf8", expected)]
    assert len(events) == 1


def test_bom_blank_lines_and_crlf_are_tolerated(tmp_path: Path) -> None:
    content = ("\ufeff" + line(ev(insert_id="a")) + "\r\n\r\n   \n\t \r\n" + " \t" + line(ev(insert_id="b"))).encode()
    events, rejects = parse(tmp_path, content)
    assert rejects == []
    assert [(e["source_line"], e["insert_id"]) for e in events] == [(1, "a"), (5, "b")]


def test_gzip_by_extension_and_by_magic_bytes(tmp_path: Path) -> None:
    payload = gzip.compress((line(ev()) + "\n").encode())
    assert len(parse(tmp_path / "a", payload, name="x.jsonl.gz")[0]) == 1
    assert len(parse(tmp_path / "b", payload, name="x.jsonl")[0]) == 1


def test_truncated_gzip_keeps_complete_lines_and_rejects_the_cut_tail(tmp_path: Path) -> None:
    lines = [line(ev(insert_id=str(n), pad="x" * 50)) for n in range(200)]
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    events, rejects = parse(tmp_path, whole[: len(whole) // 2], name="x.jsonl.gz")
    assert [r["reason"] for r in rejects] == ["truncated_gzip"]
    assert rejects[0]["source_line"] == len(events) + 1
    assert 0 < len(events) < 200
    assert [e["insert_id"] for e in events] == [str(n) for n in range(len(events))]


def test_gzip_with_a_bad_crc_loads_its_lines_and_rejects_one_record_naming_it(tmp_path: Path) -> None:
    lines = [line(ev(insert_id=str(n))) for n in range(1000)]
    packed = bytearray(gzip.compress(("\n".join(lines) + "\n").encode()))
    packed[-8:-4] = b"\0\0\0\0"  # the CRC-32
    events, rejects = parse(tmp_path, bytes(packed), name="x.jsonl.gz")
    assert [e["insert_id"] for e in events] == [str(n) for n in range(1000)]
    assert [(r["source_line"], r["reason"], r["raw"]) for r in rejects] == [
        (1001, "truncated_gzip", "gzip check failed: CRC-32 or length of 1 member(s) (their lines loaded)")]


def test_bytes_after_the_last_gzip_member_are_kept_in_one_reject(tmp_path: Path) -> None:
    inside = [line(ev(insert_id=str(n))) for n in range(3)]
    after = line(ev(insert_id="after-1")) + "\n" + line(ev(insert_id="after-2")) + "\n"
    packed = gzip.compress(("\n".join(inside) + "\n").encode()) + b"\0\0" + after.encode()
    events, rejects = parse(tmp_path, packed, name="x.jsonl.gz")
    assert [e["insert_id"] for e in events] == ["0", "1", "2"]
    assert [(r["source_line"], r["reason"], r["raw"]) for r in rejects] == [(4, "truncated_gzip", after.rstrip("\n"))]


def test_trailing_bytes_not_utf8_are_base64_and_long_ones_truncated(tmp_path: Path) -> None:
    packed = gzip.compress(line(ev(insert_id="0")).encode())  # no final newline: the line loads
    events, rejects = parse(tmp_path, packed + b"\xff\xfe", name="x.jsonl.gz")
    assert [e["insert_id"] for e in events] == ["0"]
    assert [r["raw"] for r in rejects] == ["base64:" + base64.b64encode(b"\xff\xfe").decode()]
    _, rejects = parse(tmp_path / "long", packed + b"x" * 2_000_000, name="x.jsonl.gz")
    assert [r["raw"] for r in rejects] == ["truncated:2000000:" + "x" * 1024]


def test_zero_padding_after_a_gzip_member_is_not_a_reject(tmp_path: Path) -> None:
    packed = gzip.compress((line(ev(insert_id="0")) + "\n").encode())
    events, rejects = parse(tmp_path, packed + b"\0" * 512 + packed + b"\0" * 3, name="x.jsonl.gz")
    assert (len(events), rejects) == (2, [])


def test_zero_byte_object_is_recorded(tmp_path: Path) -> None:
    events, rejects = parse(tmp_path, b"")
    assert events == []
    assert [(r["source_line"], r["reason"], r["raw"]) for r in rejects] == [(1, "empty_object", "")]


def test_copies_share_an_event_id_and_records_without_insert_id_never_do(tmp_path: Path) -> None:
    content = "\n".join([
        line(ev(time=T0 + 0.2, other="a")), line(ev(time=T0 + 0.7, other="b")),  # same second: copies
        line(ev(time=T0 + 1)),                                                  # next second: not
        line(ev(insert_id=None)), line(ev(insert_id=None)),
    ]).encode()
    events, _ = parse(tmp_path, content)
    ids = [e["event_id"] for e in events]
    assert ids[0] == ids[1]
    assert len(set(ids)) == 4
    assert [e["insert_id"] for e in events[3:]] == [None, None]


def test_the_record_limit_applies_to_lines_and_batch_elements(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("GROUP_ETL_MAX_RECORD_BYTES", "2048")
    small, big = line(ev(insert_id="s", blob="y" * 1500)), line(ev(insert_id="b", blob="z" * 3000))
    batch = f"[{small}, {big}]"
    compact = json.dumps(json.loads(big), separators=(",", ":"))
    events, rejects = parse(tmp_path, f"{small}\n{big}\n{batch}\n[{big}, {{]\n".encode())
    assert [(e["source_line"], e["source_index"]) for e in events] == [(1, 0), (3, 0)]
    assert [(r["source_line"], r["source_index"], r["reason"], r["raw"]) for r in rejects] == [
        (2, 0, "oversized_record", f"truncated:{len(big)}:{big[:1024]}"),
        (3, 1, "oversized_record", f"truncated:{len(compact)}:{compact[:1024]}"),  # an element as DuckDB writes it
        (4, 0, "oversized_record", f"truncated:{len(big) + 5}:[{big[:1023]}"),
    ]


@pytest.mark.parametrize("batch_bytes", [32 * 1024 * 1024, 150])  # one query for all objects, or several
def test_the_lines_of_many_objects_share_a_query_and_keep_their_object(tmp_path: Path, monkeypatch,  # noqa: ANN001
                                                                         batch_bytes: int) -> None:
    monkeypatch.setattr("etl.ingest.records.BATCH_BYTES", batch_bytes)
    lake = LocalLake(tmp_path)
    prefix = f"events/dt={DAY}/"
    lake.write(prefix + "a.jsonl", f"{line(ev(insert_id='a1'))}\n{line(ev(insert_id='a2'))}\n".encode())
    lake.write(prefix + "b.jsonl", f"\ufeff{line(ev(insert_id='b1'))}\n{{bad\n".encode())
    lake.write(prefix + "c.jsonl", b"")
    lake.write(prefix + "d.jsonl.gz", gzip.compress(line(ev(insert_id="no-id", distinct_id="u2")).encode()))
    lake.write(prefix + "e.jsonl", line(ev(insert_id=None)).encode())
    with columnar_engine() as engine:
        parsed = parse_day(engine, lake, lake.list(prefix), DAY, ZoneInfo("UTC"), None)
        events = _rows(engine, parsed, ACCEPTED, EVENT_COLUMNS)
        rejects = _rows(engine, parsed, REJECTED, REJECT_COLUMNS)
    assert sorted((e["source_object"], e["source_line"], e["insert_id"]) for e in events) == [
        (prefix + "a.jsonl", 1, "a1"), (prefix + "a.jsonl", 2, "a2"), (prefix + "b.jsonl", 1, "b1"),
        (prefix + "d.jsonl.gz", 1, "no-id"), (prefix + "e.jsonl", 1, None)]
    assert sorted((r["source_object"], r["source_line"], r["reason"]) for r in rejects) == [
        (prefix + "b.jsonl", 2, "invalid_json"), (prefix + "c.jsonl", 1, "empty_object")]
    # a record without $insert_id is identified by its object and line: never a duplicate of another
    [no_id] = [e for e in events if e["insert_id"] is None]
    assert no_id["event_id"] not in {e["event_id"] for e in events if e is not no_id}
    assert (parsed.loaded, parsed.rejected) == (5, 2)
    assert len(parsed.files) == (1 if batch_bytes > 1000 else 4)


# Hostile input (issue 16): misclassifications and records no warehouse could store.
HOSTILE_LINES = [
    ('{"event": "x", "properties": {"distinct_id": "u", "time": 1710072000, "a": 1,}}', "invalid_json"),
    ('{"event": "x", "properties": {"distinct_id": "u", "time": 1710072000, "a": [1,]}}', "invalid_json"),
    (line(ev(v=1)).replace('"v": 1', '"v": 1e400'), "number_out_of_range"),
    (line(ev(v=1)).replace('"v": 1', '"v": -1e400'), "number_out_of_range"),
    (line(ev(v=1)).replace('"v": 1', '"v": 1e-400'), "number_out_of_range"),
    (line(ev(v=1)).replace('"v": 1', '"v": ' + "9" * 2000), "number_out_of_range"),
    (line(ev(v=1)).replace('"v": 1', '"v": 0.' + "0" * 400 + "1"), "number_out_of_range"),
    (line(ev(v="\\\\\u0000")), "nul_character"),  # an escaped backslash, then the NUL escape
]


@pytest.mark.parametrize(("text", "reason"), HOSTILE_LINES, ids=[f"{r}-{n}" for n, (_, r) in enumerate(HOSTILE_LINES)])
def test_hostile_records_are_rejected_with_their_reason(tmp_path: Path, text: str, reason: str) -> None:
    good = line(ev(insert_id="good"))
    events, rejects = parse(tmp_path, f"{good}\n{text}\n{good}\n".encode())
    assert [(r["source_line"], r["reason"], r["raw"]) for r in rejects] == [(2, reason, text)]
    assert len(events) == 2


@pytest.mark.parametrize("value", ["1e308", "-1e308", "1e-300", "0e999", "0.0", "1" + "0" * 300, "1.5e-07"])
def test_numbers_a_double_holds_load(tmp_path: Path, value: str) -> None:
    text = line(ev(v=1)).replace('"v": 1', f'"v": {value}')
    events, rejects = parse(tmp_path, f"{text}\n".encode())
    assert rejects == [] and len(events) == 1


def test_strings_that_look_like_hostile_values_load(tmp_path: Path) -> None:
    """A literal backslash before u0000, a comma before } and a long number, all inside strings."""
    records = [ev(insert_id="a", v="\\u0000"), ev(insert_id="b", v="x,}"), ev(insert_id="c", v="1e400" + "9" * 400),
               ev(insert_id="d", **{"k,]": 1})]
    events, rejects = parse(tmp_path, "".join(line(r) + "\n" for r in records).encode())
    assert rejects == [] and [e["insert_id"] for e in events] == ["a", "b", "c", "d"]


def test_a_raw_nul_byte_is_rejected_and_kept_as_base64(tmp_path: Path) -> None:
    bad = line(ev(v="a")).replace('"a"', '"a\x00b"')
    events, rejects = parse(tmp_path, f"{bad}\n{line(ev(insert_id='ok'))}\n".encode())
    assert [(r["reason"], r["raw"]) for r in rejects] == [
        ("nul_character", "base64:" + base64.b64encode(bad.encode()).decode())]
    assert len(events) == 1


@pytest.mark.parametrize("padded", [" anon ", "\tanon\t", "\nnull", "undefined\u00a0", "\u3000none", "\u2003N/A\r"])
def test_a_placeholder_is_refused_whatever_whitespace_pads_it(tmp_path: Path, padded: str) -> None:
    events, rejects = parse(tmp_path, (line(ev(distinct_id=padded)) + "\n").encode())
    assert [r["reason"] for r in rejects] == ["invalid_distinct_id"] and events == []


def test_event_date_and_future_check_use_one_zone_data(tmp_path: Path) -> None:
    """Both come from the query (DuckDB's zone data): the last allowed second of the day
    gets the next day's date there, and one second more is in the future."""
    from etl.ingest.records import common_params

    assert "latest_epoch" not in common_params(DAY, ZoneInfo("America/Sao_Paulo"), None)
    last = int(datetime(2024, 3, 11, 4, tzinfo=UTC).timestamp())  # 2024-03-11 00:00 -03:00, plus one hour
    content = f"{line(ev(time=last, insert_id='a'))}\n{line(ev(time=last + 1, insert_id='b'))}\n".encode()
    events, rejects = parse(tmp_path, content, tz="America/Sao_Paulo")
    assert [(e["insert_id"], e["event_date"]) for e in events] == [("a", date(2024, 3, 11))]
    assert [r["reason"] for r in rejects] == ["time_in_future"]


def test_of_repeated_names_the_last_wins(tmp_path: Path) -> None:
    """As PostgreSQL's JSONB and JSON.parse read them; nested or string copies do not count."""
    lines = [
        '{"event":"first","event":"last","properties":{"distinct_id":"a","time":1710072000,"$insert_id":"1"}}',
        '{"event":"E","properties":{"distinct_id":"a","distinct_id":"b","time":1,"time":1710072000,'
        '"$insert_id":"x","$insert_id":"2","token":"t","token":"mine"}}',
        '{"event":"E","properties":{"distinct_id":"c","o":{"distinct_id":"d"},"s":"\\"distinct_id\\"",'
        '"time":1710072000,"$insert_id":"3","token":"mine"}}',
        '{"event":"E","properties":{"time":1710072000,"distinct_id":"x"},'
        '"properties":{"distinct_id":"e","time":1710072000,"$insert_id":"4"}}',
    ]
    events, rejects = parse(tmp_path, ("\n".join(lines) + "\n").encode())
    assert rejects == []
    assert [(e["event"], e["distinct_id"], e["insert_id"]) for e in events] == [
        ("last", "a", "1"), ("E", "b", "2"), ("E", "c", "3"), ("E", "e", "4")]
    assert json.loads(events[3]["properties"]) == {"distinct_id": "e", "time": 1710072000, "$insert_id": "4"}
    _, rejects = parse(tmp_path / "t", (lines[1] + "\n").encode(), token="t")
    assert [r["reason"] for r in rejects] == ["wrong_token"]


def test_a_lone_surrogate_escape_is_invalid_json(tmp_path: Path) -> None:
    """PostgreSQL's JSONB refuses it, so it must never reach the warehouse."""
    bad = line(ev(v=1)).replace('"v": 1', '"v": "\\ud800"')
    events, rejects = parse(tmp_path, f"{bad}\n".encode())
    assert [(r["reason"], r["raw"]) for r in rejects] == [("invalid_json", bad)] and events == []


def test_a_zone_whose_data_differs_between_duckdb_and_python(tmp_path: Path) -> None:
    """Africa/Casablanca on 2026-10-15: Python's tzdata (this venv) puts midnight at UTC+1,
    DuckDB's ICU data at UTC+0. The future-time check and event_date both follow DuckDB."""
    import duckdb

    day, tz = date(2026, 10, 14), "Africa/Casablanca"
    with duckdb.connect() as con:  # its own connection: the default one is shared by the process
        end = con.sql(f"SELECT epoch(timezone('{tz}', TIMESTAMP '2026-10-15 00:00:00'))").fetchall()[0][0]
    lake = LocalLake(tmp_path)
    lake.write(f"events/dt={day}/a.jsonl", "".join(
        line(ev(time=int(end) + 3600 + n, insert_id=str(n))) + "\n" for n in (0, 1)).encode())
    with columnar_engine() as engine:
        parsed = parse_day(engine, lake, lake.list(f"events/dt={day}/"), day, ZoneInfo(tz), None)
        events = _rows(engine, parsed, ACCEPTED, EVENT_COLUMNS)
        rejects = _rows(engine, parsed, REJECTED, REJECT_COLUMNS)
    assert [(e["insert_id"], e["event_date"]) for e in events] == [("0", date(2026, 10, 15))]
    assert [r["reason"] for r in rejects] == ["time_in_future"]


NAN_TOKENS = ["NaN", "nan", "nAn", "-NaN", "-nan", "Inf", "inf", "INF", "-Inf", "Infinity", "-Infinity", "iNfInItY"]
NAN_SPACES = ["", " ", "\t", "\r", " \t\r "]
NAN_PLACES = ['"n":{s}{t}', '"n": [{s}{t}{s}]', '"n": [1,{s}{t}]', '"n": [[{s}{t}]]', '"n": {{"m":{s}{t}}}',
              '"n": [{{"m": [0,{s}{t}]}}]', '"n"{s}:{s}{t}{s}']


def test_a_bare_nan_or_inf_is_rejected_wherever_json_puts_a_value(tmp_path: Path) -> None:
    """Every spelling DuckDB's reader takes, after : , or [ with any JSON whitespace, nested
    or not, in a line or in a batch line: the `suspect` pattern that screens NaN and Inf
    (sql/ingest/split_records.sql) lets none of them through as a number."""
    records = [f'{{"event":"e","properties":{{"distinct_id":"u1","time":{T0},"$insert_id":"i{i}",'
               + place.format(s=s, t=t) + "}}"
               for i, (place, s, t) in enumerate((p, s, t) for p in NAN_PLACES for s in NAN_SPACES for t in NAN_TOKENS)]
    batches = [f"[{line(ev(insert_id=f'b{i}'))},{s}{record}]" for i, (s, record) in
               enumerate(zip(NAN_SPACES * 2, records[::len(records) // 10], strict=False))]
    events, rejects = parse(tmp_path, ("\n".join(records + batches) + "\n").encode())
    assert {r["reason"] for r in rejects} == {"invalid_number"}
    assert len(rejects) == len(records) + len(batches)
    assert sorted(e["insert_id"] for e in events) == sorted(f"b{i}" for i in range(len(batches)))
