"""Lookups, rollups, counts and formulas across links, kept correct by every write.

The values live in ordinary columns (so they filter, sort, group and index like any
field); this module keeps them right, inside the transaction of the write that changes
what they are made of:

- `fill` sets a record's own lookups (and the `client.budget` values its formulas read)
  before it is written, from the records its links point at;
- `after_write` follows what a write changed to everything that reads it: the lookups and
  formulas of the records that link to a changed record (one UPDATE with a subquery per
  link), the rollups and counts of the records that the changed ones link to (one UPDATE
  per rollup), and on from those, in the order the dependencies run (`lowrise check`
  refuses cycles). Propagated values are computed, like formulas: no version, no audit
  entry, no hook of their own.
- `refill` computes a derived field on every row (a migration adding one; `lowrise
  recompute`); `refresh_periods` recomputes rollups whose filter names a period relative
  to today (this_month...), which the worker runs when the workspace's day changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lowrise import filters
from lowrise.errors import LowriseError
from lowrise.expr import ExpressionError, compiled
from lowrise.fields.relational import aggregate_of, expression_of, is_derived, is_lookup
from lowrise.fields.types import ExactDecimal
from lowrise.workspace.model import RecordType, Workspace

from .values import formula_order, from_db_row, to_db_row

CHUNK = 900
MAX_DEPTH = 12


@dataclass(frozen=True)
class LookupDep:
    """`type.field` is `through`'s record's `source` (a field of `target`)."""

    type: str
    field: str
    through: str
    target: str
    source: str


@dataclass(frozen=True)
class PathDep:
    """Formulas of `type` read `through.source` (`source` a field of `target`)."""

    type: str
    through: str
    target: str
    source: str

    @property
    def key(self) -> str:
        return f"{self.through}.{self.source}"


@dataclass(frozen=True)
class RollupDep:
    """`type.field` aggregates `of` over the records of `source` whose `via` links here."""

    type: str
    field: str
    source: str
    via: str
    aggregate: str
    of: str | None
    filter: Any
    reads: frozenset[str]
    timed: bool


@dataclass
class Graph:
    """Who reads what, for one workspace."""

    own_lookups: dict[str, list[LookupDep]] = field(default_factory=dict)
    own_paths: dict[str, list[PathDep]] = field(default_factory=dict)
    lookups_of: dict[str, list[LookupDep]] = field(default_factory=dict)
    paths_of: dict[str, list[PathDep]] = field(default_factory=dict)
    rollups_over: dict[str, list[RollupDep]] = field(default_factory=dict)
    rollups: list[RollupDep] = field(default_factory=list)

    def touches(self, type_name: str) -> bool:
        return bool(self.own_lookups.get(type_name) or self.own_paths.get(type_name)
                    or self.lookups_of.get(type_name) or self.paths_of.get(type_name)
                    or self.rollups_over.get(type_name))

    def read_by_others(self, type_name: str) -> bool:
        return bool(self.lookups_of.get(type_name) or self.paths_of.get(type_name)
                    or self.rollups_over.get(type_name))


def link_paths(rt: RecordType, names: Iterable[str]) -> list[tuple[str, str]]:
    """The `link.field` names among an expression's names, as (link, field)."""
    out = []
    for name in names:
        link, _, source = name.partition(".")
        if source and link in rt.fields and rt.fields[link].target:
            out.append((link, source))
    return out


def _filter_reads(node) -> tuple[set[str], bool]:
    """The fields a filter reads (first step of each path) and whether it is relative to
    the clock."""
    names: set[str] = set()
    timed = False
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (filters.All, filters.Any)):
            stack.extend(n.items)
        elif isinstance(n, filters.Not):
            stack.append(n.item)
        elif isinstance(n, filters.Condition):
            names.add(n.path[0])
            values = n.value if isinstance(n.value, (list, tuple)) else [n.value]
            if any(isinstance(v, (filters.Period, filters.Relative)) for v in values):
                timed = True
    return names, timed


