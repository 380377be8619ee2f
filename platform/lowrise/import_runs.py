"""Running an import, and working out its preview, in the background (the methods of
lowrise.importjobs.ImportJobs that do the work).

A run reads the file once, checks every row and writes them in one transaction, in which the
job's final state is written too (`importer.run`'s `finish`). A preview (lowrise.
import_preview) is worked out once per mapping; a few at a time per process. Both work as
the job's owner (lowrise.import_owners), with a heartbeat, and record why they stopped:
the engine's own message, or for anything unexpected a plain one with the details logged.
No Flask here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lowrise import import_preview, importer
from lowrise.actor import Actor
from lowrise.errors import LowriseError
from lowrise.i18n import Msg, msg, msg_n
from lowrise.import_owners import beating, this_process
from lowrise.storage.db import is_sqlite
from lowrise.storage.records import Records

if TYPE_CHECKING:
    from lowrise.importjobs import ImportJob

log = logging.getLogger("lowrise.imports")

RUNNING = ("checking", "writing")
#: previews worked out at once by one process (more wait their turn)
PREVIEWS_AT_ONCE = 2
STOPPED = msg("the server stopped during the import; nothing was written")
TAKEN = msg("the import was stopped meanwhile; nothing was written")
UNEXPECTED = msg("an unexpected error stopped the import; nothing was written (the server's "
                 "log has the details)")


class Runs:
    """Run and preview imports: mixed into ImportJobs, whose table and rows they use."""

    _live: dict[tuple[int, int], dict[str, Any]]
    _lock: threading.Lock
    _previews = threading.BoundedSemaphore(PREVIEWS_AT_ONCE)

    @contextmanager
    def _running(self, job: ImportJob, **live: Any) -> Iterator[None]:
        """While a run or preview works: registered in this process, its heartbeat beating."""
        key = (id(self.engine), job.id)
        with self._lock:
            self._live[key] = {"revision": job.revision, **live}
        owner = this_process()

        def beat() -> None:
            with self._lock:
                phase = (self._live.get(key) or {}).get("status")
            if phase == "writing" and is_sqlite(self.engine):
                return  # the write holds SQLite's lock; on this host the pid tells
            try:
                with self.engine.begin() as conn:
                    conn.execute(self.table.update().where(
                        self.table.c.id == job.id, self.table.c.owner == owner).values(
                        heartbeat=datetime.now(UTC)))
            except sa.exc.SQLAlchemyError:
                log.warning("import %s: the heartbeat could not be written", job.id,
                            exc_info=True)

        try:
            with beating(beat, f"lowrise-import-{job.id}-heartbeat"):
                yield
        finally:
            with self._lock:
                if (self._live.get(key) or {}).get("revision") == job.revision:
                    self._live.pop(key, None)

    def _live_set(self, job_id: int, **values: Any) -> None:
        with self._lock:
            self._live.setdefault((id(self.engine), job_id), {}).update(values)

    def _phase(self, job_id: int, **values: Any) -> None:
        """Progress before the write: in the row (other processes see it) and here."""
        t = self.table
        with self.engine.begin() as conn:
            if conn.execute(t.update().where(t.c.id == job_id, t.c.owner == this_process())
                            .values(heartbeat=datetime.now(UTC), **values)).rowcount != 1:
                raise LowriseError(TAKEN)
        self._live_set(job_id, **values)

    def run(self, job: ImportJob, records: Records, actor: Actor) -> importer.Result:
        """Read, check and write one import claimed by this process (the caller's thread).
        The job's final state commits with the records; a failure marks it failed."""
        rt = records.schema.workspace.type(job.record_type)
        self.locales = tuple(records.schema.workspace.locales)
        owner = this_process()
        with self._running(job, status="checking", done=0):
            try:
                sheet = importer.read_file(job.path, header_row=job.header_row)
                width = len(sheet.headers)
                op, key = job.op or "create", job.key_field
                mapping = importer.check_mapping(rt, ((job.mapping or importer.guess_mapping(
                    rt, sheet.headers, key=key)) + [None] * width)[:width], key=key, op=op)
                self._phase(job.id, status="checking", total=len(sheet.rows), done=0)
                prepared = importer.prepare(records, job.record_type, sheet, mapping, actor)
                self._phase(job.id, status="writing")

                def finish(conn: sa.Connection, result: importer.Result) -> None:
                    if result.errors:
                        import_preview.write_refused(job.errors_path, sheet, result.errors,
                                                     self.locales)
                    if not self._finish(job.id, owner, "writing", conn=conn, status="done",
                                        done=result.created + result.updated,
                                        created=result.created, updated=result.updated,
                                        refused=len(result.errors), total=result.total,
                                        message=None, reason=None):
                        raise LowriseError(TAKEN)

                result = importer.run(
                    records, job.record_type, prepared, actor, mode=job.mode,  # type: ignore[arg-type]
                    run_hooks=job.run_hooks, progress=lambda n: self._live_set(job.id, done=n),
                    finish=finish, key=key, op=op)
                if not result.written:
                    import_preview.write_refused(job.errors_path, sheet, result.errors,
                                                 self.locales)
                    self._finish(job.id, owner, "writing", status="done", done=0, created=0,
                                 refused=len(result.errors), total=result.total,
                                 reason=msg_n("nothing was imported: %(n)s row was refused",
                                              "nothing was imported: %(n)s rows were refused",
                                              len(result.errors)))
                return result
            except Exception as exc:
                self._failed(job, owner, exc)
                raise

    def _failed(self, job: ImportJob, owner: str, exc: Exception) -> None:
        """Record why a run or preview stopped: the engine's own message, or (for anything
        unexpected) a plain one, with the details in the log."""
        reason = exc.message if isinstance(exc, LowriseError) and exc.message else None
        if reason is None:
            log.error("import %s (%s) stopped", job.id, job.file_name, exc_info=exc)
            reason = UNEXPECTED
        elif not isinstance(reason, Msg):
            reason = str(reason)
        for status in (*RUNNING, "ready"):
            with suppress(sa.exc.SQLAlchemyError):
                if self._finish(job.id, owner, status, status="failed", reason=reason):
                    return
        log.error("import %s: its failure could not be recorded", job.id)

    def start(self, job: ImportJob, records: Records, actor: Actor) -> threading.Thread | None:
        """Claim a ready import and run it in a background thread (None when it was not
        ready or another request started it); its progress is read with `get`."""
        if not self.claim(job, "checking"):
            return None
        job = self._read(job.id)

        def work() -> None:
            try:
                self.run(job, records, actor)
            except Exception:  # run() recorded it on the job's row (and logged the unexpected)
                log.debug("import %s failed", job.id, exc_info=True)

        thread = threading.Thread(target=work, name=f"lowrise-import-{job.id}", daemon=True)
        thread.start()
        return thread

    # -- previews ------------------------------------------------------------------------

    def preview(self, job: ImportJob, records: Records, actor: Actor) -> None:
        """Work out and keep the preview of a ready import's current mapping (the caller's
        thread, once claimed); a file that cannot be read fails the import."""
        self.locales = tuple(records.schema.workspace.locales)
        owner = this_process()
        with self._running(job, thread=threading.current_thread()), self._previews:
            try:
                current = self._read(job.id)
                if current is None or current.revision != job.revision:
                    return  # the mapping changed while this waited its turn
                sheet = importer.read_file(job.path, header_row=job.header_row)
                data = import_preview.build(records, job.record_type, sheet, job.mapping, actor,
                                            revision=job.revision,
                                            refused_path=job.preview_errors_path,
                                            key=job.key_field, op=job.op or "create")
                if not self._finish(job.id, owner, "ready", revision=job.revision,
                                    preview=data, total=data["rows"]):
                    job.preview_errors_path.unlink(missing_ok=True)
            except importer.ImportFileError as exc:
                self._finish(job.id, owner, "ready", revision=job.revision, status="failed",
                             reason=exc.message)
            except Exception as exc:
                self._failed(job, owner, exc)

    def start_preview(self, job: ImportJob, records: Records, actor: Actor
                      ) -> threading.Thread | None:
        """Work out a ready import's preview in a background thread; the thread at it (a new
        one, or the one of this process already at it), None when it is worked out already
        or another process is at it."""
        if job.status != "ready" or job.previewed:
            return None
        if job.owner and self.alive(job):
            with self._lock:
                return (self._live.get((id(self.engine), job.id)) or {}).get("thread")
        if not self.claim(job, "ready"):
            return None
        job = self._read(job.id)
        thread = threading.Thread(target=self.preview, args=(job, records, actor),
                                  name=f"lowrise-import-{job.id}-preview", daemon=True)
        thread.start()
        return thread
