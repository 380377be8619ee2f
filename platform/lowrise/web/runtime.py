"""What one app holds: the workspace, the database engine, the records service.

Built in `create_app()` and kept in `app.extensions["lowrise"]` as one immutable `Runtime`;
request handlers reach it through `rt()`, which gives a request the same Runtime from its
first call to its last. When the workspace's files change (hot reload, or a change made on a
settings page), `Live` builds a whole new Runtime (schema, records service with its rules)
and swaps it in with one assignment: a request sees the old bundle or the new one, never a
mix. The engine pieces are plain Python: nothing here is a Flask global they see.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, current_app, g, has_app_context

from lowrise.access.clashes import ClashLimit
from lowrise.accounts import Accounts
from lowrise.storage.db import create_engine, default_url
from lowrise.storage.files import FileStore
from lowrise.storage.records import Records
from lowrise.storage.tables import Schema, build_schema
from lowrise.workspace.model import Workspace


@dataclass(frozen=True)
class Runtime:
    """The app's engine objects, as one bundle replaced whole when the workspace changes."""

    workspace: Workspace
    engine: sa.Engine
    schema: Schema
    records: Records
    accounts: Accounts
    files: FileStore
    #: how many times the workspace was reloaded since the app started
    generation: int = 0


def load(path_or_workspace) -> Workspace:
    """A workspace from a folder (or one already loaded, which tests pass directly)."""
    if isinstance(path_or_workspace, Workspace):
        return path_or_workspace
    from lowrise.workspace import load_workspace

    return load_workspace(Path(path_or_workspace))


def migrate(engine: sa.Engine, schema: Schema) -> None:
    """Bring the database up to the workspace: plan, then apply (once among processes)."""
    from lowrise.storage import migrate as mig
    from lowrise.workspace.watch import database_lock

    with database_lock(engine):
        with engine.connect() as conn:
            plan = mig.plan(conn, schema)
        mig.apply(engine, plan)


class Live:
    """Keeps the app's Runtime up to date with the workspace folder.

    `check()` runs before each request: at most once every LOWRISE_WATCH_INTERVAL seconds it
    looks at the YAML files' sizes and times (WorkspaceSource); when they changed and load,
    the database is migrated (what `lowrise migrate` would do; refusals keep the old
    workspace) and a new Runtime is swapped in. `reload()` does the same now, whatever the
    files look like (after a change from a settings page). `problems` says why the files on
    disk are not the workspace in use; empty when they are.
    """

    def __init__(self, app: Flask, root: Path | None, watch: bool, interval: float):
        from lowrise.workspace.watch import WorkspaceSource

        self.app, self.root, self.watch, self.interval = app, root, watch, interval
        self.source = (WorkspaceSource(root, interval=interval, adopt=self._adopt)
                       if root is not None else None)
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    @property
    def workspace(self) -> Workspace | None:
        return self.source.workspace if self.source is not None else None

    @property
    def problems(self) -> list[str]:
        # (a str stays as it is: a Msg among them is put into words in the reader's language)
        return [p if isinstance(p, str) else str(p) for p in self.source.problems] \
            if self.source is not None else []

    def check(self) -> None:
        """Pick up changed files (cheap: one look at most every `interval` seconds)."""
        if not self.watch or self.source is None:
            return
        if time.monotonic() - self._checked < self.interval or not self._lock.acquire(False):
            return  # looked at recently, or another thread is looking right now
        try:
            self._checked = time.monotonic()
            self.source.refresh()
        finally:
            self._lock.release()

    def reload(self, proposal=None) -> bool:
        """Load the files now and swap the Runtime; False (see `problems`) when they do not.
        Given the `lowrise.workspace.edit.Proposal` just committed, its workspace is used
        as it is when the files on disk are still the ones it was made from."""
        if self.source is None:
            return False
        if proposal is not None:
            return self.source.replace(proposal.workspace, proposal.new_texts)
        return self.source.refresh(force=True)

    def _adopt(self, ws: Workspace) -> None:
        """Migrate for `ws` and swap in a new Runtime (WorkspaceSource calls this)."""
        from lowrise.storage.migrate import plan
        from lowrise.workspace.watch import NotAdopted, migrate_for

        old: Runtime = self.app.extensions["lowrise"]
        schema = build_schema(ws)
        if self.app.config.get("LOWRISE_AUTO_MIGRATE"):
            migrate_for(old.engine, schema, actor="workspace reload",
                        summary="the workspace files changed")
        else:
            with old.engine.connect() as conn:
                if not plan(conn, schema).is_empty:
                    raise NotAdopted(["the database needs migrating for the changed files: run "
                                      "`lowrise migrate` (the server does not: automatic "
                                      "migration is off)"])
        records = Records(old.engine, schema, files=old.files,
                          clash_limit=old.records.clash_limit)
        rules = _install_rules(self.app, records)
        new = dataclasses.replace(old, workspace=ws, schema=schema, records=records,
                                  generation=old.generation + 1)
        self.app.extensions["lowrise"] = new  # the swap: one assignment
        held = self.app.extensions.get("lowrise_rules")
        if held is not None:
            self.app.extensions["lowrise_rules"] = dataclasses.replace(held, engine=rules)
        worker = self.app.extensions.get("lowrise_worker")  # `lowrise serve`'s thread
        if worker is not None and self.app.config.get("LOWRISE_RULES"):
            worker.worker.records, worker.worker.engine = records, rules


