"""Reading and writing for a batch of rule runs at once (the worker's due timers): the records
the runs start from and those their paths reach, read in one query per type and step; and the
rows they log and notify, written in one statement per table."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from lowrise import filters
from lowrise.storage.records import Records
from lowrise.storage.values import from_db_row

from . import conditions as conds
from .model import Notify, Rule, TimeTrigger

CHUNK = 500  # ids in one IN list
Shared = dict[tuple[str, int], dict[str, Any] | None]


def _filter_paths(node: filters.Node | None) -> set[tuple[str, ...]]:
    if node is None:
        return set()
    if isinstance(node, filters.Condition):
        return {node.path} if len(node.path) > 1 else set()
    if isinstance(node, filters.Not):
        return _filter_paths(node.item)
    return set().union(*(_filter_paths(x) for x in node.items)) if node.items else set()


def _condition_paths(cond: conds.Condition | None) -> set[tuple[str, ...]]:
    match cond:
        case conds.FilterTest(node=n):
            return _filter_paths(n)
        case conds.AllOf(items=items) | conds.AnyOf(items=items):
            return set().union(*(_condition_paths(x) for x in items)) if items else set()
        case conds.NotOf(item=x):
            return _condition_paths(x)
    return set()


def link_paths(rule: Rule) -> set[tuple[str, ...]]:
    """Paths through links a run of the rule reads (`consultant.manager`, `unit.status`): its
    conditions, `unless:`, recipients and expressions. The last step is a field of the last
    linked record, so a path reads the records of every step but the last."""
    out = _condition_paths(rule.conditions)
    if isinstance(rule.trigger, TimeTrigger):
        out |= _filter_paths(rule.trigger.unless)
    for action in rule.actions:
        out |= _condition_paths(action.when)
        spec = action.spec
        if isinstance(spec, Notify):
            out |= {tuple(p.split(".")) for p in spec.to.paths if "." in p}
        for v in (getattr(spec, "values", None) or {}).values():
            out |= set(v.paths.values())
    return out


def load(conn: sa.Connection, records: Records, shared: Shared, type_name: str,
         ids: Iterable[int], *, lock: bool = False) -> None:
    """Read the records of `type_name` with these ids that `shared` lacks (None: no such
    record), in one query per CHUNK ids; `lock`: on PostgreSQL, locked for update in the
    order of their ids (every worker locks in that order)."""
    missing = sorted({i for i in ids if isinstance(i, int) and (type_name, i) not in shared})
    if not missing:
        return
    rt = records.schema.workspace.record_types[type_name]
    t = records.schema.table(type_name)
    for start in range(0, len(missing), CHUNK):
        part = missing[start:start + CHUNK]
        stmt = sa.select(t).where(t.c.id.in_(part)).order_by(t.c.id)
        if lock and conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=t)
        for row in conn.execute(stmt).mappings():
            shared[(type_name, row["id"])] = from_db_row(rt, row)
        for i in part:
            shared.setdefault((type_name, i), None)


def prefetch(conn: sa.Connection, records: Records, shared: Shared,
             runs: Iterable[tuple[str, int, Rule]]) -> None:
    """Read the records of these runs (type, id, rule), then, step by step, the records their
    rules' paths go through: one query per type and step, whatever the number of runs."""
    ws = records.schema.workspace
    by_type: dict[str, set[int]] = defaultdict(set)
    paths: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for type_name, rid, rule in runs:
        by_type[type_name].add(rid)
        paths[type_name] |= link_paths(rule)
    for type_name in sorted(by_type):  # the runs' own records: locked, as they will change
        load(conn, records, shared, type_name, by_type[type_name], lock=True)
    for type_name, ids in by_type.items():
        for path in sorted(paths[type_name]):
            rt, level = ws.record_types[type_name], [shared.get((type_name, i)) for i in ids]
            for part in path[:-1]:
                f = rt.fields.get(part)
                target = filters.link_target(f, ws) if f is not None else None
                if target is None:
                    break
                step = {r[part] for r in level if r and isinstance(r.get(part), int)}
                load(conn, records, shared, target, step)
                rt, level = ws.record_types[target], [shared.get((target, i)) for i in step]


def flush(conn: sa.Connection, deferred: list[tuple[sa.Table, list[dict[str, Any]]]]) -> None:
    """Insert deferred rows: one statement per table (and set of columns), in order."""
    groups: dict[tuple[str, tuple[str, ...]], tuple[sa.Table, list[dict[str, Any]]]] = {}
    for table, rows in deferred:
        for row in rows:
            key = (table.name, tuple(row))
            groups.setdefault(key, (table, []))[1].append(row)
    for table, rows in groups.values():
        conn.execute(table.insert(), rows)
