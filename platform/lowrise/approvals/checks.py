"""Cross-checks of approval chains (approvals/<name>.yaml) that `lowrise check` runs: the
record type, the locked and set fields, the approvers' fields and roles, the expressions and
conditions, the durations; each problem at its place in the file, with the likely word."""

from __future__ import annotations

from typing import Any

from lowrise import expr
from lowrise.errors import LowriseError
from lowrise.workspace.checks import (
    Context,
    _check_filter,
    _field_at,
    _follow,
    _not_a_type,
    _suggest,
)
from lowrise.workspace.model import RecordType, Rule


def _check_when(ctx: Context, file: str, rt: RecordType, raw: Any, path: tuple) -> None:
    if isinstance(raw, str):
        try:
            expr.Expression(raw, allowed_names=set(rt.fields))
        except LowriseError as exc:
            ctx.report(file, path, str(exc))
    elif isinstance(raw, dict):
        from lowrise.rules import conditions as conds

        seen = len(ctx.problems)
        _check_filter(ctx, file, rt, raw, path)
        if len(ctx.problems) == seen:
            try:
                conds.parse(raw, rt, ctx.workspace)
            except LowriseError as exc:
                ctx.report(file, path, str(exc))


def _check_approver(ctx: Context, file: str, rt: RecordType, raw: Any, path: tuple) -> None:
    if not isinstance(raw, dict) or len(raw) != 1:
        return
    ((kind, value),) = raw.items()
    if value is None:  # reported already: the step needs it
        return
    if kind == "role" and value not in ctx.workspace.roles:
        ctx.report(file, (*path, "role"), f"'{value}' is not a role"
                   + (_suggest(value, ctx.workspace.roles)
                      or f" (roles: {', '.join(ctx.workspace.roles) or 'none'})"))
    elif kind == "field" and isinstance(value, str):
        f = _follow(ctx, file, rt, value, (*path, "field"))
        if f is not None and not f.kind.person and not (
                f.kind.links and f.target == ctx.workspace.users_type):
            ctx.report(file, (*path, "field"), f"'{value}' is {f.type}, not a person: name a "
                       "user field (or a link to the users type)")
    elif kind in ("manager", "person") and not ctx.workspace.users_type:
        ctx.report(file, (*path, kind), "the workspace names no users type (users: in "
                   "workspace.yaml), so there is nobody to find")
    if kind == "manager" and not (ctx.workspace.config.get("teams") or {}).get("manager"):
        ctx.report(file, (*path, kind), "workspace.yaml names no manager field (teams: "
                   "manager:), so a requester's manager cannot be found")


def check_approval(ctx: Context, decl: Rule) -> None:
    """Every problem of one approval's YAML, at its place in the file."""
    file, raw = decl.loc.file, decl.config
    if not decl.record_type:
        return
    if not ctx.type_known(decl.record_type):
        ctx.report(file, ("record_type",), _not_a_type(ctx, decl.record_type))
        return
    rt = ctx.workspace.record_types.get(decl.record_type)
    if rt is None or ctx.broken.fields.get(rt.name):
        return
    start = raw.get("start") if isinstance(raw.get("start"), dict) else {}
    _check_when(ctx, file, rt, start.get("when"), ("start", "when"))
    for i, role in enumerate(start.get("roles") or ()):
        if role not in ctx.workspace.roles:
            ctx.report(file, ("start", "roles", i), f"'{role}' is not a role"
                       + _suggest(str(role), ctx.workspace.roles))
    for i, name in enumerate(raw.get("lock") or ()):
        _field_at(ctx, file, rt, ("lock", i), name)
    _check_when(ctx, file, rt, raw.get("cancel_when"), ("cancel_when",))
    for outcome in ("on_approved", "on_refused", "on_returned", "on_restarted"):
        for name in ((raw.get(outcome) or {}).get("set") or {}):
            _field_at(ctx, file, rt, (outcome, "set", name), name)
    names: set[str] = set()
    for i, step in enumerate(raw.get("steps") or ()):
        if not isinstance(step, dict):
            continue
        path = ("steps", i)
        name = step.get("name") or f"step{i + 1}"
        if name in names:
            ctx.report(file, (*path, "name"), f"two steps are named '{name}'; name each once")
        names.add(name)
        kind = step.get("kind")
        from lowrise.workspace.approval_schema import STEP_SETTINGS

        for need in STEP_SETTINGS.get(kind, ()):
            if need not in step and not (kind == "manager" and need == "levels"):
                ctx.report(file, path, f"a {kind} step needs '{need}'", key=True)
        for key, settings in STEP_SETTINGS.items():
            for setting in settings:
                if setting in step and key != kind and setting not in STEP_SETTINGS.get(kind, ()):
                    ctx.report(file, (*path, setting), f"a {kind} step does not take "
                               f"'{setting}' (it belongs to a {key} step)", key=True)
        for j, a in enumerate(step.get("approvers") or ()):
            _check_approver(ctx, file, rt, a, (*path, "approvers", j))
        if "approver" in step:
            _check_approver(ctx, file, rt, step["approver"], (*path, "approver"))
        if kind == "role":
            _check_approver(ctx, file, rt, {"role": step.get("role")}, path)
        if kind == "field":
            _check_approver(ctx, file, rt, {"field": step.get("field")}, path)
        if kind == "manager":
            _check_approver(ctx, file, rt, {"manager": 1}, path)
        _check_when(ctx, file, rt, step.get("when"), (*path, "when"))
        timeout = step.get("timeout") if isinstance(step.get("timeout"), dict) else {}
        if "after" in timeout:
            from lowrise.rules.timing import parse_duration

            try:
                if parse_duration(timeout["after"]) <= 0:
                    ctx.report(file, (*path, "timeout", "after"), "a timeout is a duration "
                               "after the step starts, like 2d or 4h")
            except LowriseError as exc:
                ctx.report(file, (*path, "timeout", "after"), str(exc))
        if timeout.get("escalate_to"):
            _check_approver(ctx, file, rt, timeout["escalate_to"],
                            (*path, "timeout", "escalate_to"))
