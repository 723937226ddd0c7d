"""The bad-input corpus (tests/data/bad/, manifest.json): every class is rejected
with its stated reason while the rest of its partition loads, and for every load
input_records = loaded + rejected. On DuckDB and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl.errors import DataError
from etl.model.keys import add_key
from etl.model.uploads import upload_csv
from etl.run.day import run_day
from tests.support import snapshot

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
DAY = date(2024, 6, 1)


def test_the_corpus_has_at_least_30_classes() -> None:
    assert len(MANIFEST) >= 30
    assert sorted(p.name for p in CORPUS.iterdir() if p.name not in ("manifest.json", "make_corpus.py")) == sorted(MANIFEST)


@pytest.mark.slow  # an oracle or a whole corpus: CI (make test), not the edit loop
@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_bad_input_class(settings, warehouse, lake, name: str) -> None:  # noqa: ANN001
    case = MANIFEST[name]
    settings = replace(settings, project_token="tok")
    add_key(warehouse, "company_id", max_keys=6, setup_at=datetime(2024, 1, 1, tzinfo=UTC))
    data = (CORPUS / name).read_bytes()
    if case["kind"] == "csv":
        before = snapshot(warehouse)
        with pytest.raises(DataError) as caught:
            upload_csv(warehouse, "company_id", name, data, max_profiles=100)
        assert str(caught.value).startswith(f"{name} {case['error']}")
        assert snapshot(warehouse) == before
        return
    lake.write(f"{case['kind']}/dt={DAY}/{name}", data)
    run_day(settings, warehouse, lake, DAY, allow_empty=True)  # groups/ or people/ alone: no landed day
    with warehouse.begin() as conn:
        reasons = sorted(conn.execute(sa.text("SELECT reason FROM rejected_records")).scalars())
        audit = {r.stage: r for r in conn.execute(sa.text(
            "SELECT stage, input_records, loaded, rejected, invalid_group_id FROM load_audit"))}
        attributed = conn.execute(sa.text("SELECT count(*) FROM event_groups")).scalar()
    assert reasons == sorted(case["reasons"])
    row = audit[case["kind"]]
    assert (row.loaded, row.rejected) == (case["loaded"], len(case["reasons"]))
    assert all(r.input_records == r.loaded + r.rejected for r in audit.values())
    if "invalid_group_id" in case:
        assert (row.invalid_group_id, attributed) == (case["invalid_group_id"], case["attributed"])


def test_gzip_problems_keep_their_lines_and_name_what_was_lost(settings, warehouse, lake) -> None:  # noqa: ANN001
    # the raws of the two gzip cases above, stored alike by both engines
    for name in ("events_gzip_bad_crc.jsonl.gz", "events_gzip_trailing_text.jsonl.gz"):
        lake.write(f"events/dt={DAY}/{name}", (CORPUS / name).read_bytes())
    run_day(settings, warehouse, lake, DAY, allow_empty=True)
    with warehouse.begin() as conn:
        rejects = conn.execute(sa.text(
            "SELECT source_object, source_line, reason, raw FROM rejected_records ORDER BY 1")).all()
        audit = conn.execute(sa.text(
            "SELECT input_records, loaded, rejected FROM load_audit WHERE stage = 'events'")).one()
    after = [json.loads(t) for t in rejects[1].raw.split("\n")]
    assert [(r.source_object.split("/")[-1], r.source_line, r.reason) for r in rejects] == [
        ("events_gzip_bad_crc.jsonl.gz", 4, "truncated_gzip"),
        ("events_gzip_trailing_text.jsonl.gz", 4, "truncated_gzip")]
    assert rejects[0].raw == "gzip check failed: CRC-32 or length of 1 member(s) (their lines loaded)"
    assert [a["properties"]["$insert_id"] for a in after] == ["after-1", "after-2"]
    assert tuple(audit) == (8, 6, 2)  # three lines loaded of each object, one reject each
