"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL tests create a database of their own and drop it afterwards, so runs never see
each other's data. When PostgreSQL cannot be reached they fail: they never skip.
"""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get(
    "LOWRISE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin_engine() -> sa.Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def make_pg_database() -> str:
    """Create an empty PostgreSQL database for one test; returns its URL."""
    name = f"lr_test_{uuid.uuid4().hex[:16]}"
    admin = _pg_admin_engine()
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:  # pragma: no cover - environment failure
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    finally:
        admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A fresh, empty database URL: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    url = make_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def engine(db_url):
    """An engine on a fresh database, with the project's settings."""
    from lowrise.storage.db import create_engine

    eng = create_engine(db_url, poolclass=sa.NullPool) if "postgresql" in db_url else create_engine(db_url)
    yield eng
    eng.dispose()
