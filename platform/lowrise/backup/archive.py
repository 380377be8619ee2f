"""The backup archive: a zip whose manifest lists every member with its SHA-256.

    manifest.json           format, format_version, created_at, lowrise_version, database
                            (kind, server version), workspace (folder name), tables (each
                            table's columns with their storage, primary key, rows, highest
                            id handed out, SHA-256 and size of its member), files (every
                            other member: SHA-256 and size), with_secrets, warnings
    db/<table>.jsonl        one row a line: a JSON array in the order of the manifest's columns
    workspace/<path>        workspace.yaml, schemas/, views/, automations/ as they were
    uploads/<aa>/<sha256>   the attached files, as the instance's file store keeps them
    secret_key              the instance's secret key, only when asked for (--with-secrets)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from lowrise.backup.tables import TableSpec
from lowrise.errors import LowriseError
from lowrise.templates import WORKSPACE_PARTS

FORMAT = "lowrise-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WORKSPACE_DIR = "workspace/"
UPLOADS_DIR = "uploads/"
SECRET_KEY = "secret_key"  # nosec B105 - the name of the instance file, not a password
CHUNK = 1 << 20
_UPLOAD = re.compile(r"uploads/([0-9a-f]{2})/(\1[0-9a-f]{62})\Z")


class BackupError(LowriseError):
    """A backup cannot be written, read or restored; the message says why."""


@dataclass
class Manifest:
    """What a backup holds, and the checksum of every part of it."""

    created_at: str
    lowrise_version: str
    database: dict[str, str]  # kind (sqlite | postgresql), server_version
    workspace: str
    tables: dict[str, TableSpec] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # member → sha256, size
    with_secrets: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables.values())

    def as_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION,
                "created_at": self.created_at, "lowrise_version": self.lowrise_version,
                "database": self.database, "workspace": self.workspace,
                "tables": {n: t.as_json() for n, t in self.tables.items()},
                "files": self.files, "with_secrets": self.with_secrets,
                "warnings": self.warnings}

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BackupError(f"this zip is not a Lowrise backup (its {MANIFEST} does not say "
                              f"format: {FORMAT}); a template archive is imported with "
                              "`lowrise import-template`")
        if data.get("format_version") != FORMAT_VERSION:
            raise BackupError(f"the backup is format version {data.get('format_version')}; "
                              f"this Lowrise reads version {FORMAT_VERSION}")
        try:
            return cls(str(data["created_at"]), str(data.get("lowrise_version") or ""),
                       dict(data["database"]), str(data.get("workspace") or "workspace"),
                       {str(n): TableSpec.from_json(str(n), t)
                        for n, t in data["tables"].items()},
                       {str(k): dict(v) for k, v in data["files"].items()},
                       bool(data.get("with_secrets")), list(data.get("warnings") or []))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BackupError(f"the backup's {MANIFEST} is damaged ({exc!r})") from None


class _Hashing:
    """A member being written: its bytes are counted and hashed on the way into the zip."""

    def __init__(self, fh: IO[bytes]):
        self.fh, self.digest, self.size = fh, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)
        self.fh.write(data)

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


class ArchiveWriter:
    """Writes the members of one backup; `files` collects the checksums for the manifest."""

    def __init__(self, path: str | os.PathLike):
        self.zf = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        self.files: dict[str, dict[str, Any]] = {}

    @contextmanager
    def member(self, name: str, *, compress: bool = True) -> Iterator[_Hashing]:
        """Write one member; its checksum and size are on the yielded object afterwards."""
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o600 << 16
        with self.zf.open(info, "w", force_zip64=True) as fh:
            out = _Hashing(fh)
            yield out

    def add_bytes(self, name: str, data: bytes) -> None:
        with self.member(name) as out:
            out.write(data)
        self.files[name] = {"sha256": out.sha256, "size": out.size}

    def add_file(self, src: Path, name: str, *, compress: bool = True) -> str:
        """Copy a file in, a chunk at a time; returns its SHA-256."""
        with src.open("rb") as fh, self.member(name, compress=compress) as out:
            while chunk := fh.read(CHUNK):
                out.write(chunk)
        self.files[name] = {"sha256": out.sha256, "size": out.size}
        return out.sha256

    def finish(self, manifest: Manifest) -> None:
        manifest.files = dict(sorted(self.files.items()))
        data = json.dumps(manifest.as_json(), ensure_ascii=False, indent=1).encode("utf-8")
        self.zf.writestr(MANIFEST, data)
        self.zf.close()

    def abort(self) -> None:
        self.zf.close()


def workspace_member(name: str) -> str | None:
    """The workspace path of a member under workspace/, or None; BackupError for a path that
    points outside the workspace."""
    if not name.startswith(WORKSPACE_DIR):
        return None
    rel = PurePosixPath(name[len(WORKSPACE_DIR):])
    if rel.is_absolute() or ".." in rel.parts or "\\" in name or not rel.parts or \
            rel.parts[0] not in WORKSPACE_PARTS:
        raise BackupError(f"the backup's member '{name}' is not part of a workspace")
    return rel.as_posix()


def upload_key(name: str) -> str | None:
    """The file-store key of a member under uploads/, or None."""
    m = _UPLOAD.match(name)
    return m[2] if m else None


class ArchiveReader:
    """An opened backup: its manifest, its rows and files. Use `check()` before trusting it."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.zf = zipfile.ZipFile(self.path)
            raw = self.zf.read(MANIFEST)
        except FileNotFoundError:
            raise BackupError(f"{self.path} does not exist") from None
        except KeyError:
            raise BackupError(f"{self.path.name} has no {MANIFEST}: it is not a Lowrise "
                              "backup") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise BackupError(f"{self.path.name} is not a readable zip: {exc}") from None
        try:
            self.manifest = Manifest.from_json(json.loads(raw))
        except (json.JSONDecodeError, UnicodeDecodeError):
            self.zf.close()
            raise BackupError(f"the backup's {MANIFEST} is not JSON") from None
        except BackupError:
            self.zf.close()
            raise

    def close(self) -> None:
        self.zf.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, name: str) -> bytes:
        return self.zf.read(name)

    def open(self, name: str) -> IO[bytes]:
        return self.zf.open(name)

    def rows(self, spec: TableSpec) -> Iterator[list[Any]]:
        """The rows of one table, each a list in the order of `spec.columns`."""
        with self.zf.open(spec.member) as fh:
            for n, line in enumerate(fh, 1):
                row = json.loads(line)
                if not isinstance(row, list) or len(row) != len(spec.columns):
                    raise BackupError(f"{spec.member} line {n} does not have the "
                                      f"{len(spec.columns)} columns the manifest lists")
                yield row

    def workspace_files(self) -> dict[str, bytes]:
        """Workspace path → bytes of every workspace file in the backup."""
        out = {}
        for name in self.zf.namelist():
            rel = workspace_member(name)
            if rel is not None:
                out[rel] = self.zf.read(name)
        return out

    def check(self) -> list[str]:
        """Every problem with the archive's members: missing, unlisted, damaged (checksum or
        size), a table whose line count is not its row count, an upload not named by its
        content. An empty list: every byte is as it was written."""
        m = self.manifest
        listed = {**{t.member: {"sha256": t.sha256, "size": t.size} for t in m.tables.values()},
                  **m.files}
        problems = []
        names = set(self.zf.namelist()) - {MANIFEST}
        for name in sorted(names - set(listed)):
            problems.append(f"{name} is in the zip but not in the manifest")
        for name, want in listed.items():
            if name not in names:
                problems.append(f"{name} is missing")
                continue
            try:
                digest, size, lines = self._digest(name)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:  # zip CRC, truncation
                problems.append(f"{name} cannot be read ({exc})")
                continue
            if digest != want.get("sha256") or size != want.get("size"):
                problems.append(f"{name} is damaged (its checksum differs from the manifest)")
            elif name.startswith("db/") and lines != m.tables[name[3:-6]].rows:
                problems.append(f"{name} has {lines:,} rows; the manifest says "
                                f"{m.tables[name[3:-6]].rows:,}")
            elif name.startswith(UPLOADS_DIR) and upload_key(name) != digest:
                problems.append(f"{name} is not a file of the file store (its name is not "
                                "the SHA-256 of its content)")
        return problems

    def _digest(self, name: str) -> tuple[str, int, int]:
        digest, size, lines = hashlib.sha256(), 0, 0
        with self.zf.open(name) as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
        return digest.hexdigest(), size, lines
