"""Applying a migration plan: every step in one transaction, on SQLite and PostgreSQL alike.

Both databases have transactional DDL, so a step that fails rolls back every step before
it. Column changes go through Alembic's operations; a type change converts each value in
Python through the new field type (so a scaled decimal on SQLite is converted, not cast).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from lowrise.storage.db import refresh_statistics, write_transaction
from lowrise.storage.migrate import (
    SHOW_ROWS,
    AddColumn,
    ChangeColumnType,
    CreateIndex,
    CreateSystemTable,
    CreateTable,
    DropIndex,
    EnsureSearch,
    MigrationError,
    MigrationFailed,
    MigrationRefused,
    Plan,
    RenameColumn,
    Step,
    UnusedColumn,
    UnusedTable,
    conversion_problems,
)
from lowrise.storage.migrate_options import MapOptions, plan_options, read_values
from lowrise.storage.migrate_storage import (
    TMP_PREFIX,
    iter_converted,
    live_tables,
    lr_meta,
    read_meta,
    search_module,
    searches_column,
)
from lowrise.storage.tables import Schema

BATCH = 1000


@dataclass
class _Run:
    """What the steps of one apply share: the connection, Alembic's operations, lr_meta."""

    conn: sa.Connection
    op: Operations
    schema: Schema
    meta: dict[str, Any] = field(default_factory=dict)
    dropped: set[str] = field(default_factory=set)  # meta keys to delete

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    def run_sql(self, statements: list[str]) -> None:
        for stmt in statements:
            self.conn.exec_driver_sql(stmt)


def apply_plan(engine: sa.Engine, plan: Plan, *, prune: bool = False,
               progress: Callable[[Step], None] | None = None,
               actor: str | None = None, diff: str | None = None,
               summary: str | None = None) -> list[str]:
    """See `lowrise.storage.migrate.apply`."""
    if plan.refusals:
        raise MigrationRefused(plan.refusals)
    if plan.schema is None:
        raise MigrationError("this plan has no schema to apply; make it with plan()")
    steps: list[Step] = plan.changes + (plan.unused if prune else [])
    if not steps:
        if diff is not None:  # a YAML change that needs no migration is logged all the same
            with write_transaction(engine) as conn:
                run = _Run(conn, Operations(MigrationContext.configure(conn)), plan.schema)
                _write_log(run, [], [], actor, diff=diff, summary=summary)
        return []
    done: list[str] = []
    with write_transaction(engine) as conn:
        run = _Run(conn, Operations(MigrationContext.configure(conn)), plan.schema)
        run.meta = read_meta(conn, live_tables(conn))
        steps = _with_search_rebuilds(run, steps)
        for step in steps:  # search structures come down first: they name the columns
            if isinstance(step, (EnsureSearch, UnusedTable)) and f"search:{step.table}" in run.meta:
                _guard(step, _teardown_search, run, step.table)
        for step in steps:
            _guard(step, HANDLERS[type(step)], run, step)
            done.append(step.describe_drop() if isinstance(step, (UnusedColumn, UnusedTable))
                        else step.describe())
            if progress:
                progress(step)
        _guard(steps[-1], _fill_derived, run, steps)
        _guard(steps[-1], _write_meta, run, plan, prune)
        _guard(steps[-1], _write_log, run, steps, done, actor, diff, summary)
    indexed = {step.table for step in steps if isinstance(step, (CreateIndex, CreateTable))}
    if indexed:
        refresh_statistics(engine, indexed)  # a new index is chosen once the planner knows it
    return done


def _fill_derived(run: _Run, steps: list[Step]) -> None:
    """Lookups, rollups, counts and formulas across links added by this plan, computed for
    the rows there are (storage.derived), in the same transaction."""
    from lowrise.storage import derived  # it reads records; only a plan adding one needs it

    added: dict[str, set[str]] = {}
    types = run.schema.workspace.record_types
    for step in steps:
        if isinstance(step, AddColumn) and step.table in types:
            f = types[step.table].fields.get(step.column)
            if f is not None and derived.computed_across_links(types[step.table], f):
                added.setdefault(step.table, set()).add(f.name)
    now = datetime.now(UTC)
    for table, names in added.items():
        derived.refill(run.conn, run.schema, table, names, now)


