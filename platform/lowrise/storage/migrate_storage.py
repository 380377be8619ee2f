"""What schema sync reads from the live database: column storage signatures that compare
types alike on SQLite and PostgreSQL, the engine's `lr_meta` bookkeeping, the search hooks,
and converting stored values to a new field type.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from lowrise.errors import FieldError
from lowrise.fields.types import ExactDecimal, UTCDateTime
from lowrise.storage.tables import Schema
from lowrise.workspace.model import Field, RecordType

TMP_PREFIX = "lr_tmp_"

# The engine's own bookkeeping: the storage each column was given (on SQLite a scaled
# decimal and an integer are both BIGINT, so the database alone cannot tell them apart) and
# which search structures are installed.
meta_metadata = sa.MetaData()
lr_meta = sa.Table(
    "lr_meta", meta_metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


# -- storage signatures -----------------------------------------------------------------------
# A column's storage as a short string ("integer(8)", "decimal(18,2)", "text", "text(64)"...),
# so that TEXT vs VARCHAR or BIGINT vs INT8 never look like a change.


def storage_of(t: sa.types.TypeEngine) -> str:
    """The storage signature of a column type (declared or reflected)."""
    if isinstance(t, ExactDecimal):
        return f"decimal({t.precision},{t.scale})"
    if isinstance(t, sa.types.TypeDecorator):
        t = t.impl_instance
    if isinstance(t, sa.Boolean):
        return "boolean"
    if isinstance(t, sa.Float):
        return "float"
    if isinstance(t, sa.Numeric):
        if t.precision is None:
            return "decimal"
        return f"decimal({t.precision},{t.scale or 0})"
    if isinstance(t, sa.SmallInteger):
        return "integer(2)"
    if isinstance(t, sa.BigInteger):
        return "integer(8)"
    if isinstance(t, sa.Integer):
        return "integer(4)"
    if isinstance(t, sa.DateTime):
        return "datetime"
    if isinstance(t, sa.Date):
        return "date"
    if isinstance(t, sa.JSON):
        return "json"
    if isinstance(t, sa.String):
        return f"text({t.length})" if t.length else "text"
    return "other"


def split_storage(sig: str) -> tuple[str, tuple[int, ...]]:
    m = re.fullmatch(r"(\w+)(?:\((\d+)(?:,(\d+))?\))?", sig)
    if not m:
        return sig, ()
    return m[1], tuple(int(x) for x in m.groups()[1:] if x is not None)


def needs_change(old: str, new: str) -> bool:
    """Whether a column stored as `old` must be rewritten to hold what `new` describes."""
    if old == new:
        return False
    (of, oa), (nf, na) = split_storage(old), split_storage(new)
    if of == "other" or nf == "other":
        return False  # a type we do not know: leave it alone
    if of != nf:
        return True
    if of == "integer":
        return na[0] > oa[0]  # widen only
    if of == "text":
        return bool(oa) and (not na or na[0] > oa[0])  # widen only
    if of == "decimal":
        if not na:
            return bool(oa)
        return not oa or oa[1] != na[1] or oa[0] < na[0]
    return False


def reader_type(sig: str) -> sa.types.TypeEngine:
    """The type that reads values stored as `sig` back into Python values."""
    fam, args = split_storage(sig)
    if fam == "decimal":
        return ExactDecimal(*args) if args else sa.Numeric(asdecimal=True)
    return {
        "integer": sa.BigInteger(), "text": sa.Text(), "boolean": sa.Boolean(),
        "date": sa.Date(), "datetime": UTCDateTime(), "json": sa.JSON(), "float": sa.Float(),
    }.get(fam, sa.types.NullType())


def effective_storage(reflected: str, remembered: str | None, wanted: str, dialect: str) -> str:
    """The storage a live column has. SQLite stores scaled decimals as BIGINT: the database
    cannot tell them from integers, so what lr_meta remembers decides (or, never migrated
    before, the workspace is assumed right)."""
    if dialect == "sqlite" and split_storage(reflected)[0] == "integer":
        if remembered and split_storage(remembered)[0] in ("integer", "decimal"):
            return remembered
        if remembered is None and split_storage(wanted)[0] == "decimal":
            return wanted
    return reflected


# -- converting values ------------------------------------------------------------------------


def option_renames(f: Field) -> dict[str, str]:
    """{old value: the option that now stands for it}, from the options' `renamed_from`."""
    return {old: o.value for o in f.options for old in o.renamed_from}


