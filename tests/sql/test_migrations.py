"""Numbered migrations and read-only opening, on DuckDB and PostgreSQL: versions
applied once, old warehouses upgraded, newer ones refused, readers never write."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from etl.errors import EtlError
from etl.model.keys import add_key, list_keys
from etl.run.day import run_day
from etl.store.lake import open_lake
from etl.store.migrations import latest_version, migrations
from etl.store.warehouse import Warehouse, safe_url
from tests.support import TABLES, event, make_settings, write_jsonl

LATEST = 13
D1 = date(2024, 7, 1)
T = int(datetime(2024, 7, 1, 12, tzinfo=UTC).timestamp())


def where(settings) -> str:  # noqa: ANN001
    return f"{safe_url(settings.warehouse_url)} (schema {settings.schema})"


def versions(warehouse: Warehouse) -> list[tuple]:
    with warehouse.begin() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT version, applied_at FROM schema_version ORDER BY version"))]


def tables(warehouse: Warehouse) -> set[str]:
    with warehouse.begin() as conn:
        return set(conn.execute(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :s "
            "AND table_catalog = current_database()"), {"s": warehouse.schema}).scalars())


def old_baseline(warehouse: Warehouse, *, version: int = 5, skip: str | None = None) -> None:
    """What group-etl wrote before migrations: the baseline's DDL and one schema_version row."""
    with warehouse.begin() as conn:
        if warehouse.dialect == "postgresql":
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{warehouse.schema}"')
        for statement in migrations()[0].statements(warehouse.dialect):
            if skip is None or skip not in statement:
                conn.exec_driver_sql(statement)
        conn.execute(sa.text("INSERT INTO schema_version VALUES (:v, :at)"),
                     {"v": version, "at": datetime(2025, 1, 1, tzinfo=UTC)})


def test_the_shipped_migrations_are_numbered_from_the_baseline() -> None:
    assert [(m.version, m.name) for m in migrations()] == [(5, "baseline"), (6, "drop_export_sessions"),
                                                             (7, "project_settings"), (8, "export_days"), (9, "event_identity"),
                                                             (10, "upload_failures"), (11, "group_activity_daily"), (12, "cohort_ids"),
                                                             (13, "brin_date_indexes")]
    assert latest_version() == LATEST
    baseline = migrations()[0]
    assert [only for only, _ in baseline.parts] == [None, "duckdb", "postgresql"]
    # the engine's own part runs after the common DDL, and only on its engine
    assert baseline.statements("postgresql")[-1].startswith("CREATE INDEX IF NOT EXISTS rejected_records_load")
    assert not any("CREATE INDEX" in s for s in baseline.statements("duckdb"))
    assert "JSONB" in baseline.statements("postgresql")[2] and "JSONB" not in baseline.statements("duckdb")[2]


def test_a_fresh_warehouse_migrates_to_the_latest_version(settings) -> None:  # noqa: ANN001
    with Warehouse(settings) as warehouse:
        assert warehouse.schema_version() is None
        assert warehouse.migrate() == LATEST
        assert [v for v, _ in versions(warehouse)] == [5, 6, 7, 8, 9, 10, 11, 12, 13]
        assert tables(warehouse) == {*TABLES, "schema_version", "events_deduped", "export_days", "project_settings", "cohort_ids"}
    with Warehouse(settings, read_only=True) as reader:
        assert reader.check_version() == LATEST


def test_init_twice_is_a_no_op(settings) -> None:  # noqa: ANN001
    with Warehouse(settings) as warehouse:
        assert warehouse.init() == LATEST
        first = versions(warehouse)
    with Warehouse(settings) as warehouse:
        assert warehouse.init() == LATEST
        assert warehouse.migrate() == LATEST
        assert versions(warehouse) == first
        assert len(first) == 9


