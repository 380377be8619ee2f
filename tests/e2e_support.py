"""A real server for end-to-end tests, started as a person starts one.

`make_instance` copies the flagship workspace to a temporary folder, then runs `lowrise
migrate --yes` and `lowrise seed` on its instance folder and database, and reads the demo
accounts seed made. `Server` starts `lowrise serve`, or gunicorn with two worker processes,
in a process group of its own on a free port of 127.0.0.1, waits until it answers, keeps
what it writes to stderr, and stops the whole group. `Visitor` signs a role in once per
locale through the sign-in page and opens browser tabs with that session.

Modules share one instance, server and browser for all their tests (scope="module"
fixtures below): the tests of a module write records of their own and do not meet.
Test modules import the fixtures they use, as they do test_web_support's.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the environment's own lowrise and gunicorn
WORKSPACE_PARTS = ("workspace.yaml", "schemas", "views", "automations", "approvals")
# Lines of a server's stderr that mean something went wrong in it: a traceback, Werkzeug's
# "Error on request", gunicorn's [ERROR] lines, Flask's "ERROR in <module>", a 5xx answer.
PROBLEM = re.compile(r'Traceback|Error on request|\[ERROR\]|ERROR in |HTTP/1\.[01]" 5\d\d ')


def copy_workspace(to: Path, source: Path = ROOT) -> Path:
    """A copy of a workspace's YAML (the flagship's by default), for a test to change."""
    to.mkdir(parents=True)
    for part in WORKSPACE_PARTS:
        src = source / part
        if src.is_dir():
            shutil.copytree(src, to / part)
        elif src.exists():
            shutil.copy2(src, to / part)
    return to


@dataclass
class Instance:
    """A workspace folder, an instance folder and a database that `lowrise` set up."""

    workspace: Path
    folder: Path
    db_url: str
    passwords: dict[str, str] = field(default_factory=dict)  # role -> password

    def env(self) -> dict[str, str]:
        """The environment a server of this instance runs in (create_app reads it)."""
        return {**os.environ, "LOWRISE_WORKSPACE": str(self.workspace),
                "LOWRISE_INSTANCE": str(self.folder), "DATABASE_URL": self.db_url,
                "LOWRISE_PASSWORD_HASHING": "test-only-cheapest",
                "PYTHONUNBUFFERED": "1"}

    def lowrise(self, *args: str) -> str:
        """Run a `lowrise` command on this instance; its output (fails the test if it fails)."""
        done = subprocess.run([str(BIN / "lowrise"), *args], env=self.env(), cwd=self.workspace,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"lowrise {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def records(self):
        """The engine's Records on this database, for a test's own set-up and checks."""
        from lowrise.storage.db import create_engine
        from lowrise.storage.files import FileStore
        from lowrise.storage.records import Records
        from lowrise.storage.tables import build_schema
        from lowrise.workspace import load_workspace

        engine = create_engine(self.db_url, poolclass=sa.NullPool)
        return Records(engine, build_schema(load_workspace(self.workspace)),
                       files=FileStore(self.folder / "uploads"))


def make_instance(base: Path, db_url: str, *, scale: float = 0.05, seed: int = 5) -> Instance:
    """A copy of the flagship under `base`, migrated and seeded small by the `lowrise` command.

    The commands run once per test process, backend and size; later instances start from a
    copy of what they made (the SQLite file and instance folder, or a PostgreSQL database
    made from it as a template), as minutes of a run went to seeding the same data again."""
    inst = Instance(copy_workspace(base / "workspace"), base / "instance", db_url)
    key = (db_url.split(":", 1)[0], scale, seed)
    if key in _SEEDED:
        return _copy_seeded(_SEEDED[key], inst)
    inst.folder.mkdir()
    # every sign-in of a module comes from 127.0.0.1: more than the default 30 in 15 minutes
    (inst.folder / "config.py").write_text("LOWRISE_LOGIN_PER_CLIENT = 1000\n")
    inst.lowrise("migrate", "--yes")
    out = inst.lowrise("seed", "--scale", str(scale), "--seed", str(seed))
    inst.passwords = dict(re.findall(r"^\s+(\w+)\s+\S+@example\.com\s+password (\S+)", out,
                                     re.M))
    assert "admin" in inst.passwords, out
    _SEEDED[key] = _keep_seeded(inst, base / "seeded")
    return inst


#: (backend, scale, seed) -> a seeded instance kept aside (its database a template)
_SEEDED: dict[tuple, Instance] = {}


def _keep_seeded(inst: Instance, aside: Path) -> Instance:
    """A copy of a just-seeded instance that no test touches, to start later ones from."""
    shutil.copytree(inst.folder, aside / "instance")
    if inst.db_url.startswith("sqlite"):
        db = Path(inst.db_url.split("///", 1)[1])
        for part in (db, db.with_name(db.name + "-wal")):  # a WAL left behind goes too
            if part.exists():
                shutil.copy2(part, aside / part.name)
        url = f"sqlite:///{aside / db.name}"
    else:
        from conftest import _MADE, _pg_url

        name = f"lr_test_{int(time.time())}_seeded{os.getpid()}"
        _clone_pg(inst.db_url.rsplit("/", 1)[1], name)
        _MADE.add(name)  # dropped with the process's other databases
        url = _pg_url(name)
    return Instance(inst.workspace, aside / "instance", url, dict(inst.passwords))


def _copy_seeded(seeded: Instance, inst: Instance) -> Instance:
    shutil.copytree(seeded.folder, inst.folder)
    if inst.db_url.startswith("sqlite"):
        src = Path(seeded.db_url.split("///", 1)[1])
        db = Path(inst.db_url.split("///", 1)[1])
        db.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal"):
            if src.with_name(src.name + suffix).exists():
                shutil.copy2(src.with_name(src.name + suffix), db.with_name(db.name + suffix))
    else:
        name = inst.db_url.rsplit("/", 1)[1]
        _clone_pg(seeded.db_url.rsplit("/", 1)[1], name, replace=True)
    inst.passwords = dict(seeded.passwords)
    return inst


def _clone_pg(source: str, name: str, replace: bool = False) -> None:
    """Database `name` made as a copy of `source` (nobody may be connected to `source`)."""
    from conftest import _pg_admin_engine

    admin = _pg_admin_engine()
    try:
        with admin.connect() as conn:
            if replace:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    finally:
        admin.dispose()


def say(msgid: str, locale: str, **params) -> str:
    """What the interface says for `msgid` in `locale` (its Babel catalogue), as shown."""
    from babel.support import Translations

    from lowrise.web.i18n import TRANSLATIONS

    text = Translations.load(str(TRANSLATIONS), [locale]).gettext(msgid)
    return text % params if params else text


def lead(msgid: str, locale: str) -> str:
    """The words a message with parameters starts with in `locale`, before the first one."""
    return say(msgid, locale).split("%(")[0]


def label_of(instance: Instance, type_name: str, field_name: str | None, locale: str) -> str:
    """A record type's label (`field_name` None), or one of its fields' labels, in `locale`."""
    from lowrise.workspace import load_workspace

    rtype = load_workspace(instance.workspace).type(type_name)
    obj = rtype if field_name is None else rtype.fields[field_name]
    return obj.label.get(locale)


def view_label(instance: Instance, name: str, locale: str) -> str:
    """A view's label in `locale`."""
    from lowrise.workspace import load_workspace

    return load_workspace(instance.workspace).views[name].label.get(locale)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`lowrise serve` or gunicorn (`kind`) serving an instance, in its own process group."""

    def __init__(self, instance: Instance, kind: str = "serve", workers: int = 2):
        assert kind in ("serve", "gunicorn"), kind
        self.instance, self.kind, self.workers = instance, kind, workers
        self.log_path = instance.folder / f"{kind}.log"
        self.proc: subprocess.Popen | None = None
        self.base = ""

    def command(self, port: int) -> list[str]:
        if self.kind == "serve":
            return [str(BIN / "lowrise"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        return [str(BIN / "gunicorn"), "-w", str(self.workers), "-b", f"127.0.0.1:{port}",
                "--graceful-timeout", "5", "lowrise.web:create_app()"]

    def start(self, timeout: float = 60) -> Server:
        for _attempt in range(3):  # a port taken between free_port() and the bind: another
            port = free_port()
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(
                    self.command(port), env=self.instance.env(), cwd=self.instance.workspace,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
            self.base = f"http://127.0.0.1:{port}"
            if self._wait(timeout):
                return self
            if "Address already in use" not in self.log():
                break
        self.stop()
        raise AssertionError(f"{self.kind} did not start:\n{self.log()[-4000:]}")

    def _wait(self, timeout: float) -> bool:
        """Until the sign-in page answers (True), or the process ends or time runs out."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.base + "/auth/login", timeout=5) as resp:
                    if resp.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop the server and every process it started (gunicorn's workers)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def log(self) -> str:
        """What the server wrote to stdout and stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") \
            if self.log_path.exists() else ""

    def mark(self) -> int:
        """Where the log ends now: `problems(since=...)` reads what comes after."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def problems(self, since: int = 0) -> list[str]:
        """The log's lines (after `since`) that say something went wrong in the server."""
        with self.log_path.open("rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", errors="replace")
        lines = text.splitlines()
        # each with what follows it: a traceback's frames and its exception
        return ["\n".join(lines[i:i + 30]) for i, line in enumerate(lines)
                if PROBLEM.search(line)]


class Visitor:
    """Browser tabs of one server: each role signs in once per locale through the sign-in
    page; a tab is a new browser context with that session (the flagship opens in zh)."""

    def __init__(self, browser, server: Server):
        self.browser, self.server = browser, server
        self.states: dict[tuple[str, str], dict] = {}

    def sign_in(self, page, role: str, locale: str) -> None:
        nxt = quote(f"/locale/{locale}?next=/", safe="/")
        page.goto(f"{self.server.base}/auth/login?next={nxt}")
        page.fill("#email", f"{role}@example.com")
        page.fill("#password", self.server.instance.passwords[role])
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/auth/login" not in url)
        assert page.locator(f"html[lang={locale}]").count() == 1

    def open(self, path: str = "/", *, role: str = "admin", locale: str = "zh",
             width: int = 1366, live: bool = True):
        """A new tab signed in as `role`, in `locale`, at `path`; (page, its JS errors).
        `live=False`: the tab hears nothing of others' changes (its live stream is refused),
        as a page that has not yet heard of one."""
        state = self.states.get((role, locale))
        ctx = self.browser.new_context(viewport={"width": width, "height": 900},
                                       storage_state=state, accept_downloads=True)
        page = ctx.new_page()
        page.set_default_timeout(20000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        if not live:
            ctx.route("**/live/events*", lambda route: route.abort())
        if state is None:
            self.sign_in(page, role, locale)
            self.states[(role, locale)] = ctx.storage_state()
        page.goto(self.server.base + path)
        return page, errors


class Http:
    """Plain HTTP to a server, signed in as `role` in `locale`, with no browser: the headers
    as a server sent them (http.client reads header bytes as latin-1)."""

    def __init__(self, server: Server, role: str = "admin", locale: str = "zh"):
        self.base = server.base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = ""
        login = self.send("GET", "/auth/login", htmx=False)
        nxt = f"/locale/{locale}?next=/trash"
        page = self.send("POST", "/auth/login", {
            "email": f"{role}@example.com", "password": server.instance.passwords[role],
            "next": nxt, "csrf_token": csrf_of(login.body)}, htmx=False)
        assert page.status == 200 and "/auth/login" not in page.url, page.status
        self.csrf = csrf_of(page.body)

    def send(self, method: str, path: str, data: dict | None = None, *, htmx: bool = True):
        """One request (a form post when `data`); the answer, 4xx and 5xx included."""
        from urllib.parse import urlencode

        body = urlencode(data or {}, doseq=True).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, method=method)
        if htmx:
            req.add_header("HX-Request", "true")
            req.add_header("X-CSRFToken", self.csrf)
        try:
            resp = self.opener.open(req, timeout=30)
        except urllib.error.HTTPError as exc:
            resp = exc
        with resp:
            return Answer(resp.status, resp.url, list(resp.headers.items()),
                          resp.read().decode("utf-8", errors="replace"))


@dataclass
class Answer:
    status: int
    url: str
    headers: list[tuple[str, str]]
    body: str

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def csrf_of(html: str) -> str:
    m = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


# ---- fixtures: one instance (on conftest's module_db), server and browser per module -----


@pytest.fixture(scope="module")
def instance(module_db, tmp_path_factory):
    """The flagship, migrated and seeded by the `lowrise` command, for the module."""
    return make_instance(tmp_path_factory.mktemp("e2e"), module_db)


@pytest.fixture(scope="module")
def visitor(browser, server):
    """Browser tabs of the module's server (`browser` and `server` are the module's)."""
    return Visitor(browser, server)


@pytest.fixture(scope="module")
def records(instance):
    """The engine's Records on the module's database, for set-up and checks."""
    recs = instance.records()
    yield recs
    recs.engine.dispose()


@pytest.fixture(autouse=True)
def server_stays_clean(server):
    """Nothing a test does makes the module's server write a traceback or an error."""
    start = server.mark()
    yield
    problems = server.problems(since=start)
    assert not problems, f"the {server.kind} server wrote:\n" + "\n\n".join(problems)


def serve(instance: Instance, kind: str):
    """Start a server of `instance`; the generator a module fixture yields it from."""
    server = Server(instance, kind).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(instance):
    """`lowrise serve` on the module's instance (a module may define another)."""
    yield from serve(instance, "serve")


@pytest.fixture(params=["zh", "en"])
def locale(request):
    """The interface's language: Chinese (the flagship's default), then English."""
    return request.param
