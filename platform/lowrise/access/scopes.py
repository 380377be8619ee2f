"""Row scopes as filter trees: `own` and `filter` in the filter language itself; `team` and
`linked_from`, which the filter data cannot say, as Extension nodes that compile to SQL.

Everything is bound; identifiers come from the validated workspace. The SQL of each node is
true or false, never NULL, so that a scope under NOT (a mask's `unless`) stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lowrise import filters
from lowrise.i18n import msg, tr
from lowrise.org import Org, below, my_departments, org_of, people_in
from lowrise.workspace.model import RecordType, Workspace

from .model import Scope, Teams, owner_fields

#: how many levels below a manager count as their team
TEAM_DEPTH = 6

NOTHING = filters.Any(())


@dataclass(frozen=True, eq=False)
class TeamMembers(filters.Extension):
    """`field` holds a member of the current user's team (themselves included)."""

    record_type: str
    field: str
    users_type: str
    teams: Teams
    kind = "team"

    def to_sql(self, schema, ctx: filters.FilterContext):
        me = ctx.user
        if me is None:
            return sa.false()
        col = schema.table(self.record_type).c[self.field]
        return sa.and_(col.is_not(None), col.in_(members(schema, self.users_type,
                                                         self.teams, me)))

    def describe(self, ws: Workspace, locale: str) -> str:
        f = ws.type(self.record_type).fields[self.field]
        name = f.label.get(locale, ws.default_locale)
        return tr(msg("%(field)s is in my team", field=name), locale)


def members(schema, users_type: str, teams: Teams, me: int) -> sa.Select:
    """The ids of the people in `me`'s team: me, everyone below me through the manager
    link (TEAM_DEPTH levels), and everyone sharing my team field's value."""
    u = schema.table(users_type)
    conds = [u.c.id == me]
    if teams.manager:
        first = u.alias()
        below = sa.select(first.c.id).where(first.c[teams.manager] == me)
        levels = [below]
        for _ in range(TEAM_DEPTH - 1):
            s = u.alias()
            below = sa.select(s.c.id).where(s.c[teams.manager].in_(below))
            levels.append(below)
        conds.append(u.c.id.in_(sa.union(*levels)))
    if teams.field:
        mine = u.alias()
        value = sa.select(mine.c[teams.field]).where(mine.c.id == me).scalar_subquery()
        conds.append(sa.and_(u.c[teams.field].is_not(None), u.c[teams.field] == value))
    return sa.select(u.c.id).where(sa.or_(*conds))


@dataclass(frozen=True, eq=False)
class InDepartment(filters.Extension):
    """`field` names one of the current user's departments (a link to the departments type,
    or the row itself when `field` is `id` there), or a person in one of them (a user field);
    with `and_below`, the departments under theirs count too (lowrise.org)."""

    record_type: str
    field: str
    org: Org
    and_below: bool
    #: "department" when `field` names a department, "person" when it names a person
    names: str
    kind = "department"

    def to_sql(self, schema, ctx: filters.FilterContext):
        me = ctx.user
        if me is None:
            return sa.false()
        depts = my_departments(schema, self.org, me)
        if self.and_below:
            depts = below(schema, self.org, depts)
        ids = depts if self.names == "department" else people_in(schema, self.org, depts)
        col = schema.table(self.record_type).c[self.field]
        return sa.and_(col.is_not(None), col.in_(ids))

    def describe(self, ws: Workspace, locale: str) -> str:
        rt = ws.type(self.record_type)
        f = rt.fields.get(self.field)
        name = f.label.get(locale, ws.default_locale) if f is not None else \
            rt.label.get(locale, ws.default_locale)
        zh = locale.startswith("zh")
        if self.and_below:
            return f"{name} 属于我的部门或下级部门" if zh else \
                f"{name} is in my department or one below it"
        return f"{name} 属于我的部门" if zh else f"{name} is in my department"


