"""Locked records: a record type's `locked:` setting (workspace.model.Locked) makes a record
immutable once its lock field holds one of the locked values (a signed or archived contract).

`Records` asks here on every update and delete, whoever writes and however (the page, an
inline or bulk edit, an import, the API, a rule, an approval): that is what makes the lock
hold on every path. Only the lock's open fields change; the roles named in `by` change the
rest (their change is in the history as every change is), never the sealed fields. The
reasons name fields, never their values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lowrise.actor import Actor
from lowrise.i18n import Msg, joined, msg
from lowrise.workspace.model import RecordType, Workspace


def _stage(rt: RecordType, before: Mapping[str, Any]):
    lock = rt.locked
    if lock is None or before is None:
        return None, None
    value = before.get(lock.field)
    return value, lock.stages.get(str(value)) if value is not None else None


def _value_label(rt: RecordType, value: Any) -> Any:
    opt = rt.fields[rt.locked.field].option(str(value))
    return opt.label if opt else str(value)


def _may_unlock(rt: RecordType, actor: Actor) -> bool:
    return bool(set(rt.locked.by) & set(actor.roles))


def _roles(ws: Workspace, rt: RecordType) -> Any:
    if not rt.locked.by:
        return msg("an administrator")
    return joined(ws.roles[r].label if r in ws.roles else r for r in rt.locked.by)


def refused(ws: Workspace, rt: RecordType, before: Mapping[str, Any] | None, changed: Iterable[str],
            actor: Actor) -> dict[str, Msg]:
    """{field: why} for the changes `actor` may not make to a locked record (empty: none)."""
    value, stage = _stage(rt, before)
    if stage is None:
        return {}
    changed = [n for n in changed if n in rt.fields and not rt.fields[n].system]
    sealed = [n for n in changed if n in stage.sealed]
    if sealed:
        return {sealed[0]: msg("%(fields)s cannot change once %(type)s is %(stage)s, not even "
                               "by %(roles)s", fields=joined(rt.fields[n].label for n in sealed),
                               type=rt.label, stage=_value_label(rt, value),
                               roles=_roles(ws, rt))}
    if _may_unlock(rt, actor):
        return {}
    closed = [n for n in changed if n not in stage.open]
    if not closed:
        return {}
    return {closed[0]: _closed(ws, rt, value, closed)}


def _closed(ws: Workspace, rt: RecordType, value: Any, names: list[str]) -> Msg:
    fields = joined(rt.fields[n].label for n in names)
    if not rt.locked.by:
        return msg("%(type)s is %(stage)s and locked: %(fields)s cannot change",
                   type=rt.label, stage=_value_label(rt, value), fields=fields)
    return msg("%(type)s is %(stage)s and locked: %(fields)s cannot change; only %(roles)s "
               "may change a locked record", type=rt.label, stage=_value_label(rt, value),
               fields=fields, roles=_roles(ws, rt))


def refused_delete(ws: Workspace, rt: RecordType, before: Mapping[str, Any] | None, actor: Actor
                   ) -> Msg | None:
    """Why `actor` may not delete this locked record (None: they may)."""
    value, stage = _stage(rt, before)
    if stage is None or _may_unlock(rt, actor) and not stage.sealed:
        return None
    if stage.sealed or not rt.locked.by:
        return msg("%(type)s is %(stage)s and locked: it cannot be deleted", type=rt.label,
                   stage=_value_label(rt, value))
    return msg("%(type)s is %(stage)s and locked: only %(roles)s may delete it",
               type=rt.label, stage=_value_label(rt, value), roles=_roles(ws, rt))


def note(ws: Workspace, rt: RecordType, record: Mapping[str, Any] | None, actor: Actor
         ) -> Msg | None:
    """What the record page says of a locked record (None: it is not locked)."""
    value, stage = _stage(rt, record)
    if stage is None:
        return None
    if _may_unlock(rt, actor):
        return msg("%(type)s is %(stage)s and locked: you may still correct it; the history "
                   "keeps who changed what", type=rt.label, stage=_value_label(rt, value))
    return msg("%(type)s is %(stage)s and locked: only %(roles)s may change it",
               type=rt.label, stage=_value_label(rt, value), roles=_roles(ws, rt))
