"""Background imports that never get stuck: a run names its owner and beats a heartbeat; a run
whose process died is marked failed (nothing was written) when it is read or at start-up,
and can be tried again; the final state commits with the records; anything unexpected is
logged and fails the import. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lowrise import importer, importjobs
from lowrise.import_owners import STALE
from lowrise.importjobs import STOPPED, ImportJobs, this_process
from test_import import ACTOR, CLIENTS, csv_bytes

pytest_plugins = ["test_import"]  # its `records` fixture

TESTS = Path(__file__).resolve().parent


def _count(records, type_name="client"):
    t = records.schema.table(type_name)
    with records.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()


def _previewed(jobs, records, path):
    job = jobs.create("client", path.name, path, account_id=None)
    jobs.start_preview(job, records, ACTOR).join(60)
    job = jobs.get(job.id)
    assert job.status == "ready" and job.previewed, job
    return job


@pytest.fixture
def clients_csv(tmp_path):
    path = tmp_path / "upload.csv"
    path.write_bytes(csv_bytes(CLIENTS, "gbk"))
    return path


CHILD = """
    import sys, time
    sys.path[:0] = [{platform!r}, {tests!r}]
    from lowrise.actor import Actor
    from lowrise.importjobs import ImportJobs
    from lowrise.storage.db import create_engine
    from lowrise.storage.records import Records
    from lowrise.storage.tables import build_schema
    from test_web_support import make_workspace

    engine = create_engine({url!r})
    records = Records(engine, build_schema(make_workspace()))

    def stall(conn, change, actor, recs):  # the records are in, not yet committed
        open({marker!r}, "w").write("writing")
        time.sleep(600)

    records.hooks.append(stall)
    jobs = ImportJobs(engine)
    assert jobs.claim(jobs.get({job_id}), "checking")  # as Start does
    jobs.run(jobs.get({job_id}), records, Actor(name="importer", system=True))
