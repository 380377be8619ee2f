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