def test_a_version_5_warehouse_made_by_the_old_code_is_upgraded_and_keeps_its_data(settings) -> None:  # noqa: ANN001
    with Warehouse(settings) as warehouse:
        old_baseline(warehouse)
        key = add_key(warehouse, "company_id", max_keys=6, setup_at=datetime(2024, 6, 1, tzinfo=UTC))
        with warehouse.begin() as conn:
            conn.execute(sa.text("INSERT INTO export_sessions VALUES ('s', 0, 'c1', '{}', :at)"),
                         {"at": datetime(2025, 1, 1, tzinfo=UTC)})
    with pytest.raises(EtlError) as refused:
        Warehouse(settings, read_only=True)
    assert str(refused.value) == (f"warehouse {where(settings)}: schema version 5 is older than this "
                                  f"group-etl's {LATEST}: run `group-etl migrate`")
    with Warehouse(settings) as warehouse:
        assert warehouse.migrate() == LATEST
        assert [v for v, _ in versions(warehouse)] == [5, 6, 7, 8, 9, 10, 11, 12, 13]
        assert "export_sessions" not in tables(warehouse)
        assert list_keys(warehouse) == [key]
        # and the pipeline runs on it as on a fresh one
        lake = open_lake(settings.lake_url)
        write_jsonl(lake, f"events/dt={D1}/a.jsonl", [event("Open", "u1", T, "a", company_id="c1"), "{bad"])
        result = run_day(settings, warehouse, lake, D1)
        assert (result.loaded, result.rejected) == (1, 1)
        with warehouse.begin() as conn:
            assert conn.execute(sa.text("SELECT group_key, group_id FROM event_groups")).all() == [
                ("company_id", "c1")]


@pytest.mark.postgres
def test_postgres_date_indexes_become_brin_on_upgrade(postgres_url, tmp_path: Path) -> None:  # noqa: ANN001
    """Migration 13: the B-tree date indexes of events and event_groups that older
    warehouses carry become BRIN; the other indexes stay as they were."""
    settings = make_settings(postgres_url, str(tmp_path / "lake"), f"t_{uuid.uuid4().hex[:12]}")
    with Warehouse(settings) as warehouse:
        old_baseline(warehouse)
        assert index_methods(warehouse)["events_event_date"] == "btree"
        assert warehouse.migrate() == LATEST
        assert {name: method for name, method in index_methods(warehouse).items()
                if name.startswith(("events_", "event_groups_"))} == {
            "events_load_date": "brin", "events_event_date": "brin", "event_groups_date": "brin",
            "event_groups_group": "btree"}
        with warehouse.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{settings.schema}" CASCADE')


def index_methods(warehouse: Warehouse) -> dict[str, str]:
    with warehouse.begin() as conn:
        return dict(conn.execute(sa.text(
            "SELECT i.relname, am.amname FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid "
            "JOIN pg_am AS am ON am.oid = i.relam JOIN pg_namespace AS n ON n.oid = i.relnamespace "
            "WHERE n.nspname = :s"), {"s": warehouse.schema}).all())


def test_a_version_3_warehouse_gets_the_baseline_it_lacks(settings) -> None:  # noqa: ANN001
    """Version 3 had no load_audit.touched_dates: the baseline's ADD COLUMN IF NOT EXISTS adds it."""
    with Warehouse(settings) as warehouse:
        old_baseline(warehouse, version=3, skip="touched_dates")
        with warehouse.begin() as conn:
            columns = set(conn.execute(sa.text(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = :s "
                "AND table_name = 'load_audit'"), {"s": warehouse.schema}).scalars())
        assert "touched_dates" not in columns
        assert warehouse.migrate() == LATEST
        assert [v for v, _ in versions(warehouse)] == [3, 5, 6, 7, 8, 9, 10, 11, 12, 13]
        with warehouse.begin() as conn:
            assert conn.execute(sa.text(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = :s "
                "AND table_name = 'load_audit' AND column_name = 'touched_dates'"), {"s": warehouse.schema}).scalar() == 1