"""


def test_an_import_whose_process_is_killed_while_writing_is_failed_and_tried_again(
        records, clients_csv, tmp_path):
    jobs = ImportJobs(records.engine)
    job = _previewed(jobs, records, clients_csv)
    marker = tmp_path / "writing"
    url = records.engine.url.render_as_string(hide_password=False)
    code = textwrap.dedent(CHILD).format(platform=str(Path(importer.__file__).parents[1]),
                                         tests=str(TESTS), url=url, marker=str(marker),
                                         job_id=job.id)
    child = subprocess.Popen([sys.executable, "-c", code])  # a server, killed mid-write
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, "the import process ended early"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        writing = jobs.get(job.id)
        assert writing.status == "writing"
        assert writing.owner.startswith(f"{socket.gethostname()}:{child.pid}:")
        assert writing.heartbeat is not None
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    time.sleep(0.5)  # PostgreSQL ends the dead client's transaction
    failed = jobs.get(job.id)
    assert failed.status == "failed" and failed.message == STOPPED
    assert _count(records) == 0  # nothing was written
    assert jobs.retry(job.id)
    again = jobs.get(job.id)
    assert again.status == "ready" and not again.previewed
    jobs.start_preview(again, records, ACTOR).join(60)
    again = jobs.get(job.id)
    assert again.can_start
    jobs.start(again, records, ACTOR).join(60)
    assert jobs.get(job.id).status == "done" and _count(records) == 3


def test_the_final_state_commits_in_the_records_transaction(records, clients_csv):
    """When the records commit, the job already says done in the same transaction: there is
    no moment at which the records are in and the job still says "writing"."""
    jobs = ImportJobs(records.engine)
    job = _previewed(jobs, records, clients_csv)
    seen = []
    t, c = jobs.table, records.schema.table("client")

    def at_commit(conn):
        if conn.info.get("looking"):
            return
        conn.info["looking"] = True
        try:
            clients = conn.execute(sa.select(sa.func.count()).select_from(c)).scalar_one()
            if clients:
                seen.append((clients, conn.execute(sa.select(t.c.status).where(
                    t.c.id == job.id)).scalar_one()))
        finally:
            conn.info["looking"] = False

    sa.event.listen(records.engine, "commit", at_commit)
    try:
        jobs.start(job, records, ACTOR).join(60)
    finally:
        sa.event.remove(records.engine, "commit", at_commit)
    assert seen == [(3, "done")]
    assert jobs.get(job.id).created == 3


def test_a_run_owned_elsewhere_is_failed_only_when_its_heartbeat_is_old(records, clients_csv):
    jobs = ImportJobs(records.engine)
    now = datetime.now(UTC)
    fresh = _previewed(jobs, records, clients_csv)
    old = _previewed(jobs, records, clients_csv)
    jobs.update(fresh.id, status="checking", owner="other-host:123:abc", heartbeat=now)
    jobs.update(old.id, status="writing", owner="other-host:123:abc",
                heartbeat=now - STALE - timedelta(seconds=1))
    # as a server starting up sees them
    assert ImportJobs(records.engine).recover() == 1
    assert jobs.get(fresh.id).status == "checking"
    assert jobs.get(old.id).status == "failed" and jobs.get(old.id).message == STOPPED
    # an earlier process of this host with this very pid (a container's pid 1, restarted)
    mine = f"{socket.gethostname()}:{os.getpid()}:earlier"
    jobs.update(fresh.id, owner=mine, heartbeat=now)
    assert this_process() != mine
    assert jobs.get(fresh.id).status == "failed"


def test_an_unexpected_error_is_logged_and_fails_the_import(records, clients_csv, monkeypatch,
                                                            caplog):
    jobs = ImportJobs(records.engine)
    job = _previewed(jobs, records, clients_csv)

    def broken(*args, **kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(importer, "prepare", broken)
    with caplog.at_level(logging.ERROR, logger="lowrise.imports"):
        jobs.start(job, records, ACTOR).join(60)
    failed = jobs.get(job.id)
    assert failed.status == "failed" and failed.message == importjobs.UNEXPECTED
    assert "disk on fire" not in failed.message  # the page says it plainly; the log has it
    logged = [r for r in caplog.records if r.name == "lowrise.imports"]
    assert logged and "disk on fire" in str(logged[0].exc_info[1])
    assert _count(records) == 0


def test_start_runs_a_ready_import_once(records, clients_csv):
    jobs = ImportJobs(records.engine)
    job = _previewed(jobs, records, clients_csv)
    first = jobs.start(job, records, ACTOR)
    assert jobs.start(job, records, ACTOR) is None  # a second click, or another server
    first.join(60)
    assert _count(records) == 3


def test_an_older_table_gets_the_new_columns(records):
    with records.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE lr_imports (id INTEGER PRIMARY KEY, record_type "
                             "VARCHAR(64) NOT NULL, file_name VARCHAR(255) NOT NULL, path TEXT "
                             "NOT NULL, account_id BIGINT, mapping JSON, mode VARCHAR(8) NOT NULL "
                             "DEFAULT 'all', run_hooks BOOLEAN NOT NULL DEFAULT TRUE, status "
                             "VARCHAR(16) NOT NULL DEFAULT 'ready', total INTEGER NOT NULL "
                             "DEFAULT 0, done INTEGER NOT NULL DEFAULT 0, created INTEGER NOT "
                             "NULL DEFAULT 0, refused INTEGER NOT NULL DEFAULT 0, message TEXT, "
                             "created_at TIMESTAMP NOT NULL, finished_at TIMESTAMP)")
        conn.exec_driver_sql("INSERT INTO lr_imports (id, record_type, file_name, path, status, "
                             "created_at) VALUES (1, 'client', 'a.csv', '/x', 'writing', "
                             "'2026-01-01 00:00:00')")
    jobs = ImportJobs(records.engine)
    job = jobs.get(1)  # an import a server before this version left running
    assert job.status == "failed" and job.message == STOPPED
    with records.engine.connect() as conn:
        names = {c["name"] for c in sa.inspect(conn).get_columns("lr_imports")}
    assert {"owner", "heartbeat", "revision", "preview", "reason"} <= names