def build_graph(ws: Workspace) -> Graph:
    g = Graph()
    for rt in ws.record_types.values():
        for f in rt.user_fields:
            if expression_of(f) is not None:
                try:
                    names = compiled(expression_of(f)).names
                except ExpressionError:  # `lowrise check` reports it
                    continue
                for link, source in link_paths(rt, names):
                    dep = PathDep(rt.name, link, rt.fields[link].target, source)
                    if dep not in g.own_paths.setdefault(rt.name, []):
                        g.own_paths[rt.name].append(dep)
                        g.paths_of.setdefault(dep.target, []).append(dep)
                continue
            if not is_derived(f):
                continue
            cfg = f.config
            if is_lookup(f):
                link = rt.fields.get(cfg.get("through"))
                target = link.target if link is not None else None
                if target not in ws.record_types or \
                        cfg.get("field") not in ws.record_types[target].fields:
                    continue
                dep = LookupDep(rt.name, f.name, link.name, target, cfg["field"])
                g.own_lookups.setdefault(rt.name, []).append(dep)
                g.lookups_of.setdefault(target, []).append(dep)
                continue
            source = ws.record_types.get(cfg.get("from"))
            if source is None or cfg.get("via") not in source.fields:
                continue
            agg = aggregate_of(f)
            of = None if agg == "count" else cfg.get("field")
            if agg != "count" and of not in source.fields:
                continue
            node, reads, timed = None, set(), False
            if cfg.get("filter") is not None:
                try:
                    node = filters.parse(cfg["filter"], source, ws)
                except LowriseError:  # `lowrise check` reports it
                    continue
                reads, timed = _filter_reads(node)
            dep = RollupDep(rt.name, f.name, source.name, cfg["via"], agg, of, node,
                            frozenset({cfg["via"], *([of] if of else []), *reads}), timed)
            g.rollups_over.setdefault(source.name, []).append(dep)
            g.rollups.append(dep)
    return g


_GRAPHS: dict[int, tuple[Workspace, Graph]] = {}


def graph(ws: Workspace) -> Graph:
    """The workspace's Graph, built once per (immutable) workspace."""
    hit = _GRAPHS.get(id(ws))
    if hit is not None and hit[0] is ws:
        return hit[1]
    g = build_graph(ws)
    if len(_GRAPHS) > 64:
        _GRAPHS.clear()
    _GRAPHS[id(ws)] = (ws, g)
    return g


# -- a record's own values, before it is written --------------------------------------------

def fill(conn: sa.Connection, schema, rt: RecordType, records: Sequence[dict[str, Any]]
         ) -> None:
    """Set the records' lookups, and the `link.field` values their formulas read, from the
    records their links point at (empty where a link is empty or its record is gone)."""
    g = graph(schema.workspace)
    for dep in g.rollups:  # nothing links to a new record yet
        if dep.type == rt.name:
            empty = 0 if dep.aggregate in ("count", "sum") else None
            for r in records:
                if "id" not in r:
                    r[dep.field] = empty
    wanted: dict[str, tuple[str, set[str]]] = {}  # through -> (target, source fields)
    for dep in g.own_lookups.get(rt.name, ()):
        wanted.setdefault(dep.through, (dep.target, set()))[1].add(dep.source)
    for dep in g.own_paths.get(rt.name, ()):
        wanted.setdefault(dep.through, (dep.target, set()))[1].add(dep.source)
    for through, (target, names) in wanted.items():
        ids = sorted({r[through] for r in records if r.get(through) is not None})
        found = _read(conn, schema, target, ids, names)
        for r in records:
            row = found.get(r.get(through)) or {}
            for dep in g.own_lookups.get(rt.name, ()):
                if dep.through == through:
                    r[dep.field] = row.get(dep.source)
            for dep in g.own_paths.get(rt.name, ()):
                if dep.through == through:
                    r[dep.key] = row.get(dep.source)


def fills(ws: Workspace, rt: RecordType) -> bool:
    """Whether records of this type have lookups or formulas across links to fill."""
    g = graph(ws)
    return bool(g.own_lookups.get(rt.name) or g.own_paths.get(rt.name)
                or any(d.type == rt.name for d in g.rollups))


def strip(records: Iterable[dict[str, Any]]) -> None:
    """Take the `link.field` values `fill` gave the formulas off the records again."""
    for r in records:
        for k in [k for k in r if isinstance(k, str) and "." in k]:
            del r[k]