def test_a_migration_recorded_after_a_later_one_is_still_applied(settings) -> None:  # noqa: ANN001
    """Migrations numbered on parallel branches land in either order: a warehouse that
    recorded 8 without 6 (as one with 0008 will lack 0007) gets 6, and readers refuse it until then."""
    with Warehouse(settings) as warehouse:
        warehouse.migrate()
        with warehouse.begin() as conn:
            conn.execute(sa.text("DELETE FROM schema_version WHERE version = 6"))
    with pytest.raises(EtlError) as refused:
        Warehouse(settings, read_only=True)
    assert str(refused.value) == (f"warehouse {where(settings)}: schema version {LATEST} lacks migration 6 "
                                  "of this group-etl: run `group-etl migrate`")
    with Warehouse(settings) as warehouse:
        assert warehouse.migrate() == LATEST
        assert [v for v, _ in versions(warehouse)] == [5, 6, 7, 8, 9, 10, 11, 12, 13]
    with Warehouse(settings, read_only=True) as reader:
        assert reader.check_version() == LATEST


def test_upgrading_counts_the_days_loaded_before_as_exported(settings) -> None:  # noqa: ANN001
    """Before version 8, exports followed Asset events: the days loaded by then are not all
    exported again (each past partition rewritten) by the first `export run`."""
    from etl.serve.export import pending_export_days

    with Warehouse(settings) as warehouse:
        old_baseline(warehouse)
        # a day loaded by the old code (load_audit as it wrote it), then the upgrade
        with warehouse.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO load_audit (stage, load_date, input_fingerprint, input_records, loaded, rejected, "
                "duplicates, started_at, finished_at) VALUES ('events', :d, 'f', 1, 1, 0, 0, :at, :at)"),
                {"d": D1, "at": datetime(2025, 1, 3, tzinfo=UTC)})
        assert warehouse.migrate() == LATEST
        with warehouse.begin() as conn:
            assert [tuple(r) for r in conn.execute(sa.text("SELECT day, loaded_at, exported_at FROM export_days"))] \
                == [(D1, datetime(2025, 1, 3, tzinfo=UTC), datetime(2025, 1, 3, tzinfo=UTC))]
        assert pending_export_days(warehouse) == []


def test_a_newer_warehouse_is_refused_by_readers_and_writers(settings) -> None:  # noqa: ANN001
    with Warehouse(settings) as warehouse:
        warehouse.migrate()
        with warehouse.begin() as conn:
            conn.execute(sa.text("INSERT INTO schema_version VALUES (999, :at)"), {"at": datetime.now(UTC)})
        before = versions(warehouse)
    message = (f"warehouse {where(settings)}: schema version 999 is newer than this group-etl "
               f"(which knows up to {LATEST}): upgrade group-etl")
    with pytest.raises(EtlError) as reader:
        Warehouse(settings, read_only=True)
    assert str(reader.value) == message
    with Warehouse(settings) as warehouse:
        with pytest.raises(EtlError) as writer:
            warehouse.migrate()
        assert str(writer.value) == message
        assert versions(warehouse) == before


def test_a_reader_of_an_uninitialised_warehouse_creates_nothing(settings, tmp_path: Path) -> None:  # noqa: ANN001
    if settings.warehouse_url.startswith("duckdb"):
        path = tmp_path / "warehouse.duckdb"
        with pytest.raises(EtlError) as missing:
            Warehouse(settings, read_only=True)
        assert str(missing.value) == (f"warehouse {safe_url(settings.warehouse_url)} does not exist: "
                                      "run `group-etl init`")
        assert not path.exists()
        duckdb.connect(str(path)).close()  # an empty file: exists, has no schema
    with pytest.raises(EtlError) as empty:
        Warehouse(settings, read_only=True)
    assert str(empty.value) == f"warehouse {where(settings)} is not initialised: run `group-etl init`"
    # the reader created no schema
    query = "SELECT count(*) FROM information_schema.schemata WHERE schema_name = :s"
    if settings.warehouse_url.startswith("duckdb"):
        with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
            assert conn.execute(query.replace(":s", "?"), [settings.schema]).fetchone() == (0,)
    else:
        engine = sa.create_engine(settings.warehouse_url)
        with engine.connect() as conn:
            assert conn.execute(sa.text(query), {"s": settings.schema}).scalar() == 0
        engine.dispose()


