"""Which tables a backup carries, what each column stores, and its values as JSON.

Every ordinary table of the live database is carried, whoever made it, plus the tables the
engine defines that the database does not have yet (carried empty). SQLite's search tables
and a migration's leftover `lr_tmp_` columns are not: restoring makes the search structures
again. A column is described by its storage signature (`storage_of`: "integer(8)",
"decimal(18,2)", "text(255)", "json"...), which reads the same on both databases, and its
values are read through the type that signature names, so a backup taken on SQLite restores
on PostgreSQL and back.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from lowrise.fields.types import ExactDecimal
from lowrise.storage.migrate_storage import (
    TMP_PREFIX,
    effective_storage,
    live_tables,
    lr_meta,
    read_meta,
    reader_type,
    split_storage,
    storage_of,
)
from lowrise.workspace.model import Workspace

#: written by a migration itself: a database holding only these is still empty
BOOKKEEPING = (lr_meta.name, "lr_schema_log")


@dataclass
class TableSpec:
    """One table as the archive holds it: its columns' storage, key, rows and checksum."""

    name: str
    columns: list[tuple[str, str]]  # (column, storage signature), in the order of each row
    primary_key: list[str]
    rows: int = 0
    last_id: int = 0  # the highest id ever handed out: a restored table never reuses one
    sha256: str = ""
    size: int = 0
    in_database: bool = True  # False: a known table the database has not made yet (no rows)
    #: column → the type that reads it where its storage alone would misread it (not saved)
    read_as: dict[str, sa.types.TypeEngine] = field(default_factory=dict, repr=False)

    @property
    def member(self) -> str:
        return f"db/{self.name}.jsonl"

    def storage(self, column: str) -> str:
        return dict(self.columns)[column]

    def as_json(self) -> dict[str, Any]:
        return {"columns": [list(c) for c in self.columns], "primary_key": self.primary_key,
                "rows": self.rows, "last_id": self.last_id, "sha256": self.sha256,
                "size": self.size}

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> TableSpec:
        return cls(name, [(str(c), str(s)) for c, s in data["columns"]],
                   [str(c) for c in data.get("primary_key") or []], int(data["rows"]),
                   int(data.get("last_id") or 0), str(data["sha256"]), int(data["size"]))


def registry(ws: Workspace | None) -> dict[str, sa.Table]:
    """Every table the engine defines: the workspace's record types and the engine's own
    tables (without a workspace, those alone), lr_meta, and the tables of the accounts and
    import jobs, taken from the metadata those classes build, so a table added there is
    carried without being named here."""
    from lowrise.accounts import Accounts
    from lowrise.importjobs import ImportJobs
    from lowrise.storage.tables import build_schema, system_tables

    # Neither class touches the database before it is used: no engine is needed to read
    # which tables it defines.
    metas = [build_schema(ws).metadata if ws is not None else _system_metadata(system_tables),
             lr_meta.metadata, Accounts(None).table.metadata,  # type: ignore[arg-type]
             ImportJobs(None).table.metadata]  # type: ignore[arg-type]
    return {t.name: t for md in metas for t in md.sorted_tables}


def _system_metadata(system_tables) -> sa.MetaData:
    md = sa.MetaData()
    system_tables(md)
    return md


