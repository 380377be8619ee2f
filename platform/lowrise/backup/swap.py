"""Putting prepared files in place with renames, and taking them back if one fails.

A file or folder a rename would replace is first moved aside (into the restore's own
staging folder), so that `undo()` can put everything back as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

#: the files SQLite keeps beside a database: the old ones must not meet a new database
SIDECARS = ("-wal", "-shm", "-journal")


def staging_dir(beside: Path) -> Path:
    """A new hidden folder beside `beside`, on the same file system, so that moving what it
    holds into place is a rename."""
    beside.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{beside.name}.restoring-", dir=beside.parent))


class Swap:
    """Renames into place, remembering what each one replaced."""

    def __init__(self, aside: Path):
        self.aside = aside
        self.done: list[tuple[Path, Path | None]] = []  # (placed path, what it replaced)

    def _move_aside(self, path: Path) -> Path | None:
        if not (path.exists() or path.is_symlink()):
            return None
        self.aside.mkdir(exist_ok=True)
        away = self.aside / f"{len(self.done)}-{path.name}"
        os.rename(path, away)
        return away

    def put(self, staged: Path, final: Path, *, sidecars: bool = False) -> None:
        """Rename `staged` to `final`; with `sidecars`, a database's -wal and -shm files
        beside `final` are moved aside too."""
        for suffix in SIDECARS if sidecars else ():
            side = final.with_name(final.name + suffix)
            if away := self._move_aside(side):
                self.done.append((side, away))
        self.done.append((final, self._move_aside(final)))
        os.rename(staged, final)

    def put_folder(self, staged: Path, final: Path, *, sidecars_of: str = "") -> None:
        """Put the contents of `staged` into the folder `final` (the whole folder in one
        rename when `final` does not exist)."""
        if not final.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            self.done.append((final, None))
            os.rename(staged, final)
            return
        for item in sorted(staged.iterdir()):
            self.put(item, final / item.name, sidecars=item.name == sidecars_of)

    def undo(self) -> None:
        """Put back what the renames so far replaced."""
        for placed, away in reversed(self.done):
            if placed.is_dir() and not placed.is_symlink():
                shutil.rmtree(placed, ignore_errors=True)
            elif placed.exists() or placed.is_symlink():
                placed.unlink()
            if away is not None:
                os.rename(away, placed)
        self.done.clear()
