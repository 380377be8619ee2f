"""A write never widens its writer's own access: it may not add rows to what they read, nor
show them a value that was masked or hidden for them.

Which writes can add rows, reasoned from how scopes are built (lowrise.access.scopes): a row
the writer changes is one they may already write (and so read); a link they set must name a
record they already read (the records service checks it); `own` and `filter` conditions on a
row's own fields therefore cannot bring in a row they could not read before. What can is a
change to a field a scope reads on *other* records: the `teams:` fields (who is in my team),
a field a filter reads through a link (`case.consultant` in a contract scope), and so on
through `linked_from` and the records such paths go through. Those are the workspace's
`scope_fields`; a write that changes one of them is checked for real: the writer's readable
ids of every type whose scope reads it are taken before the write, in its transaction, and
compared after it. No Flask here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from lowrise import filters
from lowrise.errors import ValidationError
from lowrise.i18n import msg

from .policy import Policy, Shown
from .scopes import InDepartment, IsUser, LinkedFrom, TeamMembers

WIDENS = msg("This change would let you see records you cannot see now, so it was not saved. "
             "Ask an administrator.")
UNMASKS = msg("This change would show you values that are masked or hidden for you, so it was "
              "not saved. Ask an administrator.")


def dependents(pol: Policy, changed: set[tuple[str, str]]) -> list[str]:
    """The record types whose read scope, as `pol` builds it, reads one of these fields on
    other records (so a change of them can add rows)."""
    if not changed:
        return []
    return [t for t in pol.readable_types()
            if _reads(pol, pol.row_scope(t), changed, {t})]


def _reads(pol: Policy, node: Any, changed: set[tuple[str, str]], seen: set[str]) -> bool:
    if node is None or isinstance(node, IsUser):
        return False
    if isinstance(node, (filters.All, filters.Any)):
        return any(_reads(pol, x, changed, seen) for x in node.items)
    if isinstance(node, filters.Not):
        return _reads(pol, node.item, changed, seen)
    if isinstance(node, filters.Condition):
        for i in range(1, len(node.fields)):
            if (node.types[i], node.fields[i].name) in changed:
                return True
            # a path goes only through linked records the actor reads: their scope counts
            if node.types[i] not in seen:
                seen.add(node.types[i])
                if _reads(pol, pol.row_scope(node.types[i]), changed, seen):
                    return True
        return False
    if isinstance(node, TeamMembers):
        return any((node.users_type, n) in changed
                   for n in (node.teams.manager, node.teams.field) if n)
    if isinstance(node, InDepartment):  # who is in which department, and the tree
        return bool(node.org.fields() & changed)
    if isinstance(node, LinkedFrom):
        return _reads(pol, node.other_scope, changed, seen)
    return isinstance(node, filters.Extension)  # a kind not known here: assume it does


class ScopeGuard:
    """The writer's readable ids of the types a write may widen, taken before the write
    (`watch`), compared after it (`check`), in the same transaction."""

    def __init__(self, conn: sa.Connection, schema, pol: Policy):
        self.conn, self.schema, self.pol = conn, schema, pol
        self.before: dict[str, set[int]] = {}

    def watch(self, type_name: str, names: Iterable[str]) -> None:
        """Before writing these fields of this type: note what the writer reads now."""
        changed = {(type_name, n) for n in names} & self.pol.model.scope_fields
        for t in dependents(self.pol, changed):
            if t not in self.before:  # an earlier write of a batch could not touch it
                self.before[t] = self._ids(t)

    def check(self, created: Mapping[str, Iterable[int]] | None = None) -> None:
        """ValidationError when the writer now reads a row they did not (other than the
        records the write created)."""
        for t, before in self.before.items():
            new = set((created or {}).get(t, ()))
            if self._ids(t) - before - new:
                raise ValidationError({"": WIDENS})

    def _ids(self, type_name: str) -> set[int]:
        cond = self.pol.scope_sql(self.schema, type_name)
        t = self.schema.table(type_name)
        stmt = sa.select(t.c.id) if cond is None else sa.select(t.c.id).where(cond)
        return set(self.conn.execute(stmt).scalars())


def check_unmasked(before: Shown, after: Shown) -> None:
    """ValidationError when a field masked or hidden for the writer on a record shows in full
    after their write of it (`unless: own` opened by making the record theirs)."""
    for name, word in before.access.items():
        if word in ("masked", "hidden") and after.access.get(name) not in ("masked", "hidden"):
            raise ValidationError({"": UNMASKS})