def _read(conn, schema, type_name: str, ids: Sequence[int], names: Iterable[str]
          ) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    rt, t = schema.workspace.record_types[type_name], schema.table(type_name)
    cols = [t.c.id, *(t.c[n] for n in sorted(names))]
    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(ids), CHUNK):
        for row in conn.execute(sa.select(*cols).where(t.c.id.in_(ids[i:i + CHUNK]))
                                ).mappings():
            out[row["id"]] = from_db_row(rt, row)
    return out


# -- what depends on a write ----------------------------------------------------------------

def after_write(conn: sa.Connection, schema, rt: RecordType,
                pairs: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]],
                now: datetime, *, restoring: bool = False) -> None:
    """Bring up to date what reads the records of a write: (before, after) of each, None
    before a create and after a delete. A restored record's own rollups are computed
    (`restoring`); a new one's start empty (`fill`)."""
    g = graph(schema.workspace)
    pairs = list(pairs)
    own = [d for d in g.rollups if d.type == rt.name]
    if own and restoring:  # a restored record's own rollups: what links to it already
        made = {after["id"] for before, after in pairs if before is None and after is not None}
        for dep in own if made else ():
            _update_rollup(conn, schema, dep, made, now)
    if not g.read_by_others(rt.name):
        return
    vias = {d.via for d in g.rollups_over.get(rt.name, ())}
    ids: set[int] = set()
    changed: set[str] = set()
    targets: dict[str, set[int]] = {v: set() for v in vias}
    for before, after in pairs:
        if before is None or after is None:
            fields = set(rt.fields)
        else:
            fields = {k for k in rt.fields if before.get(k) != after.get(k)}
        if not fields:
            continue
        ids.add((after or before)["id"])
        changed |= fields
        for via in vias:
            for r in (before, after):
                if r is not None and r.get(via) is not None:
                    targets[via].add(r[via])
    if not ids:
        return
    # A count or sum changes by what each record adds or takes away (one row per linked
    # record touched, never a scan of all that link there); the others are recomputed.
    exact = [d for d in g.rollups_over.get(rt.name, ())
             if d.aggregate in ("count", "sum") and d.reads & changed]
    for dep in exact:
        _add_deltas(conn, schema, g, dep, pairs, now)
    _spread(conn, schema, g, rt.name, ids, changed, targets, now, 0, skip=exact)


def _add_deltas(conn, schema, g: Graph, dep: RollupDep, pairs, now: datetime) -> None:
    ctx = filters.FilterContext(clock=lambda: now)
    deltas: dict[int, Any] = {}
    for before, _ in pairs:
        _one(dep, ctx, deltas, -1, before)
    for _, after in pairs:
        _one(dep, ctx, deltas, 1, after)
    deltas = {k: v for k, v in deltas.items() if v}
    if not deltas:
        return
    o = schema.table(dep.type)
    col = o.c[dep.field]
    stmt = o.update().where(o.c.id == sa.bindparam("w_id")).values(
        {col: sa.func.coalesce(col, 0) + sa.bindparam("w_delta", type_=col.type)})
    conn.execute(stmt, [{"w_id": k, "w_delta": v} for k, v in sorted(deltas.items())])
    _spread(conn, schema, g, dep.type, set(deltas), {dep.field}, None, now, 1)


def _one(dep: RollupDep, ctx, deltas: dict[int, Any], sign: int, record) -> None:
    """What one record (before: taken away; after: added) does to its rollup."""
    if record is None or record.get(dep.via) is None:
        return
    if dep.filter is not None and not filters.evaluate(dep.filter, record, ctx):
        return
    value = 1 if dep.aggregate == "count" else record.get(dep.of)
    if value is None:
        return
    target = record[dep.via]
    deltas[target] = deltas.get(target, 0) + sign * value


