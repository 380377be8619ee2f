"""Grouping through a link (`client.source`, `unit.layout`): sales by the client's source
channel when the source is a field of the client, not of the case.

`query.aggregate` groups by a record type's own fields. For a person who sees every row
(an admin, the system, a workspace without permissions) a path is one query with the linked
type LEFT JOINed, its WHERE from `query.where_clause`. For anyone with a row scope it is
grouped in two steps, both through the query layer with their Actor, so that the linked
records outside their scope stay unseen: aggregate by the link field (one row per linked
record), read the linked records' field (a thousand ids a query, through list_records),
then add the rows up per value. Averages are added up as sums over counts of non-empty
values. The two steps cost a row of Python per linked record: a widget grouping a month of
a million cases by client reads thousands. (Grouping through a link belongs in
query.aggregate, with the linked type's row scope in the join; until then, this.)
"""

from __future__ import annotations

import typing as t
from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa

from lowrise import access, filters
from lowrise.actor import Actor
from lowrise.errors import FilterError
from lowrise.fields.types import ExactDecimal
from lowrise.storage import query
from lowrise.storage.tables import Schema

from .format import records_by_id


def is_path(spec: str) -> bool:
    return "." in spec.partition(":")[0]


def aggregate(conn: sa.Connection, schema: Schema, type_name: str, *, group_by: Sequence[str],
              measures: Sequence[str], filter: t.Any, ctx: Actor | None
              ) -> list[dict[str, t.Any]]:
    """query.aggregate, where a group may also be `link.field` (one hop)."""
    if not group_by and all(m == "count" for m in measures):
        # query.aggregate selects no column in this case, and some databases then count 1.
        return [{"count": query.count(conn, schema, type_name, filter, ctx)}]
    if not any(is_path(g) for g in group_by):
        return query.aggregate(conn, schema, type_name, group_by=group_by, measures=measures,
                               filter=filter, ctx=ctx)
    if access.policy(schema.workspace, ctx) is None:
        joined = _joined(conn, schema, type_name, group_by, measures, filter, ctx)
        if joined is not None:
            return joined
    return _in_two_steps(conn, schema, type_name, group_by, measures, filter, ctx)


def _in_two_steps(conn: sa.Connection, schema: Schema, type_name: str, group_by: Sequence[str],
                  measures: Sequence[str], filter: t.Any, ctx: Actor | None
                  ) -> list[dict[str, t.Any]]:
    """Aggregate by the link field, read the linked records (those the actor may see), add
    up per value."""
    ws = schema.workspace
    rt = ws.type(type_name)
    links = [g.split(".", 1)[0] if is_path(g) else g for g in group_by]
    base = list(dict.fromkeys(links))
    wanted = list(dict.fromkeys(
        s for m in measures for s in ([f"sum:{m[4:]}"] if m.startswith("avg:") else [m])))
    rows = query.aggregate(conn, schema, type_name, group_by=base, measures=wanted,
                           filter=filter, ctx=ctx)
    filled: dict[str, dict[tuple, int]] = {}
    for m in measures:
        if m.startswith("avg:"):
            name = m[4:]
            extra = {"field": name, "op": "is_not_empty"}
            flt = {"all": [filter, extra]} if filter else extra
            got = query.aggregate(conn, schema, type_name, group_by=base, measures=["count"],
                                  filter=flt, ctx=ctx)
            filled[name] = {tuple(r[g] for g in base): r["count"] for r in got}
    values = {}
    for g in group_by:
        if is_path(g):
            link, field = g.split(".", 1)
            f = rt.fields.get(link)
            target = filters.link_target(f, ws) if f is not None else None
            if target is None or "." in field or field not in ws.type(target).fields:
                raise FilterError(f"cannot group by '{g}': only one link deep, to a field of "
                                  "the linked record type")
            ids = {r[link] for r in rows if r[link] is not None}
            values[g] = _read(conn, schema, target, ids, field, ctx)
    sums: dict[tuple, dict[str, t.Any]] = {}
    for r in rows:
        key = tuple(values[g].get(r[link]) if is_path(g) else r[g]
                    for g, link in zip(group_by, links, strict=True))
        slot = sums.setdefault(key, {})
        for m in wanted:
            slot[m] = _add(m, slot.get(m), r[m])
        for name, counts in filled.items():
            n = counts.get(tuple(r[g] for g in base), 0)
            slot[f"filled:{name}"] = slot.get(f"filled:{name}", 0) + n
    out = []
    for key, slot in sums.items():
        item: dict[str, t.Any] = dict(zip(group_by, key, strict=True))
        for m in measures:
            if m.startswith("avg:"):
                n = slot.get(f"filled:{m[4:]}", 0)
                total = slot.get(f"sum:{m[4:]}")
                item[m] = None if not n or total is None else Decimal(total) / n
            else:
                item[m] = slot.get(m)
        out.append(item)
    return out


