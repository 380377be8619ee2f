"""Schema sync, planned then applied: diff the live database against the workspace's tables.

`plan(conn, schema)` only reads; it returns a `Plan`, an ordered list of steps (data), each
with a line a business user understands. `apply(engine, plan)` runs the steps in one
transaction (see `migrate_apply`). Columns and tables no field declares any more are never
dropped silently: they are reported, and only `prune=True` drops them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lowrise.errors import LowriseError
from lowrise.i18n import Msg
from lowrise.storage.migrate_options import plan_options
from lowrise.storage.migrate_steps import (  # noqa: F401  (the steps are part of this API)
    PRUNE_HINT,
    SHOW_ROWS,
    AddColumn,
    ChangeColumnType,
    CreateIndex,
    CreateSystemTable,
    CreateTable,
    DropIndex,
    EnsureSearch,
    Refusal,
    RenameColumn,
    Step,
    UnusedColumn,
    UnusedTable,
    _n,
)
from lowrise.storage.migrate_storage import (
    TMP_PREFIX,
    as_text,
    effective_storage,
    iter_converted,
    live_tables,
    lr_meta,
    mentions,
    needs_change,
    read_meta,
    search_ddl,
    searches_column,
    split_storage,
    storage_of,
)
from lowrise.storage.tables import Schema
from lowrise.workspace.model import Field, RecordType


class MigrationError(LowriseError):
    """Base class of the schema-sync errors."""


class MigrationRefused(MigrationError):
    """The plan has refusals (values that would not survive); nothing was changed."""

    def __init__(self, refusals: list[Refusal]):
        self.refusals = list(refusals)
        super().__init__("migration refused; nothing was changed:\n"
                         + "\n".join(r.describe() for r in self.refusals))


class MigrationFailed(MigrationError):
    """A step failed in the database; the whole migration was rolled back."""

    def __init__(self, step: Step, error: Exception):
        self.step, self.error = step, error
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        super().__init__(f"'{step.describe()}' failed: {reason}; nothing was changed")


@dataclass
class Plan:
    """What a migration would do, as data. Print `plan.text()` for a dry run."""

    steps: list[Step]
    dialect: str
    #: the storage of every column once applied: {table: {column: {"storage", "type"}}}
    storage: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    schema: Schema | None = field(default=None, repr=False, compare=False)

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.changes]

    @property
    def refusals(self) -> list[Refusal]:
        return [s for s in self.steps if isinstance(s, Refusal)]

    @property
    def unused(self) -> list[UnusedColumn | UnusedTable]:
        return [s for s in self.steps if isinstance(s, (UnusedColumn, UnusedTable))]

    @property
    def is_empty(self) -> bool:
        """Nothing to change and nothing refused (kept, unused columns are only reported)."""
        return not self.changes and not self.refusals

    def describe_lines(self) -> list[str]:
        """The plan as lines a person reads: changes in order, then what is kept or refused."""
        if not self.steps:
            return ["nothing to change"]
        # (a Msg stays whole, to be put into words in the reader's language)
        return [line for s in self.steps for d in [s.describe()]
                for line in ([d] if isinstance(d, Msg) else d.splitlines())]

    def text(self) -> str:
        return "\n".join(self.describe_lines())

    __str__ = text


def conversion_refusal(conn: sa.Connection, table: str, column: str, f: Field,
                       old_storage: str, what: str) -> tuple[Refusal | None, int]:
    """Try every value; a Refusal listing the ones that do not convert, and the value count."""
    failures: list[tuple[Any, Any, str]] = []
    count = failed = 0
    for rid, value, _, problem in iter_converted(conn, table, column, f, old_storage):
        count += 1
        if problem is not None:
            failed += 1
            if len(failures) < SHOW_ROWS:
                failures.append((rid, value, problem))
    if not failed:
        return None, count
    return conversion_problems(table, column, what, failures, failed, count), count


def conversion_problems(table: str, column: str, what: str, failures: list[tuple[Any, Any, str]],
                        failed: int, count: int) -> Refusal:
    """The Refusal for values that do not convert: the first SHOW_ROWS, and how many."""
    shown = tuple((rid, as_text(v), p) for rid, v, p in failures[:SHOW_ROWS])
    verb = "does" if failed == 1 else "do"
    why = f"{failed:,} of {_n(count, 'value')} {verb} not convert; fix or clear them first"
    return Refusal(table, column, what, why, shown, failed)


# -- planning ---------------------------------------------------------------------------------


def _count(conn: sa.Connection, table: str, column: str | None = None) -> int:
    what = sa.func.count(sa.column(column)) if column else sa.func.count()
    return conn.execute(sa.select(what).select_from(sa.table(table))).scalar_one()


def plan(conn: sa.Connection, schema: Schema) -> Plan:
    """Diff the live database against the workspace's tables; reads only."""
    dialect = conn.dialect.name
    live = live_tables(conn)
    meta = read_meta(conn, live)
    out = Plan([], dialect, schema=schema)
    steps = out.steps
    system = {**schema.system, lr_meta.name: lr_meta}
    for name, table in system.items():
        if name not in live:
            steps.append(CreateSystemTable(name))
            continue
        # An engine upgrade may add columns to its own tables: add them the same O(1) way.
        have = {c["name"] for c in sa.inspect(conn).get_columns(name)}
        steps += [AddColumn(name, c.name, split_storage(storage_of(c.type))[0])
                  for c in table.columns if c.name not in have]
    searched_text = " ".join(
        " ".join(v.get("ddl", [])) for k, v in meta.items() if k.startswith("search:"))
    for rt in schema.workspace.record_types.values():
        if rt.name in live:
            _plan_table(conn, schema, rt, meta, searched_text, out)
        else:
            _plan_new_table(schema, rt, out)
    for name in sorted(live - set(schema.tables) - set(system)):
        if name.startswith(("lr_", TMP_PREFIX)) or _owned_by_search(name, meta):
            continue
        steps.append(UnusedTable(name, _count(conn, name)))
    steps.sort(key=lambda s: s.phase)
    return out


