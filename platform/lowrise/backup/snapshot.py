"""One consistent, read-only view of a whole database while others keep writing.

PostgreSQL: one REPEATABLE READ, READ ONLY transaction (what pg_dump does): every table is
read as it was at the transaction's first statement, so a case and the client it links to
are either both in or both out. SQLite in WAL mode: one read transaction is such a view
too; `copy_to` first copies the file with SQLite's online backup API, so that the long
read afterwards pins nothing in the live database (its write-ahead log can be checkpointed
meanwhile).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa


@contextmanager
def snapshot(engine: sa.Engine, *, copy_to: Path | None = None) -> Iterator[sa.Connection]:
    """A connection inside one read-only transaction that sees one moment of the database.

    On SQLite with `copy_to`, that moment is copied to the file `copy_to` first (online
    backup, consistent while writers run) and the connection reads the copy.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ",
                                          postgresql_readonly=True)
            with conn.begin():
                yield conn
        return
    if copy_to is None:
        with engine.connect() as conn, conn.begin():
            yield conn
        return
    with engine.connect() as live:
        target = sqlite3.connect(copy_to)
        try:
            # one step (pages=-1): the whole file under one read lock, so one moment of it
            live.connection.driver_connection.backup(target)
        finally:
            target.close()
    copy = sa.create_engine(f"sqlite:///{copy_to}", poolclass=sa.NullPool)
    try:
        with copy.connect() as conn, conn.begin():
            yield conn
    finally:
        copy.dispose()


def server_version(conn: sa.Connection) -> str:
    """The database server's version, as the manifest records it."""
    if conn.dialect.name == "postgresql":
        return str(conn.exec_driver_sql("SHOW server_version").scalar())
    return sqlite3.sqlite_version
