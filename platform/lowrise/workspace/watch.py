"""The workspace as it is on disk now: reloaded when a YAML file changes, the last good one
kept while the folder has errors.

A running server asks `WorkspaceSource.get()` on each request (cheap: at most one look at
the files' sizes and times every `interval` seconds). When a file changed and the folder
loads, the new workspace replaces the old and `generation` goes up, so that whoever built
tables or caches from the workspace knows to build them again; when it does not load, the
old workspace stays in use and `problems` says what is wrong, for the page to show.

`adopt`, when given, is asked about every workspace that loads before it replaces the old
one (the web app migrates the database and builds its records service there); raising
`NotAdopted` keeps the old one, with the reasons as problems. `migrate_for(engine, schema)` is
the migration a reload does: under `database_lock`, so that of several processes seeing the
same change one migrates and the others find nothing left to do. No Flask.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import sqlalchemy as sa

from lowrise.errors import LowriseError

from .model import Workspace
from .yamlpos import Problem

PARTS = ("workspace.yaml", "workspace.yml", "schemas", "views", "automations", "documents",
         "approvals")


def stamp(root: str | os.PathLike) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime in ns, size) of every YAML file the workspace is read from."""
    root = Path(root)
    out = []
    for part in PARTS:
        p = root / part
        files = [p] if p.is_file() else sorted(p.glob("*.y*ml")) if p.is_dir() else []
        for f in files:
            try:
                st = f.stat()
            except OSError:  # removed between the listing and the look
                continue
            out.append((f.relative_to(root).as_posix(), st.st_mtime_ns, st.st_size))
    return tuple(out)


class NotAdopted(LowriseError):
    """A workspace that loads but cannot be used (the database refuses its migration...)."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class WorkspaceSource:
    """The workspace of one folder, kept up to date with the files."""

    def __init__(self, root: str | os.PathLike, *, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 adopt: Callable[[Workspace], None] | None = None):
        from . import load_workspace

        self.root = Path(root)
        self.interval, self.clock, self.adopt = interval, clock, adopt
        self._lock = threading.RLock()
        self._stamp = stamp(self.root)
        self._workspace: Workspace = load_workspace(self.root)  # the first load must succeed
        self._checked = clock()
        self.generation = 0
        #: why the files on disk are not in use: Problems (file:line) or reasons (text)
        self.problems: list[Problem | str] = []

    @property
    def workspace(self) -> Workspace:
        """The workspace in use, without looking at the files."""
        return self._workspace

    def get(self) -> Workspace:
        """The current workspace: reloaded if a file changed, the last good one otherwise."""
        if self.clock() - self._checked < self.interval:
            return self._workspace
        with self._lock:
            self.refresh()
            return self._workspace

    def refresh(self, *, force: bool = False) -> bool:
        """Look at the files now (`force`: load them even if they look unchanged); True when a
        new workspace was loaded and adopted."""
        from . import WorkspaceError, load_workspace

        with self._lock:
            self._checked = self.clock()
            now = stamp(self.root)
            if now == self._stamp and not force:
                return False
            try:
                ws = load_workspace(self.root)
                if self.adopt is not None:
                    self.adopt(ws)
            except WorkspaceError as exc:
                self.problems = list(exc.problems)
                self._stamp = now  # report once; try again when the files change again
                return False
            except NotAdopted as exc:
                self.problems = list(exc.problems)
                self._stamp = now
                return False
            self._workspace, self._stamp, self.problems = ws, now, []
            self.generation += 1
            return True

    def replace(self, ws: Workspace, texts: dict[str, str]) -> bool:
        """Use `ws`, loaded from `texts`, if the files on disk are those texts now (a change
        this process has just written); otherwise load the files. True when adopted."""
        from .edit import read_texts

        with self._lock:
            now = stamp(self.root)
            if read_texts(self.root) != texts:
                return self.refresh(force=True)
            self._checked = self.clock()
            try:
                if self.adopt is not None:
                    self.adopt(ws)
            except NotAdopted as exc:
                self.problems, self._stamp = list(exc.problems), now
                return False
            self._workspace, self._stamp, self.problems = ws, now, []
            self.generation += 1
            return True


# ----- the database side of a reload -----

_LOCAL = threading.RLock()
LOCK_KEY = zlib.crc32(b"lowrise schema migration")


@contextlib.contextmanager
def database_lock(engine: sa.Engine) -> Iterator[None]:
    """Held while the schema is planned and migrated: one thread of this process, and one
    process of the database (a PostgreSQL advisory lock; a lock file next to an SQLite file)."""
    with _LOCAL:
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                    conn.commit()
            return
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
            yield
            return
        import fcntl

        with open(f"{database}.migrate-lock", "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def migrate_for(engine: sa.Engine, schema, *, actor: str | None = None,
                summary: str | None = None) -> list[str]:
    """Bring the database up to `schema` once: plan under `database_lock` (another process
    that got there first leaves nothing to do), apply what is planned; the steps done.

    Raises NotAdopted with the plan's refusals (data that would be lost), as `lowrise migrate`
    words them; nothing is changed then.
    """
    from lowrise.storage.migrate import apply, plan

    with database_lock(engine):
        with engine.connect() as conn:
            p = plan(conn, schema)
        if p.refusals:
            raise NotAdopted([r.describe() for r in p.refusals])
        if not p.changes:
            return []
        return apply(engine, p, actor=actor, summary=summary)