def _owned_by_search(name: str, meta: dict[str, Any]) -> bool:
    return any(k.startswith("search:") and k != f"search:{name}"
               and mentions(" ".join(v.get("ddl", [])), name) for k, v in meta.items())


def _wanted(schema: Schema, rt: RecordType, name: str) -> tuple[str, dict[str, str]]:
    sig = storage_of(schema.tables[rt.name].c[name].type)
    return sig, {"storage": sig, "type": rt.fields[name].type}


def _plan_new_table(schema: Schema, rt: RecordType, out: Plan) -> None:
    out.steps.append(CreateTable(rt.name, len(rt.user_fields)))
    out.storage[rt.name] = {f: _wanted(schema, rt, f)[1] for f in rt.fields if f != "id"}
    for spec in schema.indexes[rt.name]:
        out.steps.append(CreateIndex(rt.name, spec.name, spec.columns, spec.unique, spec.why,
                                      spec.desc))
    if search_ddl(schema, rt, out.dialect):
        out.steps.append(EnsureSearch(rt.name, tuple(rt.search_fields)))


def _plan_table(conn, schema: Schema, rt: RecordType, meta: dict[str, Any], searched_text: str,
                out: Plan) -> None:
    t = rt.name
    insp = sa.inspect(conn)
    cols = {c["name"]: c for c in insp.get_columns(t)}
    remembered = meta.get(f"columns:{t}", {})
    renames: dict[str, str] = {}  # new name -> old name
    for f in rt.fields.values():
        if f.name in cols:
            continue
        for old in f.renamed_from:
            if old in cols and old not in rt.fields and old not in renames.values():
                renames[f.name] = old
                break
    storage: dict[str, dict[str, str]] = {}
    retyped: set[str] = set()
    for f in rt.fields.values():
        if f.name == "id":
            continue
        sig, entry = _wanted(schema, rt, f.name)
        src = renames.get(f.name, f.name)
        if src not in cols:
            out.steps.append(AddColumn(t, f.name, f.type))
            storage[f.name] = entry
            continue
        if src != f.name:
            out.steps.append(RenameColumn(t, src, f.name, _count(conn, t, src)))
        known = remembered.get(src)
        old = effective_storage(storage_of(cols[src]["type"]),
                                known["storage"] if known else None, sig, out.dialect)
        if not needs_change(old, sig):
            was = known["type"] if known else f.type
            storage[f.name] = {"storage": old, "type": was}
            if f.kind.has_options:
                # the values held must be options, whether the options or the type changed
                out.steps += plan_options(conn, t, src, f, was if was != f.type else None)
                storage[f.name] = {"storage": old, "type": f.type}
            continue
        old_label = known["type"] if known else split_storage(old)[0]
        what = f"change column {t}.{f.name} from {old_label} to {f.type}"
        refusal, count = conversion_refusal(conn, t, src, f, old, what)
        if refusal:
            out.steps.append(refusal)
        else:
            out.steps.append(ChangeColumnType(t, f.name, old_label, f.type, old, sig, count))
        retyped.add(f.name)
        storage[f.name] = entry
    used = set(rt.fields) | set(renames.values())
    for name in cols:
        if name not in used and not name.startswith(TMP_PREFIX):
            out.steps.append(UnusedColumn(t, name, _count(conn, t, name)))
            if name in remembered:
                storage[name] = remembered[name]
    out.storage[t] = storage
    _plan_indexes(conn, schema, rt, cols, renames, retyped, searched_text, out)
    _plan_search(schema, rt, meta, retyped, out)