def _renamed(f: Field, value: str) -> str:
    """A stored choice with the values its options were renamed from replaced."""
    renames = option_renames(f)
    if not renames:
        return value
    if f.kind.multiple or value.startswith("|"):
        parts = value.strip("|").split("|")
        return "|" + "|".join(renames.get(p, p) for p in parts) + "|"
    return renames.get(value, value)


def convert_value(f: Field, value: Any) -> Any:
    """A stored value converted to what field `f` stores, or FieldError. A choice field's
    values its options were `renamed_from` read as those options."""
    if f.kind.has_options and isinstance(value, str):
        value = _renamed(f, value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # stored datetimes are UTC
    kind = f.kind
    if kind.generated:
        coerce = getattr(kind, "coerce", None)
        try:
            return coerce(f, value) if coerce else str(value)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise FieldError(str(exc)) from None
    try:
        parsed = kind.parse(f, value)
    except FieldError:
        if isinstance(value, str):
            raise
        parsed = kind.parse(f, as_text(value))
    if parsed is not None:
        kind.check(f, parsed)
    return kind.to_db(f, parsed)


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def iter_converted(conn: sa.Connection, table: str, column: str, f: Field, old_storage: str,
                   *, batch: int = 1000) -> Iterator[tuple[Any, Any, Any, str | None]]:
    """(id, stored value, converted value, problem) for every non-null value, in id order,
    read in keyset batches so that a big table never sits in memory."""
    t = sa.table(table, sa.column("id"), sa.column(column))
    # psycopg hands back Decimal, date, datetime and bool already; SQLite's raw values (scaled
    # integers, ISO strings, 0/1) go through the type that stored them.
    process = None
    if conn.dialect.name == "sqlite":
        reader = reader_type(old_storage).dialect_impl(conn.dialect)
        process = reader.result_processor(conn.dialect, None)
    last = None
    while True:
        q = sa.select(t.c.id, t.c[column]).where(t.c[column].is_not(None))
        if last is not None:
            q = q.where(t.c.id > last)
        rows = conn.execute(q.order_by(t.c.id).limit(batch)).all()
        if not rows:
            return
        for rid, raw in rows:
            try:
                value = process(raw) if process else raw
            except (TypeError, ValueError, ArithmeticError):
                value = raw
            try:
                yield rid, value, convert_value(f, value), None
            except FieldError as exc:
                yield rid, value, None, str(exc)
        last = rows[-1][0]


# -- the live database ------------------------------------------------------------------


def read_meta(conn: sa.Connection, live: set[str]) -> dict[str, Any]:
    if "lr_meta" not in live:
        return {}
    return {k: json.loads(v) for k, v in conn.execute(sa.select(lr_meta.c.key, lr_meta.c.value))}


def live_tables(conn: sa.Connection) -> set[str]:
    """Ordinary tables (SQLite virtual and shadow tables, as FTS makes, are not ours to diff)."""
    names = set(sa.inspect(conn).get_table_names())
    if conn.dialect.name == "sqlite":
        special = {r[1] for r in conn.exec_driver_sql("PRAGMA table_list") if r[2] != "table"}
        names -= special
    return {n for n in names if not n.startswith("sqlite_")}


def search_module():
    """`lowrise.storage.search` when it is installed, else None."""
    try:
        return importlib.import_module("lowrise.storage.search")
    except ModuleNotFoundError as exc:
        if exc.name != "lowrise.storage.search":
            raise
        return None


def search_ddl(schema: Schema, rt: RecordType, dialect: str) -> list[str]:
    """The search module's statements for one record type; [] when it searches nothing
    (statements that only drop, as for a type without text fields, create nothing)."""
    mod = search_module()
    ddl = list(mod.search_ddl(schema, rt, dialect)) if mod else []
    if all(s.lstrip().upper().startswith("DROP ") for s in ddl):
        return []
    return ddl


def mentions(text: str, name: str) -> bool:
    """Whether SQL text names `name` as a whole word."""
    return re.search(rf"\b{re.escape(name)}\b", text) is not None


def searches_column(installed: dict[str, Any] | None, columns: set[str]) -> bool:
    """Whether installed search structures name one of `columns` (and must come down first
    when it is rewritten or dropped: SQLite refuses to drop a column a trigger names)."""
    text = " ".join((installed or {}).get("ddl", []))
    return any(mentions(text, c) for c in columns)
