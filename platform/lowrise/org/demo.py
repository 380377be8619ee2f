"""The demo's departments (`demo: org:` in workspace.yaml, docs/org.md): `lowrise seed`
makes them by name, places each person in the first department whose `people` match their
field values, and gives each department a head. Deterministic: the order of the records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.storage.records import Records

from .model import Org, org_of


def declared(ws) -> list[Mapping[str, Any]] | None:
    """The demo's departments, when the workspace has an org chart and declares them."""
    demo = ws.config.get("demo") or {}
    items = demo.get("org") if isinstance(demo, Mapping) else None
    return list(items) if org_of(ws) is not None and isinstance(items, list) else None


def _matches(person: Mapping[str, Any], rule: Any) -> bool:
    if not isinstance(rule, Mapping):
        return False
    for name, want in rule.items():
        wanted = want if isinstance(want, list) else [want]
        if person.get(name) not in wanted:
            return False
    return True


def make_departments(records: Records, actor: Actor) -> list[int]:
    """Create the declared departments (parents by name); their ids, in order."""
    ws = records.schema.workspace
    org: Org = org_of(ws)
    items = declared(ws) or []
    title = ws.type(org.departments).title_field
    made = records.bulk_create(org.departments, [{title: i["name"]} for i in items], actor)
    ids = {i["name"]: m["id"] for i, m in zip(items, made, strict=True)}
    if org.parent:
        updates = [(ids[i["name"]], {org.parent: ids[i["parent"]]})
                   for i in items if i.get("parent") in ids]
        if updates:
            records.bulk_update(org.departments, updates, actor)
    return [m["id"] for m in made]


def place_people(records: Records, actor: Actor, departments: list[int]) -> None:
    """Each person in the first matching department; each department's head."""
    ws = records.schema.workspace
    org: Org = org_of(ws)
    items = declared(ws) or []
    u = records.schema.table(org.users)
    with records.engine.connect() as c:
        people = [dict(r._mapping) for r in c.execute(sa.select(u).order_by(u.c.id))]
    member = org.members[0]
    where: dict[int, int] = {}
    for p in people:
        for item, dept in zip(items, departments, strict=True):
            if "people" in item and _matches(p, item["people"]):
                where[p["id"]] = dept
                break
    if where:
        records.bulk_update(org.users, [(pid, {member: d}) for pid, d in where.items()], actor)
    if not org.head:
        return
    heads: dict[int, int] = {}
    taken: set[int] = set()
    # departments with people first: their heads come from among them
    order = sorted(zip(items, departments, strict=True), key=lambda x: "people" not in x[0])
    for item, dept in order:
        rule = item.get("head")
        if rule is None:
            continue
        fits = [p["id"] for p in people if _matches(p, rule) and p["id"] not in taken]
        inside = [pid for pid in fits if where.get(pid) == dept]
        choice = (inside or fits or [None])[0]
        if choice is not None:
            heads[dept] = choice
            taken.add(choice)
    if heads:
        records.bulk_update(org.departments, [(d, {org.head: h}) for d, h in heads.items()],
                            actor)


def set_managers(records: Records, actor: Actor, field: str | None) -> None:
    """Each person's manager (`field`, the users type's link to itself) as the org chart
    says: the head of their department; a head's, the head of the department above; the
    head at the top and people in no department report to nobody."""
    ws = records.schema.workspace
    org: Org = org_of(ws)
    users = ws.record_types[org.users]
    if not field or field not in users.fields or not org.head or \
            users.fields[field].target != org.users:
        return
    d, u = records.schema.table(org.departments), records.schema.table(org.users)
    member = org.members[0]
    with records.engine.connect() as c:
        depts = {r.id: (r.parent, r.head) for r in c.execute(sa.select(
            d.c.id, (d.c[org.parent] if org.parent else sa.null()).label("parent"),
            d.c[org.head].label("head")).order_by(d.c.id))}
        people = list(c.execute(sa.select(u.c.id, u.c[member].label("dept"), u.c[field]
                                          .label("manager")).order_by(u.c.id)))

    def lead(dept: int | None, skip: int) -> int | None:
        seen: set[int] = set()
        while dept is not None and dept in depts and dept not in seen:
            seen.add(dept)
            parent, head = depts[dept]
            if head is not None and head != skip:
                return head
            dept = parent
        return None

    headed: dict[int, int] = {}
    for dept, (parent, head) in depts.items():
        # someone heading two departments reports from the higher one
        if head is not None and (head not in headed or depts[headed[head]][0] is not None
                                 and parent is None):
            headed[head] = dept
    updates = []
    for p in people:
        start = depts[headed[p.id]][0] if p.id in headed else p.dept
        boss = lead(start, p.id)
        if boss != p.manager:
            updates.append((p.id, {field: boss}))
    if updates:
        records.bulk_update(org.users, updates, actor)
