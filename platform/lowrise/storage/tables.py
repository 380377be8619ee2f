"""SQLAlchemy tables built from the workspace: one table per record type, one column per field.

Also the engine's own tables (audit, trash, counters, schema log), all named `lr_*`.
Indexes are derived here, in one place, from what the workspace declares: links, unique
and `indexed:` fields, kanban groupings, and the filter-and-sort combinations of views.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import sqlalchemy as sa

from lowrise.fields.types import UTCDateTime
from lowrise.workspace.model import Field, RecordType, View, Workspace

MAX_NAME = 63


def index_name(prefix: str, table: str, columns: list[str]) -> str:
    """A stable index name that fits PostgreSQL's 63-character limit."""
    name = f"{prefix}_{table}_{'_'.join(columns)}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


def system_tables(metadata: sa.MetaData) -> dict[str, sa.Table]:
    """The engine's own tables."""
    audit = sa.Table(
        "lr_audit", metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("record_type", sa.String(63), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),  # create update delete restore reveal
        # clash (a unique value met on a record the actor may not read in full)
        sa.Column("actor", sa.BigInteger),
        sa.Column("actor_name", sa.String(255)),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("changes", sa.JSON),  # {field: [before, after]}
        sa.Column("note", sa.Text),
        sa.Column("reason", sa.Text),  # why a reveal was asked for (reveal_reason)
        sa.Index("ix_lr_audit_record", "record_type", "record_id", "id"),
    )
    trash = sa.Table(
        "lr_trash", metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("record_type", sa.String(63), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("title", sa.String(255)),
        sa.Column("deleted_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_by", sa.BigInteger),
        # the links its delete emptied (on_delete: clear), to link again on restore
        sa.Column("cleared", sa.JSON),
        sa.UniqueConstraint("record_type", "record_id", name="uq_lr_trash_record"),
    )
    counters = sa.Table(
        "lr_counters", metadata,
        sa.Column("record_type", sa.String(63), primary_key=True),
        sa.Column("field", sa.String(63), primary_key=True),
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    schema_log = sa.Table(
        "lr_schema_log", metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(255)),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("steps", sa.JSON, nullable=False),
        sa.Column("diff", sa.Text),
    )
    # Unique values a restricted person met on records they may not read in full, counted
    # per person over a window (lowrise.access.clashes); old rows are deleted as new come.
    clashes = sa.Table(
        "lr_value_clashes", metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("who", sa.String(255), nullable=False),
        sa.Column("at", sa.Float, nullable=False),  # seconds since the epoch (UTC)
        sa.Column("record_type", sa.String(63), nullable=False),
        sa.Column("field", sa.String(63), nullable=False),
        sa.Index("ix_lr_value_clashes_who", "who", "at"),
    )
    # Every export of records (lowrise.trail): who, which type, which columns (and how
    # each confidential one went), how many rows (set when the file is complete), when.
    exports = sa.Table(
        "lr_exports", metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.BigInteger),
        sa.Column("actor_name", sa.String(255)),
        sa.Column("record_type", sa.String(63), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),  # csv xlsx api-csv api-xlsx share
        sa.Column("fields", sa.JSON, nullable=False),  # the columns, by field name
        sa.Column("confidential", sa.JSON, nullable=False),  # {field: full | masked | none}
        sa.Column("rows", sa.BigInteger),
        sa.Index("ix_lr_exports_at", "at"),
    )
    from lowrise.approvals.tables import approval_tables  # approval rounds, tasks, trail
    from lowrise.live.tables import live_tables  # the change log of live updates
    from lowrise.rules.tables import rules_tables  # timers, outbox, run log, inbox
    from lowrise.sharing.tables import sharing_tables  # public forms, feeds, share links

    return {t.name: t for t in (audit, trash, counters, schema_log, clashes, exports,
                                *rules_tables(metadata), *sharing_tables(metadata),
                                *live_tables(metadata), *approval_tables(metadata))}


def column_for(f: Field) -> sa.Column:
    if f.name == "id":
        return sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                         primary_key=True, autoincrement=True)
    if f.name == "version":
        return sa.Column("version", sa.Integer, nullable=False, server_default="1")
    return sa.Column(f.name, f.kind.column_type(f), nullable=True)


@dataclass(frozen=True)
class IndexSpec:
    """An index the workspace asks for. `why` says which declaration asked."""

    table: str
    columns: tuple[str, ...]
    unique: bool = False
    why: str = ""
    #: the columns in descending order (a declared index's `-name`)
    desc: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return index_name("uq" if self.unique else "ix", self.table,
                          [c + "_desc" if c in self.desc else c for c in self.columns])


def _sort_columns(rt: RecordType, sort: list[str]) -> list[str]:
    cols = []
    for key in sort:
        name = key.lstrip("-+")
        if name in rt.fields and name not in cols and rt.fields[name].kind.sortable:
            cols.append(name)
    return cols


def _equality_fields(rt: RecordType, flt) -> list[str]:
    """Fields a filter pins to one value or a set at its top level (good index prefixes)."""
    if not isinstance(flt, dict):
        return []
    conds = flt.get("all") if "all" in flt else [flt] if "field" in flt else []
    out = []
    for c in conds or []:
        if isinstance(c, dict) and c.get("op") in ("eq", "in") and c.get("field") in rt.fields:
            if c["field"] not in out:
                out.append(c["field"])
    return out


