"""Writes the bad-input corpus beside this file, and manifest.json with what each
case must give. Run it again after changing a case: `python tests/data/bad/make_corpus.py`.

Each events case is a good line, the bad record, a good line (so "the rest of the
partition loads" is checked every time); profile and CSV cases likewise.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
T = 1717236000  # 2024-06-01T10:00:00Z; the corpus day is 2024-06-01


def ev(insert_id: str, **props) -> dict:  # noqa: ANN003
    return {"event": "Open", "properties": {"distinct_id": "u1", "time": T, "$insert_id": insert_id,
                                            "token": "tok", **props}}


def line(record: object) -> bytes:
    return json.dumps(record).encode()


GOOD_A, GOOD_B = line(ev("good-a")), line(ev("good-b"))


def around(bad: bytes) -> bytes:
    return GOOD_A + b"\n" + bad + b"\n" + GOOD_B + b"\n"


def bad_event(**changes) -> bytes:  # noqa: ANN003
    record = ev("bad")
    for key, value in changes.items():
        if key in ("event", "properties"):
            record[key] = value
        elif value is ...:
            record["properties"].pop(key)
        else:
            record["properties"][key] = value
    return line(record)


EVENTS: dict[str, tuple[bytes, list[str]]] = {
    "malformed_json": (around(b'{"event": "Open", "properties": {'), ["invalid_json"]),
    "non_utf8": (around(b'{"event": "Op\xffen", "properties": {}}'), ["invalid_utf8"]),
    "not_an_object": (around(b"42"), ["not_an_object"]),
    "batch_element_not_an_object": (around(b'[' + GOOD_A.replace(b"good-a", b"in-batch") + b', "x"]'), ["not_an_object"]),
    "empty_batch": (around(b"[]"), ["empty_batch"]),
    "deeply_nested": (around(bad_event(deep=json.loads("[" * 150 + "]" * 150))), ["nesting_too_deep"]),
    "nan": (around(b'{"event": "Open", "properties": {"distinct_id": "u1", "time": NaN}}'), ["invalid_number"]),
    "infinity": (around(b'{"event": "Open", "properties": {"distinct_id": "u1", "time": 1717236000, "v": -Infinity}}'),
                 ["invalid_number"]),
    "nul_character": (around(bad_event(note="a\u0000b")), ["nul_character"]),
    "missing_event": (around(line({"properties": ev("x")["properties"]})), ["missing_event"]),
    "event_not_a_string": (around(bad_event(event=7)), ["invalid_event"]),
    "empty_event": (around(bad_event(event="")), ["invalid_event"]),
    "missing_properties": (around(b'{"event": "Open"}'), ["missing_properties"]),
    "properties_not_an_object": (around(bad_event(properties=["x"])), ["invalid_properties"]),
    "missing_distinct_id": (around(bad_event(distinct_id=...)), ["missing_distinct_id"]),
    "distinct_id_object": (around(bad_event(distinct_id={"id": 1})), ["invalid_distinct_id"]),
    "distinct_id_anon": (around(bad_event(distinct_id="anon")), ["invalid_distinct_id"]),
    "distinct_id_null_string": (around(bad_event(distinct_id="null")), ["invalid_distinct_id"]),
    "distinct_id_undefined": (around(bad_event(distinct_id="undefined")), ["invalid_distinct_id"]),
    "distinct_id_zero": (around(bad_event(distinct_id="0")), ["invalid_distinct_id"]),
    "distinct_id_minus_one": (around(bad_event(distinct_id="-1")), ["invalid_distinct_id"]),
    "distinct_id_zero_uuid": (around(bad_event(distinct_id="00000000-0000-0000-0000-000000000000")),
                              ["invalid_distinct_id"]),
    "missing_time": (around(bad_event(time=...)), ["missing_time"]),
    "time_as_string": (around(bad_event(time=str(T))), ["invalid_time"]),
    "time_negative": (around(bad_event(time=-1)), ["time_before_1971"]),
    "time_before_1971": (around(bad_event(time=31_535_999)), ["time_before_1971"]),
    "time_over_an_hour_in_future": (around(bad_event(time=T + 86_400)), ["time_in_future"]),
    "too_many_properties": (around(bad_event(**{f"p{n}": n for n in range(252)})), ["too_many_properties"]),
    "wrong_token": (around(bad_event(token="someone-else")), ["wrong_token"]),
    # hostile input (issue 16): records no warehouse could store, and misclassifications
    "raw_nul_byte": (around(bad_event(note="a").replace(b'"a"', b'"a\x00b"')), ["nul_character"]),
    "number_1e400": (around(bad_event(v=0).replace(b'"v": 0', b'"v": 1e400')), ["number_out_of_range"]),
    "number_minus_1e400": (around(bad_event(v=0).replace(b'"v": 0', b'"v": -1e400')), ["number_out_of_range"]),
    "number_1e_minus_400": (around(bad_event(v=0).replace(b'"v": 0', b'"v": 1e-400')), ["number_out_of_range"]),
    "number_2000_digits": (around(bad_event(v=0).replace(b'"v": 0', b'"v": ' + b"9" * 2000)),
                           ["number_out_of_range"]),
    "trailing_comma": (around(bad_event(v=0).replace(b'"v": 0', b'"v": 0,')), ["invalid_json"]),
    "trailing_comma_in_list": (around(bad_event(v=[1]).replace(b"[1]", b"[1,]")), ["invalid_json"]),
    "distinct_id_tab_padded": (around(bad_event(distinct_id="\tanon\t")), ["invalid_distinct_id"]),
    "distinct_id_nbsp_padded": (around(bad_event(distinct_id="\u00a0null ")), ["invalid_distinct_id"]),
    "escaped_backslash_u0000": (around(bad_event(note="\\u0000")), []),
    # DuckDB's reader takes nan/inf in any case; outside strings they are bad numbers, inside fine
    "nan_lowercase": (around(bad_event(v=0).replace(b'"v": 0', b'"v": nan')), ["invalid_number"]),
    "inf_any_case": (around(bad_event(v=[0, 0]).replace(b'[0, 0]', b'[-inf, INF]')), ["invalid_number"]),
    "nan_inside_strings": (around(bad_event(note="banana, -inf, Infinity, NAN")), []),
}


def write() -> None:
    manifest: dict[str, dict] = {}
    for name, (content, reasons) in EVENTS.items():
        (HERE / f"events_{name}.jsonl").write_bytes(content)
        manifest[f"events_{name}.jsonl"] = {"kind": "events", "loaded": 3 - len(reasons) + name.startswith("batch"),
                                            "reasons": reasons}
    # binary and large cases
    whole = gzip.compress(GOOD_A + b"\n" + GOOD_B + b"\n" + line(ev("cut", pad="x" * 2000)) + b"\n", mtime=0)
    (HERE / "events_truncated_gzip.jsonl.gz").write_bytes(whole[:-30])
    manifest["events_truncated_gzip.jsonl.gz"] = {"kind": "events", "loaded": 2, "reasons": ["truncated_gzip"]}
    # a CRC-32 that does not match the content: the content decoded, so its lines load
    bad_crc = bytearray(gzip.compress(around(line(ev("crc"))), mtime=0))
    bad_crc[-8:-4] = b"\0\0\0\0"
    (HERE / "events_gzip_bad_crc.jsonl.gz").write_bytes(bytes(bad_crc))
    manifest["events_gzip_bad_crc.jsonl.gz"] = {"kind": "events", "loaded": 3, "reasons": ["truncated_gzip"]}
    # plain lines after the gzip member: kept whole in one reject's raw, not loaded
    (HERE / "events_gzip_trailing_text.jsonl.gz").write_bytes(
        gzip.compress(around(line(ev("in"))), mtime=0) + line(ev("after-1")) + b"\n" + line(ev("after-2")) + b"\n")
    manifest["events_gzip_trailing_text.jsonl.gz"] = {"kind": "events", "loaded": 3, "reasons": ["truncated_gzip"]}
    (HERE / "events_line_over_1mb.jsonl.gz").write_bytes(
        gzip.compress(around(bad_event(blob="x" * 1_100_000)), mtime=0))
    manifest["events_line_over_1mb.jsonl.gz"] = {"kind": "events", "loaded": 2, "reasons": ["oversized_record"]}
    # plain text named .gz: the magic bytes decide, so its three lines load
    (HERE / "events_plain_text_named.jsonl.gz").write_bytes(around(line(ev("plain"))))
    manifest["events_plain_text_named.jsonl.gz"] = {"kind": "events", "loaded": 3, "reasons": []}
    (HERE / "events_zero_bytes.jsonl").write_bytes(b"")
    manifest["events_zero_bytes.jsonl"] = {"kind": "events", "loaded": 0, "reasons": ["empty_object"]}
    # tolerated, not rejected (README): a byte-order mark, blank lines
    (HERE / "events_bom.jsonl").write_bytes(b"\xef\xbb\xbf" + GOOD_A + b"\n" + GOOD_B + b"\n")
    manifest["events_bom.jsonl"] = {"kind": "events", "loaded": 2, "reasons": []}
    (HERE / "events_blank_lines.jsonl").write_bytes(b"\n\r\n" + GOOD_A + b"\n   \n" + GOOD_B + b"\n\n")
    manifest["events_blank_lines.jsonl"] = {"kind": "events", "loaded": 2, "reasons": []}
    # group ids: the event loads; the value is counted as invalid, or capped
    (HERE / "events_group_id_object.jsonl").write_bytes(around(bad_event(company_id={"id": "c1"})))
    manifest["events_group_id_object.jsonl"] = {"kind": "events", "loaded": 3, "reasons": [],
                                                "invalid_group_id": 1, "attributed": 0}
    (HERE / "events_group_id_301_list.jsonl").write_bytes(around(bad_event(company_id=[f"c{n}" for n in range(301)])))
    manifest["events_group_id_301_list.jsonl"] = {"kind": "events", "loaded": 3, "reasons": [],
                                                  "invalid_group_id": 0, "attributed": 300}
    good_group = {"$token": "tok", "$group_key": "company_id", "$group_id": "c1", "$time": T, "$set": {"a": 1}}
    groups = {
        "unknown_operation": ({**good_group, "$set": None, "$explode": {"a": 1}}, "unknown_operation"),
        "several_operations": ({**good_group, "$unset": ["a"]}, "multiple_operations"),
        "missing_group_id": ({k: v for k, v in good_group.items() if k != "$group_id"}, "missing_group_id"),
        "unregistered_group_key": ({**good_group, "$group_key": "account_id"}, "unregistered_group_key"),
        "unset_not_a_list": ({**{k: v for k, v in good_group.items() if k != "$set"}, "$unset": "a"}, "invalid_value"),
        "union_not_lists": ({**{k: v for k, v in good_group.items() if k != "$set"}, "$union": {"tags": "x"}},
                            "invalid_value"),
        # a number that would become an integer of 5,001 digits (over Python's int-string limit)
        "set_number_1e5000": ({**good_group, "$set": {"a": "HUGE"}}, "number_out_of_range"),
        # a bare nan/inf in any case (DuckDB's reader takes them): never folded or stored
        "set_inf_lowercase": ({**good_group, "$set": {"a": "INF"}}, "invalid_number"),
    }
    for name, (record, reason) in groups.items():
        record = {k: v for k, v in record.items() if v is not None}
        (HERE / f"groups_{name}.jsonl").write_bytes(
            line(good_group) + b"\n" + line(record).replace(b'"HUGE"', b"1e5000").replace(b'"INF"', b"inf") + b"\n"
            + line({**good_group, "$group_id": "c2"}) + b"\n")
        manifest[f"groups_{name}.jsonl"] = {"kind": "groups", "loaded": 2, "reasons": [reason]}
    good_user = {"$token": "tok", "$distinct_id": "u1", "$time": T, "$add": {"n": 1}}
    (HERE / "people_add_not_a_number.jsonl").write_bytes(
        line(good_user) + b"\n" + line({**good_user, "$add": {"n": "one"}}) + b"\n" + line(good_user) + b"\n")
    manifest["people_add_not_a_number.jsonl"] = {"kind": "people", "loaded": 2, "reasons": ["invalid_value"]}
    csvs = {
        "csv_no_header.csv": (b"", "line 1: no header row"),
        "csv_no_group_id.csv": (b"name,plan\nAcme,pro\n", "line 1: the header has no $group_id column"),
        "csv_ragged_row.csv": (b"$group_id,plan\nc1,pro\nc2,free,extra\n", "line 3: expected 2 fields, found 3"),
        "csv_wrong_delimiter.csv": (b"$group_id;plan\nc1;pro\n", "line 1: the header has no $group_id column"),
        "csv_not_utf8.csv": (b"$group_id,plan\nc1,pr\xe9\n", "line 2: not UTF-8"),
        "csv_empty_id.csv": (b"$group_id,plan\n,pro\n", "line 2: empty $group_id"),
        "csv_repeated_header.csv": (b"$group_id,plan,seats,plan\nc1,pro,5,free\n",
                                    "line 1: repeated column(s) 'plan': each property must have one column"),
    }
    for name, (content, message) in csvs.items():
        (HERE / name).write_bytes(content)
        manifest[name] = {"kind": "csv", "error": message}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    write()
