"""Backups: every table of an instance in one consistent snapshot, its uploads and its
workspace, in one archive that restores on SQLite or PostgreSQL, whichever took it.

`lowrise backup OUT` writes a zip (`archive` says what is in it); `lowrise restore ARCHIVE`
checks it and brings it back into an empty instance folder and database (`restoring`), or
only checks it (`--verify-only`). The tables carried are every table the live database has
(`tables`), so a table another part of the engine adds is carried without being listed
here. No Flask here; the names below are imported on first use (the CLI loads this package
at start-up).

    backup(out, engine=..., workspace_dir=..., instance=...)   -> Manifest
    restore(archive, instance=..., workspace_dir=..., database_url=None, force=False)
    verify(archive)                                             -> RestoreResult
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {"backup": "dump", "restore": "restoring", "verify": "restoring",
            "RestoreResult": "restoring", "BackupError": "archive", "Manifest": "archive"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
