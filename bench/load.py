"""Setting up a benchmark database: tables through the migration code, then bulk loading.

Loading is setup, not what is measured, so it takes the fast roads: on SQLite one
`executemany` per 50,000 rows with `synchronous=OFF`, on PostgreSQL `COPY`; the indexes of
the large tables are dropped before loading and rebuilt after (the same index objects the
migration created), then the planner statistics are refreshed.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from lowrise.storage import derived
from lowrise.storage.db import create_engine
from lowrise.storage.search import fts_name
from lowrise.storage.tables import Schema
from lowrise.workspace.model import Workspace

from .data import Generated, TableData, counters, plan_tables

REBUILD_INDEXES_FROM = 20_000  # rows; below this, loading through the indexes is as quick
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

Say = Callable[[str], None]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- databases ------------------------------------------------------------------------------
@contextmanager
def database(backend: str, folder: Path, *, pg_admin_url: str = PG_ADMIN_URL, keep: bool = False):
    """A fresh, empty database for one run; yields an engine. Dropped afterwards unless `keep`."""
    if backend == "sqlite":
        path = folder / f"bench-{uuid.uuid4().hex[:8]}.db"
        engine = create_engine(f"sqlite:///{path}")
        try:
            yield engine
        finally:
            engine.dispose()
            if not keep:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            else:
                say(f"kept {path}")
        return
    name = f"lr_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = pg_admin_url.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)  # pooled, as the app runs: a connection per call would be timed
    try:
        yield engine
    finally:
        engine.dispose()
        if keep:
            say(f"kept {url}")
        else:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def existing(url: str):
    """A database an earlier run kept (`--keep`), as it is: nothing created, nothing dropped."""
    if "://" not in url:  # a path to a kept SQLite file
        url = f"sqlite:///{Path(url).resolve()}"
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def row_counts(engine: sa.Engine, ws: Workspace) -> dict[str, int]:
    """The rows of each record type's table (of a reused database)."""
    with engine.connect() as conn:
        return {name: int(conn.exec_driver_sql(
            f"SELECT count(*) FROM {_quote(engine, name)}").scalar() or 0)
            for name in ws.record_types}


def migrate(engine: sa.Engine, schema: Schema) -> tuple[str, list[str]]:
    """Bring the database up to the workspace; returns (how, the plan's lines)."""
    try:
        from lowrise.storage import migrate as mig
    except ImportError:
        schema.metadata.create_all(engine)
        return "metadata.create_all (lowrise.storage.migrate is not available)", []
    with engine.connect() as conn:
        plan = mig.plan(conn, schema)
    lines = [s.describe() for s in plan.steps] if hasattr(plan, "steps") else []
    mig.apply(engine, plan)
    return "lowrise.storage.migrate plan + apply", lines


def pending_steps(engine: sa.Engine, schema: Schema) -> list[str]:
    """What the migration would still do (nothing, when loading left the schema intact)."""
    try:
        from lowrise.storage import migrate as mig
    except ImportError:
        return []
    with engine.connect() as conn:
        plan = mig.plan(conn, schema)
    return [s.describe() for s in plan.changes]


# -- loading --------------------------------------------------------------------------------
def _quote(engine: sa.Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote(name)


def _insert_sqlite(conn: sa.Connection, table: sa.Table, columns: list[str], rows: list[tuple]):
    q = conn.dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {q(table.name)} ({', '.join(q(c) for c in columns)}) "
           f"VALUES ({', '.join('?' for _ in columns)})")
    conn.exec_driver_sql(sql, rows)


def _copy_pg(conn: sa.Connection, table: sa.Table, columns: list[str], rows: list[tuple]):
    q = conn.dialect.identifier_preparer.quote
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(
            f"COPY {q(table.name)} ({', '.join(q(c) for c in columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def load(engine: sa.Engine, ws: Workspace, schema: Schema, *, cases: int, seed: int,
         now: datetime, progress: Say = say) -> dict[str, int]:
    """Fill every record type's table; returns the row count of each."""
    gen = Generated()
    sqlite = engine.dialect.name == "sqlite"
    insert = _insert_sqlite if sqlite else _copy_pg
    for rt, n in plan_tables(ws, cases):
        if n is None:  # contracts: one per contracted case
            n = len(gen.kept.get(("case", "contracted_ids"), []))
        table = schema.table(rt.name)
        started = time.perf_counter()
        data = TableData(ws, rt, table, engine.dialect, seed=seed, now=now, gen=gen, total=n)
        rebuild = [ix for ix in table.indexes if ix.name] if n >= REBUILD_INDEXES_FROM else []
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            if sqlite:  # outside a transaction: SQLite refuses to change it inside one
                raw.execute("PRAGMA synchronous=OFF")
            with conn.begin():
                for ix in rebuild:
                    ix.drop(conn, checkfirst=True)
                # The search index filled row by row by its trigger slows down as it grows
                # (a million cases took 25 minutes): built once after the rows instead.
                search = _drop_search_trigger(conn, rt.name) if rebuild and sqlite else None
            done = 0
            for rows in data.chunks():
                with conn.begin():
                    insert(conn, table, data.columns, rows)
                done += len(rows)
                if n >= 200_000:
                    progress(f"  {rt.name}: {done:,}/{n:,} rows "
                             f"({time.perf_counter() - started:.0f} s)")
            if rebuild:
                with conn.begin():
                    if not sqlite:
                        conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
                    for ix in rebuild:
                        ix.create(conn)
                    if search is not None:
                        _rebuild_search(conn, rt.name, search)
            if sqlite:
                raw.execute("PRAGMA synchronous=NORMAL")
        gen.counts[rt.name] = n
        progress(f"  {rt.name}: {n:,} rows in {time.perf_counter() - started:.1f} s"
                 + (f" (indexes rebuilt: {len(rebuild)})" if rebuild else ""))
    _finish(engine, ws, schema, gen.counts, now)
    return dict(gen.counts)


def _drop_search_trigger(conn: sa.Connection, type_name: str) -> str | None:
    """Drop the trigger that puts each new row of a type into SQLite's search index;
    returns the SQL it was made with (None when there is none)."""
    trigger = f"{fts_name(type_name)}_ai"
    made = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                                "AND name = ?", (trigger,)).scalar()
    if made is not None:
        conn.exec_driver_sql(f"DROP TRIGGER {_quote(conn, trigger)}")
    return made


def _rebuild_search(conn: sa.Connection, type_name: str, trigger_sql: str) -> None:
    """Fill a type's search index from its table at once, and make its trigger again."""
    fts = _quote(conn, fts_name(type_name))
    conn.exec_driver_sql(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")  # nosec B608
    conn.exec_driver_sql(trigger_sql)


def _finish(engine: sa.Engine, ws: Workspace, schema: Schema, counts: dict[str, int],
            now: datetime) -> None:
    """Numbering and id sequences continue after the loaded rows; statistics are fresh."""
    rows = counters(ws, counts, now)
    with engine.begin() as conn:
        if rows:
            conn.execute(schema.counters.insert(), rows)
        derived.refill_rollups(conn, schema, now)  # lookups were copied as rows were made
        if engine.dialect.name == "postgresql":
            for name in counts:
                qt = _quote(engine, name)
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{qt}', 'id'), "
                    f"GREATEST((SELECT max(id) FROM {qt}), 1))")
    if engine.dialect.name == "postgresql":
        # Autovacuum would get there on its own; the benchmark should not depend on when.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.connect() as conn:  # outside a transaction, as the checkpoint needs
            raw = conn.connection.driver_connection
            raw.execute("ANALYZE")
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
