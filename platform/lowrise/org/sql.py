"""The org chart as SQL: a person's departments, the departments below them, the people in
a set of departments. Every function returns a SELECT of ids, to use in `IN (...)`."""

from __future__ import annotations

import sqlalchemy as sa

from .model import Org


def my_departments(schema, org: Org, me) -> sa.Select:
    """The departments `me` belongs to: named by one of their member fields, or headed by
    them. `me` is an id or a scalar SQL expression."""
    d = schema.table(org.departments)
    u = schema.table(org.users)
    conds = [d.c.id.in_(sa.select(u.c[m]).where(u.c.id == me, u.c[m].is_not(None)))
             for m in org.members]
    if org.head:
        conds.append(d.c[org.head] == me)
    return sa.select(d.c.id).where(sa.or_(*conds))


def below(schema, org: Org, top: sa.Select) -> sa.Select:
    """`top` and every department under one of them: a recursive query, whose UNION ends
    even where the tree has a loop."""
    if not org.parent:
        return top
    d = schema.table(org.departments).alias()
    tree = top.cte("lr_org_tree", recursive=True, nesting=True)
    tree = tree.union(sa.select(d.c.id).where(d.c[org.parent] == tree.c.id))
    return sa.select(tree.c.id)


def people_in(schema, org: Org, departments: sa.Select) -> sa.Select:
    """The ids of the people in these departments: members and heads."""
    u = schema.table(org.users)
    conds = [u.c[m].in_(departments) for m in org.members]
    if org.head:
        d = schema.table(org.departments).alias()
        conds.append(u.c.id.in_(sa.select(d.c[org.head]).where(
            d.c.id.in_(departments), d.c[org.head].is_not(None))))
    return sa.select(u.c.id).where(sa.or_(*conds))
