"""Stage rules on a select field: allowed transitions, who may make each, and the fields that
must be filled before a record enters a stage. The rules engine enforces them on every write;
the kanban board and the form ask `check_move` before offering a move."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lowrise.actor import Actor
from lowrise.i18n import Lazy, msg, tr
from lowrise.workspace.model import RecordType

from .model import StageRules


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
        said = self.reasons[0] if self.reasons else ""
        for reason in self.reasons[1:]:  # one message, each reason put into words when shown
            said = msg("%(done)s; %(why)s", done=said, why=reason)
        return said


@dataclass(frozen=True)
class StageMove:
    field: str
    old: Any
    new: Any
    verdict: Verdict = field(default_factory=lambda: Verdict(True))


def _label(rt: RecordType, name: str, value: Any, locale: str) -> Any:
    """An option's label (a Label, put into words where the message is shown)."""
    f = rt.fields[name]
    opt = f.option(str(value)) if value is not None else None
    return opt.label if opt else str(value)


def check(rules: StageRules, rt: RecordType, record: Mapping[str, Any] | None,
          new_values: Mapping[str, Any], actor: Actor) -> Verdict:
    """Judge a move of `record` (None: a new record) with `new_values` applied."""
    name = rules.field
    old = None if record is None else record.get(name)
    new = new_values.get(name, old)
    if new == old or new is None:
        return Verdict(True)
    merged = {**(record or {}), **new_values}
    loc = actor.locale
    field_label = rt.fields[name].label
    reasons, missing = [], []
    if record is not None and old is not None and old in rules.transitions and \
            new not in rules.transitions[old]:
        allowed = rules.transitions[old]
        where = Lazy(lambda locale: tr(msg(", "), locale).join(
            tr(_label(rt, name, v, loc), locale) for v in allowed)) if allowed else msg("nowhere")
        reasons.append(msg("%(field)s cannot go from %(old)s to %(new)s (from there: %(where)s)",
                           field=field_label, old=_label(rt, name, old, loc),
                           new=_label(rt, name, new, loc), where=where))
    if not actor.system:
        wanted = rules.roles.get((str(old), str(new))) or rules.roles.get(("*", str(new)))
        if wanted and not set(wanted) & set(actor.roles):
            reasons.append(msg("only %(roles)s may move %(field)s to %(new)s",
                               roles=", ".join(wanted), field=field_label,
                               new=_label(rt, name, new, loc)))
    for need in rules.required.get(str(new), ()):
        if merged.get(need) in (None, "", []):
            missing.append(need)
    if missing:
        labels = Lazy(lambda locale: tr(msg(", "), locale).join(
            rt.fields[m].label.get(locale) for m in missing))
        reasons.append(msg("fill in %(fields)s before moving %(field)s to %(new)s",
                           fields=labels, field=field_label, new=_label(rt, name, new, loc)))
    return Verdict(not reasons, tuple(reasons), tuple(missing))


def errors_of(rules: StageRules, verdict: Verdict) -> dict[str, str]:
    """A ValidationError's errors for a refused move: on the stage field and the missing ones."""
    out = {rules.field: verdict.message}
    for m in verdict.missing:
        out.setdefault(m, msg("is required for this stage"))
    return out
