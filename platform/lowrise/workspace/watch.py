"""The workspace as it is on disk now: reloaded when a YAML file changes, the last good one
kept while the folder has errors.

A running server asks `WorkspaceSource.get()` on each request (cheap: at most one look at
the files' sizes and times every `interval` seconds). When a file changed and the folder
loads, the new workspace replaces the old and `generation` goes up, so that whoever built
tables or caches from the workspace knows to build them again; when it does not load, the
old workspace stays in use and `problems` says what is wrong, for the page to show. No Flask.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .model import Workspace
from .yamlpos import Problem

PARTS = ("workspace.yaml", "workspace.yml", "schemas", "views", "automations")


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


class WorkspaceSource:
    """The workspace of one folder, kept up to date with the files."""

    def __init__(self, root: str | os.PathLike, *, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        from . import load_workspace

        self.root = Path(root)
        self.interval, self.clock = interval, clock
        self._lock = threading.Lock()
        self._stamp = stamp(self.root)
        self._workspace: Workspace = load_workspace(self.root)  # the first load must succeed
        self._checked = clock()
        self.generation = 0
        self.problems: list[Problem] = []

    def get(self) -> Workspace:
        """The current workspace: reloaded if a file changed, the last good one otherwise."""
        if self.clock() - self._checked < self.interval:
            return self._workspace
        with self._lock:
            self.refresh()
            return self._workspace

    def refresh(self) -> bool:
        """Look at the files now; True when a new workspace was loaded."""
        from . import WorkspaceError, load_workspace

        self._checked = self.clock()
        now = stamp(self.root)
        if now == self._stamp:
            return False
        try:
            ws = load_workspace(self.root)
        except WorkspaceError as exc:
            self.problems = list(exc.problems)
            self._stamp = now  # report once; try again when the files change again
            return False
        self._workspace, self._stamp, self.problems = ws, now, []
        self.generation += 1
        return True
