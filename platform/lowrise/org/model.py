"""`org:` in workspace.yaml, read into an Org, and who leads a person.

    org:
      departments: department     # the record type of the departments
      parent: parent              # its link to the department above (the tree)
      head: head                  # its user field: who leads the department
      members: [department]       # the users type's link field(s) to a department

A person is in every department one of their member fields names, and in the departments
they head. `problems` says what is wrong with the declaration, each at its YAML path.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from lowrise import filters
from lowrise.workspace.model import Workspace

#: how many levels of departments a tree may have below one (scopes and chains stop there)
DEPTH = 8
KEYS = ("departments", "parent", "head", "members")


@dataclass(frozen=True)
class Org:
    users: str
    departments: str
    parent: str | None
    head: str | None
    members: tuple[str, ...]

    def fields(self) -> set[tuple[str, str]]:
        """The (type, field) pairs that decide who is in which department: whoever could
        change them could move themselves into a bigger department."""
        out = {(self.users, m) for m in self.members}
        out |= {(self.departments, n) for n in (self.parent, self.head) if n}
        return out


def _parse(ws: Workspace) -> tuple[Org | None, list[tuple[tuple, str]]]:
    raw = ws.config.get("org")
    out: list[tuple[tuple, str]] = []
    if raw is None:
        return None, out
    if not isinstance(raw, Mapping):
        return None, [(("org",), "org takes {departments: <record type>, parent: <link "
                       "field>, head: <user field>, members: [<link fields of the people>]}")]
    for key in raw:
        if key not in KEYS:
            out.append((("org", key), f"unknown setting '{key}'; org has "
                        f"{', '.join(KEYS)}{filters.did_you_mean(str(key), KEYS)}"))
    users = ws.record_types.get(ws.users_type or "")
    if users is None:
        return None, [*out, (("org",), "org needs `users:` (the record type of the people)")]
    name = raw.get("departments")
    dept = ws.record_types.get(name) if isinstance(name, str) else None
    if dept is None:
        out.append((("org", "departments"), f"'{name}' is not a record type"
                    f"{filters.did_you_mean(str(name), ws.record_types)}"))
        return None, out
    parent, head = raw.get("parent"), raw.get("head")
    if parent is not None:
        f = dept.fields.get(parent) if isinstance(parent, str) else None
        if f is None or not f.kind.links or filters.link_target(f, ws) != dept.name:
            out.append((("org", "parent"), f"'{parent}' is not a field of {dept.name} that "
                        f"links to {dept.name} (the department above)"
                        f"{filters.did_you_mean(str(parent), dept.fields)}"))
            parent = None
    if head is not None:
        f = dept.fields.get(head) if isinstance(head, str) else None
        if f is None or not f.kind.links or \
                filters.link_target(f, ws) != users.name:
            out.append((("org", "head"), f"'{head}' is not a field of {dept.name} that names "
                        f"a person of {users.name} (the head)"
                        f"{filters.did_you_mean(str(head), dept.fields)}"))
            head = None
    raw_members = raw.get("members")
    items = [raw_members] if isinstance(raw_members, str) else raw_members
    members: list[str] = []
    if not isinstance(items, list) or not items:
        out.append((("org", "members"), f"members lists the link fields of {users.name} "
                    f"that name a person's department (like [department])"))
        items = []
    for i, m in enumerate(items):
        f = users.fields.get(m) if isinstance(m, str) else None
        if f is None or not f.kind.links or filters.link_target(f, ws) != dept.name:
            out.append((("org", "members", i) if isinstance(raw_members, list)
                        else ("org", "members"),
                        f"'{m}' is not a field of {users.name} that links to {dept.name}"
                        f"{filters.did_you_mean(str(m), users.fields)}"))
            continue
        members.append(m)
    if not members:
        return None, out
    return Org(users.name, dept.name, parent, head, tuple(members)), out


def problems(ws: Workspace) -> Iterator[tuple[tuple, str]]:
    """Every problem of `org:`, as (path in workspace.yaml, message)."""
    yield from _parse(ws)[1]


_CACHE: dict[int, tuple[weakref.ref, Org | None]] = {}


def org_of(ws: Workspace) -> Org | None:
    """The workspace's Org (None: it declares none, or none that makes sense)."""
    hit = _CACHE.get(id(ws))
    if hit is not None and hit[0]() is ws:
        return hit[1]
    org = _parse(ws)[0]
    _CACHE[id(ws)] = (weakref.ref(ws), org)
    if len(_CACHE) > 64:
        for key in [k for k, (ref, _) in _CACHE.items() if ref() is None]:
            del _CACHE[key]
    return org


# -- who leads whom (for approvals and rules) --------------------------------------------------

@dataclass(frozen=True)
class Level:
    """One step up the tree: a department and its head (None: it has none)."""

    department: int
    head: int | None


def departments_of(conn: sa.Connection, schema, ws: Workspace, person: int) -> list[int]:
    """The departments a person is a member of (by their member fields), in field order;
    not the ones they only head."""
    org = _need(ws)
    u = schema.table(org.users)
    row = conn.execute(sa.select(*(u.c[m] for m in org.members))
                       .where(u.c.id == person)).first()
    out: list[int] = []
    for value in row or ():
        if value is not None and value not in out:
            out.append(int(value))
    return out


def chain(conn: sa.Connection, schema, ws: Workspace, person: int,
          levels: int | None = None) -> list[list[Level]]:
    """For each department the person is a member of (or, a member of none, each one they
    head): that department and those above it, bottom up, with their heads (at most `levels`
    of them, and DEPTH+1 at most). A department the person heads themselves is left out:
    their approver is above them."""
    org = _need(ws)
    d = schema.table(org.departments)
    cols = [d.c.id, d.c[org.parent] if org.parent else sa.null(),
            d.c[org.head] if org.head else sa.null()]
    starts = departments_of(conn, schema, ws, person)
    if not starts and org.head:
        starts = [int(i) for i in conn.execute(sa.select(d.c.id).where(
            d.c[org.head] == person).order_by(d.c.id)).scalars()]
    out = []
    for start in starts:
        seen: set[int] = set()
        steps: list[Level] = []
        here: int | None = start
        while here is not None and here not in seen and len(seen) <= DEPTH:
            seen.add(here)
            row = conn.execute(sa.select(*cols).where(d.c.id == here)).first()
            if row is None:
                break
            head = None if row[2] is None else int(row[2])
            if head != person:
                steps.append(Level(int(row[0]), head))
            here = None if row[1] is None else int(row[1])
        out.append(steps[:levels] if levels is not None else steps)
    return out


def heads_of(conn: sa.Connection, schema, ws: Workspace, person: int) -> list[int]:
    """A person's department heads: for each of their departments, the nearest head up the
    tree who is not the person themselves (a head's head is the one above). No duplicates."""
    out: list[int] = []
    for steps in chain(conn, schema, ws, person):
        for level in steps:
            if level.head is not None:
                if level.head not in out:
                    out.append(level.head)
                break
    return out


def _need(ws: Workspace) -> Org:
    org = org_of(ws)
    if org is None:
        raise LookupError("the workspace declares no org chart (org: in workspace.yaml)")
    return org