def _plan_indexes(conn, schema: Schema, rt: RecordType, cols: dict, renames: dict[str, str],
                  retyped: set[str], searched_text: str, out: Plan) -> None:
    t = rt.name
    old_to_new = {old: new for new, old in renames.items()}
    wanted = {s.name: s for s in schema.indexes[t]}
    keep: set[str] = set()
    for ix in sa.inspect(conn).get_indexes(t):
        name = ix["name"]
        if not name or not name.startswith(("ix_", "uq_")) or mentions(searched_text, name):
            continue
        spec = wanted.get(name)
        columns = tuple(old_to_new.get(c, c) for c in ix["column_names"])
        if spec and spec.columns == columns and bool(ix["unique"]) == spec.unique:
            keep.add(name)
        else:
            out.steps.append(DropIndex(t, name, tuple(c or "?" for c in ix["column_names"])))
    for spec in wanted.values():
        if spec.name in keep:
            continue
        sources = [renames.get(c, c) for c in spec.columns]
        if spec.unique and all(c in cols for c in sources) and not retyped & set(spec.columns):
            if refusal := _duplicates(conn, t, spec.columns, sources):
                out.steps.append(refusal)
                continue
        out.steps.append(CreateIndex(t, spec.name, spec.columns, spec.unique, spec.why,
                                     spec.desc))


def _duplicates(conn, table: str, columns: tuple[str, ...], sources: list[str]) -> Refusal | None:
    """A Refusal when existing values would break a new unique index."""
    t = sa.table(table, sa.column("id"), *(sa.column(c) for c in sources))
    keys = [t.c[c] for c in sources]
    groups = (sa.select(*keys, sa.func.count().label("n"), sa.func.min(t.c.id).label("first_id"))
              .where(*(k.is_not(None) for k in keys)).group_by(*keys)
              .having(sa.func.count() > 1))
    total = conn.execute(sa.select(sa.func.count()).select_from(groups.subquery())).scalar_one()
    if not total:
        return None
    rows = conn.execute(groups.order_by(sa.text("first_id")).limit(SHOW_ROWS)).all()
    shown = tuple((r.first_id, ", ".join(as_text(v) for v in r[: len(keys)]),
                   f"shared by {r.n} records") for r in rows)
    label = ", ".join(f"{table}.{c}" for c in columns)
    verb = "appears" if total == 1 else "appear"
    why = f"{_n(total, 'value')} {verb} more than once; make them distinct first"
    return Refusal(table, columns[0], f"make {label} unique", why, shown, total)


def _plan_search(schema: Schema, rt: RecordType, meta: dict[str, Any], retyped: set[str],
                 out: Plan) -> None:
    installed = meta.get(f"search:{rt.name}")
    ddl = search_ddl(schema, rt, out.dialect)
    fields = tuple(rt.search_fields)
    if ddl and not installed:
        out.steps.append(EnsureSearch(rt.name, fields, "install"))
    elif ddl and (installed.get("ddl") != ddl or searches_column(installed, retyped)):
        out.steps.append(EnsureSearch(rt.name, fields, "rebuild"))
    elif installed and not ddl:
        out.steps.append(EnsureSearch(rt.name, fields, "remove"))


def apply(engine: sa.Engine, plan: Plan, *, prune: bool = False,
          progress: Callable[[Step], None] | None = None,
          actor: str | None = None, diff: str | None = None,
          summary: str | None = None) -> list[str]:
    """Run a plan in one transaction; returns what was done, one line a step.

    The run is logged in lr_schema_log (who, when, the steps); `diff` (the YAML change that
    asked for it) and `summary` go in the same entry, which is written even when the plan has
    no steps if a diff is given.

    `progress(step)` is called as each step finishes (`len(plan.changes)` of them, plus the
    unused items when pruning).

    Raises MigrationRefused (nothing changed) when the plan has refusals, MigrationFailed
    (everything rolled back) when a step fails.
    """
    from lowrise.storage.migrate_apply import apply_plan

    return apply_plan(engine, plan, prune=prune, progress=progress, actor=actor, diff=diff,
                      summary=summary)
