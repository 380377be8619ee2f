"""A workspace as a template archive (.zip), and importing one into a new folder.

An archive holds `manifest.json`, the workspace's YAML under `workspace/` and, when
exported with data, one JSON-lines file a record type under `data/` plus the bytes of
attached files under `files/<sha256>`. Importing checks the YAML with the same checks as
`lowrise check`, writes the folder (never over anything), migrates a new database and
loads the records through `Records.bulk_create`, giving them new ids and pointing every
link at the new ids. Numbers (autonumbers) and the created / updated stamps are kept.

An archive comes from outside: before anything is read, every member's name must be one the
format defines and its uncompressed size (and the archive's total) within the limits below,
and a large member may not have shrunk more than zip files of real data do (a zip bomb).
"""

from __future__ import annotations

import graphlib
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.i18n import msg
from lowrise.storage.records import Records
from lowrise.storage.values import from_json_values, to_db_row, to_json_values
from lowrise.template_members import (
    MANIFEST,
    MAX_LINE,
    YAML_DIR,
    ArchiveError,
    check_members,
    mb,
    safe_path,
)
from lowrise.templates import (
    TargetNotEmpty,
    TemplateError,
    check_target,
    workspace_files,
    write_workspace,
)
from lowrise.workspace.model import Field, RecordType, Workspace

FORMAT = "lowrise-template"
FORMAT_VERSION = 1
DATA_DIR = "data/"
FILES_DIR = "files/"
STAMPS = ("created_at", "updated_at", "created_by", "updated_by")
BATCH = 2000


@dataclass
class Manifest:
    """What an archive holds: its workspace, and how many records of each type."""

    name: str
    template: Mapping[str, Any] = field(default_factory=dict)
    with_data: bool = False
    records: dict[str, int] = field(default_factory=dict)
    counters: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # path → sha256
    exported_at: str = ""
    lowrise_version: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "name": self.name,
                "template": dict(self.template), "exported_at": self.exported_at,
                "lowrise_version": self.lowrise_version, "with_data": self.with_data,
                "records": self.records, "counters": self.counters, "files": self.files}

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ArchiveError("this zip is not a Lowrise template (its manifest.json does not "
                               f"say format: {FORMAT})")
        if data.get("format_version") != FORMAT_VERSION:
            raise ArchiveError(f"the template archive is format version "
                               f"{data.get('format_version')}; this Lowrise reads version "
                               f"{FORMAT_VERSION}")
        return cls(name=str(data.get("name") or "workspace"),
                   template=data.get("template") or {}, with_data=bool(data.get("with_data")),
                   records={str(k): int(v) for k, v in (data.get("records") or {}).items()},
                   counters=list(data.get("counters") or []),
                   files=dict(data.get("files") or {}),
                   exported_at=str(data.get("exported_at") or ""),
                   lowrise_version=str(data.get("lowrise_version") or ""))


def _lowrise_version() -> str:
    try:
        return version("lowrise")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return ""


def load_order(ws: Workspace) -> list[RecordType]:
    """Record types with link targets first; types in a cycle of links come in name order."""
    graph = {name: {f.target for f in rt.user_fields if f.kind.links
                    and f.target and f.target != name and f.target in ws.record_types}
             for name, rt in sorted(ws.record_types.items())}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        order = sorted(graph)
    return [ws.record_types[n] for n in order]


# ----- export -----

