"""Who an approver spec names, on one record: a person, a role, the requester's managers.

`manager_of` is the one place a person's manager is found: their 直属上级 (the users type's link
named by workspace.yaml's `teams: manager:`) when it is filled, else their 部门负责人 (the head of
their department in the org chart, lowrise.org). Going up a level asks the same of that manager.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lowrise import org
from lowrise.errors import NotFound
from lowrise.storage.records import Records

from .model import Approver


@dataclass(frozen=True)
class Who:
    """One task's approver: a person (users-type record id) or anyone with a role."""

    person: int | None = None
    role: str | None = None


def _get(records: Records, conn: sa.Connection, type_name: str, rid: int
         ) -> dict[str, Any] | None:
    try:
        return records.get(type_name, rid, conn=conn)
    except NotFound:
        return None


def manager_of(records: Records, conn: sa.Connection, person: int | None) -> int | None:
    """The person's manager: their own manager link (直属上级) when it names someone, else
    the head of their (first) department, or of the one above where they head it themselves
    (部门负责人); None when neither names anyone."""
    ws = records.schema.workspace
    if person is None or not ws.users_type:
        return None
    field = (ws.config.get("teams") or {}).get("manager")
    if field:
        row = _get(records, conn, ws.users_type, person)
        value = row.get(field) if row else None
        if isinstance(value, int) and value != person:
            return value
    if org.org_of(ws) is None:
        return None
    heads = org.heads_of(conn, records.schema, ws, person)
    return heads[0] if heads else None


def managers_of(records: Records, conn: sa.Connection, person: int | None, level: int
                ) -> int | None:
    """The manager `level` steps above `person` (1: their own manager), or None."""
    seen = {person}
    for _ in range(level):
        person = manager_of(records, conn, person)
        if person is None or person in seen:  # the chain ends, or loops
            return None
        seen.add(person)
    return person


def field_person(records: Records, conn: sa.Connection, type_name: str,
                 record: Mapping[str, Any], path: str) -> int | None:
    """The person a (dotted) user field or link path of the record names."""
    ws = records.schema.workspace
    rt = ws.type(type_name)
    row: Mapping[str, Any] | None = record
    *hops, last = path.split(".")
    for hop in hops:
        f = rt.fields[hop]
        value = row.get(hop) if row else None
        if not isinstance(value, int) or not f.target:
            return None
        rt = ws.type(f.target)
        row = _get(records, conn, rt.name, value)
    value = row.get(last) if row else None
    return value if isinstance(value, int) else None


def person_named(records: Records, conn: sa.Connection, name: str) -> int | None:
    """The users-type record whose title or e-mail is `name`."""
    ws = records.schema.workspace
    if not ws.users_type:
        return None
    rt = ws.type(ws.users_type)
    t = records.schema.tables[rt.name]
    cols = [c for c in (rt.title_field, "email") if c and c in t.c]
    if not cols:
        return None
    row = conn.execute(sa.select(t.c.id).where(sa.or_(*(t.c[c] == name for c in cols)))
                       .order_by(t.c.id).limit(1)).first()
    return row[0] if row else None


def admin_role(records: Records) -> str | None:
    """The workspace's administrator role: whoever is left to decide when nobody else is."""
    for role in records.schema.workspace.roles.values():
        if role.config.get("admin"):
            return role.name
    return None


def resolve(records: Records, conn: sa.Connection, type_name: str, record: Mapping[str, Any],
            spec: Approver, requester: int | None) -> Who | None:
    """Who `spec` names for this record, never the requester: a requester named is replaced
    by their manager (or the administrators), as nobody approves their own request."""
    if spec.kind == "role":
        return Who(role=spec.value)
    if spec.kind == "manager":
        person = managers_of(records, conn, requester, int(spec.value))
    elif spec.kind == "field":
        person = field_person(records, conn, type_name, record, spec.value)
    else:
        person = person_named(records, conn, str(spec.value))
    if person is not None and person == requester:
        person = manager_of(records, conn, requester)
        if person is None:
            role = admin_role(records)
            return Who(role=role) if role else None
    return Who(person=person) if person is not None else None