def _joined(conn: sa.Connection, schema: Schema, type_name: str, group_by: Sequence[str],
            measures: Sequence[str], filter: t.Any, ctx: Actor | None
            ) -> list[dict[str, t.Any]] | None:
    """One query, the linked type LEFT JOINed, for someone who sees every row (no row scope
    to respect on the linked records); None where it does not apply (a bucket, a link to
    the same type, a path deeper than one link)."""
    ws = schema.workspace
    rt, table = ws.type(type_name), schema.table(type_name)
    groups, joins = [], {}
    for g in group_by:
        name, _, bucket = g.partition(":")
        if bucket:
            return None
        link, _, field = name.partition(".")
        if not field:
            groups.append((g, rt.fields[name], table.c[name]))
            continue
        target = filters.link_target(rt.fields[link], ws)
        if target in (None, type_name) or "." in field or field not in ws.type(target).fields:
            return None
        joined = joins.setdefault(link, schema.table(target).alias(f"j_{link}"))
        groups.append((g, ws.type(target).fields[field], joined.c[field]))
    source: sa.FromClause = table
    for link, joined in joins.items():
        source = source.outerjoin(joined, table.c[link] == joined.c.id)
    cols = [expr.label(f"g{i}") for i, (_, _, expr) in enumerate(groups)]
    cols.append(sa.func.count().label("n"))
    for m in dict.fromkeys(m for m in measures if ":" in m):
        fn, _, name = m.partition(":")
        c = table.c[name]
        if fn == "avg":
            cols += [sa.func.sum(c, type_=c.type).label(f"sum_{name}"),
                     sa.func.count(c).label(f"count_{name}")]
        elif fn != "sum" or f"avg:{name}" not in measures:
            cols.append(getattr(sa.func, fn)(c, type_=c.type).label(f"{fn}_{name}"))
    where = query.where_clause(schema, type_name, filter, ctx)
    stmt = sa.select(*cols).select_from(source).where(where).group_by(
        *(expr for _, _, expr in groups))
    out = []
    for row in conn.execute(stmt).mappings():
        item: dict[str, t.Any] = {g: f.kind.from_db(f, row[f"g{i}"])
                                  for i, (g, f, _) in enumerate(groups)}
        for m in measures:
            fn, _, name = m.partition(":")
            if fn == "count":
                item[m] = int(row["n"])
            elif fn == "avg":
                n = int(row[f"count_{name}"] or 0)
                item[m] = Decimal(row[f"sum_{name}"]) / n if n else None
            elif fn == "sum":
                item[m] = _total(rt.fields[name], row[f"sum_{name}"])
            else:
                item[m] = row[f"{fn}_{name}"]
        out.append(item)
    return out


def _total(f, total: t.Any) -> t.Any:
    """A sum as query.aggregate gives it: exact decimals, whole numbers as int, zero for none."""
    column = f.kind.column_type(f)
    if isinstance(column, ExactDecimal):
        return Decimal(0).scaleb(-column.scale) if total is None else total
    return 0 if total is None else int(total)


def _read(conn: sa.Connection, schema: Schema, target: str, ids: set, field: str,
          ctx: Actor | None) -> dict:
    """{id: value of `field`} of the linked records the actor may see."""
    return {rid: rec.get(field)
            for rid, rec in records_by_id(conn, schema, target, ids, [field], ctx).items()}


def _add(spec: str, a: t.Any, b: t.Any) -> t.Any:
    if a is None:
        return b
    if b is None:
        return a
    fn = spec.partition(":")[0]
    if fn == "min":
        return min(a, b)
    if fn == "max":
        return max(a, b)
    return a + b
