"""Imports that run in the background: a row per import in `lr_imports`, a thread per run.

The web import pages keep the uploaded file under the instance folder and an `lr_imports`
row that says where it is, how its columns map to fields and, once started, how far the
import has come. Progress is written to the row while the rows are read and checked;
during the write itself (one transaction, which on SQLite holds the only write lock) it is
kept in this process and read from here, and the row gets the final counts at the end.
No Flask here.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lowrise import importer
from lowrise.actor import Actor
from lowrise.fields.types import UTCDateTime
from lowrise.storage.db import write_transaction
from lowrise.storage.records import Records

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
    message: str | None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def errors_path(self) -> Path:
        """Where the refused rows are written (CSV with an error column)."""
        return Path(self.path).with_name("refused.csv")


class ImportJobs:
    """Create, read and run the imports of one database."""

    _live: dict[tuple[int, int], dict[str, Any]] = {}
    _lock = threading.Lock()

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.table = imports_table(sa.MetaData())
        self._ready = False

    def ensure_table(self) -> None:
        if not self._ready:
            self.table.create(self.engine, checkfirst=True)
            self._ready = True

    def create(self, record_type: str, file_name: str, path: Path | str, *,
               account_id: int | None, mapping: Sequence[str | None] | None = None) -> ImportJob:
        self.ensure_table()
        t = self.table
        with write_transaction(self.engine) as conn:
            jid = conn.execute(t.insert().values(
                record_type=record_type, file_name=file_name[:255], path=str(path),
                account_id=account_id, mapping=list(mapping) if mapping else None,
                created_at=datetime.now(UTC)).returning(t.c.id)).scalar_one()
        return self.get(jid)

    def get(self, job_id: int) -> ImportJob | None:
        """The import, with the live progress of a run in this process."""
        self.ensure_table()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(self.table).where(self.table.c.id == job_id)
                               ).mappings().first()
        if row is None:
            return None
        data = dict(row)
        data.pop("created_at", None)
        data.pop("finished_at", None)
        with self._lock:
            live = self._live.get((id(self.engine), job_id))
        if live and data["status"] not in ("done", "failed"):
            data.update(live)
        return ImportJob(**data)

    def update(self, job_id: int, **values: Any) -> None:
        self.ensure_table()
        with write_transaction(self.engine) as conn:
            conn.execute(self.table.update().where(self.table.c.id == job_id).values(**values))

    def _live_set(self, job_id: int, **values: Any) -> None:
        with self._lock:
            self._live.setdefault((id(self.engine), job_id), {}).update(values)

    def run(self, job: ImportJob, records: Records, actor: Actor, *,
            locale: str = "en") -> importer.Result:
        """Read, check and write one import, recording progress (the caller's thread)."""
        rt = records.schema.workspace.type(job.record_type)
        try:
            sheet = importer.read_file(job.path)
            mapping = importer.check_mapping(rt, job.mapping or importer.guess_mapping(
                rt, sheet.headers))
            total = len(sheet.rows)
            self.update(job.id, status="checking", total=total, done=0)
            self._live_set(job.id, status="checking", total=total, done=0)
            prepared = importer.prepare(records, job.record_type, sheet, mapping, actor)
            self.update(job.id, status="writing")
            self._live_set(job.id, status="writing")
            result = importer.run(
                records, job.record_type, prepared, actor, mode=job.mode,  # type: ignore[arg-type]
                run_hooks=job.run_hooks, progress=lambda n: self._live_set(job.id, done=n))
            if result.errors:
                with open(job.errors_path, "w", encoding="utf-8-sig", newline="") as out:
                    out.writelines(importer.error_rows_csv(sheet, result.errors, rt, locale))
            message = None if result.written else (
                f"nothing was imported: {len(result.errors):,} row(s) refused")
            self.update(job.id, status="done", done=result.created, created=result.created,
                        refused=len(result.errors), message=message,
                        finished_at=datetime.now(UTC))
            return result
        except Exception as exc:
            msg = str(exc) if isinstance(exc, importer.LowriseError) else \
                f"{type(exc).__name__}: {exc}"
            self.update(job.id, status="failed", message=msg[:2000],
                        finished_at=datetime.now(UTC))
            if not isinstance(exc, importer.LowriseError):
                traceback.print_exc()
            raise
        finally:
            with self._lock:
                self._live.pop((id(self.engine), job.id), None)

    def start(self, job: ImportJob, records: Records, actor: Actor, *,
              locale: str = "en") -> threading.Thread:
        """Run the import in a background thread; its progress is read with `get`."""
        self._live_set(job.id, status="checking", done=0)

        def work() -> None:
            try:
                self.run(job, records, actor, locale=locale)
            except Exception:  # run() records the error on the job's row  # nosec B110
                pass

        thread = threading.Thread(target=work, name=f"lowrise-import-{job.id}", daemon=True)
        thread.start()
        return thread