def export_template(ws: Workspace, out: str | os.PathLike, *, records: Records | None = None,
                    with_data: bool = False) -> Manifest:
    """Write the workspace (and, with_data, its records and files) as a .zip at `out`.

    Refuses to overwrite an existing file. `records` is needed for with_data.
    """
    out = Path(out)
    if out.exists():
        raise TargetNotEmpty(f"{out} exists; choose a new file name (nothing was changed)")
    if with_data and records is None:
        raise TemplateError("exporting with data needs the workspace's database")
    if not ws.root or not (Path(ws.root) / "workspace.yaml").is_file():
        raise TemplateError("this workspace was not loaded from a folder with a "
                            "workspace.yaml; there are no files to export")
    files = workspace_files(ws.root)
    manifest = Manifest(name=Path(ws.root).name or ws.name,
                        template=dict(ws.config.get("template") or {}), with_data=with_data,
                        exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
                        lowrise_version=_lowrise_version())
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for rel, data in files.items():
                zf.writestr(YAML_DIR + rel, data)
                manifest.files[rel] = hashlib.sha256(data).hexdigest()
            if with_data:
                _export_data(zf, ws, records, manifest)
            zf.writestr(MANIFEST, json.dumps(manifest.as_json(), ensure_ascii=False, indent=2))
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return manifest


def _export_data(zf: zipfile.ZipFile, ws: Workspace, records: Records,
                 manifest: Manifest) -> None:
    from lowrise.backup.snapshot import snapshot

    keys: set[str] = set()
    links = _LinkCheck(ws)
    # one snapshot (REPEATABLE READ on PostgreSQL): a record and those it links to are read
    # as they were at one moment, however long the export takes and whoever writes meanwhile
    with snapshot(records.engine) as conn:
        for rt in load_order(ws):
            count = 0
            with zf.open(f"{DATA_DIR}{rt.name}.jsonl", "w") as fh:
                for record in _rows(conn, records, rt):
                    for f in rt.user_fields:
                        if f.kind.stores_files:
                            keys.update(item["key"] for item in record.get(f.name) or ())
                    links.add(rt, record)
                    line = json.dumps(to_json_values(rt, record), ensure_ascii=False)
                    fh.write(line.encode("utf-8") + b"\n")
                    count += 1
            manifest.records[rt.name] = count
        c = records.schema.counters
        manifest.counters = [dict(r) for r in conn.execute(
            sa.select(c).where(c.c.record_type.in_(list(ws.record_types)))).mappings()]
        t = records.schema.trash
        links.check(conn.execute(sa.select(t.c.record_type, t.c.record_id)).all())
    for key in sorted(keys):
        if records.files is None or not records.files.path(key).exists():
            raise ArchiveError(f"an attached file ({key[:12]}…) is missing from the file store "
                               "at export; nothing was written")
        zf.write(records.files.path(key), FILES_DIR + key)


class _LinkCheck:
    """Every link of the exported records must name an exported record (or one in the
    trash, which an import leaves empty with a warning); checked before the archive is
    kept, so that an archive that cannot be imported is never written."""

    def __init__(self, ws: Workspace):
        self.ids: dict[str, set[int]] = {name: set() for name in ws.record_types}
        self.refs: dict[tuple[str, int], tuple[str, int, str]] = {}  # target → first referrer

    def add(self, rt: RecordType, record: Mapping[str, Any]) -> None:
        self.ids[rt.name].add(record["id"])
        for f in _links(rt):
            value = record.get(f.name)
            if value is not None and not f.system and f.target in self.ids:
                self.refs.setdefault((f.target, value), (rt.name, record["id"], f.name))

    def check(self, trashed: list[tuple[str, int]]) -> None:
        gone = set(trashed)
        for (target, value), (type_name, rid, name) in self.refs.items():
            if value not in self.ids[target] and (target, value) not in gone:
                raise ArchiveError(f"{type_name} #{rid}: {name} points at {target} #{value}, "
                                   "which is neither among the exported records nor in the "
                                   "trash; the archive would not import (nothing was written)")


def _rows(conn: sa.Connection, records: Records, rt: RecordType) -> Iterator[dict[str, Any]]:
    """Every record of a type, by id, a batch at a time."""
    from lowrise.storage.values import from_db_row

    table = records.schema.table(rt.name)
    last = 0
    while True:
        batch = list(conn.execute(sa.select(table).where(table.c.id > last)
                                  .order_by(table.c.id).limit(BATCH)).mappings())
        if not batch:
            return
        for row in batch:
            yield from_db_row(rt, row)
        last = batch[-1]["id"]


# ----- reading an archive -----

