"""Decisions for one actor: may they do this to this type, which rows do they see, how does
each field show to them; and the read plan the query layer applies to every read.

A Policy is cheap to build (the workspace's AccessModel is parsed once). A system actor, an
admin role, or a workspace that declares no permissions gets `bypass`: no restriction.
With several roles, a person may do what any of their roles may (the union), and a field
shows as the most open of their roles shows it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from lowrise import filters
from lowrise.actor import Actor
from lowrise.errors import FilterError, Forbidden
from lowrise.i18n import msg
from lowrise.workspace.model import Workspace

from .model import ACCESS_RANK, AccessModel, Mask, TypeGrant, model_of
from .scopes import NOTHING, scope_node, union

WORDS = {0: "visible", 1: "read_only", 2: "masked", 3: "hidden"}
SAYS = {"read_only": msg("read-only"), "masked": msg("masked"), "hidden": msg("hidden")}
#: what a role may not do, and what it may not sort, group or add up by, as words
ACTIONS = {"read": msg("read"), "create": msg("create"), "update": msg("update"),
           "delete": msg("delete"), "export": msg("export"), "manage": msg("manage"),
           "reveal": msg("reveal")}
PURPOSES = {"sort by": msg("sort by"), "group by": msg("group by"), "add up": msg("add up")}
FLAG = "lr_flag_"
#: why a field may not be set, by how it shows (fragments that follow the field's name)
READ_ONLY = msg("you may not set this field: it is read-only for you")
REFUSED = {"read_only": READ_ONLY,
           "masked": msg("you may not set this field: it is masked for you"),
           "hidden": msg("you may not set this field: it is hidden for you")}
#: a field that decides who reads which records, which no grant names as writable
SCOPE_FIELD = msg("you may not set this field: it decides who sees which records; ask an "
                  "administrator")


class Masked(str):
    """A value shown masked (138****5678): only text, never the value itself."""

    __slots__ = ()


class Shown(dict):
    """A record as an actor may see it; `access` says how each field that is not plainly
    visible shows on this row (read_only, masked; hidden ones are absent)."""

    __slots__ = ("access",)

    def __init__(self, *args, access: Mapping[str, str] | None = None, **kw):
        super().__init__(*args, **kw)
        self.access = dict(access or {})


@dataclass(frozen=True)
class _Alt:
    """How one of the actor's roles shows a field: `rank`, except on rows where flag `flag`
    is set (the rule's `unless` scope), where it is visible."""

    rank: int
    mask: Mask | None
    flag: int | None
    #: read-only because the field decides row scopes (AccessModel.scope_fields)
    scope: bool = False


@dataclass
class _Fields:
    alts: dict[str, tuple[_Alt, ...]] = field(default_factory=dict)
    flags: list[filters.Node] = field(default_factory=list)


class Policy:
    """What one actor may see and do."""

    def __init__(self, model: AccessModel, actor: Actor):
        self.model, self.actor, self.ws = model, actor, model.workspace
        self.roles = [model.roles[r] for r in sorted(actor.roles) if r in model.roles]
        self.bypass = actor.system or not model.enforced or any(r.admin for r in self.roles)
        self._scopes: dict[tuple[str, str], filters.Node | None] = {}
        self._building: set[tuple[str, str]] = set()
        self._fields: dict[str, _Fields] = {}

    @classmethod
    def for_actor(cls, actor: Actor, workspace: Workspace) -> Policy:
        return cls(model_of(workspace), actor)

    @property
    def is_admin(self) -> bool:
        """Sees and does everything (a system actor, an admin role, or an open workspace)."""
        return self.bypass

    # -- may ------------------------------------------------------------------------------
    def grants(self, type_name: str, action: str) -> list[TypeGrant]:
        return [g for r in self.roles if action in (g := r.grant(type_name)).actions]

    def may(self, action: str, type_name: str) -> bool:
        """Whether the actor may `action` (read, create, update, delete, export, manage,
        reveal) records of this type (some of them, for read / update / delete)."""
        if type_name not in self.ws.record_types:
            return False
        if self.bypass:
            return True
        return bool(self.grants(type_name, action)) and (
            action == "read" or bool(self.grants(type_name, "read")) or action == "create")

    def require(self, action: str, type_name: str) -> None:
        """Forbidden unless `may`."""
        if not self.may(action, type_name):
            rt = self.ws.record_types.get(type_name)
            what = rt.label_plural if rt is not None else type_name
            raise Forbidden(msg("your role may not %(action)s %(what)s",
                                action=ACTIONS.get(action, action), what=what))

    def readable_types(self) -> list[str]:
        return [n for n in self.ws.record_types if self.may("read", n)]

    # -- rows -----------------------------------------------------------------------------
    def row_scope(self, type_name: str, action: str = "read") -> filters.Node | None:
        """The rows of a type the actor may `action`, as a filter tree (None: every row)."""
        if self.bypass:
            return None
        key = (type_name, "write" if action in ("update", "delete") else "read")
        if key in self._scopes:
            return self._scopes[key]
        if key in self._building:  # linked_from scopes that lead back here: no rows
            return NOTHING
        self._building.add(key)
        try:
            node = self._build_scope(type_name, action)
        finally:
            self._building.discard(key)
        self._scopes[key] = node
        return node

    def _build_scope(self, type_name: str, action: str) -> filters.Node | None:
        rt = self.ws.type(type_name)
        read = self.grants(type_name, "read")
        if not read:
            return NOTHING

        def nodes(scopes) -> filters.Node | None:
            return union([scope_node(self.ws, rt, s, self.model.teams, self.row_scope)
                          for s in scopes])

        readable = union([nodes(g.rows) for g in read])
        if action not in ("update", "delete"):
            return readable
        writers = self.grants(type_name, action)
        if not writers:
            return NOTHING
        writable = union([nodes(g.write_rows if g.write_rows is not None else g.rows)
                          for g in writers])
        if readable is None or writable is None:
            return writable if readable is None else readable
        return filters.all_of(readable, writable)

    def scope_sql(self, schema, type_name: str, action: str = "read"
                  ) -> sa.ColumnElement | None:
        node = self.row_scope(type_name, action)
        return None if node is None else filters.to_sql(node, schema, self.context())

    def context(self, resolver=None) -> filters.FilterContext:
        """The filter context of this actor: `me`, the clock, and the row scopes that paths
        through links must respect."""
        ctx = filters.FilterContext.of(self.actor, resolver)
        if self.bypass:
            return ctx
        return filters.FilterContext(user=ctx.user, clock=ctx.clock, resolver=ctx.resolver,
                                     scope=self.row_scope)

    def ids_in_scope(self, conn: sa.Connection, schema, type_name: str, ids: Iterable[int],
                     action: str = "read") -> set[int]:
        """Which of these records the actor may `action` (one query)."""
        wanted = sorted({int(i) for i in ids})
        cond = self.scope_sql(schema, type_name, action)
        if cond is None or not wanted:
            return set(wanted) if cond is None else set()
        t = schema.table(type_name)
        found: set[int] = set()
        for i in range(0, len(wanted), 900):
            found |= set(conn.execute(sa.select(t.c.id).where(
                t.c.id.in_(wanted[i:i + 900]), cond)).scalars())
        return found

    # -- fields ---------------------------------------------------------------------------
    def _plan(self, type_name: str) -> _Fields:
        if type_name in self._fields:
            return self._fields[type_name]
        out = _Fields()
        if not self.bypass:
            rt = self.ws.type(type_name)
            grants = self.grants(type_name, "read")
            scoped = {n for t, n in self.model.scope_fields if t == type_name}
            ruled = {n for g in grants for n in g.fields} | scoped
            for name in (n for n in rt.fields if n in ruled):  # in the type's order
                alts: list[_Alt] = []
                for g in grants:
                    rule = g.fields.get(name)
                    if rule is None and name in scoped and name not in g.writable:
                        # decides who sees what: read-only unless the grant names it
                        alts.append(_Alt(1, None, None, scope=True))
                        continue
                    if rule is None:
                        alts = []
                        break
                    flag = None
                    if rule.unless:
                        node = union([scope_node(self.ws, rt, s, self.model.teams,
                                                 self.row_scope) for s in rule.unless])
                        if node is None:  # unless: all
                            alts = []
                            break
                        flag = len(out.flags)
                        out.flags.append(node)
                    alts.append(_Alt(ACCESS_RANK[rule.access], rule.mask, flag))
                if alts:
                    out.alts[name] = tuple(alts)
            self._fields[type_name] = out  # while it inherits: a loop of types reads this
            self._inherit(rt, out)
        self._fields[type_name] = out
        return out

    def _inherit(self, rt, out: _Fields) -> None:
        """Fields computed from other fields (lookups, rollups, formulas across links) show
        no more than their sources (lowrise.access.inherit)."""
        from .inherit import sources

        for _ in range(2):  # a formula of a lookup of this type: in a second pass
            for f in rt.user_fields:
                same, reads = sources(self.ws, rt, f)
                rank, mask = 0, None
                for type_name, name in reads:
                    if type_name not in self.ws.record_types:
                        continue
                    if not self.may("read", type_name):
                        rank = 3
                        continue
                    if name is None:
                        continue
                    alts = self._plan(type_name).alts.get(name) or ()
                    if alts:
                        low = min(a.rank for a in alts)
                        if low >= 2 and low >= rank:
                            rank = low
                            mask = next((a.mask for a in alts if a.rank == low), None)
                if rank < 2:
                    continue
                if not same:  # a sum or a formula of a masked value: nothing to show
                    rank = 3
                have = out.alts.get(f.name)
                if not have or min(a.rank for a in have) < rank:
                    out.alts[f.name] = (_Alt(rank, mask, None),)

    def field_access(self, type_name: str, name: str, record: Mapping | None = None) -> str:
        """visible, read_only, masked or hidden: how a field shows to the actor (on
        `record` when given; without one, on the rows where it shows least)."""
        alts = self._plan(type_name).alts.get(name)
        if not alts:
            return "visible"
        if isinstance(record, Shown):
            return record.access.get(name, "visible") if name in record.access or \
                name in record else "hidden"
        return WORDS[min(a.rank for a in alts)]

    def may_write_field(self, type_name: str, name: str, record: Mapping | None = None, *,
                        creating: bool = False) -> bool:
        """Whether the actor may set this field (on `record`; on a new record, a rule with
        `unless` is checked once the record exists)."""
        alts = self._plan(type_name).alts.get(name)
        if not alts:
            return True
        if creating:
            return any(a.rank == 0 or a.flag is not None for a in alts)
        return self.field_access(type_name, name, record) == "visible"

    def hidden_fields(self, type_name: str) -> set[str]:
        """Fields hidden on every row the actor sees."""
        return {n for n, alts in self._plan(type_name).alts.items()
                if all(a.rank == 3 and a.flag is None for a in alts)}

    def visible_names(self, type_name: str, names: Iterable[str]) -> list[str]:
        hidden = self.hidden_fields(type_name)
        return [n for n in names if n not in hidden]

    def _static(self, type_name: str, name: str) -> tuple[int, bool]:
        """(the rank on rows outside every `unless`, whether some rows show it plainly)."""
        alts = self._plan(type_name).alts.get(name)
        if not alts:
            return 0, True
        return min(a.rank for a in alts), any(a.flag is not None for a in alts)

    def sees_all_of(self, type_name: str, name: str) -> bool:
        """Whether the actor reads every row of the type with this field in full."""
        return self.row_scope(type_name) is None and self._static(type_name, name)[0] < 2

    def plain_ids(self, conn: sa.Connection, schema, type_name: str, name: str,
                  ids: Iterable[int]) -> set[int]:
        """Of these records, those the actor reads with this field in full: in its rows,
        and neither masked nor hidden there."""
        found = self.ids_in_scope(conn, schema, type_name, ids)
        alts = self._plan(type_name).alts.get(name)
        if not found or not alts or min(a.rank for a in alts) < 2:
            return found
        if all(a.flag is None for a in alts):
            return set()
        flags = self.row_flags(conn, schema, type_name, found)
        return {rid for rid in found
                if min(0 if a.flag is not None and flags.get(rid, {}).get(f"{FLAG}{a.flag}")
                       else a.rank for a in alts) < 2}

    def check_names(self, type_name: str, names: Iterable[str], purpose: str) -> None:
        """FilterError when a field the actor does not see in full is sorted, grouped or
        summed by: the order or totals would tell what the masks hide."""
        for name in names:
            rank, _ = self._static(type_name, name)
            if rank >= 2:
                f = self.ws.type(type_name).fields.get(name)
                shown = f.label if f is not None else name
                raise FilterError(msg("cannot %(purpose)s '%(field)s': it is %(state)s for you",
                                      purpose=PURPOSES.get(purpose, purpose), field=shown,
                                      state=SAYS[WORDS[rank]]))

    def guard_filter(self, type_name: str, node: filters.Node | None) -> filters.Node | None:
        """The filter with every condition on a field the actor does not see in full made
        to match only rows where they do; FilterError where they never do."""
        if node is None or self.bypass:
            return node
        return self._guard(node)

    def _guard(self, node):
        if isinstance(node, filters.Not):
            return filters.Not(self._guard(node.item))
        if isinstance(node, (filters.All, filters.Any)):
            return type(node)(tuple(self._guard(x) for x in node.items))
        if not isinstance(node, filters.Condition):
            return node
        guards = []
        for i, (f, tn) in enumerate(zip(node.fields, node.types, strict=True)):
            alts = self._plan(tn).alts.get(f.name)
            if not alts or min(a.rank for a in alts) < 2:
                continue
            open_rows = [self._plan(tn).flags[a.flag] for a in alts if a.flag is not None]
            if i > 0 or not open_rows:
                rank = min(a.rank for a in alts)
                raise FilterError(msg("cannot filter by '%(field)s': it is %(state)s for you",
                                      field=f.label, state=SAYS[WORDS[rank]]))
            guards.append(union(open_rows))
        if not guards:
            return node
        return filters.All((node, *guards))

    def search_columns(self, type_name: str, columns: Sequence[str]
                       ) -> tuple[list[str], dict[str, filters.Node]]:
        """The quick-search columns the actor may search: (plain, {column: the rows where
        it may be searched}); fields masked or hidden everywhere are left out."""
        plan = self._plan(type_name)
        plain, guarded = [], {}
        for c in columns:
            alts = plan.alts.get(c)
            if not alts or min(a.rank for a in alts) < 2:
                plain.append(c)
                continue
            open_rows = [plan.flags[a.flag] for a in alts if a.flag is not None]
            if open_rows:
                guarded[c] = union(open_rows)
        return plain, guarded

    def can_read_file(self, conn: sa.Connection, schema, key: str) -> bool:
        """Whether a stored file is attached to a record the actor may read, in a field it
        sees (files are served by key: knowing one must not be enough)."""
        if self.bypass:
            return True
        needle = '%"' + filters.like_escape(key) + '"%'
        for type_name in self.readable_types():
            rt, plan = self.ws.type(type_name), self._plan(type_name)
            for f in rt.user_fields:
                if not f.kind.stores_files:
                    continue
                alts = plan.alts.get(f.name)
                cond = [schema.table(type_name).c[f.name].like(needle, escape="\\")]
                if alts and min(a.rank for a in alts) >= 2:
                    opened = [plan.flags[a.flag] for a in alts if a.flag is not None]
                    if not opened:
                        continue
                    cond.append(filters.to_sql(union(opened), schema, self.context()))
                scope = self.scope_sql(schema, type_name)
                if scope is not None:
                    cond.append(scope)
                t = schema.table(type_name)
                if conn.execute(sa.select(t.c.id).where(*cond).limit(1)).first():
                    return True
        return False

    # -- reading rows ---------------------------------------------------------------------
    def flag_columns(self, schema, type_name: str) -> list[sa.ColumnElement]:
        """One 0/1 column per `unless` scope, so that masks follow each row."""
        ctx = self.context()
        return [sa.case((filters.to_sql(node, schema, ctx), 1), else_=0).label(f"{FLAG}{i}")
                for i, node in enumerate(self._plan(type_name).flags)]

    def finish(self, type_name: str, row: Mapping[str, Any]) -> Shown:
        """A row as the actor may see it: hidden fields gone, masked ones masked."""
        plan = self._plan(type_name)
        flags = {int(k[len(FLAG):]): bool(v) for k, v in row.items()
                 if isinstance(k, str) and k.startswith(FLAG)}
        out = Shown({k: v for k, v in row.items()
                     if not (isinstance(k, str) and k.startswith(FLAG))})
        if not plan.alts:
            return out
        f_of = self.ws.type(type_name).fields
        for name, alts in plan.alts.items():
            best = min(alts, key=lambda a: 0 if a.flag is not None and flags.get(a.flag)
                       else a.rank)
            rank = 0 if best.flag is not None and flags.get(best.flag) else best.rank
            if rank == 0:
                continue
            word = WORDS[rank]
            if word == "hidden":
                out.pop(name, None)
            elif word == "masked" and name in out:
                out[name] = mask_value(f_of[name], out[name], best.mask)
            out.access[name] = word
        return out

    def row_flags(self, conn: sa.Connection, schema, type_name: str, ids: Iterable[int]
                  ) -> dict[int, dict[str, Any]]:
        """{id: the flag columns} for some rows (to check writes against their masks)."""
        cols = self.flag_columns(schema, type_name)
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return {}
        t = schema.table(type_name)
        if not cols:
            return {i: {} for i in wanted}
        rows = conn.execute(sa.select(t.c.id, *cols).where(t.c.id.in_(wanted))).mappings()
        return {r["id"]: {k: v for k, v in r.items() if k != "id"} for r in rows}

    def finish_stored(self, conn: sa.Connection, schema, type_name: str,
                      record: Mapping[str, Any]) -> Shown:
        """A record read without the read plan (after a write), finished for the actor."""
        if self.bypass or not self._plan(type_name).alts:
            return Shown(record)
        flags = self.row_flags(conn, schema, type_name, [record["id"]]).get(record["id"], {})
        return self.finish(type_name, {**record, **flags})

    # -- writing --------------------------------------------------------------------------
    def write_errors(self, type_name: str, names: Iterable[str],
                     record: Mapping | None = None, *, creating: bool = False
                     ) -> dict[str, str]:
        """{field: why} for each given field the actor may not set."""
        if self.bypass:
            return {}
        out = {}
        for name in names:
            if self.may_write_field(type_name, name, record, creating=creating):
                continue
            word = self.field_access(type_name, name, record)
            if creating:
                rank, _ = self._static(type_name, name)
                word = WORDS[rank]
            alts = self._plan(type_name).alts.get(name, ())
            if word == "read_only" and all(a.scope for a in alts if a.rank == 1):
                out[name] = SCOPE_FIELD
            else:
                out[name] = REFUSED.get(word, READ_ONLY)
        return out


def mask_value(f, value: Any, mask: Mask | None) -> Any:
    """A value masked by `mask` (text); empty values stay empty."""
    if value is None or value == "" or value == []:
        return value
    text = value if isinstance(value, str) else f.kind.display(f, value)
    return Masked((mask or Mask()).apply(text))


_CONFIDENTIAL: dict[tuple[int, str], tuple[weakref.ref, Mapping[str, Mask]]] = {}


def confidential_fields(workspace: Workspace, type_name: str) -> Mapping[str, Mask]:
    """The fields of a type that some role which reads it sees masked or hidden (on some
    rows), with the mask to show them with where nobody in particular reads: notification
    and comment texts, webhook bodies. Empty in an open workspace. A lookup or formula
    computed from a confidential field of a linked record is confidential too. Worked out
    once per workspace and type (every rule's message asks)."""
    key = (id(workspace), type_name)
    hit = _CONFIDENTIAL.get(key)
    if hit is not None and hit[0]() is workspace:
        return hit[1]
    found = MappingProxyType(_confidential(workspace, type_name))
    _CONFIDENTIAL[key] = (weakref.ref(workspace), found)
    if len(_CONFIDENTIAL) > 1024:  # forget workspaces that are gone
        for k in [k for k, (ref, _) in _CONFIDENTIAL.items() if ref() is None]:
            del _CONFIDENTIAL[k]
    return found


def _confidential(workspace: Workspace, type_name: str, _seen: frozenset = frozenset()
                  ) -> dict[str, Mask]:
    model = model_of(workspace)
    if not model.enforced:
        return {}
    out: dict[str, Mask] = {}
    if type_name not in _seen:
        from .inherit import sources

        rt = workspace.type(type_name)
        for f in rt.user_fields:
            for other, name in sources(workspace, rt, f)[1]:
                if other != type_name and name and other in workspace.record_types and \
                        name in _confidential(workspace, other, _seen | {type_name}):
                    out[f.name] = _confidential(workspace, other, _seen | {type_name})[name]
    for role in model.roles.values():
        grant = role.grant(type_name)
        if role.admin or "read" not in grant.actions:
            continue
        for name, rule in grant.fields.items():
            if rule.access in ("masked", "hidden"):
                out.setdefault(name, rule.mask or Mask())
    return out


def mask_record(workspace: Workspace, type_name: str, record: Mapping[str, Any] | None
                ) -> dict[str, Any]:
    """A record with its confidential fields masked (see confidential_fields)."""
    record = dict(record or {})
    hide = confidential_fields(workspace, type_name)
    if not hide:
        return record
    fields = workspace.type(type_name).fields
    for name, mask in hide.items():
        if name in record and name in fields:
            record[name] = mask_value(fields[name], record[name], mask)
    return record


def policy(workspace: Workspace, ctx: Any) -> Policy | None:
    """The Policy of `ctx` when it is a restricted actor; None for no restriction (a system
    actor, an admin, an open workspace, or no actor: the internal reads of the engine)."""
    if not isinstance(ctx, Actor):
        return None
    p = Policy.for_actor(ctx, workspace)
    return None if p.bypass else p
