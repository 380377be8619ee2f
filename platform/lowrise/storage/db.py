"""Connecting to the database: SQLite (WAL) embedded, PostgreSQL for teams."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

DEFAULT_INSTANCE = "instance"


def default_url(instance: str | os.PathLike | None = None) -> str:
    """DATABASE_URL if set, else an SQLite file in the instance folder."""
    if url := os.environ.get("DATABASE_URL"):
        return normalise_url(url)
    folder = Path(instance or os.environ.get("LOWRISE_INSTANCE", DEFAULT_INSTANCE))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'lowrise.db').resolve()}"


def normalise_url(url: str) -> str:
    """Accept the common spellings of a PostgreSQL URL and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


#: bytes of the database file SQLite reads through a memory map instead of read() calls
#: (a page not in the connection's cache is then a page fault, not a system call and a
#: copy); SQLite caps it at its build's limit (2 GB for Debian's). The mapped pages are
#: the operating system's file cache, shared by every connection, not the process's own.
MMAP_SIZE = 1 << 33
#: seconds an SQLite statement waits for another connection's write lock before it fails
#: with "database is locked" (LOWRISE_BUSY_TIMEOUT, or create_engine's busy_timeout)
BUSY_TIMEOUT = 10.0
# SQLite errors after which a pooled connection is no good: one opened while the file was
# read-only stays read-only, and a disk error can leave it broken. The pool opens new ones
# (so that fixed permissions take effect without a restart).
_REOPEN = ("readonly database", "disk i/o error", "unable to open database")


def busy_timeout_seconds(seconds: float | None = None) -> float:
    """The busy timeout in seconds: given, else LOWRISE_BUSY_TIMEOUT, else BUSY_TIMEOUT."""
    if seconds is None:
        seconds = float(os.environ.get("LOWRISE_BUSY_TIMEOUT") or BUSY_TIMEOUT)
    return max(0.0, float(seconds))


def _sqlite_pragmas(dbapi_conn, _record, timeout: float = BUSY_TIMEOUT) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
    cur.close()


def create_engine(url: str | None = None, *, busy_timeout: float | None = None,
                  **kw) -> Engine:
    """An engine with the settings this project relies on (WAL and a busy timeout on SQLite,
    `busy_timeout` seconds: see `busy_timeout_seconds`)."""
    url = normalise_url(url or default_url())
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, **kw)
        timeout = busy_timeout_seconds(busy_timeout)
        sa.event.listen(engine, "connect",
                        lambda conn, record: _sqlite_pragmas(conn, record, timeout))

        @sa.event.listens_for(engine, "handle_error")
        def _reopen(ctx):
            if any(word in str(ctx.original_exception).lower() for word in _REOPEN):
                ctx.is_disconnect = True  # the pool drops its connections

        # pysqlite's own transaction handling is switched off so that SQLAlchemy's BEGIN is
        # ours: a write transaction takes the write lock at BEGIN (IMMEDIATE), so two writers
        # queue on busy_timeout instead of failing on a lock upgrade.
        @sa.event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn, _record):
            dbapi_conn.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin(conn):
            write = conn.get_execution_options().get("lowrise_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    kw.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kw)


# SQLite says what went wrong only in words; these are the outages (locked past the busy
# timeout, a read-only or missing file, a failing disk), not mistakes in a statement
_SQLITE_OUTAGES = ("locked", "busy", "readonly", "read-only", "disk i/o", "unable to open",
                   "disk is full", "malformed", "not a database")


def is_outage(exc: BaseException) -> bool:
    """Whether a database error means "unavailable now" (unreachable, locked past the busy
    timeout, read-only, a disk error) rather than a mistake in a statement."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, sa.exc.InterfaceError):
        return True
    orig = exc.orig
    if type(orig).__module__.startswith("sqlite3"):
        text = str(orig).lower()
        return any(word in text for word in _SQLITE_OUTAGES)
    if isinstance(exc, sa.exc.OperationalError):
        return True
    # PostgreSQL's classes: connection (08), resources (53), operator intervention (57),
    # system (58); 25006: the server or transaction is read-only
    state = getattr(orig, "sqlstate", None) or ""
    return state[:2] in ("08", "53", "57", "58") or state == "25006"


def outage_line(exc: BaseException, url: str) -> str:
    """One line that says which database could not be used and why (no password)."""
    shown = sa.engine.make_url(normalise_url(url)).render_as_string(hide_password=True)
    why = str(getattr(exc, "orig", exc) or exc).strip().splitlines() or [type(exc).__name__]
    return f"cannot use the database {shown}: {why[0]}"


def is_sqlite(engine_or_conn) -> bool:
    return engine_or_conn.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[sa.Connection]:
    """One write transaction (BEGIN IMMEDIATE on SQLite); commits on success, rolls back on error."""
    with engine.connect() as conn:
        conn.execution_options(lowrise_write=True)
        with conn.begin():
            yield conn
        from lowrise.live.feed import after_commit

        after_commit(conn)  # live updates: this process's pages hear of it at once


def refresh_statistics(engine: Engine, tables: Iterable[str] | None = None) -> None:
    """Tell SQLite's query planner how `tables` (all when None) look now (`ANALYZE`), after
    indexes were made or many rows arrived: without statistics it may walk a worse index (a
    funnel's stage index unused). Every index is read whole (1.5 s for the million cases and
    their sixteen indexes): a sampled ANALYZE (`analysis_limit`) put 1,001 cases in each
    stage of the million instead of 111,112 and up to 4.7 million rows in the table, and the
    planner walked a sort's index through 400,000 rows for a dashboard list of eight.
    PostgreSQL's autovacuum keeps its statistics itself."""
    if not is_sqlite(engine):
        return
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("PRAGMA analysis_limit=0")  # whole indexes, whatever was set
        if tables is None:
            conn.exec_driver_sql("ANALYZE")
            return
        quote = conn.dialect.identifier_preparer.quote
        for name in sorted(set(tables)):
            conn.exec_driver_sql(f"ANALYZE {quote(name)}")  # nosec B608 - a quoted name
