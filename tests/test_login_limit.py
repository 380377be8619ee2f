"""The sign-in limit and the account writes under concurrent writers: a transaction that reads
and then writes takes the write lock first (BEGIN IMMEDIATE on SQLite), so another sign-in
committing in between makes it wait instead of failing with "database is locked"."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from lowrise.accounts import Accounts, LoginLimit
from lowrise.storage.db import create_engine


def _other_engine(db_url):
    # a second process's connection
    if db_url.startswith("sqlite"):
        return create_engine(db_url)
    return create_engine(db_url, poolclass=sa.NullPool)


def test_reserve_survives_a_sign_in_committed_between_its_read_and_its_delete(engine, db_url):
    accounts = Accounts(engine)
    accounts.ensure_table()
    limit = LoginLimit(accounts, attempts=5)
    other = Accounts(_other_engine(db_url))
    other_limit = LoginLimit(other, attempts=5)
    done = threading.Event()
    errors: list[BaseException] = []

    def interleave():
        try:
            other_limit.failed("9.9.9.9", "someone@example.com")  # another sign-in writes
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    real_wait = LoginLimit._wait

    def wait_then_let_the_other_write(self, conn, *args, **kw):
        result = real_wait(self, conn, *args, **kw)
        if self is limit and not done.is_set():
            threading.Thread(target=interleave, daemon=True).start()
            done.wait(0.5)  # with a deferred transaction the other commits now
        return result

    LoginLimit._wait = wait_then_let_the_other_write
    try:
        assert limit.reserve("1.1.1.1", "ada@example.com") == 0
    finally:
        LoginLimit._wait = real_wait
        done.wait(10)
        other.engine.dispose()
    assert not errors
    t = accounts.attempts
    with engine.connect() as conn:
        clients = sorted(conn.execute(sa.select(t.c.client)).scalars())
    assert clients == ["1.1.1.1", "9.9.9.9"]  # both attempts counted, neither lost


def test_adding_the_same_address_twice_at_once_makes_one_account(engine, db_url):
    accounts = Accounts(engine)
    accounts.ensure_table()
    other = Accounts(_other_engine(db_url))
    results: list[str] = []

    def add(acc):
        try:
            acc.add("twice@example.com", "violet tram at dusk 9")
            results.append("added")
        except Exception as exc:  # noqa: BLE001 - the refusal is what is counted
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=add, args=(a,)) for a in (accounts, other)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(20)
    other.engine.dispose()
    assert sorted(results)[0] in ("DuplicateEmail", "IntegrityError") and "added" in results
    assert [u.email for u in accounts.list()] == ["twice@example.com"]
