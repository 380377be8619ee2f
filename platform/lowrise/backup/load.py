"""Loading a backup's tables into an empty database, inside the caller's one transaction.

A table the engine defines (the archive's workspace, the engine's own tables) is made as a
migration makes it, with its indexes and defaults; a column the backup's database stored
otherwise (wider text, a field deleted from the YAML whose values are kept until `migrate
--prune`) keeps the storage it had, and a table nothing declares is made from its columns'
storage. Rows keep their ids; each table's counter is set to the highest id the backup's
database had handed out; the search structures are made for this database, and lr_meta
remembers them (its column storage entries come from the backup).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from lowrise.backup.archive import ArchiveReader, BackupError
from lowrise.backup.tables import TableSpec, column_type, decoder, registry
from lowrise.storage.migrate_storage import (
    lr_meta,
    needs_change,
    search_ddl,
    search_module,
    split_storage,
    storage_of,
)
from lowrise.workspace.model import Workspace

BATCH = 1000


def load_database(archive: ArchiveReader, conn: sa.Connection, ws: Workspace | None, *,
                  progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Make every table of the backup on `conn` (an empty database) and fill it; returns
    rows by table. BackupError names the table and row that did not fit."""
    specs = archive.manifest.tables
    known = registry(ws)
    meta = _archived_meta(archive, specs.get(lr_meta.name))
    md = sa.MetaData()
    tables = {name: target_table(md, spec, known.get(name), meta.get(f"columns:{name}") or {})
              for name, spec in specs.items()}
    for name, table in known.items():
        if name not in tables:  # a table this Lowrise has and the backup's did not yet
            tables[name] = table.to_metadata(md)
    md.create_all(conn)
    counts = {}
    for name, spec in specs.items():
        if name != lr_meta.name:
            counts[name] = _insert_rows(conn, archive, spec, tables[name])
            if progress:
                progress(name, counts[name])
    _set_counters(conn, tables, specs)
    installed = _install_search(conn, ws) if ws is not None else {}
    _write_meta(conn, meta, tables[lr_meta.name], installed)
    counts[lr_meta.name] = specs[lr_meta.name].rows if lr_meta.name in specs else 0
    return counts


def target_table(md: sa.MetaData, spec: TableSpec, declared: sa.Table | None,
                 remembered: dict[str, Any]) -> sa.Table:
    """The table to make for `spec`: the declared one with the backup's storage where it
    differs, or, when nothing declares it, one made from the columns' storage alone.
    `remembered`: the columns lr_meta knows (a field's decimal is a scaled integer on SQLite)."""
    if declared is None:
        single = len(spec.primary_key) == 1 and split_storage(
            spec.storage(spec.primary_key[0]))[0] == "integer"
        cols = [sa.Column(c, column_type(sig, key=single and c in spec.primary_key,
                                         scaled=c in remembered),
                          primary_key=c in spec.primary_key,
                          autoincrement=single and c in spec.primary_key)
                for c, sig in spec.columns]
        return sa.Table(spec.name, md, *cols, sqlite_autoincrement=single)
    table = declared.to_metadata(md)
    archived = dict(spec.columns)
    for col in table.columns:
        if col.name in archived:
            if needs_change(storage_of(col.type), archived[col.name]):
                # e.g. text longer than declared (a migration only ever widens)
                col.type = column_type(archived[col.name], scaled=col.name in remembered)
        elif not col.primary_key and col.server_default is None:
            col.nullable = True  # the backup's database did not have this column yet
    for c, sig in spec.columns:
        if c not in table.c:
            table.append_column(sa.Column(c, column_type(sig, scaled=c in remembered),
                                          nullable=True))
    return table


def _insert_rows(conn: sa.Connection, archive: ArchiveReader, spec: TableSpec,
                 table: sa.Table) -> int:
    names = [c for c, _ in spec.columns]
    decoders = [decoder(sig) for _, sig in spec.columns]
    stmt = table.insert()
    batch: list[dict[str, Any]] = []
    done = 0

    def flush() -> None:
        try:
            conn.execute(stmt, batch)
        except (sa.exc.DBAPIError, ValueError, TypeError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise BackupError(f"the rows {done - len(batch) + 1:,}-{done:,} of table "
                              f"{spec.name} could not be restored: {reason}") from None
        batch.clear()

    for row in archive.rows(spec):
        try:
            batch.append({n: d(v) for n, d, v in zip(names, decoders, row, strict=True)})
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise BackupError(f"row {done + 1:,} of table {spec.name} holds a value that "
                              f"does not fit its column: {exc}") from None
        done += 1
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return done


def _set_counters(conn: sa.Connection, tables: dict[str, sa.Table],
                  specs: dict[str, TableSpec]) -> None:
    """The next row of each table gets the id after the highest one the backup's database
    had handed out (a trashed record's id included), on either database."""
    quote = conn.dialect.identifier_preparer.quote
    for name, table in tables.items():
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or storage_of(pk[0].type).split("(")[0] != "integer":
            continue
        top = max(specs[name].last_id if name in specs else 0,
                  conn.execute(sa.select(sa.func.max(pk[0]))).scalar() or 0)
        if top <= 0:
            continue
        if conn.dialect.name == "postgresql":
            seq = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                               {"t": quote(name), "c": pk[0].name}).scalar()
            if seq:
                conn.execute(sa.text("SELECT setval(CAST(:s AS regclass), :v, true)"),
                             {"s": seq, "v": top})
        elif table.dialect_options["sqlite"]["autoincrement"]:
            if not conn.execute(sa.text("UPDATE sqlite_sequence SET seq = :v WHERE name = :t"),
                                {"v": top, "t": name}).rowcount:
                conn.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :v)"),
                             {"v": top, "t": name})


def _install_search(conn: sa.Connection, ws: Workspace) -> dict[str, dict[str, list[str]]]:
    """Make each record type's search structures for this database (after the rows are in:
    SQLite's index is built once from them), as a migration does; what lr_meta remembers."""
    from lowrise.storage.tables import build_schema

    schema = build_schema(ws)
    mod = search_module()
    installed = {}
    for rt in ws.record_types.values():
        ddl = search_ddl(schema, rt, conn.dialect.name)
        if not ddl:
            continue
        for stmt in ddl:
            conn.exec_driver_sql(stmt)
        installed[rt.name] = {"ddl": ddl,
                              "drop": list(mod.search_drop_ddl(schema, rt, conn.dialect.name))}
    return installed


def _archived_meta(archive: ArchiveReader, spec: TableSpec | None) -> dict[str, Any]:
    """The backup's lr_meta: key → its value (JSON)."""
    if spec is None:
        return {}
    at = {c: i for i, (c, _) in enumerate(spec.columns)}
    try:
        return {str(row[at["key"]]): json.loads(row[at["value"]]) for row in archive.rows(spec)}
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"the backup's lr_meta table is damaged ({exc!r})") from None


def _write_meta(conn: sa.Connection, meta: dict[str, Any], table: sa.Table,
                installed: dict[str, Any]) -> None:
    """lr_meta as the backup had it, but for the search entries: those name the statements
    of the database they were made on, and are this database's now."""
    rows = {k: v for k, v in meta.items() if not k.startswith("search:")}
    rows.update((f"search:{name}", entry) for name, entry in installed.items())
    conn.execute(table.delete())
    if rows:
        conn.execute(table.insert(), [{"key": k, "value": json.dumps(v, sort_keys=True)}
                                      for k, v in sorted(rows.items())])
