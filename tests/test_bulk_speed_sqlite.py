"""What a bulk insert sets on the database connection while it writes, and gives back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.errors import BulkValidationError
from lowrise.storage import db as dbmod
from lowrise.storage import records as recmod
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts

WS = {
    "workspace.yaml": "label: Test\ndefault_locale: en\nlocales: [en]\nusers: staff\n",
    "schemas/staff.yaml": "fields:\n  name: {type: text, required: true}\n",
    "schemas/thing.yaml": """
search: [name]
fields:
  name: {type: text, required: true}
  size: {type: integer, indexed: true}
  owner: {type: user}
""",
}
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ACTOR = Actor(user=None, name="t", clock=lambda: NOW)


@pytest.fixture
def records(engine):
    schema = build_schema(load_workspace_from_texts(WS))
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
    return Records(engine, schema)


def cache_size(conn) -> int | None:
    if conn.dialect.name != "sqlite":
        return None
    return conn.exec_driver_sql("PRAGMA cache_size").scalar()


def test_a_large_bulk_insert_writes_with_a_larger_page_cache_then_gives_it_back(
        records, engine, monkeypatch):
    seen = []
    monkeypatch.setattr(recmod, "BULK_CACHE_FROM", 10)
    records.hooks.append(lambda conn, change, actor, recs: seen.append(cache_size(conn)))
    with engine.connect() as conn:
        before = cache_size(conn)
    rows = [{"name": f"n{i}", "size": i} for i in range(30)]
    with records.transaction() as conn:
        records.bulk_create("thing", rows, ACTOR, conn=conn, batch_size=10)
        after = cache_size(conn)
    assert len(seen) == 30
    if engine.dialect.name == "sqlite":
        assert before == -65536
        assert set(seen) == {-dbmod.BULK_CACHE_KIB}
        assert after == before
    with engine.connect() as conn:
        assert cache_size(conn) == before
        assert conn.execute(sa.select(sa.func.count()).select_from(
            records.schema.table("thing"))).scalar() == 30


def test_a_small_bulk_insert_keeps_the_usual_cache(records, engine):
    seen = []
    records.hooks.append(lambda conn, change, actor, recs: seen.append(cache_size(conn)))
    records.bulk_create("thing", [{"name": "a"}, {"name": "b"}], ACTOR)
    assert seen == [None, None] if engine.dialect.name != "sqlite" else seen == [-65536] * 2


def test_a_refused_bulk_insert_gives_the_cache_back_too(records, engine, monkeypatch):
    monkeypatch.setattr(recmod, "BULK_CACHE_FROM", 2)

    def refuse(conn, change, actor, recs):
        raise BulkValidationError({0: {"name": "no"}})

    records.hooks.append(refuse)
    with engine.connect() as conn:
        before = cache_size(conn)
        conn.rollback()
        with pytest.raises(BulkValidationError), conn.begin():
            records.bulk_create("thing", [{"name": "a"}, {"name": "b"}], ACTOR, conn=conn)
        assert cache_size(conn) == before
        assert conn.execute(sa.select(sa.func.count()).select_from(
            records.schema.table("thing"))).scalar() == 0


def test_bulk_cache_is_nothing_when_the_connection_has_more_already(engine):
    if engine.dialect.name != "sqlite":
        with engine.connect() as conn, dbmod.bulk_cache(conn):
            pass  # nothing to set on PostgreSQL
        return
    with engine.connect() as conn:
        conn.exec_driver_sql(f"PRAGMA cache_size=-{dbmod.BULK_CACHE_KIB * 2}")
        with dbmod.bulk_cache(conn):
            assert cache_size(conn) == -dbmod.BULK_CACHE_KIB * 2
        with dbmod.bulk_cache(conn, kib=dbmod.BULK_CACHE_KIB * 4):
            assert cache_size(conn) == -dbmod.BULK_CACHE_KIB * 4
        assert cache_size(conn) == -dbmod.BULK_CACHE_KIB * 2


def test_sqlite_connections_read_through_a_memory_map(engine, tmp_path):
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        size = conn.exec_driver_sql("PRAGMA mmap_size").scalar()
        settings = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                    for p in ("journal_mode", "synchronous", "cache_size", "temp_store")}
    # capped at the SQLite build's limit, never off
    assert 0 < size <= dbmod.MMAP_SIZE and size >= 1 << 30
    assert settings == {"journal_mode": "wal", "synchronous": 1, "cache_size": -65536,
                        "temp_store": 2}
    other = dbmod.create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        with other.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            conn.commit()
            assert conn.exec_driver_sql("SELECT x FROM t").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == size
    finally:
        other.dispose()


def test_refreshing_statistics_leaves_no_sampling_limit_on_pooled_connections(engine):
    from lowrise.storage.db import refresh_statistics

    refresh_statistics(engine)
    if engine.dialect.name != "sqlite":
        return
    for _ in range(3):  # whichever pooled connection comes next
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA analysis_limit").scalar() == 0
