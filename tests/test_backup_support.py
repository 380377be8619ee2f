"""Builders for the backup tests: a flagship instance with rows in every table the engine has,
a database of the other kind to restore into, and reading any database table by table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import drop_pg_database, make_pg_database
from lowrise.accounts import Accounts, LoginLimit
from lowrise.actor import SYSTEM, Actor
from lowrise.backup.snapshot import snapshot
from lowrise.backup.tables import live_specs, reader, registry
from lowrise.comments import Comments
from lowrise.fields.file import FileUpload
from lowrise.importjobs import ImportJobs
from lowrise.rules.engine import install
from lowrise.seed import seed
from lowrise.storage.db import create_engine
from lowrise.storage.files import FileStore
from lowrise.storage.migrate import apply, plan
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.templates import repository_root, workspace_files
from lowrise.workspace import load_workspace

PASSWORD = "correct horse battery"
SECRET = "a-secret-key-for-the-test"


@dataclass
class Instance:
    """A workspace folder with its instance folder and database, and the engine objects."""

    root: Path
    url: str
    engine: sa.Engine
    records: Records
    accounts: Accounts
    boss: Actor
    token: str = ""

    @property
    def instance(self) -> Path:
        return self.root / "instance"

    @property
    def ws(self):
        return self.records.schema.workspace


def write_flagship(root: Path) -> None:
    for rel, data in workspace_files(repository_root()).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def open_instance(root: Path, url: str, *, migrate: bool = True) -> Instance:
    """The engine objects of a workspace folder and its database (migrated, unless not)."""
    ws = load_workspace(root)
    engine = create_engine(url, poolclass=sa.NullPool)
    schema = build_schema(ws)
    if migrate:
        with engine.connect() as conn:
            apply(engine, plan(conn, schema))
    records = Records(engine, schema, files=FileStore(root / "instance" / "uploads"))
    accounts = Accounts(engine)
    boss = accounts.by_email("boss@example.com")
    actor = Actor(user=boss.staff_id, name="Boss", roles=frozenset({"admin"})) if boss else SYSTEM
    return Instance(root, url, engine, records, accounts, actor)


def flagship_instance(root: Path, url: str, *, scale: float = 0.05) -> Instance:
    """The flagship with demo data and a row in every table: accounts, a token, a failed
    sign-in, comments with a mention (so notifications) and an edit, rule runs and their
    e-mails, pending timers, a trashed record, an import job, an attached file."""
    write_flagship(root)
    (root / "instance").mkdir()
    (root / "instance" / "secret_key").write_text(SECRET)
    inst = open_instance(root, url)
    records = inst.records
    seed(records, scale=scale, seed_value=3)
    install(records)  # from here on, writes run the workspace's rules
    staff = rows(inst.engine, "staff")
    boss = inst.accounts.add("boss@example.com", PASSWORD, name="Boss", roles=["admin"],
                             staff_id=staff[0]["id"])
    inst.accounts.add("agent@example.com", PASSWORD, roles=["consultant"],
                      staff_id=staff[1]["id"] if len(staff) > 1 else None)
    inst.token, _ = inst.accounts.create_token(boss.id, "nightly export")
    LoginLimit(inst.accounts).failed("10.0.0.9", "boss@example.com")
    inst.boss = Actor(user=staff[0]["id"], name="Boss", roles=frozenset({"admin"}))
    client = records.create("client", {"name": "张三丰", "phone": "13800138000"}, inst.boss)
    case = new_case(records, client["id"], inst.boss)  # the assignment rule runs
    comments = Comments(records, inst.accounts)
    posted = comments.add("case", case["id"], f"@{staff[-1]['name']} 请回电", inst.boss)
    comments.edit(posted.comment.id, f"@{staff[-1]['name']} 请今天回电", inst.boss)
    contract = rows(inst.engine, "contract")[0]
    records.update("contract", contract["id"], {"attachment": [
        FileUpload("signed.pdf", b"%PDF-1.4 signed", "application/pdf")]}, inst.boss)
    newest = rows(inst.engine, "follow_up")[-1]
    records.delete("follow_up", newest["id"], inst.boss)  # the highest id, in the trash
    ImportJobs(inst.engine).create("client", "clients.csv", root / "instance" / "imports" / "x",
                                   account_id=boss.id)
    return inst


def new_case(records: Records, client: int, actor: Actor) -> dict:
    return records.create("case", {"client": client, "opened_on": date(2026, 12, 1)}, actor)


def new_follow_up(records: Records, client: int, staff: int, actor: Actor) -> dict:
    return records.create("follow_up", {"client": client, "staff": staff, "at": now(),
                                        "channel": "phone", "summary": "回访"}, actor)


def rows(engine: sa.Engine, table: str, **where) -> list[dict]:
    with engine.connect() as conn:
        t = sa.Table(table, sa.MetaData(), autoload_with=conn)
        stmt = sa.select(t).where(*(t.c[k] == v for k, v in where.items()))
        return [dict(r) for r in conn.execute(stmt.order_by(*t.primary_key.columns)).mappings()]


def all_tables(engine: sa.Engine, ws) -> dict[str, list[dict]]:
    """Every table, every row (by key), every value as Python reads it by the column's storage;
    lr_meta without its search entries (they name the statements of one kind of database)."""
    out = {}
    with snapshot(engine) as conn:
        for spec in live_specs(conn, registry(ws)):
            if not spec.in_database:
                continue
            t = reader(spec)
            found = conn.execute(sa.select(*t.c).order_by(*(t.c[c] for c in spec.primary_key)))
            out[spec.name] = [dict(r) for r in found.mappings()]
    out["lr_meta"] = [r for r in out.get("lr_meta", []) if not r["key"].startswith("search:")]
    return out


def assert_same_tables(a: dict[str, list[dict]], b: dict[str, list[dict]]) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert len(a[name]) == len(b[name]), name
        for x, y in zip(a[name], b[name], strict=True):
            assert x == y, (name, x, y)


def now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def fresh_database(kind: str, tmp_path: Path, name: str) -> Iterator[str]:
    """The URL of a new, empty database of a kind: an SQLite file, or a PostgreSQL database
    dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / name}"
        return
    url = make_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


def kind_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


@pytest.fixture
def other_url(db_url, tmp_path):
    """An empty database of the other kind: PostgreSQL for an SQLite test, and back."""
    other = "postgresql" if kind_of(db_url) == "sqlite" else "sqlite"
    with fresh_database(other, tmp_path, "other.db") as url:
        yield url


@pytest.fixture
def same_kind_url(db_url, tmp_path):
    """Another empty database of the same kind as db_url."""
    with fresh_database(kind_of(db_url), tmp_path, "same.db") as url:
        yield url
