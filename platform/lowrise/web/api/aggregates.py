"""GET /api/v1/<type>/aggregate: counts, sums, averages, minima and maxima per group.

`group_by` names fields, date buckets (`created_at:month`) or a field of a linked record
(`client.source`, one link deep); `measures` are `count`, `sum:field`, `avg:field`,
`min:field`, `max:field`. The filter language, quick search and permissions are the list's:
every figure comes from the rows the caller may read (lowrise.dashboards.paths, as the
dashboards' figures), and a field the caller sees masked or not at all can be neither
grouped nor measured (the totals would tell what the mask hides).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import g, request

from lowrise import filters
from lowrise.access import Policy
from lowrise.dashboards import paths
from lowrise.errors import FilterError

from ..runtime import rt
from . import bp
from .records import _json, _names, _only, _type, loads

#: the most groups one answer holds; more asks for a filter or fewer groups
MAX_GROUPS = 10_000
AGGREGATE_PARAMS = ("group_by", "measures", "filter", "q")


def _plain(value: Any) -> Any:
    """A figure or a group's value as JSON: money and averages exact, as text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


@bp.get("/<type_name>/aggregate")
def aggregate(type_name: str):
    rtype = _type(type_name)
    _only(*AGGREGATE_PARAMS)
    run = rt()
    ws = run.workspace
    group_by = _names("group_by")
    measures = _names("measures") or ["count"]
    if len(group_by) > 3:
        raise FilterError("group_by takes at most 3 groups")
    flt = None
    if request.args.get("filter"):
        try:
            data = loads(request.args["filter"], "the filter")
        except ValueError as exc:
            raise FilterError(str(exc)) from None
        flt = filters.parse(data, rtype, ws)
    pol = Policy.for_actor(g.actor, ws)
    pol.require("read", type_name)
    for spec in group_by:
        name = spec.partition(":")[0]
        link, _, rest = name.partition(".")
        if link not in rtype.fields:
            raise FilterError(f"cannot group by '{spec}': {rtype.label} has no field "
                              f"'{link}'{filters.did_you_mean(link, rtype.fields)}")
        if rest:
            f = rtype.fields[link]
            target = filters.link_target(f, ws)
            if target is None or "." in rest or rest not in ws.type(target).fields:
                raise FilterError(f"cannot group by '{spec}': only one link deep, to a field "
                                  "of the linked record type")
            if not pol.bypass:
                pol.require("read", target)
                pol.check_names(type_name, [link], "group by")
                pol.check_names(target, [rest], "group by")
    q = request.args.get("q") or None
    with run.engine.connect() as conn:
        if q:
            rows = _with_search(conn, run.schema, type_name, group_by, measures, flt, q)
        else:
            rows = paths.aggregate(conn, run.schema, type_name, group_by=group_by,
                                   measures=measures, filter=flt, ctx=g.actor)
    if len(rows) > MAX_GROUPS:
        raise FilterError(f"more than {MAX_GROUPS:,} groups: filter the records or group by "
                          "fewer fields")
    data = [{spec: _plain(row.get(spec)) for spec in (*group_by, *measures)} for row in rows]
    return _json({"group_by": group_by, "measures": measures, "data": data})


def _with_search(conn, schema, type_name, group_by, measures, flt, q):
    """Quick search narrows the rows as in lists (fields of this type only)."""
    from lowrise.storage import query

    if any(paths.is_path(s) for s in group_by):
        raise FilterError("q cannot be combined with a group through a link; use filter")
    if not group_by and all(m == "count" for m in measures):
        return [{"count": query.count(conn, schema, type_name, flt, g.actor, q=q)}]
    return query.aggregate(conn, schema, type_name, group_by=group_by, measures=measures,
                           filter=flt, ctx=g.actor, q=q)