@dataclass(frozen=True, eq=False)
class LinkedFrom(filters.Extension):
    """The record is linked to by `other.field` of some record in `other_scope`."""

    record_type: str
    other: str
    field: str
    other_scope: Any  # a filter Node, or None: any record of `other`
    kind = "linked_from"

    def to_sql(self, schema, ctx: filters.FilterContext):
        t = schema.table(self.record_type)
        o = schema.table(self.other)
        cond = [o.c[self.field].is_not(None)]
        if self.other_scope is not None:
            cond.append(filters.to_sql(self.other_scope, schema, ctx))
        return t.c.id.in_(sa.select(o.c[self.field]).where(*cond))

    def describe(self, ws: Workspace, locale: str) -> str:
        label = ws.type(self.other).label_plural.get(locale, ws.default_locale)
        return tr(msg("linked from %(types)s I can see", types=label), locale)


@dataclass(frozen=True, eq=False)
class IsUser(filters.Extension):
    """The record is the current user's own record of the users type."""

    record_type: str
    kind = "is_user"

    def to_sql(self, schema, ctx: filters.FilterContext):
        if ctx.user is None:
            return sa.false()
        return schema.table(self.record_type).c.id == ctx.user

    def evaluate(self, record, ctx) -> bool:
        return ctx.user is not None and record.get("id") == ctx.user

    def describe(self, ws: Workspace, locale: str) -> str:
        return tr(msg("is me"), locale)


def scope_node(ws: Workspace, rt: RecordType, scope: Scope, teams: Teams,
               other_scope) -> filters.Node | None:
    """One scope of `rt` as a filter tree; None means every row. `other_scope(type)` gives
    the actor's read scope of another type (for linked_from)."""
    if scope.kind == "all":
        return None
    if scope.kind == "none":
        return NOTHING
    if scope.kind == "filter":
        return scope.node
    if scope.kind == "linked_from":
        return filters.Any(tuple(LinkedFrom(rt.name, other, fname, other_scope(other))
                                 for other, fname in scope.links))
    names = list(scope.fields) or owner_fields(rt)
    items: list[filters.Node] = []
    if scope.kind in ("department", "department_and_below"):
        return department_node(ws, rt, scope, names)
    if scope.kind == "own":
        items += [filters.parse({"field": n, "op": "eq", "value": "me"}, rt, ws)
                  for n in names]
        if rt.name == ws.users_type and not scope.fields:
            items.append(IsUser(rt.name))
    else:  # team
        if ws.users_type is None or not (teams.manager or teams.field):
            return NOTHING
        items += [TeamMembers(rt.name, n, ws.users_type, teams) for n in names]
        if rt.name == ws.users_type and not scope.fields:
            items.append(TeamMembers(rt.name, "id", ws.users_type, teams))
    return filters.Any(tuple(items))


def department_node(ws: Workspace, rt: RecordType, scope: Scope, names: list[str]
                    ) -> filters.Node:
    """The rows of my departments (and below): by user fields, links to departments, and on
    the people and departments types themselves, the records that are them."""
    org = org_of(ws)
    if org is None:
        return NOTHING
    below_too = scope.kind == "department_and_below"
    items: list[filters.Node] = []
    for n in names:
        f = rt.fields.get(n)
        if f is None:  # reported by the loader
            continue
        what = "department" if f.kind.links and \
            filters.link_target(f, ws) == org.departments else "person"
        items.append(InDepartment(rt.name, n, org, below_too, what))
    if not scope.fields and rt.name == org.users:
        items.append(InDepartment(rt.name, "id", org, below_too, "person"))
    if not scope.fields and rt.name == org.departments:
        items.append(InDepartment(rt.name, "id", org, below_too, "department"))
    return filters.Any(tuple(items))


def union(nodes: list[filters.Node | None]) -> filters.Node | None:
    """Rows in any of the scopes (None: every row)."""
    if not nodes or any(n is None for n in nodes):
        return None
    items: list[filters.Node] = []
    for n in nodes:
        items.extend(n.items if isinstance(n, filters.Any) else (n,))
    return items[0] if len(items) == 1 else filters.Any(tuple(items))