def view_index(rt: RecordType, view: View) -> IndexSpec | None:
    """The index that lets a view's first page come straight off an index, without a sort."""
    cfg = view.config
    lead: list[str] = []
    if view.type == "kanban" and cfg.get("group_by"):
        lead.append(cfg["group_by"])
    elif view.type == "calendar" and cfg.get("date_field"):
        lead.append(cfg["date_field"])
    elif view.type == "table" and cfg.get("group_by"):
        lead.append(cfg["group_by"])
    for name in _equality_fields(rt, view.filter):
        if name not in lead:
            lead.append(name)
    cols = lead + [c for c in _sort_columns(rt, view.sort) if c not in lead]
    if not cols or cols == ["id"]:
        return None
    if "id" not in cols:
        cols.append("id")
    return IndexSpec(rt.name, tuple(cols), why=f"view {view.name}")


def wanted_indexes(ws: Workspace, rt: RecordType) -> list[IndexSpec]:
    """Every index the workspace asks for on one record type, without duplicates."""
    specs: list[IndexSpec] = []
    for f in rt.fields.values():
        if f.name == "id":
            continue
        if f.unique:
            specs.append(IndexSpec(rt.name, (f.name,), unique=True, why=f"{f.name} is unique"))
        elif f.kind.links:
            specs.append(IndexSpec(rt.name, (f.name,), why=f"{f.name} links to {f.target}"))
        elif f.indexed:
            specs.append(IndexSpec(rt.name, (f.name,), why=f"{f.name} is indexed"))
    specs.append(IndexSpec(rt.name, ("updated_at", "id"), why="recently changed records"))
    for view in ws.views_of(rt.name):
        if spec := view_index(rt, view):
            specs.append(spec)
        group, total = view.config.get("group_by"), view.config.get("sum")
        if view.type == "kanban" and group in rt.fields and total in rt.fields:
            # The column totals are read off this index alone, never off the table.
            specs.append(IndexSpec(rt.name, (group, total), why=f"totals of view {view.name}"))
    from lowrise.dashboards.indexes import MAX_COLUMNS, widget_indexes  # it imports storage

    for cols, why, lead in widget_indexes(ws, rt):
        # A widget's index whose lead begins a longer index the views already ask for (the
        # new leads by `opened_on` and the cases view's `opened_on, created_at, id`) rides
        # on that one: its other columns go at the end, the views' order stays, and a new
        # record has one index fewer to go into.
        hosts = [s for s in specs if not s.unique and len(s.columns) > lead
                 and s.columns[:lead] == cols[:lead]
                 and len({*s.columns, *cols}) <= MAX_COLUMNS]
        if hosts and lead < len(cols):
            host = min(hosts, key=lambda s: len(s.columns))
            extra = tuple(c for c in cols[lead:] if c not in host.columns)
            specs[specs.index(host)] = IndexSpec(rt.name, host.columns + extra,
                                                 why=f"{host.why}; {why}")
            continue
        specs.append(IndexSpec(rt.name, cols, why=why))
    for cols in rt.indexes:
        names = tuple(c.lstrip("-") for c in cols)
        if all(n in rt.fields and rt.fields[n].kind.sortable for n in names) and \
                len(set(names)) == len(names):
            specs.append(IndexSpec(rt.name, names, desc=tuple(c[1:] for c in cols
                                                             if c.startswith("-")),
                                   why=f"declared: [{', '.join(cols)}]"))
    seen: dict[tuple[str, ...], IndexSpec] = {}
    for s in specs:
        # An index whose columns are a prefix of another's is served by that one (in the
        # same directions: one read backwards serves a sort the other way too).
        if any(o.columns[: len(s.columns)] == s.columns and not s.unique
               and _same_way(s, o) for o in specs
               if o is not s and len(o.columns) > len(s.columns)):
            continue
        seen.setdefault((s.columns, s.desc), s)
    return list(seen.values())


def _same_way(short: IndexSpec, long: IndexSpec) -> bool:
    """Whether the longer index orders the shorter one's columns alike, or all reversed."""
    mine = [c in short.desc for c in short.columns]
    theirs = [c in long.desc for c in long.columns[: len(short.columns)]]
    return mine == theirs or mine == [not d for d in theirs]


@dataclass
class Schema:
    """The tables of one workspace: `schema.table("case")` is the case table."""

    workspace: Workspace
    metadata: sa.MetaData = field(default_factory=sa.MetaData)
    tables: dict[str, sa.Table] = field(default_factory=dict)
    system: dict[str, sa.Table] = field(default_factory=dict)
    indexes: dict[str, list[IndexSpec]] = field(default_factory=dict)

    def table(self, type_name: str) -> sa.Table:
        return self.tables[type_name]

    @property
    def audit(self) -> sa.Table:
        return self.system["lr_audit"]

    @property
    def trash(self) -> sa.Table:
        return self.system["lr_trash"]

    @property
    def counters(self) -> sa.Table:
        return self.system["lr_counters"]

    @property
    def schema_log(self) -> sa.Table:
        return self.system["lr_schema_log"]


def build_schema(ws: Workspace) -> Schema:
    """Tables and indexes for a workspace (nothing touches a database here)."""
    schema = Schema(ws)
    schema.system = system_tables(schema.metadata)
    for rt in ws.record_types.values():
        cols = [column_for(f) for f in rt.fields.values()]
        # AUTOINCREMENT on SQLite: an id is never handed out twice, even after the newest
        # record went to the trash (it must be restorable under its own id).
        table = sa.Table(rt.name, schema.metadata, *cols, sqlite_autoincrement=True)
        specs = wanted_indexes(ws, rt)
        for spec in specs:
            sa.Index(spec.name, *(table.c[c].desc() if c in spec.desc else table.c[c]
                                  for c in spec.columns), unique=spec.unique)
        schema.tables[rt.name] = table
        schema.indexes[rt.name] = specs
    return schema
