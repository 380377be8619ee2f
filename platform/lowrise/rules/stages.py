"""Stage rules on a select field: allowed transitions, who may make each, the fields that
must be filled before a record enters a stage, and (optionally) a standard path that moves
one step at a time, where going back or skipping is an override that only some roles make,
with a reason. The rules engine enforces them on every write; the kanban board and the form
ask `check_move` before offering a move.

Every reason is a `Msg`: it is put into words in the reader's language when shown."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from lowrise.actor import Actor
from lowrise.i18n import Lazy, Msg, joined, language, msg, tr
from lowrise.workspace.model import RecordType

from .model import LinkedNeed, StageRules

#: does the record have the linked record this need asks for? (None: not known here)
LinkedCheck = Callable[[LinkedNeed], bool] | None


@dataclass(frozen=True)
class Verdict:
    """May this move happen? If not, `reasons` says why, in words, and `missing` lists the
    fields to fill first."""

    allowed: bool
    reasons: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)

    def as_msg(self) -> Msg:
        """The reasons as one message, put into words when shown."""
        return msg("%(reasons)s", reasons=_Reasons(self.reasons))

    def say(self, locale: str | None) -> str:
        """The reasons in `locale`."""
        return ("；" if language(locale) == "zh" else "; ").join(
            tr(r, locale) for r in self.reasons)


@dataclass(frozen=True)
class StageMove:
    field: str
    old: Any
    new: Any
    verdict: Verdict = field(default_factory=lambda: Verdict(True))


def _label(rt: RecordType, name: str, value: Any) -> Any:
    f = rt.fields[name]
    opt = f.option(str(value)) if value is not None else None
    return opt.label if opt else str(value)


def _roles(rules: StageRules, names) -> Lazy:
    return joined(rules.role_labels.get(n, n) for n in names)


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == [] or (isinstance(v, str) and not v.strip())


def _path_reasons(rules: StageRules, rt: RecordType, record, new_values, old, new,
                  actor: Actor) -> list:
    """Why a move off the standard path is refused (nothing when it is on the path, or an
    override the actor may make and gave a reason for)."""
    name, path = rules.field, rules.path
    if new in rules.exits:
        return []
    if record is None or old is None:
        if new == path[0] or actor.system or set(rules.override_roles) & set(actor.roles):
            return []
        return [msg("a new record starts at %(first)s; starting at %(new)s needs %(roles)s",
                    first=_label(rt, name, path[0]), new=_label(rt, name, new),
                    roles=_roles(rules, rules.override_roles))]
    if old in path and path.index(old) + 1 < len(path) and path[path.index(old) + 1] == new:
        return []  # the next step
    if actor.system:
        return []
    if not set(rules.override_roles) & set(actor.roles):
        nxt = path[path.index(old) + 1] if old in path and path.index(old) + 1 < len(path) \
            else None
        where = [_label(rt, name, v) for v in ([nxt] if nxt else []) + list(rules.exits)]
        return [msg("moves one step at a time: from %(old)s it may go to %(where)s; "
                    "going back or skipping a step needs %(roles)s",
                    old=_label(rt, name, old), where=joined(where),
                    roles=_roles(rules, rules.override_roles))]
    if rules.reason and _empty(new_values.get(rules.reason)):
        return [msg("say why in %(reason)s: moving from %(old)s to %(new)s goes back or skips "
                    "a step", reason=rt.fields[rules.reason].label,
                    old=_label(rt, name, old), new=_label(rt, name, new))]
    return []


def check(rules: StageRules, rt: RecordType, record: Mapping[str, Any] | None,
          new_values: Mapping[str, Any], actor: Actor, linked: LinkedCheck = None) -> Verdict:
    """Judge a move of `record` (None: a new record) with `new_values` applied. `linked`
    answers whether a linked record a stage needs exists (None: not checked here)."""
    name = rules.field
    old = None if record is None else record.get(name)
    new = new_values.get(name, old)
    if new == old or new is None:
        return Verdict(True)
    merged = {**(record or {}), **new_values}
    fl = rt.fields[name].label
    reasons: list = []
    missing: list[str] = []
    if record is not None and old is not None and old in rules.transitions and \
            new not in rules.transitions[old]:
        allowed = rules.transitions[old]
        reasons.append(msg("cannot go from %(old)s to %(new)s (from there: %(where)s)",
                           old=_label(rt, name, old), new=_label(rt, name, new),
                           where=joined(_label(rt, name, v) for v in allowed) if allowed
                           else msg("nowhere")))
    if rules.path and new in (*rules.path, *rules.exits):
        reasons += _path_reasons(rules, rt, record, new_values, old, new, actor)
    if not actor.system:
        wanted = rules.roles.get((str(old), str(new))) or rules.roles.get(("*", str(new)))
        if wanted and not set(wanted) & set(actor.roles):
            reasons.append(msg("only %(roles)s may move %(field)s to %(new)s",
                               roles=_roles(rules, wanted), field=fl,
                               new=_label(rt, name, new)))
    for need in rules.required.get(str(new), ()):
        if _empty(merged.get(need)):
            missing.append(need)
    if missing:
        reasons.append(msg("fill in %(fields)s before moving to %(new)s",
                           fields=joined(rt.fields[m].label for m in missing),
                           new=_label(rt, name, new)))
    if linked is not None:
        for need in rules.linked.get(str(new), ()):
            if not linked(need):
                reasons.append(msg("needs %(what)s before moving to %(new)s",
                                   what=need.label, new=_label(rt, name, new)))
    return Verdict(not reasons, tuple(reasons), tuple(missing))


def errors_of(rules: StageRules, verdict: Verdict) -> dict[str, str]:
    """A ValidationError's errors for a refused move: on the stage field and the missing ones."""
    out: dict[str, str] = {rules.field: verdict.as_msg()}
    for m in verdict.missing:
        out.setdefault(m, msg("is required for this stage"))
    return out


class _Reasons(Lazy):
    """Several reasons as one parameter, each in the reader's language."""

    __slots__ = ()

    def __init__(self, reasons):
        super().__init__(partial(_say_all, tuple(reasons)))


def _say_all(reasons, locale: str) -> str:
    return ("；" if language(locale) == "zh" else "; ").join(tr(r, locale) for r in reasons)