def _spread(conn, schema, g: Graph, type_name: str, ids: set[int], changed: set[str],
            targets: dict[str, set[int]] | None, now: datetime, depth: int,
            skip: Sequence[RollupDep] = ()) -> None:
    if not ids or depth > MAX_DEPTH:
        return
    ws = schema.workspace
    if depth:  # formulas of rows a propagation changed read the new values too
        changed = changed | _recompute_formulas(conn, schema, ws.record_types[type_name], ids, changed,
                                       now, local=True)
    t = schema.table(type_name)
    found: dict[tuple[str, str], set[int]] = {}

    def linked(other: str, through: str) -> set[int]:
        """The ids of the records of `other` whose `through` links to these."""
        if (other, through) not in found:
            o = schema.table(other)
            found[(other, through)] = _ids_where(conn, o, o.c[through], ids)
        return found[(other, through)]

    groups: dict[tuple[str, str], list[LookupDep]] = {}
    for dep in g.lookups_of.get(type_name, ()):
        if dep.source in changed:
            groups.setdefault((dep.type, dep.through), []).append(dep)
    for (other, through), deps in groups.items():
        o = schema.table(other)
        values = {o.c[d.field]: sa.select(t.c[d.source]).where(t.c.id == o.c[through])
                  .scalar_subquery() for d in deps}
        _update_where(conn, o, o.c[through], ids, values)
        if _read_further(g, ws, other, {d.field for d in deps}):
            rows = linked(other, through)
            _spread(conn, schema, g, other, rows, {d.field for d in deps}, None, now,
                    depth + 1)
    paths: dict[tuple[str, str], list[PathDep]] = {}
    for dep in g.paths_of.get(type_name, ()):
        if dep.source in changed:
            paths.setdefault((dep.type, dep.through), []).append(dep)
    for (other, through), deps_ in paths.items():
        rows = linked(other, through)
        names = _recompute_formulas(conn, schema, ws.record_types[other], rows,
                                    {d.key for d in deps_}, now)
        if names:
            _spread(conn, schema, g, other, rows, names, None, now, depth + 1)
    by_via: dict[str, list[RollupDep]] = {}  # rollups through one link: one UPDATE
    for dep in g.rollups_over.get(type_name, ()):
        if dep.reads & changed and dep not in skip:
            by_via.setdefault(dep.via, []).append(dep)
    for via, deps in by_via.items():
        if targets is not None and via in targets:
            tids = targets[via]
        else:
            tids = {v for v in conn.execute(sa.select(t.c[via]).where(
                t.c.id.in_(sorted(ids)))).scalars() if v is not None}
        if not tids:
            continue
        _update_rollups(conn, schema, deps, tids, now)
        _spread(conn, schema, g, deps[0].type, set(tids), {d.field for d in deps}, None, now,
                depth + 1)


def _read_further(g: Graph, ws: Workspace, type_name: str, names: set[str]) -> bool:
    """Whether anything reads these fields of a type: its formulas, lookups or formulas
    elsewhere, rollups over it."""
    return any(compiled(f.config["expression"]).names & names
               for f in formula_order(ws.record_types[type_name])) or \
        any(d.source in names for d in g.lookups_of.get(type_name, ())) or \
        any(d.source in names for d in g.paths_of.get(type_name, ())) or \
        any(d.reads & names for d in g.rollups_over.get(type_name, ()))


def _update_where(conn, t: sa.Table, col, ids: set[int], values) -> None:
    wanted = sorted(ids)
    for i in range(0, len(wanted), CHUNK):
        conn.execute(t.update().where(col.in_(wanted[i:i + CHUNK])).values(values))


def _ids_where(conn, t: sa.Table, col, ids: set[int]) -> set[int]:
    wanted = sorted(ids)
    out: set[int] = set()
    for i in range(0, len(wanted), CHUNK):
        out |= set(conn.execute(sa.select(t.c.id).where(col.in_(wanted[i:i + CHUNK])))
                   .scalars())
    return out


