"""`lowrise serve --production` as an operator runs it, on SQLite and PostgreSQL: gunicorn keeps
connections alive, /healthz and /readyz answer, /readyz reports a frozen worker missing and
recovers once the supervisor has restarted the killed one, a timer fires while the stack
runs, each request is one JSON log line, and SIGTERM stops every process of the stack.

One stack per database for the whole module (its start is most of the time); the tests run
in order and the last one stops it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from conftest import BACKENDS, drop_pg_database, make_pg_database

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STALE = 2.0  # LOWRISE_WORKER_STALE of the stack: a frozen worker is missing after 2 s
pytestmark = pytest.mark.xdist_group("serving_stack")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, timeout: float = 90.0, every: float = 0.1):
    """Call `what` until it returns something true; that value (fails after `timeout` s)."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what.__name__}"
        time.sleep(every)


class Stack:
    """A running `lowrise serve --production` in a session of its own, its log in a file."""

    def __init__(self, tmp: Path, db_url: str):
        self.port, self.db_url, self.log_path = free_port(), db_url, tmp / "stack.log"
        self.env = {**os.environ, "LOWRISE_WORKSPACE": str(ROOT),
                    "LOWRISE_INSTANCE": str(tmp / "instance"), "DATABASE_URL": db_url,
                    "LOWRISE_LOG_FORMAT": "json", "LOWRISE_WORKER_STALE": str(STALE),
                    "LOWRISE_WEB_PROCESSES": "2", "LOWRISE_WEB_THREADS": "2",
                    "LOWRISE_PASSWORD_HASHING": "test-only-cheapest"}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "lowrise"), "serve", "--production", "--port", str(self.port)],
                env=self.env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def ready(self) -> dict | None:
        try:
            status, _, body = self.get("/readyz")
        except OSError:
            return None
        return json.loads(body) if status == 200 else None

    def readyz(self) -> tuple[int, dict]:
        status, _, body = self.get("/readyz")
        return status, json.loads(body)

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def processes(self) -> dict[int, str]:
        """pid -> command line of every live process of the stack's session."""
        out = subprocess.run(["ps", "-e", "-o", "pid=,sid=,args="], capture_output=True,
                             text=True).stdout
        found = {}
        for line in out.splitlines():
            pid, sid, args = line.split(None, 2)
            if int(sid) == self.proc.pid:
                found[int(pid)] = args
        return found

    def worker_pid(self) -> int | None:
        return next((p for p, a in self.processes().items() if "lowrise.cli worker" in a), None)

    def kill_all(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"stack-{request.param}")
    url = f"sqlite:///{tmp / 'lowrise.db'}" if request.param == "sqlite" else make_pg_database()
    s = Stack(tmp, url)
    try:
        wait_for(s.ready)  # web processes up, migrated, and the worker's first heartbeat
        yield s
    finally:
        s.kill_all()
        if request.param != "sqlite":
            drop_pg_database(url)


def test_two_requests_on_one_connection_and_health(stack):
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    conn.request("GET", "/healthz")
    first = conn.getresponse()
    assert (first.status, json.loads(first.read())) == (200, {"status": "ok"})
    sock = conn.sock
    assert first.getheader("Connection", "").lower() != "close"
    conn.request("GET", "/readyz")
    second = conn.getresponse()
    body = json.loads(second.read())
    assert conn.sock is sock  # the same TCP connection carried both
    assert second.status == 200 and body["status"] == "ready"
    assert {k: v["ok"] for k, v in body["checks"].items()} == {
        "database": True, "migrations": True, "worker": True}
    assert body["checks"]["worker"]["alive"] == 1
    conn.close()
    # the production server, not Werkzeug's development server
    assert stack.get("/healthz")[1]["Server"].startswith("gunicorn")


def test_a_frozen_worker_is_missing_and_a_killed_one_comes_back(stack):
    pid = stack.worker_pid()
    os.kill(pid, signal.SIGSTOP)  # alive but silent: its heartbeat goes stale
    try:
        def missing():
            status, body = stack.readyz()
            return status == 503 and not body["checks"]["worker"]["ok"] and body
        body = wait_for(missing, timeout=STALE * 10)
        assert body["checks"]["database"]["ok"] and body["checks"]["migrations"]["ok"]
        assert body["checks"]["worker"]["alive"] == 0
        assert "lowrise worker" in body["checks"]["worker"]["detail"]
    finally:
        os.kill(pid, signal.SIGKILL)
    wait_for(stack.ready)  # the supervisor started another worker, which reported in
    assert stack.worker_pid() not in (None, pid)
    assert any('"the rules worker ended' in line for line in stack.log_lines())


