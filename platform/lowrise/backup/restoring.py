"""Restoring a backup, or only checking one.

Nothing is changed until every checksum of the archive is right and every target is found
empty (or `force` is given). Then everything is prepared beside its place: the instance
folder's uploads and secret key, the SQLite database (loaded in one transaction), the
workspace files; on PostgreSQL the database is loaded in one transaction. Only then are the
prepared files renamed into place, so a restore that fails leaves the targets as they were.
(A PostgreSQL database is committed just before those renames: should one of them fail,
the error says that the database was restored and the files were left as they were.)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from lowrise.backup.archive import (
    SECRET_KEY,
    ArchiveReader,
    BackupError,
    Manifest,
    upload_key,
)
from lowrise.backup.links import dangling_links
from lowrise.backup.load import load_database
from lowrise.backup.swap import Swap, staging_dir
from lowrise.backup.tables import BOOKKEEPING, registry
from lowrise.storage.db import create_engine, normalise_url, refresh_statistics, write_transaction
from lowrise.storage.migrate_storage import live_tables
from lowrise.templates import WORKSPACE_PARTS
from lowrise.workspace.model import Workspace

DB_FILE = "lowrise.db"


@dataclass
class RestoreResult:
    """What a restore (or a check) did: rows by table, files, and what to look at."""

    manifest: Manifest
    database: str  # the URL, without its password
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    workspace_written: bool = False
    warnings: list[str] = field(default_factory=list)


def _open(archive: str | os.PathLike) -> ArchiveReader:
    reader = ArchiveReader(archive)
    problems = reader.check()
    if problems:
        reader.close()
        shown = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise BackupError(f"the backup {Path(archive).name} is damaged; nothing was changed:"
                          f"\n  {shown}{more}")
    return reader


def _workspace(reader: ArchiveReader, root: Path) -> tuple[Workspace | None, list[str]]:
    from lowrise.workspace import WorkspaceError, load_workspace_from_texts

    texts = {rel: data.decode("utf-8") for rel, data in reader.workspace_files().items()
             if rel.endswith((".yaml", ".yml"))}
    if "workspace.yaml" not in texts:
        raise BackupError("the backup holds no workspace.yaml; nothing was changed")
    try:
        return load_workspace_from_texts(texts, root=root.resolve()), []
    except WorkspaceError as exc:
        return None, [f"the backup's workspace has {len(exc.problems)} problem(s); its tables "
                      "were restored as they were (fix the YAML, then `lowrise migrate`)"]


def verify(archive: str | os.PathLike, *, scratch: str | os.PathLike | None = None
           ) -> RestoreResult:
    """Check a backup without touching anything: every checksum and row count, then a trial
    restore of its tables into a throwaway SQLite database (under `scratch`, default the
    system's temporary folder), then its links. BackupError when it would not restore."""
    with _open(archive) as reader:
        ws, warnings = _workspace(reader, Path("."))
        with tempfile.TemporaryDirectory(prefix="lowrise-verify-", dir=scratch) as tmp:
            engine = create_engine(f"sqlite:///{Path(tmp) / DB_FILE}", poolclass=sa.NullPool)
            try:
                with write_transaction(engine) as conn:
                    rows = load_database(reader, conn, ws)
                if ws is not None:
                    with engine.connect() as conn:
                        warnings += dangling_links(conn, ws)
            finally:
                engine.dispose()
        files = sum(1 for n in reader.manifest.files if upload_key(n))
        return RestoreResult(reader.manifest, "(a temporary SQLite database)", rows, files,
                             warnings=[*reader.manifest.warnings, *warnings])


def restore(archive: str | os.PathLike, *, instance: str | os.PathLike,
            workspace_dir: str | os.PathLike, database_url: str | None = None,
            force: bool = False) -> RestoreResult:
    """Restore a backup: its database into `database_url` (default: an SQLite file in the
    instance folder), its uploads (and secret key, if it has one) into the instance folder,
    its workspace files into `workspace_dir`. Refuses, changing nothing, a non-empty instance
    folder or database and different workspace files, unless `force`."""
    instance, root = Path(instance).absolute(), Path(workspace_dir).absolute()
    url = normalise_url(database_url) if database_url else f"sqlite:///{instance / DB_FILE}"
    with _open(archive) as reader:
        ws, warnings = _workspace(reader, root)
        ws_files = reader.workspace_files()
        same_workspace = _check_workspace(root, ws_files, force)
        _check_instance(instance, force)
        db_file = _sqlite_file(url)
        if db_file is not None:
            _check_sqlite(db_file, force)
        else:
            _check_database(url, force)
        result = RestoreResult(reader.manifest, sa.make_url(url).render_as_string(),
                               warnings=[*reader.manifest.warnings, *warnings])
        made = [p for p in (instance.parent, *instance.parent.parents) if not p.exists()]
        stage = staging_dir(instance)
        swap = Swap(stage / "replaced")
        # an SQLite file outside the instance folder is prepared beside itself
        outside = db_file.with_name(f"{stage.name}-{db_file.name}") if db_file else None
        try:
            staged = stage / "instance"
            result.files = _stage_instance(reader, staged)
            if not same_workspace:
                _stage_workspace(ws_files, stage / "workspace")
            if db_file is not None:
                target = staged / db_file.name if db_file.parent == instance else outside
                result.rows = _load_sqlite(reader, target, ws, result.warnings)
            else:
                result.rows = _load_database(reader, url, ws, result.warnings, force)
            # everything is ready (a PostgreSQL database committed): renames only from here
            if db_file is not None and db_file.parent != instance:
                swap.put(target, db_file, sidecars=True)
            swap.put_folder(staged, instance, sidecars_of=db_file.name if db_file else "")
            if not same_workspace:
                root.mkdir(parents=True, exist_ok=True)
                for part in sorted(os.listdir(stage / "workspace")):
                    swap.put(stage / "workspace" / part, root / part)
                result.workspace_written = True
        except BaseException as exc:
            swap.undo()
            shutil.rmtree(stage, ignore_errors=True)
            for folder in made:  # the folders this restore made, deepest first
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            if not isinstance(exc, OSError):
                raise
            done = ("the database was restored, but the instance and workspace files were "
                    "left as they were" if db_file is None and result.rows else
                    "nothing was changed")
            raise BackupError(f"the restore could not write its files ({exc}); {done}") from exc
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            if outside is not None:
                for p in outside.parent.glob(f"{outside.name}*"):
                    p.unlink(missing_ok=True)
        return result


# -- checks: nothing is written before all of them pass -----------------------------------


def _check_workspace(root: Path, files: dict[str, bytes], force: bool) -> bool:
    """Whether `root` holds exactly the backup's workspace files already."""
    from lowrise.templates import workspace_files

    present = [p for p in WORKSPACE_PARTS if (root / p).exists()]
    if not present:
        return False
    if workspace_files(root) == files:
        return True
    if not force:
        raise BackupError(f"{root} holds other workspace files ({', '.join(present)}); restore "
                          "into an empty folder (-w), or give --force to replace them "
                          "(nothing was changed)")
    return False


def _check_instance(instance: Path, force: bool) -> None:
    if instance.exists() and not instance.is_dir():
        raise BackupError(f"{instance} is a file; give an instance folder (nothing was changed)")
    if instance.is_dir() and any(instance.iterdir()) and not force:
        raise BackupError(f"the instance folder {instance} is not empty; restore into an empty "
                          "one (--instance), or give --force to replace its database, uploads "
                          "and secret key (nothing was changed)")


def _sqlite_file(url: str) -> Path | None:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("restore into an SQLite file, not an in-memory database")
    return Path(parsed.database).absolute()


def _with_data(conn: sa.Connection) -> list[str]:
    """The tables that hold rows (a migration's own bookkeeping aside)."""
    return [n for n in sorted(live_tables(conn)) if n not in BOOKKEEPING and conn.execute(
        sa.select(sa.literal(1)).select_from(sa.table(n)).limit(1)).first()]


def _refuse_data(where: str, full: list[str], force: bool) -> None:
    if full and not force:
        raise BackupError(f"{where} already holds data (tables {', '.join(full[:5])}"
                          f"{', …' if len(full) > 5 else ''}); restore into an empty database, "
                          "or give --force to replace it (nothing was changed)")


def _check_sqlite(path: Path, force: bool) -> None:
    if not path.exists():
        return
    engine = create_engine(f"sqlite:///{path}", poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            _refuse_data(f"the database {path}", _with_data(conn), force)
    except sa.exc.DatabaseError as exc:
        if not force:
            raise BackupError(f"{path} is not a database Lowrise can read ({exc.orig}); give "
                              "--force to replace it (nothing was changed)") from None
    finally:
        engine.dispose()


def _check_database(url: str, force: bool) -> None:
    engine = create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            _refuse_data("the database", _with_data(conn), force)
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        raise BackupError(f"cannot connect to the database: {reason}") from None
    finally:
        engine.dispose()


# -- preparing -------------------------------------------------------------------------------


def _stage_instance(reader: ArchiveReader, folder: Path) -> int:
    """The uploads (and the secret key, if the backup has one) in `folder`; how many files."""
    folder.mkdir(mode=0o755)
    (folder / "uploads").mkdir()  # replaces the old store whole, even when it is empty
    count = 0
    for name in reader.manifest.files:
        key = upload_key(name)
        if key is None:
            continue
        path = folder / "uploads" / key[:2] / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with reader.open(name) as src, path.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        count += 1
    if SECRET_KEY in reader.manifest.files:
        path = folder / SECRET_KEY
        path.touch(mode=0o600)
        path.write_bytes(reader.read(SECRET_KEY))
    return count


def _stage_workspace(files: dict[str, bytes], folder: Path) -> None:
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for part in WORKSPACE_PARTS[1:]:
        (folder / part).mkdir(parents=True, exist_ok=True)


def _load_sqlite(reader: ArchiveReader, path: Path, ws: Workspace | None,
                 warnings: list[str]) -> dict[str, int]:
    engine = create_engine(f"sqlite:///{path}", poolclass=sa.NullPool)
    try:
        with write_transaction(engine) as conn:
            rows = load_database(reader, conn, ws)
        refresh_statistics(engine)
        if ws is not None:
            with engine.connect() as conn:
                warnings += dangling_links(conn, ws)
    finally:
        engine.dispose()  # the last connection closed: SQLite folds its log into the file
    return rows


def _load_database(reader: ArchiveReader, url: str, ws: Workspace | None,
                   warnings: list[str], force: bool) -> dict[str, int]:
    """Load into PostgreSQL in one transaction: the tables a restore makes are dropped first
    if they exist (empty, or --force), so a failure leaves the database as it was."""
    engine = create_engine(url, poolclass=sa.NullPool)
    names = set(reader.manifest.tables) | set(registry(ws))
    try:
        with write_transaction(engine) as conn:
            # a server still using the database holds locks: fail clearly rather than wait
            conn.exec_driver_sql("SET LOCAL lock_timeout = '30s'")
            _refuse_data("the database", _with_data(conn), force)  # filled since the check?
            quote = conn.dialect.identifier_preparer.quote
            for name in sorted(live_tables(conn) & names):
                conn.exec_driver_sql(f"DROP TABLE {quote(name)}")
            rows = load_database(reader, conn, ws)
        if ws is not None:
            with engine.connect() as conn:
                warnings += dangling_links(conn, ws)
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        hint = ("stop the servers and workers that use it and try again"
                if isinstance(exc, sa.exc.OperationalError) else "see the reason")
        raise BackupError(f"the database refused the restore ({reason}); {hint} (nothing "
                          "was changed)") from None
    finally:
        engine.dispose()
    return rows