def _recompute_formulas(conn, schema, rt: RecordType, ids: set[int],
                        changed: set[str] | None, now: datetime, *, local: bool = False
                        ) -> set[str]:
    """Recompute the formulas of some rows that read `changed` (fields, or `link.field`
    names; None: every formula), and the formulas that read those; write the values that
    differ; returns the names of the formulas that changed somewhere. Only the columns the
    formulas read are read."""
    order = formula_order(rt)
    if changed is not None:
        reach = set(changed)
        picked = []
        for f in order:  # in order: a formula after the formulas it reads
            if compiled(f.config["expression"]).names & reach:
                picked.append(f)
                reach.add(f.name)
        order = picked
    if not order or not ids:
        return set()
    t = schema.table(rt.name)
    names = [f.name for f in order]
    reads = set().union(*(compiled(f.config["expression"]).names for f in order))
    columns = {"id", *names, *(n for n in reads if n in rt.fields)}
    columns |= {link for link, _ in link_paths(rt, reads)}
    runs = [(f, compiled(f.config["expression"]).bind(
        now=now, tz=f.config.get("timezone") or _zone_of(rt))) for f in order]
    out: set[str] = set()
    wanted = sorted(ids)
    for i in range(0, len(wanted), CHUNK):
        rows = [from_db_row(rt, r) for r in conn.execute(
            sa.select(*(t.c[c] for c in sorted(columns))).where(
                t.c.id.in_(wanted[i:i + CHUNK]))).mappings()]
        before = [{n: r.get(n) for n in names} for r in rows]
        if any("." in n for n in reads):
            fill(conn, schema, rt, rows)
        for f, run in runs:
            coerce, name = f.kind.coerce, f.name
            for r in rows:
                try:
                    r[name] = coerce(f, run(r))
                except (ExpressionError, ValueError, ArithmeticError, TypeError):
                    r[name] = None
        writes: dict[tuple[str, ...], list[tuple]] = {}
        for old, r in zip(before, rows, strict=True):
            diff = tuple(n for n in names if old[n] != r.get(n))
            if diff:
                out.update(diff)
                stored = to_db_row(rt, {n: r[n] for n in diff})
                writes.setdefault(diff, []).append((r["id"], *(stored[n] for n in diff)))
        for cols, values in writes.items():
            _write_values(conn, t, cols, values)
    return out


def _write_values(conn, t: sa.Table, cols: tuple[str, ...], values: list[tuple]) -> None:
    """UPDATE many rows, each with its own values, in one statement: UPDATE ... FROM
    (VALUES ...) (a statement a row costs a round trip each on PostgreSQL)."""
    if len(values) == 1 or conn.dialect.name != "postgresql":
        # SQLite runs a statement a row in-process, with no round trip to pay
        stmt = t.update().where(t.c.id == sa.bindparam("w_id")).values(
            {t.c[c]: sa.bindparam(f"v_{c}", type_=t.c[c].type) for c in cols})
        conn.execute(stmt, [{"w_id": v[0], **{f"v_{c}": x for c, x in zip(cols, v[1:],
                                                                          strict=True)}}
                            for v in values])
        return
    given = sa.values(sa.column("w_id", t.c.id.type),
                      *(sa.column(f"v_{c}", t.c[c].type) for c in cols),
                      name="lr_given").data(values)
    conn.execute(t.update().where(t.c.id == given.c.w_id).values(
        {t.c[c]: given.c[f"v_{c}"] for c in cols}))


def _zone_of(rt: RecordType) -> str | None:
    created = rt.fields.get("created_at")
    return created.config.get("timezone") if created is not None else None


def _aggregate(conn, schema, dep: RollupDep, now: datetime):
    """The rollup's value for the row of `dep.type` in the outer query, as a subquery."""
    s, o = schema.table(dep.source), schema.table(dep.type)
    if dep.source == dep.type:
        raise ValueError("a rollup over its own record type is not supported")
    cond = [s.c[dep.via] == o.c.id]
    if dep.filter is not None:
        cond.append(filters.to_sql(dep.filter, schema, filters.FilterContext(
            clock=lambda: now)))
    if dep.aggregate == "count":
        value = sa.func.count()
    else:
        col = s.c[dep.of]
        if dep.aggregate == "avg" and conn.dialect.name == "sqlite":
            # SQLite keeps exact decimals as scaled integers: the average is scaled to the
            # rollup's own scale and rounded, as PostgreSQL's numeric column rounds it
            have = col.type.scale if isinstance(col.type, ExactDecimal) else 0
            want = o.c[dep.field].type
            want = want.scale if isinstance(want, ExactDecimal) else 0
            value = sa.func.round(sa.func.avg(col) * (10 ** (want - have)))
        else:
            value = getattr(sa.func, dep.aggregate)(col)
        if dep.aggregate == "sum":
            value = sa.func.coalesce(value, 0)
    return sa.select(value).where(*cond).scalar_subquery()


def _update_rollup(conn, schema, dep: RollupDep, ids: Iterable[int] | None, now: datetime
                   ) -> None:
    _update_rollups(conn, schema, [dep], ids, now)


