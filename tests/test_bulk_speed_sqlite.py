"""Settings on SQLite connections that reads and bulk inserts rely on."""

from __future__ import annotations

from lowrise.storage import db as dbmod


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
