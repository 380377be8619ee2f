"""The permissions of a workspace as typed data: what each role may do to each record type,
which rows it sees, and how each field shows to it.

Written in workspace.yaml under `roles.<role>.permissions` (see docs/permissions.md):

    roles:
      consultant:
        permissions:
          client:
            can: [read, create, update]
            rows: own                   # all | own | team | {filter: ...} | {linked_from: [...]}
            fields:
              id_number: {access: masked, unless: own}
          "*": {can: [read]}            # every type not listed
      admin: {admin: true}

`parse` turns that into an AccessModel once per workspace; `problems` says what is wrong
with it, each problem at its YAML path (the loader's cross-checks report them).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lowrise import filters
from lowrise.errors import LowriseError
from lowrise.fields import registry
from lowrise.org import org_of
from lowrise.workspace.model import RecordType, Workspace

ACTIONS = ("read", "create", "update", "delete", "export", "manage", "reveal")
#: how a confidential field goes into a role's exports: as the role reads it, masked, or not
EXPORTS = ("full", "masked", "none")
#: how a field shows, from most to least: the rank of each
ACCESS_RANK = {"visible": 0, "read_only": 1, "masked": 2, "hidden": 3}
SCOPE_WORDS = ("all", "own", "team", "department", "department_and_below", "none")
#: scopes by the org chart (lowrise.org): my departments, and with every one below them
DEPARTMENT_SCOPES = ("department", "department_and_below")

ScopeKind = Literal["all", "own", "team", "department", "department_and_below", "none",
                    "filter", "linked_from"]


class PermissionProblem(LowriseError):
    """The permissions in workspace.yaml do not make sense; `path` points at the value."""

    def __init__(self, path: tuple, message: str):
        self.path = path
        super().__init__(message)


@dataclass(frozen=True)
class Mask:
    """Keep the first `keep_start` and last `keep_end` characters; the rest become `char`:
    13812345678 → 138****5678, an 18-character ID number → 110***********1234."""

    keep_start: int = 3
    keep_end: int = 4
    char: str = "*"

    def apply(self, text: str) -> str:
        n = len(text)
        if n <= self.keep_start + self.keep_end:
            # too short to keep anything without giving most of it away
            return self.char * max(n, 4)
        return text[:self.keep_start] + self.char * (n - self.keep_start - self.keep_end) + \
            text[n - self.keep_end:]


@dataclass(frozen=True)
class Scope:
    """A set of rows: all, none, own / team (by user fields), a filter, or the rows that
    records of other types (as the actor sees them) link to."""

    kind: ScopeKind
    #: own / team / department: the user fields that make a row someone's (empty:
    #: created_by and every user field the type declares); department scopes also take
    #: links to the departments type
    fields: tuple[str, ...] = ()
    #: filter: the parsed tree
    node: Any = None
    #: linked_from: (record type, link field) pairs
    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FieldRule:
    """How one field shows to a role: read_only, masked or hidden, except on the rows of
    `unless` (where it is plainly visible)."""

    access: str
    mask: Mask | None = None
    unless: tuple[Scope, ...] = ()


@dataclass(frozen=True)
class TypeGrant:
    """What one role may do with one record type."""

    actions: frozenset[str]
    rows: tuple[Scope, ...] = (Scope("all"),)
    #: the rows it may update and delete (None: the rows it reads)
    write_rows: tuple[Scope, ...] | None = None
    fields: Mapping[str, FieldRule] = field(default_factory=dict)
    #: fields named `visible` outright: writable even where they decide row scopes
    writable: frozenset[str] = frozenset()
    #: {field: full | masked | none}: how a confidential field goes into this role's exports
    exports: Mapping[str, str] = field(default_factory=dict)
    #: fields whose reveal needs a reason from this role
    reveal_reasons: frozenset[str] = frozenset()


NO_GRANT = TypeGrant(frozenset(), (Scope("none"),))


@dataclass(frozen=True)
class RoleAccess:
    name: str
    admin: bool
    types: Mapping[str, TypeGrant]
    #: reads the log of reveals and exports across records (`audit: true`)
    audit: bool = False

    def grant(self, type_name: str) -> TypeGrant:
        return self.types.get(type_name, NO_GRANT)


@dataclass(frozen=True)
class Teams:
    """How a person's team is found in the users type: everyone below them through the
    `manager` link, and everyone sharing their value of `field`."""

    manager: str | None = None
    field: str | None = None


@dataclass(frozen=True)
class AccessModel:
    """Every role's grants. `enforced` is false when no role declares any permission: such
    a workspace is open to every signed-in person (templates start that way)."""

    workspace: Workspace
    enforced: bool
    roles: Mapping[str, RoleAccess]
    teams: Teams = Teams()
    #: (type, field) pairs whose values decide which rows of *other* records some role
    #: reads: read-only to every role whose grant does not name them `visible`
    scope_fields: frozenset[tuple[str, str]] = frozenset()


# -- parsing ---------------------------------------------------------------------------------

class _Parser:
    def __init__(self, ws: Workspace):
        self.ws = ws
        self.problems: list[tuple[tuple, str]] = []

    def fail(self, path: tuple, message: str) -> None:
        self.problems.append((path, message))

    def teams(self) -> Teams:
        raw = self.ws.config.get("teams")
        if raw is None:
            return Teams()
        users = self.ws.record_types.get(self.ws.users_type or "")
        if not isinstance(raw, Mapping):
            self.fail(("teams",), "teams takes {manager: <link field>, field: <field>}")
            return Teams()
        if users is None:
            self.fail(("teams",), "teams needs `users:` (the record type of the people)")
            return Teams()
        manager, by = raw.get("manager"), raw.get("field")
        if manager is not None:
            f = users.fields.get(manager)
            if f is None or not f.kind.links or \
                    filters.link_target(f, self.ws) != users.name:
                self.fail(("teams", "manager"), f"'{manager}' is not a field of {users.name} "
                          f"that links to {users.name} (a person's manager)")
                manager = None
        if by is not None:
            f = users.fields.get(by)
            if f is None or f.system or not f.kind.indexable:
                self.fail(("teams", "field"), f"'{by}' is not a field of {users.name} that "
                          "names a team (a select, text or link field)")
                by = None
        return Teams(manager, by)

    def role(self, name: str, path: tuple) -> RoleAccess:
        role = self.ws.roles[name]
        admin = role.config.get("admin") is True
        types: dict[str, TypeGrant] = {}
        raw = role.permissions
        star = raw.get("*")
        for type_name, spec in raw.items():
            at = (*path, "permissions", type_name)
            if type_name == "*":
                continue
            if type_name not in self.ws.record_types:
                close = filters.did_you_mean(type_name, self.ws.record_types)
                self.fail(at, f"'{type_name}' is not a record type{close}")
                continue
            types[type_name] = self.grant(self.ws.type(type_name), spec, at)
        if star is not None:
            for rt in self.ws.record_types.values():
                if rt.name not in types:
                    types[rt.name] = self.grant(rt, star, (*path, "permissions", "*"))
        return RoleAccess(name, admin, types, role.config.get("audit") is True)

    def grant(self, rt: RecordType, spec: Any, at: tuple) -> TypeGrant:
        if not isinstance(spec, Mapping):
            self.fail(at, "expected {can: [...], rows: ..., fields: {...}}")
            return NO_GRANT
        unknown = set(spec) - {"can", "rows", "write_rows", "fields"}
        for key in sorted(unknown):
            self.fail((*at, key), f"unknown setting '{key}'; a grant has can, rows, "
                      "write_rows and fields")
        actions = self.actions(spec.get("can", []), (*at, "can"))
        rows = self.scopes(rt, spec.get("rows", "all"), (*at, "rows"))
        write = (self.scopes(rt, spec["write_rows"], (*at, "write_rows"))
                 if spec.get("write_rows") is not None else None)
        fields: dict[str, FieldRule] = {}
        writable: set[str] = set()
        exports: dict[str, str] = {}
        reasons: set[str] = set()
        raw_fields = spec.get("fields") or {}
        if not isinstance(raw_fields, Mapping):
            self.fail((*at, "fields"), "expected {field: hidden | read_only | masked}")
            raw_fields = {}
        for fname, rule in raw_fields.items():
            here = (*at, "fields", fname)
            f = rt.fields.get(fname)
            if f is None:
                self.fail(here, f"'{fname}' is not a field of {rt.name}"
                          f"{filters.did_you_mean(str(fname), rt.fields)}")
                continue
            written = rule
            if isinstance(rule, Mapping):
                if rule.get("export") is not None:
                    exports[fname] = self.export_word(f, rule["export"], (*here, "export"))
                if rule.get("reveal_reason") is True:
                    reasons.add(fname)
                elif rule.get("reveal_reason") not in (None, False):
                    self.fail((*here, "reveal_reason"), "reveal_reason is true or false")
                if "access" not in rule:  # only how it is exported or revealed
                    rule = {**rule, "access": "visible"}
            parsed = self.field_rule(rt, f, rule, here)
            if parsed is not None:
                fields[fname] = parsed
            elif (written if isinstance(written, str) else (written or {}).get("access")) \
                    == "visible":
                writable.add(fname)
        return TypeGrant(actions, rows, write, fields, frozenset(writable), exports,
                         frozenset(reasons))

    def export_word(self, f, raw: Any, at: tuple) -> str:
        if raw not in EXPORTS:
            self.fail(at, f"'{raw}' is not how a field is exported; use full, masked or none"
                      f"{filters.did_you_mean(str(raw), EXPORTS)}")
            return "none"
        if raw == "masked" and not f.kind.value_type(f).maskable:
            self.fail(at, f"{f.name} is a {f.type} field; only text fields can be exported "
                      "masked: export it full or none")
            return "none"
        return raw

    def actions(self, raw: Any, at: tuple) -> frozenset[str]:
        if not isinstance(raw, list):
            self.fail(at, f"expected a list of actions ({', '.join(ACTIONS)})")
            return frozenset()
        out = set()
        for i, a in enumerate(raw):
            if a not in ACTIONS:
                self.fail((*at, i), f"'{a}' is not an action; use {', '.join(ACTIONS)}"
                          f"{filters.did_you_mean(str(a), ACTIONS)}")
                continue
            out.add(a)
        return frozenset(out)

    def scopes(self, rt: RecordType, raw: Any, at: tuple) -> tuple[Scope, ...]:
        if isinstance(raw, list):
            if not raw:
                return (Scope("none"),)
            return tuple(s for i, item in enumerate(raw)
                         for s in self.scopes(rt, item, (*at, i)))
        return (self.scope(rt, raw, at),)

    def scope(self, rt: RecordType, raw: Any, at: tuple) -> Scope:
        if isinstance(raw, str):
            if raw not in SCOPE_WORDS:
                self.fail(at, f"'{raw}' is not a row scope; use all, own, team, none, "
                          "{own: [fields]}, {team: [fields]}, {filter: ...} or "
                          "{linked_from: [type.field]}")
                return Scope("none")
            if raw == "team":
                self.need_teams(at)
            if raw in DEPARTMENT_SCOPES:
                self.need_org(at)
            return Scope(raw)
        if not isinstance(raw, Mapping) or len(raw) != 1:
            self.fail(at, "a row scope is all, own, team, none or one of {own: [fields]}, "
                      "{team: [fields]}, {filter: ...}, {linked_from: [type.field]}")
            return Scope("none")
        ((kind, value),) = raw.items()
        here = (*at, kind)
        if kind in DEPARTMENT_SCOPES:
            return self.department_scope(rt, kind, value, here)
        if kind in ("own", "team"):
            if kind == "team":
                self.need_teams(here)
            names = [value] if isinstance(value, str) else value
            if not isinstance(names, list) or not names:
                self.fail(here, "expected a list of user fields")
                return Scope("none")
            for i, n in enumerate(names):
                f = rt.fields.get(n)
                if f is None or not f.kind.person or f.kind.restamped or n == "updated_by":
                    self.fail((*here, i), f"'{n}' is not a user field of {rt.name}; "
                              f"use {', '.join(owner_fields(rt)) or 'created_by'}")
            return Scope(kind, tuple(str(n) for n in names))
        if kind == "filter":
            try:
                return Scope("filter", node=filters.parse(value, rt, self.ws))
            except LowriseError as exc:
                self.fail(here, str(exc))
                return Scope("none")
        if kind == "linked_from":
            items = [value] if isinstance(value, str) else value
            links = []
            for i, item in enumerate(items if isinstance(items, list) else [None]):
                where = (*here, i) if isinstance(items, list) else here
                other, _, fname = str(item).partition(".")
                ort = self.ws.record_types.get(other)
                f = ort.fields.get(fname) if ort is not None else None
                if f is None or filters.link_target(f, self.ws) != rt.name:
                    self.fail(where, f"'{item}' is not type.field of a link to {rt.name}")
                    continue
                links.append((other, fname))
            return Scope("linked_from", links=tuple(links))
        self.fail(at, f"'{kind}' is not a row scope; use own, team, department, "
                  f"department_and_below, filter or linked_from"
                  f"{filters.did_you_mean(str(kind), (*SCOPE_WORDS, 'filter', 'linked_from'))}")
        return Scope("none")

    def need_org(self, at: tuple) -> None:
        if org_of(self.ws) is None:
            self.fail(at, "a department scope needs `org:` in workspace.yaml (the departments "
                      "type, its head and parent fields, and the people's department fields)")

    def department_scope(self, rt: RecordType, kind: str, value: Any, here: tuple) -> Scope:
        """{department: [fields]}: user fields (the person's departments count) or links to
        the departments type (the row's own department)."""
        self.need_org(here)
        org = org_of(self.ws)
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names:
            self.fail(here, "expected a list of user fields or links to departments")
            return Scope("none")
        for i, n in enumerate(names):
            f = rt.fields.get(n)
            person = f is not None and f.kind.person and not f.kind.restamped
            dept = f is not None and org is not None and f.kind.links and \
                filters.link_target(f, self.ws) == org.departments
            if not (person or dept):
                self.fail((*here, i), f"'{n}' is not a user field of {rt.name} nor a link to "
                          f"departments; use {', '.join(owner_fields(rt)) or 'created_by'}"
                          f"{filters.did_you_mean(str(n), rt.fields)}")
        return Scope(kind, tuple(str(n) for n in names))

    def need_teams(self, at: tuple) -> None:
        t = self.ws.config.get("teams")
        if not isinstance(t, Mapping) or not (t.get("manager") or t.get("field")):
            self.fail(at, "a team scope needs `teams:` in workspace.yaml (the users type's "
                      "manager link and/or team field)")

    def field_rule(self, rt: RecordType, f, raw: Any, at: tuple) -> FieldRule | None:
        if isinstance(raw, str):
            raw = {"access": raw}
        if not isinstance(raw, Mapping):
            self.fail(at, "expected hidden, read_only, masked, or {access, mask, unless}")
            return None
        for key in sorted(set(raw) - {"access", "mask", "unless", "export", "reveal_reason"}):
            self.fail((*at, key), f"unknown setting '{key}'; use access, mask, unless, export, "
                      "reveal_reason")
        access = raw.get("access")
        if access not in ACCESS_RANK:
            self.fail((*at, "access"), f"'{access}' is not a field access; use visible, "
                      "read_only, masked or hidden")
            return None
        if access == "visible":
            return None
        mask = None
        if access == "masked":
            if not f.kind.value_type(f).maskable:
                self.fail((*at, "access"), f"{f.name} is a {f.type} field; only text fields "
                          f"({', '.join(registry.having('maskable'))}) can be masked: make it "
                          "hidden instead")
                return None
            mask = self.mask(raw.get("mask"), (*at, "mask"))
        unless = self.scopes(rt, raw["unless"], (*at, "unless")) if "unless" in raw else ()
        return FieldRule(access, mask, unless)

    def mask(self, raw: Any, at: tuple) -> Mask:
        if raw is None:
            return Mask()
        if not isinstance(raw, Mapping):
            self.fail(at, "expected {keep_start: 3, keep_end: 4, char: '*'}")
            return Mask()
        out = Mask()
        for key in raw:
            if key not in ("keep_start", "keep_end", "char"):
                self.fail((*at, key), f"unknown setting '{key}'; use keep_start, keep_end, char")
        ks, ke, ch = raw.get("keep_start", 3), raw.get("keep_end", 4), raw.get("char", "*")
        if not isinstance(ks, int) or not isinstance(ke, int) or ks < 0 or ke < 0:
            self.fail(at, "keep_start and keep_end are whole numbers from 0")
            return out
        if not isinstance(ch, str) or len(ch) != 1:
            self.fail((*at, "char"), "char is one character")
            return out
        return Mask(ks, ke, ch)


def owner_fields(rt: RecordType) -> list[str]:
    """The fields that make a row someone's by default: created_by and the user fields."""
    return ["created_by", *(f.name for f in rt.user_fields
                            if f.kind.person and not f.kind.restamped)]


def _declares_permissions(ws: Workspace) -> bool:
    return any(r.permissions or r.config.get("admin") is True for r in ws.roles.values())


def scope_fields(ws: Workspace, teams: Teams, roles: Mapping[str, RoleAccess]
                 ) -> frozenset[tuple[str, str]]:
    """The fields whose values decide which rows of other records some role reads: the
    `teams:` fields when a role has a team scope, and every field a `filter` scope (or an
    `unless`) reads through a link. A row's own fields are not among them: a write can only
    change them on rows its writer may already write, and links only to records they read."""
    out: set[tuple[str, str]] = set()
    team = dept = False
    for role in roles.values():
        if role.admin:
            continue
        for g in role.types.values():
            for s in (*g.rows, *(g.write_rows or ()),
                      *(u for rule in g.fields.values() for u in rule.unless)):
                team = team or s.kind == "team"
                dept = dept or s.kind in DEPARTMENT_SCOPES
                if s.kind == "filter":
                    out |= _through_links(s.node)
    if team and ws.users_type:
        out |= {(ws.users_type, n) for n in (teams.manager, teams.field) if n}
    org = org_of(ws) if dept else None
    if org is not None:  # who is in which department, and the tree itself
        out |= org.fields()
    return frozenset(out)


def _through_links(node: Any) -> set[tuple[str, str]]:
    """The fields a filter reads on linked records (`case.consultant`: case's consultant)."""
    if isinstance(node, (filters.All, filters.Any)):
        return {x for item in node.items for x in _through_links(item)}
    if isinstance(node, filters.Not):
        return _through_links(node.item)
    if isinstance(node, filters.Condition):
        return {(node.types[i], node.fields[i].name) for i in range(1, len(node.fields))}
    return set()


def _build(ws: Workspace) -> tuple[AccessModel, list[tuple[tuple, str]]]:
    p = _Parser(ws)
    teams = p.teams()
    roles = {name: p.role(name, ("roles", name)) for name in ws.roles}
    return AccessModel(ws, _declares_permissions(ws), roles, teams,
                       scope_fields(ws, teams, roles)), p.problems


def problems(ws: Workspace) -> Iterator[tuple[tuple, str]]:
    """Every problem of the permissions (and of `org:`), as (path in workspace.yaml,
    message)."""
    from lowrise.org import problems as org_problems

    yield from org_problems(ws)
    yield from _build(ws)[1]


_CACHE: dict[int, tuple[weakref.ref, AccessModel]] = {}


def model_of(ws: Workspace) -> AccessModel:
    """The workspace's AccessModel, parsed once (the loader has reported its problems; what
    could not be understood grants nothing)."""
    hit = _CACHE.get(id(ws))
    if hit is not None and hit[0]() is ws:
        return hit[1]
    model, _ = _build(ws)
    _CACHE[id(ws)] = (weakref.ref(ws), model)
    if len(_CACHE) > 64:  # forget workspaces that are gone
        for key in [k for k, (ref, _) in _CACHE.items() if ref() is None]:
            del _CACHE[key]
    return model