def live_specs(conn: sa.Connection, known: dict[str, sa.Table]) -> list[TableSpec]:
    """The tables to carry, as they are in the database `conn` reads (inside its snapshot),
    then the known tables it does not have yet; each with its highest id handed out."""
    dialect = conn.dialect.name
    live = {n for n in live_tables(conn) if not n.startswith(TMP_PREFIX)}
    meta = read_meta(conn, live)
    insp = sa.inspect(conn)
    sequences = _sequences(conn, live, insp)
    specs = []
    for name in sorted(live):
        remembered = meta.get(f"columns:{name}", {})
        declared = known.get(name)
        columns, read_as = [], {}
        for col in insp.get_columns(name):
            if col["name"].startswith(TMP_PREFIX):
                continue
            reflected = storage_of(col["type"])
            ours = declared is not None and col["name"] in declared.c
            wanted = storage_of(declared.c[col["name"]].type) if ours else reflected
            kept = (remembered.get(col["name"]) or {}).get("storage")
            sig = effective_storage(reflected, kept, wanted, dialect)
            if dialect == "sqlite" and sig.startswith("integer") and not ours:
                sig = "integer(8)"  # what SQLite stores in any INTEGER column nobody declares
            if dialect == "sqlite" and reflected.startswith("decimal"):
                read_as[col["name"]] = sa.Numeric(asdecimal=True)  # numbers, not scaled ones
            columns.append((col["name"], sig))
        pk = list(insp.get_pk_constraint(name).get("constrained_columns") or [])
        specs.append(TableSpec(name, columns, pk, last_id=sequences.get(name, 0),
                               read_as=read_as))
    for name, table in sorted(known.items()):
        if name not in live:
            specs.append(TableSpec(name, [(c.name, storage_of(c.type)) for c in table.columns],
                                   [c.name for c in table.primary_key], in_database=False))
    return specs


def _sequences(conn: sa.Connection, live: Iterable[str], insp) -> dict[str, int]:
    """Table → the highest id its counter handed out (SQLite AUTOINCREMENT tables, PostgreSQL
    serial columns); a trashed record's id is above every row's and must stay unused."""
    if conn.dialect.name == "sqlite":
        has = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").first()
        if not has:
            return {}
        return {n: int(s) for n, s in conn.exec_driver_sql("SELECT name, seq FROM sqlite_sequence")}
    out = {}
    quote = conn.dialect.identifier_preparer.quote
    for name in live:
        for col in insp.get_pk_constraint(name).get("constrained_columns") or []:
            seq = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                               {"t": quote(name), "c": col}).scalar()
            if seq:
                # a sequence is outside the snapshot: its value is at least the snapshot's
                last, called = conn.exec_driver_sql(
                    f"SELECT last_value, is_called FROM {seq}").one()  # nosec B608 - from the catalog
                out[name] = max(out.get(name, 0), int(last) if called else int(last) - 1)
    return out


def reader(spec: TableSpec) -> sa.TableClause:
    """The table as a clause whose columns read values by their storage."""
    return sa.table(spec.name, *(sa.column(c, spec.read_as.get(c) or reader_type(s))
                                 for c, s in spec.columns))


def column_type(sig: str, *, key: bool = False, scaled: bool = False) -> sa.types.TypeEngine:
    """The type to create a column stored as `sig` with (one no workspace declares).
    `scaled`: a decimal is a scaled integer on SQLite, as a field's is (lr_meta says so)."""
    family, args = split_storage(sig)
    if family == "integer":
        if key:  # SQLite's row id: INTEGER PRIMARY KEY
            return sa.BigInteger().with_variant(sa.Integer, "sqlite")
        return {2: sa.SmallInteger(), 4: sa.Integer()}.get(args[0] if args else 8,
                                                           sa.BigInteger())
    if family == "text":
        return sa.String(args[0]) if args else sa.Text()
    if family == "decimal":
        return ExactDecimal(*args) if args and scaled else sa.Numeric(*args, asdecimal=True)
    return reader_type(sig)


# -- values -----------------------------------------------------------------------------------


def encode(value: Any) -> Any:
    """A value as JSON holds it; `decode` with the column's storage gives it back."""
    if value is None or isinstance(value, (str, bool, int, float, dict, list)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (bytes, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def _decimal(v: Any) -> Decimal:
    return Decimal(v if isinstance(v, str) else str(v))


_DECODE = {
    "decimal": _decimal,
    "datetime": lambda v: datetime.fromisoformat(v) if isinstance(v, str) else v,
    "date": lambda v: date.fromisoformat(v) if isinstance(v, str) else v,
}


def decoder(sig: str):
    """The function that turns an archived value of a column stored as `sig` back into the
    value to insert (None stays None)."""
    fn = _DECODE.get(split_storage(sig)[0])
    if fn is None:
        return lambda v: v
    return lambda v: None if v is None else fn(v)
