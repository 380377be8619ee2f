"""Approval chains as typed data, read once from approvals/<name>.yaml (see docs/approvals.md).

The loader checked every key against workspace/approval_schema.py and lowrise.approvals.checks
checked names against the workspace, so reading here only shapes what is already known good.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lowrise import expr, filters
from lowrise.rules import conditions as conds
from lowrise.rules.timing import parse_duration
from lowrise.workspace.model import Label, Rule, Workspace

ApproverKind = Literal["person", "field", "role", "manager"]


@dataclass(frozen=True)
class Approver:
    """Who decides one slot of a step: a fixed person, a user field, a role or a manager."""

    kind: ApproverKind
    value: Any  # the person's name or e-mail, the field path, the role, the level


@dataclass(frozen=True)
class When:
    """An expression on the record, or a condition of the rules' language."""

    source: Any
    expression: expr.Expression | None = None
    condition: conds.Condition | None = None

    def holds(self, before: Mapping[str, Any] | None, after: Mapping[str, Any],
              changed: frozenset[str], ctx: filters.FilterContext, tz: str) -> bool:
        if self.expression is not None:
            try:
                return bool(self.expression.evaluate(after, now=ctx.clock(), tz=tz))
            except (expr.ExpressionError, TypeError, ValueError, ZeroDivisionError):
                return False
        return conds.holds(self.condition, conds.Facts(before, after, changed, ctx))


@dataclass(frozen=True)
class Step:
    name: str
    label: Label
    kind: str  # one | all | any | role | manager | field
    approvers: tuple[Approver, ...]
    levels: int = 1
    when: When | None = None
    timeout: float | None = None  # seconds
    escalate_to: Approver | None = None

    @property
    def needs_all(self) -> bool:
        return self.kind == "all"


@dataclass(frozen=True)
class Outcome:
    set: Mapping[str, Any]
    revert: bool = False


@dataclass(frozen=True)
class Approval:
    """One declared approval chain of a record type."""

    name: str
    record_type: str
    label: Label
    steps: tuple[Step, ...]
    start_when: When | None
    button: Label | None
    button_roles: tuple[str, ...] | None
    lock: tuple[str, ...]
    on_approved: Outcome
    on_refused: Outcome
    on_returned: Outcome
    on_restarted: Outcome
    cancel_when: When | None = None
    on_create: bool = True
    enabled: bool = True
    file: str = ""


def _when(raw: Any, rt, ws: Workspace) -> When | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return When(raw, expression=expr.Expression(raw))
    return When(raw, condition=conds.parse(raw, rt, ws))


def _approver(raw: Mapping[str, Any]) -> Approver:
    ((kind, value),) = raw.items()
    return Approver(kind, value)


def _step(i: int, raw: Mapping[str, Any], rt, ws: Workspace) -> Step:
    kind = raw["kind"]
    if kind in ("all", "any"):
        approvers = tuple(_approver(a) for a in raw.get("approvers") or ())
    elif kind == "one":
        approvers = (_approver(raw["approver"]),)
    elif kind == "role":
        approvers = (Approver("role", raw["role"]),)
    elif kind == "field":
        approvers = (Approver("field", raw["field"]),)
    else:  # manager: resolved a level at a time
        approvers = (Approver("manager", 1),)
    timeout = raw.get("timeout") or {}
    name = raw.get("name") or f"step{i + 1}"
    return Step(name, Label.of(raw.get("label"), name), kind, approvers,
                levels=int(raw.get("levels") or 1), when=_when(raw.get("when"), rt, ws),
                timeout=parse_duration(timeout["after"]) if timeout else None,
                escalate_to=_approver(timeout["escalate_to"]) if timeout.get("escalate_to")
                else None)


def _outcome(raw: Any) -> Outcome:
    raw = raw or {}
    return Outcome(dict(raw.get("set") or {}), bool(raw.get("revert")))


def parse_approval(decl: Rule, ws: Workspace) -> Approval:
    """One approval's typed data (its YAML was checked when the workspace loaded)."""
    raw = decl.config
    rt = ws.type(decl.record_type)
    start = raw.get("start") or {}
    button = start.get("button")
    roles = start.get("roles")
    return Approval(
        decl.name, rt.name, Label.of(raw.get("label"), decl.name),
        tuple(_step(i, s, rt, ws) for i, s in enumerate(raw.get("steps") or ())),
        _when(start.get("when"), rt, ws), Label.of(button, decl.name) if button else None,
        tuple(roles) if roles is not None else None, tuple(raw.get("lock") or ()),
        _outcome(raw.get("on_approved")), _outcome(raw.get("on_refused")),
        _outcome(raw.get("on_returned")), _outcome(raw.get("on_restarted")), _when(raw.get("cancel_when"), rt, ws),
        bool(start.get("on_create", True)), bool(raw.get("enabled", True)), decl.loc.file)


_CACHE: dict[int, tuple[Workspace, dict[str, Approval]]] = {}
_LOCK = threading.Lock()


def approvals_of(ws: Workspace) -> dict[str, Approval]:
    """The workspace's approvals by name, parsed on first use."""
    with _LOCK:
        hit = _CACHE.get(id(ws))
        if hit is None or hit[0] is not ws:
            if len(_CACHE) > 16:
                _CACHE.clear()
            hit = (ws, {name: parse_approval(d, ws) for name, d in ws.approvals.items()})
            _CACHE[id(ws)] = hit
        return hit[1]


def for_type(ws: Workspace, type_name: str) -> list[Approval]:
    return [a for a in approvals_of(ws).values() if a.record_type == type_name and a.enabled]