@dataclass
class Archive:
    """An opened, checked template archive: its manifest, its YAML texts, its workspace."""

    path: Path
    manifest: Manifest
    files: dict[str, bytes]

    def texts(self) -> dict[str, str]:
        return {rel: data.decode("utf-8") for rel, data in self.files.items()
                if rel.endswith((".yaml", ".yml"))}

    def workspace(self, root: str | os.PathLike = "") -> Workspace:
        """The archive's workspace, with the same checks as `lowrise check` (WorkspaceError)."""
        from lowrise.workspace import load_workspace_from_texts

        return load_workspace_from_texts(self.texts(), root=root,
                                         name=Path(root).name if root else self.manifest.name)


def open_archive(path: str | os.PathLike) -> Archive:
    """Read and check an archive's manifest and workspace files (not yet its data)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            kinds = check_members(zf)
            if MANIFEST not in kinds:
                raise ArchiveError(f"{path.name} has no manifest.json; it is not a Lowrise "
                                   "template archive")
            manifest = Manifest.from_json(json.loads(zf.read(MANIFEST)))
            files = {}
            for name, kind in kinds.items():
                if kind != "yaml":
                    continue
                rel = safe_path(name)
                data = zf.read(name)
                want = manifest.files.get(rel)
                if want and hashlib.sha256(data).hexdigest() != want:
                    raise ArchiveError(f"{rel} in the archive is damaged (its checksum differs "
                                       "from the manifest)")
                files[rel] = data
    except (zipfile.BadZipFile, zipfile.LargeZipFile, json.JSONDecodeError,
            UnicodeDecodeError, NotImplementedError, EOFError) as exc:
        raise ArchiveError(f"{path.name} is not a readable template archive: {exc}") from None
    except OSError as exc:
        raise ArchiveError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if "workspace.yaml" not in files:
        raise ArchiveError(f"{path.name} holds no workspace.yaml")
    return Archive(path, manifest, files)


# ----- import -----

@dataclass
class ImportResult:
    """What an import made: the folder, the database and how many records of each type."""

    path: Path
    database_url: str
    records: dict[str, int] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    workspace: Workspace | None = None


def import_template(archive_path: str | os.PathLike, dest: str | os.PathLike, *,
                    database_url: str | None = None, instance: str | os.PathLike | None = None,
                    actor: Actor | None = None, with_data: bool = True) -> ImportResult:
    """Create a new workspace at `dest` from an archive: check, write, migrate, load its data.

    The database is `database_url`, or an SQLite file in the instance folder (default
    `dest/instance`); either must be new. Raises WorkspaceError when the YAML has problems,
    ArchiveError when the archive or its data is broken, TargetNotEmpty when `dest`, the
    instance folder or the database already holds something. Nothing is written until the
    checks pass.
    """
    from lowrise.storage.db import create_engine
    from lowrise.storage.files import FileStore
    from lowrise.storage.migrate import apply, plan
    from lowrise.storage.tables import build_schema

    dest = Path(dest)
    instance = Path(instance) if instance is not None else dest / "instance"
    archive = open_archive(archive_path)
    ws = archive.workspace(root=dest.resolve())
    check_target(dest, instance)
    url = database_url or f"sqlite:///{(instance / 'lowrise.db').resolve()}"
    schema = build_schema(ws)
    if database_url:
        _check_database_empty(url, schema)
    write_workspace(archive.files, dest, instance=instance)
    made_instance = not instance.exists()
    instance.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            the_plan = plan(conn, schema)
        steps = apply(engine, the_plan, actor=(actor or _importer()).name)
        result = ImportResult(dest, url, steps=steps, workspace=ws)
        if with_data and archive.manifest.with_data:
            records = Records(engine, schema, files=FileStore(instance / "uploads"))
            result.records = load_data(archive, records, actor=actor,
                                       warnings=result.warnings)
        return result
    except BaseException:
        engine.dispose()
        # the folder (and its own SQLite file) were made by this import: a failed import
        # leaves nothing behind, so the same name can be used again
        shutil.rmtree(dest, ignore_errors=True)
        if made_instance:
            shutil.rmtree(instance, ignore_errors=True)
        elif not database_url:
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        raise
    finally:
        engine.dispose()


def _importer() -> Actor:
    return Actor(name=msg("template import"), system=True)


def _check_database_empty(url: str, schema) -> None:
    from lowrise.storage.db import create_engine

    engine = create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            existing = set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    clash = sorted(existing & ({*schema.tables} | {*schema.system}))
    if clash:
        raise TargetNotEmpty(f"the database already has tables ({', '.join(clash[:5])}); "
                             "import into a new, empty database (nothing was changed)")


def _member(zf: zipfile.ZipFile, name: str) -> Iterator[dict[str, Any]]:
    try:
        fh = zf.open(name)
    except KeyError:
        return
    with fh:
        n = 0
        while line := fh.readline(MAX_LINE + 1):
            n += 1
            if len(line) > MAX_LINE:
                raise ArchiveError(msg("%(name)s line %(n)s is longer than %(limit)s MB",
                                       name=name, n=n, limit=mb(MAX_LINE)))
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ArchiveError(f"{name} line {n} is not JSON: {exc.msg}") from None


def load_data(archive: Archive, records: Records, *, actor: Actor | None = None,
              warnings: list[str] | None = None) -> dict[str, int]:
    """Load an archive's records into an empty, migrated database in one transaction.

    Returns how many records of each type were loaded. Links and user fields are pointed at
    the new ids; a link to a type loaded later (or to the same type) is set once its target
    exists; a link to a record the archive does not hold (one in the trash) is left empty and
    noted in `warnings`. ArchiveError names the type, the record and the field when a value
    does not fit.
    """
    from lowrise.storage.db import write_transaction

    loader = _Loader(records, actor or _importer(), warnings if warnings is not None else [])
    with zipfile.ZipFile(archive.path) as zf:
        check_members(zf)  # the file may have changed since it was opened
    with zipfile.ZipFile(archive.path) as zf, write_transaction(records.engine) as conn:
        loader.conn = conn
        _load_files(zf, records)
        for rt in loader.order:
            batch: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
            for n, data in enumerate(_member(zf, f"{DATA_DIR}{rt.name}.jsonl"), 1):
                batch.append(loader.prepare(rt, data, n))
                if len(batch) >= BATCH:
                    loader.create(rt, batch)
                    batch = []
            loader.create(rt, batch)
        loader.link_the_rest()
        _restore_counters(conn, records, archive.manifest.counters)
    return loader.made


class _Loader:
    """The state of one load: old id → new id by type, and the links still to set."""

    def __init__(self, records: Records, actor: Actor, warnings: list[str]):
        self.records, self.actor, self.warnings = records, actor, warnings
        self.order = load_order(records.schema.workspace)
        self.position = {rt.name: i for i, rt in enumerate(self.order)}
        self.ids: dict[str, dict[int, int]] = {rt.name: {} for rt in self.order}
        self.later: list[tuple[RecordType, int, dict[str, Any]]] = []
        self.made: dict[str, int] = {rt.name: 0 for rt in self.order}
        self.conn: sa.Connection | None = None

    def deferred(self, rt: RecordType, f: Field) -> bool:
        """Whether a link is set after every record exists (its target is not loaded yet)."""
        return f.system or self.position.get(f.target, len(self.order)) >= self.position[rt.name]

    def remap(self, rt: RecordType, f: Field, old: Any, old_id: int) -> Any:
        new = self.ids.get(f.target or "", {}).get(old)
        if new is None and not f.system:
            self.warnings.append(f"{rt.name} #{old_id}: {f.name} pointed at {f.target} #{old}, "
                                 "which the archive does not hold; left empty")
        return new

    def prepare(self, rt: RecordType, data: Mapping[str, Any], n: int
                ) -> tuple[int, dict[str, Any], dict[str, Any]]:
        """(old id, values for bulk_create, values to write once every record exists)."""
        old_id = data.get("id")
        if not isinstance(old_id, int):
            raise ArchiveError(f"{DATA_DIR}{rt.name}.jsonl line {n} has no id")
        values, errors = from_json_values(rt, data)
        if errors:
            raise ArchiveError(f"{rt.name} #{old_id}: " + "; ".join(
                f"{k}: {v}" for k, v in errors.items()) + " (the data does not fit the workspace)")
        keep = {k: values[k] for k in STAMPS if values.get(k) is not None}
        keep.update((f.name, values[f.name]) for f in rt.user_fields
                    if f.kind.numbered and values.get(f.name) is not None)
        for f in _links(rt):
            if values.get(f.name) is None:
                continue
            if self.deferred(rt, f):
                keep[f.name] = values.pop(f.name)
            else:
                values[f.name] = self.remap(rt, f, values[f.name], old_id)
        create = {k: v for k, v in values.items()
                  if not rt.fields[k].system and not rt.fields[k].kind.generated}
        return old_id, create, keep

    def create(self, rt: RecordType, batch: list[tuple[int, dict[str, Any], dict[str, Any]]]
               ) -> None:
        from lowrise.errors import BulkValidationError

        if not batch:
            return
        try:
            created = self.records.bulk_create(rt.name, [b[1] for b in batch], self.actor,
                                               conn=self.conn, run_hooks=False)
        except BulkValidationError as exc:
            i, errors = next(iter(exc.rows.items()))
            raise ArchiveError(f"{rt.name} #{batch[i][0]} was refused: " + "; ".join(
                f"{k}: {v}" for k, v in errors.items())) from None
        table = self.records.schema.table(rt.name)
        for (old_id, _, keep), record in zip(batch, created, strict=True):
            self.ids[rt.name][old_id] = record["id"]
            links = {k: v for k, v in keep.items() if rt.fields[k].kind.links}
            if links:
                self.later.append((rt, old_id, links))
            stamps = {k: v for k, v in keep.items() if k not in links}
            if stamps:  # the numbers and stamps the records had, not the import's
                self.conn.execute(table.update().where(table.c.id == record["id"])
                                  .values(**to_db_row(rt, stamps)))
        self.made[rt.name] += len(created)

    def link_the_rest(self) -> None:
        """Set the links whose targets were loaded after the records pointing at them."""
        for rt, old_id, links in self.later:
            values = {k: self.remap(rt, rt.fields[k], v, old_id) for k, v in links.items()}
            table = self.records.schema.table(rt.name)
            self.conn.execute(table.update().where(table.c.id == self.ids[rt.name][old_id])
                              .values(**to_db_row(rt, values)))


def _links(rt: RecordType) -> list[Field]:
    return [f for f in rt.fields.values() if f.kind.links and f.target]


def _load_files(zf: zipfile.ZipFile, records: Records) -> None:
    from lowrise.fields.file import FileUpload

    for name in zf.namelist():
        if not name.startswith(FILES_DIR) or name.endswith("/"):
            continue
        key = name[len(FILES_DIR):]
        if records.files is None:
            raise ArchiveError("the archive has attached files but there is no file store")
        stored = records.files.put(FileUpload(key, zf.read(name)))
        if stored["key"] != key:
            raise ArchiveError(f"the attached file {key[:12]}… is damaged (its content does "
                               "not match its name)")


def _restore_counters(conn, records: Records, counters: list[Mapping[str, Any]]) -> None:
    """Numbering continues after the highest number the archive used."""
    c = records.schema.counters
    for row in counters:
        key = (c.c.record_type == row["record_type"]) & (c.c.field == row["field"]) & (
            c.c.period == row["period"])
        current = conn.execute(sa.select(c.c.value).where(key)).scalar()
        if current is None:
            conn.execute(c.insert().values(record_type=row["record_type"], field=row["field"],
                                           period=row["period"], value=int(row["value"])))
        elif current < int(row["value"]):
            conn.execute(c.update().where(key).values(value=int(row["value"])))