def test_a_timer_fires_while_the_stack_runs(stack):
    from lowrise.actor import SYSTEM
    from lowrise.rules import install
    from lowrise.storage.db import create_engine
    from lowrise.storage.files import FileStore
    from lowrise.storage.records import Records
    from lowrise.storage.tables import build_schema
    from lowrise.workspace import load_workspace

    engine = create_engine(stack.db_url, poolclass=sa.NullPool)
    records = Records(engine, build_schema(load_workspace(ROOT)),
                      files=FileStore(Path(stack.env["LOWRISE_INSTANCE"]) / "uploads"))
    install(records)
    client = records.create("client", {"name": "王小明", "phone": "13900001234"}, SYSTEM)
    asked = datetime.now(UTC) - timedelta(hours=25)  # a viewing asked for 25 hours ago
    case = records.create("case", {"client": client["id"], "opened_on": asked.date(),
                                   "viewing_requested_at": asked}, SYSTEM)
    timers = sa.table("lr_timers", sa.column("rule"), sa.column("record_id"),
                      sa.column("status"))

    def fired():
        with engine.connect() as conn:
            return conn.execute(sa.select(timers.c.status).where(
                timers.c.record_id == case["id"],
                timers.c.rule == "viewing_arranged_within_24h")).scalar() == "fired"
    wait_for(fired, timeout=60)
    comments = sa.table("lr_comments", sa.column("record_id"), sa.column("body"))
    with engine.connect() as conn:
        said = conn.execute(sa.select(comments.c.body).where(
            comments.c.record_id == case["id"])).scalars().all()
    assert any("24 小时未安排" in c for c in said)
    engine.dispose()


def test_each_request_is_one_json_log_line(stack):
    status, headers, _ = stack.get("/healthz", {"X-Request-ID": "probe-42"})
    assert status == 200 and headers["X-Request-ID"] == "probe-42"
    status, headers, _ = stack.get("/r/case/", {"X-Request-ID": "bad id with spaces"})
    assert status == 302  # not signed in
    made = headers["X-Request-ID"]
    assert made != "bad id with spaces" and len(made) == 32

    def logged():
        lines = [json.loads(x) for x in stack.log_lines() if x.startswith("{")]
        mine = [x for x in lines if x.get("request_id") in ("probe-42", made)]
        return len(mine) == 2 and mine
    probe, page = sorted(wait_for(logged, timeout=10), key=lambda x: x["request_id"] != "probe-42")
    assert {k: probe[k] for k in ("method", "path", "status", "user_id")} == {
        "method": "GET", "path": "/healthz", "status": 200, "user_id": None}
    assert probe["duration_ms"] >= 0 and probe["logger"] == "lowrise.request"
    assert (page["path"], page["status"]) == ("/r/case/", 302)
    # a signed-in person's requests carry their account's id
    from lowrise.accounts import Accounts
    from lowrise.storage.db import create_engine

    engine = create_engine(stack.db_url, poolclass=sa.NullPool)
    ada = Accounts(engine).add("ada@example.com", "correct horse battery", roles=["admin"])
    engine.dispose()
    browser = requests.Session()
    page = browser.get(f"http://127.0.0.1:{stack.port}/auth/login")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    signed = browser.post(f"http://127.0.0.1:{stack.port}/auth/login", data={
        "email": "ada@example.com", "password": "correct horse battery", "csrf_token": token},
        headers={"X-Request-ID": "signed-in-1"}, allow_redirects=False)
    assert signed.status_code == 302
    assert browser.get(f"http://127.0.0.1:{stack.port}/r/case/",
                       headers={"X-Request-ID": "signed-in-2"}).status_code == 200

    def by(rid):
        return next((json.loads(x) for x in stack.log_lines()
                     if x.startswith("{") and f'"request_id": "{rid}"' in x), None)
    assert wait_for(lambda: by("signed-in-2"), timeout=10)["user_id"] == ada.id
    assert by("signed-in-1")["user_id"] is None  # signing in: not yet
    # gunicorn's own lines are JSON too; its text access log is off
    assert not any(" /healthz HTTP/1.1" in x for x in stack.log_lines())
    assert any(x.startswith("{") and "Booting worker" in x for x in stack.log_lines())


def test_sigterm_stops_every_process(stack):
    before = stack.processes()
    # the supervisor, gunicorn's master and its LOWRISE_WEB_PROCESSES=2 processes, the worker
    assert sum("gunicorn" in args for args in before.values()) == 3
    assert sum("lowrise.cli worker" in args for args in before.values()) == 1
    assert len(before) == 5
    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(60) == 0
    wait_for(lambda: not stack.processes(), timeout=10)
    assert any("SIGTERM received: stopping" in x for x in stack.log_lines())


def test_a_port_in_use_is_refused_at_once(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(BIN / "lowrise"), "--instance", str(tmp_path / "i"), "serve", "--production",
             "--port", str(port)], cwd=ROOT, capture_output=True, text=True, timeout=120,
            env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert done.returncode == 1
    assert f"something already listens on 127.0.0.1:{port}" in done.stderr
    assert not (tmp_path / "x.db").exists()  # nothing was started
