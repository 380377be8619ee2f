"""Taking a backup: every table in one snapshot, then the uploads and the workspace files.

The archive is written to a hidden file beside OUT (readable by its owner only: it holds
password hashes and personal data) and renamed into place once complete, so a backup that
stops half-way leaves no OUT behind. Uploads are copied after the snapshot: the file store
never deletes a file and a record is committed only after its files are stored, so every
file the snapshot's records name is on disk by then.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lowrise.backup.archive import (
    CHUNK,
    SECRET_KEY,
    UPLOADS_DIR,
    WORKSPACE_DIR,
    ArchiveWriter,
    BackupError,
    Manifest,
)
from lowrise.backup.snapshot import server_version, snapshot
from lowrise.backup.tables import TableSpec, encode, live_specs, reader, registry
from lowrise.storage.migrate_storage import split_storage
from lowrise.templates import workspace_files
from lowrise.workspace.model import Workspace

BATCH = 2000
Progress = Callable[[str, int], None]


def lowrise_version() -> str:
    try:
        return version("lowrise")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return ""


def backup(out: str | os.PathLike, *, engine: sa.Engine, workspace_dir: str | os.PathLike,
           instance: str | os.PathLike, with_secrets: bool = False,
           progress: Progress | None = None) -> Manifest:
    """Write a backup of the database `engine` points at, the instance's uploads and the
    workspace's files to `out` (a new file); the instance's secret key too if
    `with_secrets`. Returns the manifest; BackupError says why nothing was written."""
    out, root, instance = Path(out), Path(workspace_dir), Path(instance)
    if out.exists():
        raise BackupError(f"{out} exists; choose a new file name (nothing was changed)")
    if not (root / "workspace.yaml").is_file():
        raise BackupError(f"{root.resolve()} has no workspace.yaml; give the workspace folder "
                          "with -w (nothing was written)")
    ws, warnings = _workspace(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp = scratch / out.name
    tmp.touch(mode=0o600)
    writer = ArchiveWriter(tmp)
    try:
        manifest = Manifest("", lowrise_version(), {"kind": engine.dialect.name},
                            root.resolve().name, with_secrets=with_secrets, warnings=warnings)
        with snapshot(engine, copy_to=scratch / "snapshot.db") as conn:
            manifest.created_at = datetime.now(UTC).isoformat(timespec="seconds")
            manifest.database["server_version"] = server_version(conn)
            keys: set[str] = set()
            for spec in live_specs(conn, registry(ws)):
                keys |= _dump_table(conn, writer, spec, _attachment_columns(ws, spec.name))
                manifest.tables[spec.name] = spec
                if progress:
                    progress(spec.name, spec.rows)
        _dump_uploads(writer, instance / "uploads", keys, manifest.warnings)
        for rel, data in workspace_files(root).items():
            writer.add_bytes(WORKSPACE_DIR + rel, data)
        if with_secrets:
            if (instance / SECRET_KEY).is_file():
                writer.add_file(instance / SECRET_KEY, SECRET_KEY)
            else:
                manifest.warnings.append(f"{instance / SECRET_KEY} does not exist (no web "
                                         "server has started on this instance yet)")
        writer.finish(manifest)
        os.replace(tmp, out)
        return manifest
    except sa.exc.OperationalError as exc:
        writer.abort()
        reason = str(exc.orig).strip().splitlines()[0]
        raise BackupError(f"the database cannot be read: {reason} (nothing was written)"
                          ) from None
    except BaseException:
        writer.abort()
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _workspace(root: Path) -> tuple[Workspace | None, list[str]]:
    """The workspace, or None and why: a backup is still taken when its YAML has problems
    (the tables are carried as the database holds them)."""
    from lowrise.workspace import WorkspaceError, load_workspace

    try:
        return load_workspace(root), []
    except WorkspaceError as exc:
        return None, [f"the workspace has {len(exc.problems)} problem(s) (`lowrise check`); "
                      "its files and every table were backed up as they are"]


def _attachment_columns(ws: Workspace | None, table: str) -> list[str]:
    rt = ws.record_types.get(table) if ws is not None else None
    return [f.name for f in rt.user_fields if f.kind.stores_files] if rt else []


def _dump_table(conn: sa.Connection, writer: ArchiveWriter, spec: TableSpec,
                attachments: list[str]) -> set[str]:
    """Write one table's rows; returns the file-store keys its attachment columns name."""
    t = reader(spec)
    stmt = sa.select(*t.c).order_by(*(t.c[c] for c in spec.primary_key))
    counted = spec.primary_key[0] if len(spec.primary_key) == 1 and split_storage(
        spec.storage(spec.primary_key[0]))[0] == "integer" else None
    key_at = [i for i, (c, _) in enumerate(spec.columns) if c == counted]
    files_at = [i for i, (c, _) in enumerate(spec.columns) if c in attachments]
    keys: set[str] = set()
    rows = conn.execution_options(yield_per=BATCH).execute(stmt) if spec.in_database else ()
    with writer.member(spec.member) as out:
        for row in rows:
            values = [encode(v) for v in row]
            out.write(json.dumps(values, ensure_ascii=False).encode("utf-8") + b"\n")
            spec.rows += 1
            if key_at and values[key_at[0]] is not None:
                spec.last_id = max(spec.last_id, int(values[key_at[0]]))
            for i in files_at:
                keys.update(_file_keys(values[i]))
    spec.sha256, spec.size = out.sha256, out.size
    return keys


def _file_keys(value: Any) -> list[str]:
    if isinstance(value, str):  # a JSON column some driver handed back as its text
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [item["key"] for item in value or () if isinstance(item, dict) and "key" in item]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _dump_uploads(writer: ArchiveWriter, folder: Path, wanted: set[str],
                  warnings: list[str]) -> None:
    """Copy the file store (every file named by its content's SHA-256) into uploads/."""
    found = set()
    if folder.is_dir():
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and len(p.name) == 2):
            for path in sorted(sub.iterdir()):
                key = path.name
                if not (path.is_file() and len(key) == 64 and key.startswith(sub.name)):
                    continue  # a file being written (a temporary name), or not the store's
                if _sha256(path) != key:  # the bytes on disk are not what was stored
                    warnings.append(f"{path} is damaged (its content does not match its "
                                    "name); it was left out")
                    continue
                writer.add_file(path, f"{UPLOADS_DIR}{sub.name}/{key}", compress=False)
                found.add(key)
    for key in sorted(wanted - found):
        warnings.append(f"an attached file ({key[:12]}…) that records name is missing from "
                        f"{folder}")