def test_a_reader_cannot_write_or_migrate(settings) -> None:  # noqa: ANN001
    with Warehouse(settings) as warehouse:
        warehouse.migrate()
    with Warehouse(settings, read_only=True) as reader:
        with pytest.raises(EtlError) as migrating:
            reader.migrate()
        assert str(migrating.value) == (f"warehouse {safe_url(settings.warehouse_url)} is open read-only: "
                                        "it cannot be migrated")
        with pytest.raises(sa.exc.DBAPIError, match="read-only|read only"), reader.begin() as conn:
            conn.execute(sa.text("INSERT INTO cohorts VALUES ('c', NULL, '{}')"))
    with Warehouse(settings) as warehouse, warehouse.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cohorts")).scalar() == 0


@pytest.mark.postgres
def test_a_postgres_reader_works_for_a_role_that_may_not_create(postgres_url, tmp_path: Path) -> None:  # noqa: ANN001
    """A role with USAGE and SELECT only: any DDL a reader ran would fail."""
    schema, role = f"t_{uuid.uuid4().hex[:12]}", f"reader_{uuid.uuid4().hex[:12]}"
    owner = make_settings(postgres_url, str(tmp_path), schema)
    admin = sa.create_engine(postgres_url)
    try:
        with Warehouse(owner) as warehouse:
            warehouse.migrate()
            add_key(warehouse, "company_id", max_keys=6, setup_at=datetime(2024, 6, 1, tzinfo=UTC))
            before = versions(warehouse)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
            conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
            conn.exec_driver_sql(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
        url = sa.engine.make_url(postgres_url).set(username=role)
        reading = make_settings(url.render_as_string(hide_password=False), str(tmp_path), schema)
        with Warehouse(reading, read_only=True) as reader:
            assert reader.check_version() == LATEST
            assert [k.group_key for k in list_keys(reader)] == ["company_id"]
        with Warehouse(reading) as writer, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            writer.migrate()  # the role really may not create: the check above meant something
        with Warehouse(owner) as warehouse:
            assert versions(warehouse) == before
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            if _role_exists(conn, role):
                conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
                conn.exec_driver_sql(f'DROP ROLE "{role}"')
        admin.dispose()


def _role_exists(conn, role: str) -> bool:  # noqa: ANN001
    return bool(conn.execute(sa.text("SELECT count(*) FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar())


def test_the_baseline_view_is_the_shipped_one() -> None:
    """The baseline builds events_deduped from the copy rule's macros (sql/store/_rules.sql).
    A migration runs once per warehouse, so the rule may only change through a new
    migration that re-creates the view: this pins what version 5 shipped."""
    shipped = (
        "CREATE OR REPLACE VIEW events_deduped AS\n"
        "SELECT load_date, source_object, source_line, source_index, event_id, insert_id,\n"
        "       event, distinct_id, event_time, event_date, properties\n"
        "FROM (\n"
        "    SELECT e.*, row_number() OVER (\n"
        "        PARTITION BY e.event_date, e.event_id\n"
        "        ORDER BY e.load_date DESC, e.source_object DESC, e.source_line DESC, e.source_index DESC\n"
        "    ) AS copy_rank\n"
        "    FROM events AS e\n"
        ") AS ranked\n"
        "WHERE copy_rank = 1"
    )
    for dialect in ("duckdb", "postgresql"):
        [baseline] = [m for m in migrations() if m.version == 5]
        views = [s for s in baseline.statements(dialect) if "VIEW events_deduped" in s]
        assert views == [shipped]
