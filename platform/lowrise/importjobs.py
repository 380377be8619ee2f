"""Imports that run in the background: a row per import in `lr_imports`, a thread per run.

The web import pages keep the uploaded file under the instance folder and an `lr_imports`
row that says where it is, how its columns map to fields, the preview of that mapping
(worked out once, in the background: lowrise.import_preview) and, once started, how far the
import has come. Progress is written to the row while the rows are read and checked;
during the write itself (one transaction, which on SQLite holds the only write lock) it is
kept in this process and read from here. The row's final state commits in the same
transaction as the records: a row that says "writing" has nothing written.

A running import (or preview) names its owner, the process at it (host, pid and a token
of the process), and the owner beats a heartbeat into the row. A process that stops
mid-import leaves its row "checking" or "writing": whoever reads the row next (the page,
or a server at start-up) sees that the owner is gone and marks it failed, saying that
nothing was written; the person can try again. No Flask here.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lowrise.fields.types import UTCDateTime
from lowrise.i18n import dump, load
from lowrise.import_owners import owner_alive, this_process
from lowrise.import_runs import RUNNING, STOPPED, TAKEN, UNEXPECTED, Runs

__all__ = ["RUNNING", "STATUSES", "STOPPED", "TAKEN", "UNEXPECTED", "ImportJob", "ImportJobs",
           "imports_table", "this_process"]
from lowrise.storage.db import write_transaction

STATUSES = ("ready", "checking", "writing", "done", "failed")


def imports_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "lr_imports", metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("record_type", sa.String(64), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("account_id", sa.BigInteger),
        sa.Column("mapping", sa.JSON),
        sa.Column("mode", sa.String(8), nullable=False, server_default="all"),
        sa.Column("run_hooks", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("status", sa.String(16), nullable=False, server_default="ready"),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created", sa.Integer, nullable=False, server_default="0"),
        sa.Column("refused", sa.Integer, nullable=False, server_default="0"),
        sa.Column("message", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        # added later (ensure_table adds them to an older table): nullable, no defaults
        sa.Column("reason", sa.JSON(none_as_null=True)),  # `message` as a lowrise.i18n message
        sa.Column("owner", sa.String(255)),
        sa.Column("heartbeat", UTCDateTime()),
        sa.Column("revision", sa.Integer),  # of the mapping; the preview says which it shows
        sa.Column("preview", sa.JSON(none_as_null=True)),
        # onto existing records (lowrise.import_keyed): create, update or upsert, by a key
        sa.Column("op", sa.String(8)),
        sa.Column("key_field", sa.String(64)),
        sa.Column("updated", sa.Integer),
        sa.Column("header_row", sa.Integer),  # None: the first, below title rows
    )


@dataclass(frozen=True)
class ImportJob:
    id: int
    record_type: str
    file_name: str
    path: str
    account_id: int | None
    mapping: list[str | None] | None
    mode: str
    run_hooks: bool
    status: str
    total: int
    done: int
    created: int
    refused: int
    message: Any = None
    owner: str | None = None
    heartbeat: datetime | None = None
    revision: int = 0
    preview: dict[str, Any] | None = None
    op: str | None = None
    key_field: str | None = None
    updated: int | None = None
    header_row: int | None = None

    @property
    def keyed(self) -> bool:
        """Whether the import changes existing records (update or upsert by a key)."""
        return self.op in ("update", "upsert")

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def previewed(self) -> bool:
        """Whether the preview of the current mapping is worked out."""
        return bool(self.preview) and self.preview.get("revision") == self.revision

    @property
    def unreadable(self) -> bool:
        """Failed before it could be previewed: the file itself is the problem."""
        return self.status == "failed" and not self.preview

    @property
    def can_start(self) -> bool:
        p = self.preview or {}
        return self.status == "ready" and self.previewed and not p.get("problem") and \
            p.get("valid", 0) > 0

    @property
    def errors_path(self) -> Path:
        """Where the rows the import refused are kept (JSON lines: import_preview)."""
        return Path(self.path).with_name("refused.jsonl")

    @property
    def preview_errors_path(self) -> Path:
        """Where the rows the preview of the current mapping refuses are kept."""
        return Path(self.path).with_name(f"preview-{self.revision}.jsonl")


class ImportJobs(Runs):
    """Create, read and run the imports of one database."""

    _live: dict[tuple[int, int], dict[str, Any]] = {}
    _lock = threading.Lock()

    def __init__(self, engine: sa.Engine, locales: Sequence[str] = ("en",)):
        self.engine = engine
        self.table = imports_table(sa.MetaData())
        #: the locales whose words a stored message keeps (the workspace's)
        self.locales = tuple(locales)
        self._ready = False

    def ensure_table(self) -> None:
        """Make the table, or add the columns an older one lacks."""
        if self._ready:
            return
        self.table.create(self.engine, checkfirst=True)
        with self.engine.connect() as conn:
            have = {c["name"] for c in sa.inspect(conn).get_columns(self.table.name)}
        quote = self.engine.dialect.identifier_preparer.quote
        for col in self.table.columns:
            if col.name in have:
                continue
            kind = col.type.compile(dialect=self.engine.dialect)
            # another process may add it at the same moment: then it is there all the same
            with suppress(sa.exc.ProgrammingError, sa.exc.OperationalError), \
                    self.engine.begin() as conn:
                conn.exec_driver_sql(f"ALTER TABLE {quote(self.table.name)} ADD COLUMN "
                                     f"{quote(col.name)} {kind}")
        self._ready = True

    def create(self, record_type: str, file_name: str, path: Path | str, *,
               account_id: int | None, mapping: Sequence[str | None] | None = None) -> ImportJob:
        self.ensure_table()
        t = self.table
        with write_transaction(self.engine) as conn:
            jid = conn.execute(t.insert().values(
                record_type=record_type, file_name=file_name[:255], path=str(path),
                account_id=account_id, mapping=list(mapping) if mapping else None, revision=0,
                created_at=datetime.now(UTC)).returning(t.c.id)).scalar_one()
        return self.get(jid)

    def get(self, job_id: int) -> ImportJob | None:
        """The import, with the live progress of a run in this process; a run whose owner
        is gone is marked failed first."""
        job = self._read(job_id)
        if job is not None and job.status in RUNNING and not self.alive(job):
            self._finish(job.id, job.owner, job.status, status="failed", reason=STOPPED)
            job = self._read(job_id)
        return job

    def _read(self, job_id: int) -> ImportJob | None:
        self.ensure_table()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(self.table).where(self.table.c.id == job_id)
                               ).mappings().first()
        if row is None:
            return None
        data = dict(row)
        data.pop("created_at", None)
        data.pop("finished_at", None)
        reason = data.pop("reason", None)
        data["message"] = load(reason) if reason else data["message"]
        data["revision"] = data["revision"] or 0
        with self._lock:
            live = dict(self._live.get((id(self.engine), job_id)) or {})
        if data["status"] in RUNNING:
            data.update((k, v) for k, v in live.items() if k in ("status", "total", "done"))
        return ImportJob(**data)

    def update(self, job_id: int, **values: Any) -> None:
        self.ensure_table()
        with write_transaction(self.engine) as conn:
            conn.execute(self.table.update().where(self.table.c.id == job_id).values(**values))

    def alive(self, job: ImportJob) -> bool:
        """Whether the process that owns a running import or preview is still at it."""
        with self._lock:
            live = self._live.get((id(self.engine), job.id))
        here = live is not None and live.get("revision", job.revision) == job.revision
        return owner_alive(job.owner, job.heartbeat, here=here)

    def recover(self) -> int:
        """At start-up: mark failed every running import whose owner is gone; how many."""
        self.ensure_table()
        t = self.table
        with self.engine.connect() as conn:
            ids = conn.execute(sa.select(t.c.id).where(t.c.status.in_(RUNNING))).scalars().all()
        return sum(1 for jid in ids if (job := self.get(jid)) and job.status == "failed")

    def fail(self, job_id: int, reason: Any) -> bool:
        """Mark a ready import that nobody runs failed, saying why (its file is unreadable)."""
        self.ensure_table()
        return self._finish(job_id, None, "ready", status="failed", reason=reason)

    def retry(self, job_id: int) -> bool:
        """A failed import (not an unreadable file) back to ready, its preview to be worked
        out again; False when it was not in that state."""
        self.ensure_table()
        t = self.table
        with self.engine.begin() as conn:
            return conn.execute(t.update().where(
                t.c.id == job_id, t.c.status == "failed", t.c.preview.is_not(None)).values(
                status="ready", revision=sa.func.coalesce(t.c.revision, 0) + 1, preview=None,
                owner=None, heartbeat=None, message=None, reason=None, total=0, done=0,
                created=0, refused=0, finished_at=None)).rowcount == 1

    def remap(self, job_id: int, mapping: Sequence[str | None] | None) -> None:
        """A new mapping for a ready import: its preview is to be worked out again."""
        t = self.table
        self.ensure_table()
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.id == job_id, t.c.status == "ready").values(
                mapping=list(mapping) if mapping is not None else None, owner=None,
                revision=sa.func.coalesce(t.c.revision, 0) + 1))

    def claim(self, job: ImportJob, status: str) -> bool:
        """Take a ready import for this process: to run it (`status` "checking") or to work
        out its preview (`status` "ready"). False when another request got there first."""
        t = self.table
        owner = t.c.owner.is_(None) if job.owner is None else t.c.owner == job.owner
        cond = [t.c.id == job.id, t.c.status == "ready", owner,
                sa.func.coalesce(t.c.revision, 0) == job.revision]
        key = (id(self.engine), job.id)
        with self._lock:  # alive from now on, not only once its thread runs
            before = self._live.get(key)
            self._live[key] = {"revision": job.revision}
        with self.engine.begin() as conn:
            taken = conn.execute(t.update().where(*cond).values(
                status=status, owner=this_process(), heartbeat=datetime.now(UTC),
                total=0, done=0)).rowcount == 1
        if not taken:
            with self._lock:
                if before is None:
                    self._live.pop(key, None)
                else:
                    self._live[key] = before
        return taken

    def _finish(self, job_id: int, owner: str | None, current: str, *,
                conn: sa.Connection | None = None, reason: Any = None,
                revision: int | None = None, **values: Any) -> bool:
        """Set a job's state to `values` if `owner` still has it in the `current` status (and,
        for a preview, the mapping is still `revision`); False when it moved on meanwhile."""
        t = self.table
        cond = [t.c.id == job_id, t.c.status == current,
                t.c.owner.is_(None) if owner is None else t.c.owner == owner]
        if revision is not None:
            cond.append(sa.func.coalesce(t.c.revision, 0) == revision)
        if reason is not None:
            values.update(reason=dump(reason, self.locales), message=str(reason)[:2000])
        if values.get("status") in ("done", "failed"):
            values.setdefault("finished_at", datetime.now(UTC))
        values.setdefault("owner", None)
        stmt = t.update().where(*cond).values(**values)
        if conn is not None:
            return conn.execute(stmt).rowcount == 1
        with self.engine.begin() as c:
            return c.execute(stmt).rowcount == 1