def _guard(step: Step, fn: Callable, *args) -> None:
    """Run one step; a database error becomes MigrationFailed (the transaction rolls back)."""
    try:
        fn(*args)
    except MigrationError:
        raise
    except (sa.exc.SQLAlchemyError, ValueError, TypeError, KeyError) as exc:
        raise MigrationFailed(step, exc) from exc


def _with_search_rebuilds(run: _Run, steps: list[Step]) -> list[Step]:
    """Dropping a column under installed search structures needs them rebuilt around it."""
    searched = {s.table for s in steps if isinstance(s, EnsureSearch)}
    extra = []
    for s in steps:
        if (isinstance(s, UnusedColumn) and s.table not in searched
                and searches_column(run.meta.get(f"search:{s.table}"), {s.column})):
            rt = run.schema.workspace.type(s.table)
            extra.append(EnsureSearch(s.table, tuple(rt.search_fields), "rebuild"))
            searched.add(s.table)
    return sorted(steps + extra, key=lambda s: s.phase)


# -- the steps --------------------------------------------------------------------------------


def _create_system_table(run: _Run, step: CreateSystemTable) -> None:
    table = lr_meta if step.table == lr_meta.name else run.schema.system[step.table]
    table.create(run.conn)


def _drop_index(run: _Run, step: DropIndex) -> None:
    run.op.drop_index(step.name, table_name=step.table)


def _rename_column(run: _Run, step: RenameColumn) -> None:
    run.op.alter_column(step.table, step.old, new_column_name=step.new)


def _change_column_type(run: _Run, step: ChangeColumnType) -> None:
    t, col = step.table, step.column
    f = run.schema.workspace.type(t).fields[col]
    new_type = run.schema.tables[t].c[col].type
    tmp = (TMP_PREFIX + col)[:63]
    run.op.add_column(t, sa.Column(tmp, new_type, nullable=True))
    target = sa.table(t, sa.column("id"), sa.column(tmp, new_type))
    update = (target.update().where(target.c.id == sa.bindparam("rid"))
              .values({tmp: sa.bindparam("v", type_=new_type)}))
    batch: list[dict[str, Any]] = []
    failures: list[tuple[Any, Any, str]] = []
    count = failed = 0
    for rid, value, converted, problem in iter_converted(run.conn, t, col, f, step.old_storage):
        count += 1
        if problem is not None:
            failed += 1
            if len(failures) < SHOW_ROWS:
                failures.append((rid, value, problem))
        elif converted is not None:
            batch.append({"rid": rid, "v": converted})
            if len(batch) >= BATCH:
                run.conn.execute(update, batch)
                batch = []
    if failed:  # values changed since the plan was made
        what = f"change column {t}.{col} from {step.old_type} to {step.new_type}"
        raise MigrationRefused([conversion_problems(t, col, what, failures, failed, count)])
    if batch:
        run.conn.execute(update, batch)
    if run.dialect == "postgresql":
        # USING may read another column of the same row: indexes and order stay as they were.
        run.op.alter_column(t, col, type_=new_type, postgresql_using=f'"{tmp}"')
        run.op.drop_column(t, tmp)
        return
    # SQLite cannot change a column's declared type in place: swap in the converted column,
    # moving the indexes that name the old one across.
    saved = _sqlite_indexes_on(run.conn, t, col)
    for name, _ in saved:
        run.conn.exec_driver_sql(f'DROP INDEX "{name}"')
    run.op.drop_column(t, col)
    run.op.alter_column(t, tmp, new_column_name=col)
    run.run_sql([sql for _, sql in saved])


def _sqlite_indexes_on(conn: sa.Connection, table: str, column: str) -> list[tuple[str, str]]:
    rows = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL", (table,)).all()
    return [(name, sql) for name, sql in rows
            if any(r[2] == column for r in conn.exec_driver_sql(f'PRAGMA index_info("{name}")'))]


def _create_table(run: _Run, step: CreateTable) -> None:
    # The table alone: its indexes are steps of their own.
    run.conn.execute(sa.schema.CreateTable(run.schema.tables[step.table]))


def _add_column(run: _Run, step: AddColumn) -> None:
    # Nullable and without a default to fill in, so it takes the same time on any table size.
    tables = {**run.schema.system, lr_meta.name: lr_meta, **run.schema.tables}
    col = tables[step.table].c[step.column]._copy()
    if not col.nullable and col.server_default is None:
        col.nullable = True
    run.op.add_column(step.table, col)