def _install_rules(app: Flask, records: Records):
    """The rules engine of the records' workspace: installed on them when rules run."""
    from lowrise.rules.engine import RuleEngine, install

    if app.config.get("LOWRISE_RULES"):
        return install(records)  # rules run inside each write's transaction
    return RuleEngine(records.schema.workspace)


def init_app(app: Flask) -> None:
    cfg = app.config
    instance = Path(cfg["LOWRISE_INSTANCE"])
    given = cfg["LOWRISE_WORKSPACE"]
    root = None if isinstance(given, Workspace) else Path(given)
    watch = cfg.get("LOWRISE_WATCH")
    if watch is None:  # on when serving; tests turn it on when they edit files
        watch = not cfg.get("TESTING")
    interval = cfg.get("LOWRISE_WATCH_INTERVAL")
    live = Live(app, root, bool(watch), 1.0 if interval is None else float(interval))
    ws = live.workspace or load(given)
    url = cfg.get("DATABASE_URL") or default_url(instance)
    kw = {"poolclass": sa.NullPool} if cfg.get("LOWRISE_NULL_POOL") else {}
    engine = create_engine(url, busy_timeout=cfg.get("LOWRISE_BUSY_TIMEOUT"), **kw)
    schema = build_schema(ws)
    if cfg.get("LOWRISE_AUTO_MIGRATE"):
        migrate(engine, schema)
    files = FileStore(instance / "uploads")
    accounts = Accounts(engine)
    accounts.ensure_table()
    records = Records(engine, schema, files=files, clash_limit=ClashLimit(
        limit=int(cfg.get("LOWRISE_CLASH_LIMIT", 5)),
        window=float(cfg.get("LOWRISE_CLASH_WINDOW", 600))))
    if cfg.get("LOWRISE_RULES"):
        # Rules run inside each write's transaction, whether or not a worker runs.
        from lowrise.rules import install

        install(records)
    app.extensions["lowrise"] = Runtime(ws, engine, schema, records, accounts, files)
    app.extensions["lowrise_live"] = live
    app.before_request(live.check)


def live() -> Live:
    """The current app's Live (hot reload, problems of the files on disk)."""
    return current_app.extensions["lowrise_live"]


def rt() -> Runtime:
    """The current app's Runtime: the same one for the whole of a request (or app context)."""
    if not has_app_context():  # pragma: no cover - current_app raises the usual error
        return current_app.extensions["lowrise"]
    held = g.get("_lowrise_runtime")
    if held is None:
        held = g._lowrise_runtime = current_app.extensions["lowrise"]
    return held


def repin() -> Runtime:
    """Use the app's newest Runtime for the rest of this request (after a swap it made)."""
    g.pop("_lowrise_runtime", None)
    g.pop("policy", None)  # built from the old workspace
    return rt()