def _update_rollups(conn, schema, deps: Sequence[RollupDep], ids: Iterable[int] | None,
                    now: datetime) -> None:
    """Rollups of one type, recomputed on some of its rows (all when `ids` is None)."""
    o = schema.table(deps[0].type)
    values = {o.c[d.field]: _aggregate(conn, schema, d, now) for d in deps}
    if ids is None:
        conn.execute(o.update().values(values))
    else:
        _update_where(conn, o, o.c.id, set(ids), values)


# -- whole columns ----------------------------------------------------------------------------

def refill(conn: sa.Connection, schema, type_name: str, names: Iterable[str],
           now: datetime) -> None:
    """Compute these derived fields (and the formulas across links) of a type on every
    row, then what reads them."""
    g = graph(schema.workspace)
    names = set(names)
    rt = schema.workspace.record_types[type_name]
    t = schema.table(type_name)
    for dep in g.own_lookups.get(type_name, ()):
        if dep.field in names:
            s = schema.table(dep.target)
            conn.execute(t.update().values({t.c[dep.field]: sa.select(s.c[dep.source]).where(
                s.c.id == t.c[dep.through]).scalar_subquery()}))
    for dep in g.rollups:
        if dep.type == type_name and dep.field in names:
            _update_rollup(conn, schema, dep, None, now)
    if any(f.name in names for f in formula_order(rt)):
        all_ids = set(conn.execute(sa.select(t.c.id)).scalars())
        _recompute_formulas(conn, schema, rt, all_ids, None, now)
    if g.read_by_others(type_name):
        all_ids = set(conn.execute(sa.select(t.c.id)).scalars())
        _spread(conn, schema, g, type_name, all_ids, names, None, now, 1)


def computed_across_links(rt: RecordType, f) -> bool:
    """A lookup, rollup or count, or a formula that reads a linked record."""
    if is_derived(f):
        return True
    if expression_of(f) is None:
        return False
    try:
        return bool(link_paths(rt, compiled(expression_of(f)).names))
    except ExpressionError:  # `lowrise check` reports it
        return False


def refill_all(conn: sa.Connection, schema, now: datetime) -> list[str]:
    """Every derived field and formula across links of the workspace, on every row (in
    order of dependence); returns `type.field` of each."""
    g = graph(schema.workspace)
    done: list[str] = []
    for rt in schema.workspace.record_types.values():
        names = {f.name for f in rt.user_fields if computed_across_links(rt, f)}
        if names:
            refill(conn, schema, rt.name, names, now)
            done += [f"{rt.name}.{n}" for n in sorted(names)]
    del g
    return done


def refill_rollups(conn: sa.Connection, schema, now: datetime) -> None:
    """Every rollup and count on every row, and the formulas that read them (a bulk load
    that wrote the rows directly, lookups included)."""
    g = graph(schema.workspace)
    by_type: dict[str, set[str]] = {}
    for dep in g.rollups:
        _update_rollup(conn, schema, dep, None, now)
        by_type.setdefault(dep.type, set()).add(dep.field)
    for type_name, names in by_type.items():
        t = schema.table(type_name)
        ids = set(conn.execute(sa.select(t.c.id)).scalars())
        _recompute_formulas(conn, schema, schema.workspace.record_types[type_name], ids,
                            names, now)


def timed_rollups(ws: Workspace) -> list[RollupDep]:
    """Rollups whose filter depends on the date (this_month, last_7_days...)."""
    return [d for d in graph(ws).rollups if d.timed]


def refresh_periods(conn: sa.Connection, schema, now: datetime) -> int:
    """Recompute every rollup whose filter is relative to the clock, on every row (the
    day turned: `this_month` means another month). Returns how many were recomputed."""
    g = graph(schema.workspace)
    n = 0
    for dep in g.rollups:
        if dep.timed:
            _update_rollup(conn, schema, dep, None, now)
            o = schema.table(dep.type)
            if g.read_by_others(dep.type) or formula_order(schema.workspace.record_types[
                    dep.type]):
                ids = set(conn.execute(sa.select(o.c.id)).scalars())
                _spread(conn, schema, g, dep.type, ids, {dep.field}, None, now, 1)
            n += 1
    return n
