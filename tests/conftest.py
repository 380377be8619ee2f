"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL tests create a database of their own and drop it afterwards, so runs never see
each other's data. When PostgreSQL cannot be reached they fail: they never skip.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

# Tests create and sign in hundreds of accounts: argon2's cheapest parameters instead of 64 MiB
# and three passes a hash (a quarter of a second each on this machine). Set before lowrise is
# imported; test_web_auth checks the real default.
os.environ.setdefault("LOWRISE_PASSWORD_HASHING", "test-only-cheapest")
# Where a shell that runs `make run` points Lowrise is no test's business: each test names its
# workspace, instance and database itself.
for _name in ("LOWRISE_WORKSPACE", "LOWRISE_INSTANCE", "DATABASE_URL"):
    os.environ.pop(_name, None)

PG_ADMIN_URL = os.environ.get(
    "LOWRISE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin_engine() -> sa.Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


# Databases this test process made and emptied again, ready for its next test. A database
# is made once per process and emptied after each test (every schema and extension dropped,
# `public` made again as PostgreSQL makes it), instead of CREATE and DROP DATABASE per test:
# DROP DATABASE waits for a checkpoint, and the two cost 0.7 s a test, minutes a run. Every
# one of them is dropped when the process ends.
_POOL: list[str] = []
_MADE: set[str] = set()

_EMPTY = """
DO $$
DECLARE n text;
BEGIN
  FOR n IN SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' LOOP
    EXECUTE 'DROP EXTENSION ' || quote_ident(n) || ' CASCADE';
  END LOOP;
  FOR n IN SELECT nspname FROM pg_namespace
           WHERE left(nspname, 3) <> 'pg_' AND nspname <> 'information_schema' LOOP
    EXECUTE 'DROP SCHEMA ' || quote_ident(n) || ' CASCADE';
  END LOOP;
  CREATE SCHEMA public AUTHORIZATION pg_database_owner;
  GRANT USAGE ON SCHEMA public TO PUBLIC;
END $$
"""


def make_pg_database() -> str:
    """An empty PostgreSQL database for one test, its own until drop_pg_database; its URL."""
    if _POOL:
        return _pg_url(_POOL.pop())
    name = f"lr_test_{int(time.time())}_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin_engine()
    try:
        with admin.connect() as conn:
            if not _SWEPT:
                _sweep(conn)
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:  # pragma: no cover - environment failure
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    finally:
        admin.dispose()
    _MADE.add(name)
    return _pg_url(name)


_SWEPT: list[bool] = []
#: a test database this old, with nobody connected, was left by a run that was killed
_STALE_AFTER = 6 * 3600


def _sweep(conn: sa.Connection) -> None:
    """Drop the test databases that killed runs left behind (once a process)."""
    _SWEPT.append(True)
    rows = conn.exec_driver_sql(
        "SELECT d.datname FROM pg_database d WHERE d.datname LIKE 'lr\\_test\\_%%' AND NOT "
        "EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)").scalars()
    for old in rows.all():
        parts = old.split("_")
        if len(parts) == 4 and parts[2].isdigit() and time.time() - int(parts[2]) > _STALE_AFTER:
            try:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{old}"')
            except sa.exc.DBAPIError:  # someone connected meanwhile: leave it
                pass


def drop_pg_database(url: str) -> None:
    """Give a test's database back: emptied for the next test, or dropped if that fails."""
    name = url.rsplit("/", 1)[1]
    eng = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with eng.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            conn.exec_driver_sql("SET lock_timeout = '10s'")
            conn.exec_driver_sql(_EMPTY)
            left = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE left(n.nspname, 3) <> 'pg_' AND n.nspname <> 'information_schema'"
            ).scalar()
        if left == 0:
            _POOL.append(name)
            return
    except sa.exc.DBAPIError:
        pass
    finally:
        eng.dispose()
    _drop(name)


def _drop(name: str) -> None:
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()
    _MADE.discard(name)
    if name in _POOL:
        _POOL.remove(name)


def pytest_sessionfinish(session, exitstatus):
    """Drop every database this process made (each xdist worker drops its own)."""
    for name in sorted(_MADE):
        _drop(name)


@contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of an empty database of `kind` (an SQLite file in `folder`, or a PostgreSQL
    database), given back afterwards."""
    if kind == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{folder / 'test.db'}"
        return
    url = make_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A fresh, empty database URL: an SQLite file, then a PostgreSQL database."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def module_db(request, tmp_path_factory):
    """db_url for all the tests of a module (a server they share): they write records of
    their own and do not meet."""
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def engine(db_url):
    """An engine on a fresh database, with the project's settings."""
    from lowrise.storage.db import create_engine

    eng = create_engine(db_url, poolclass=sa.NullPool) if "postgresql" in db_url else create_engine(db_url)
    yield eng
    eng.dispose()


def pytest_collection_modifyitems(config, items):
    """A test that runs in both languages and on both databases checks English once, on
    SQLite: Chinese, the default, runs on both databases; what English adds is words, which
    no database changes."""
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        backend = params.get("db_url", params.get("module_db"))
        (dropped if params.get("locale") == "en" and backend == "postgresql" else kept
         ).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
