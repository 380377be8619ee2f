"""What one app holds for its lifetime: the workspace, the database engine, the records service.

Built once in `create_app()` and kept in `app.extensions["lowrise"]`; request handlers reach
it through `rt()`. The engine pieces are plain Python: nothing here is a Flask global they see.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, current_app

from lowrise.accounts import Accounts
from lowrise.storage.db import create_engine, default_url
from lowrise.storage.files import FileStore
from lowrise.storage.records import Records
from lowrise.storage.tables import Schema, build_schema
from lowrise.workspace.model import Workspace


@dataclass
class Runtime:
    """The app's engine objects."""

    workspace: Workspace
    engine: sa.Engine
    schema: Schema
    records: Records
    accounts: Accounts
    files: FileStore


def load(path_or_workspace) -> Workspace:
    """A workspace from a folder (or one already loaded, which tests pass directly)."""
    if isinstance(path_or_workspace, Workspace):
        return path_or_workspace
    from lowrise.workspace import load_workspace

    return load_workspace(Path(path_or_workspace))


def migrate(engine: sa.Engine, schema: Schema) -> None:
    """Bring the database up to the workspace: plan, then apply."""
    from lowrise.storage import migrate as mig

    with engine.connect() as conn:
        plan = mig.plan(conn, schema)
    mig.apply(engine, plan)


def init_app(app: Flask) -> None:
    cfg = app.config
    instance = Path(cfg["LOWRISE_INSTANCE"])
    ws = load(cfg["LOWRISE_WORKSPACE"])
    url = cfg.get("DATABASE_URL") or default_url(instance)
    kw = {"poolclass": sa.NullPool} if cfg.get("LOWRISE_NULL_POOL") else {}
    engine = create_engine(url, **kw)
    schema = build_schema(ws)
    if cfg.get("LOWRISE_AUTO_MIGRATE"):
        migrate(engine, schema)
    files = FileStore(instance / "uploads")
    accounts = Accounts(engine)
    accounts.ensure_table()
    records = Records(engine, schema, files=files)
    if cfg.get("LOWRISE_RULES"):
        # Rules run inside each write's transaction, whether or not a worker runs.
        from lowrise.rules import install

        install(records)
    app.extensions["lowrise"] = Runtime(ws, engine, schema, records, accounts, files)


def rt() -> Runtime:
    """The current app's runtime."""
    return current_app.extensions["lowrise"]