def _create_index(run: _Run, step: CreateIndex) -> None:
    quote = run.conn.dialect.identifier_preparer.quote
    cols = [sa.text(f"{quote(c)} DESC") if c in step.desc else c for c in step.columns]
    run.op.create_index(step.name, step.table, cols, unique=step.unique)


def _ensure_search(run: _Run, step: EnsureSearch) -> None:
    mod = search_module()
    if step.action == "remove" or mod is None:
        return
    rt = run.schema.workspace.type(step.table)
    ddl = list(mod.search_ddl(run.schema, rt, run.dialect))
    run.run_sql(ddl)
    drop = list(mod.search_drop_ddl(run.schema, rt, run.dialect))
    run.meta[f"search:{step.table}"] = {"ddl": ddl, "drop": drop}
    run.dropped.discard(f"search:{step.table}")


def _teardown_search(run: _Run, table: str) -> None:
    key = f"search:{table}"
    run.run_sql(run.meta.pop(key).get("drop", []))
    run.dropped.add(key)


def _drop_column(run: _Run, step: UnusedColumn) -> None:
    if run.dialect == "sqlite":  # SQLite refuses to drop an indexed column
        for name, _ in _sqlite_indexes_on(run.conn, step.table, step.column):
            run.conn.exec_driver_sql(f'DROP INDEX "{name}"')
    run.op.drop_column(step.table, step.column)


def _drop_table(run: _Run, step: UnusedTable) -> None:
    run.op.drop_table(step.table)
    run.dropped.add(f"columns:{step.table}")


def _map_options(run: _Run, step: MapOptions) -> None:
    # read again: records may have changed since the plan was made
    f = run.schema.workspace.type(step.table).fields[step.column]
    changes, failures = read_values(run.conn, step.table, step.column, f)
    if failures:
        raise MigrationRefused(plan_options(run.conn, step.table, step.column, f))
    t = sa.table(step.table, sa.column(step.column))
    for stored, new, _n in changes:
        run.conn.execute(t.update().where(t.c[step.column] == stored)
                         .values({step.column: new}))


HANDLERS: dict[type, Callable[[_Run, Any], None]] = {
    CreateSystemTable: _create_system_table,
    DropIndex: _drop_index,
    RenameColumn: _rename_column,
    ChangeColumnType: _change_column_type,
    MapOptions: _map_options,
    CreateTable: _create_table,
    AddColumn: _add_column,
    CreateIndex: _create_index,
    EnsureSearch: _ensure_search,
    UnusedColumn: _drop_column,
    UnusedTable: _drop_table,
}


# -- bookkeeping ------------------------------------------------------------------------------


def _write_meta(run: _Run, plan: Plan, prune: bool) -> None:
    """Remember each column's storage (and installed search) for the next plan."""
    pruned = {(s.table, s.column) for s in plan.unused if prune and isinstance(s, UnusedColumn)}
    for table, columns in plan.storage.items():
        run.meta[f"columns:{table}"] = {
            c: v for c, v in columns.items() if (table, c) not in pruned}
    for key in run.dropped:
        run.meta.pop(key, None)
    run.conn.execute(lr_meta.delete())
    if run.meta:
        run.conn.execute(lr_meta.insert(), [
            {"key": k, "value": json.dumps(v, sort_keys=True)} for k, v in sorted(run.meta.items())])


def _write_log(run: _Run, steps: list[Step], done: list[str], actor: str | None,
               diff: str | None = None, summary: str | None = None) -> None:
    records = [{**s.as_dict(), "kind": _logged_kind(s), "text": text}
               for s, text in zip(steps, done, strict=True)]
    counts: dict[str, int] = {}
    for r in records:
        counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    if summary is None:
        summary = "; ".join(done) if len(done) <= 3 else ", ".join(
            f"{k.replace('_', ' ')} ×{n}" for k, n in counts.items())
    run.conn.execute(run.schema.schema_log.insert().values(
        at=datetime.now(UTC), actor=actor, summary=summary,
        steps=json.loads(json.dumps(records, default=str)), diff=diff))


def _logged_kind(step: Step) -> str:
    """A pruned unused column or table was dropped: log it as such."""
    return {"unused_column": "drop_column", "unused_table": "drop_table"}.get(step.kind, step.kind)
