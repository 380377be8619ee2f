"""Grouping through a link (`client.source`, `unit.layout`): sales by the client's source
channel when the source is a field of the client, not of the case.

`query.aggregate` groups by a record type's own fields. A path is grouped in two steps,
both through the query layer with the Actor: aggregate by the link field (one row per
linked record), read the linked records' field (a thousand ids a query, through
list_records, so the actor's scope applies to the linked records too), then add the rows
up per value. Averages are added up as sums over counts of non-empty values.
"""

from __future__ import annotations

import typing as t
from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa

from lowrise import filters
from lowrise.actor import Actor
from lowrise.errors import FilterError
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
