"""/api/v1/approvals: the caller's approval queue (GET), and a decision on one of its tasks
(POST /api/v1/approvals/tasks/<id> with {"decision": "approve" | "refuse" | "send_back" |
"add" | "delegate", "comment", "to_step", "person"}), exactly as the queue page decides.
A task that is not the caller's, or on a record out of their rows, is 404."""

from __future__ import annotations

from typing import Any

from flask import request

from lowrise.approvals import queue as q
from lowrise.approvals.engine import install
from lowrise.errors import ValidationError
from lowrise.i18n import tr

from ..runtime import rt
from . import bp, field_errors, problem
from .records import _actor, _json, _only


def _task(row: dict[str, Any]) -> dict[str, Any]:
    ap, step = row.get("approval"), row.get("step_label")
    return {"task": row["task_id"], "approval": row["name"],
            "approval_label": ap.label.get() if ap else row["name"],
            "step": row["step"], "step_label": step.get() if step else None,
            "record_type": row["record_type"], "record_id": row["record_id"],
            "round": row["round"], "requester": row["requester_name"],
            "started_at": row["started_at"].isoformat() if row["started_at"] else None,
            "due_at": row["due_at"].isoformat() if row["due_at"] else None}


@bp.get("/approvals")
def approval_queue():
    """The tasks waiting for the caller, newest first (`before`: a task id, to page back)."""
    _only("before")
    before = request.args.get("before", type=int)
    rows = q.queue(rt().records, _actor(), before=before)
    return _json({"tasks": [_task(r) for r in rows],
                  "waiting": q.count(rt().records, _actor())})


@bp.post("/approvals/tasks/<int:task_id>")
def approval_decide(task_id: int):
    """One decision on one of the caller's tasks; 200 with where the approval stands."""
    _only()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("decision"), str):
        return problem(400, "bad-request", "Bad request",
                       'send JSON like {"decision": "approve", "comment": "..."}')
    try:
        row = install(rt().records).act(
            task_id, _actor(), body["decision"], comment=body.get("comment"),
            to_step=body.get("to_step") if isinstance(body.get("to_step"), int) else None,
            person=body.get("person") if isinstance(body.get("person"), int) else None)
    except ValidationError as exc:
        locale = _actor().locale
        return problem(422, "validation", "Decision refused",
                       "; ".join(tr(m, locale) for m in exc.errors.values()),
                       errors=field_errors({k: tr(v, locale) for k, v in exc.errors.items()}))
    return _json({"approval": row["name"], "record_type": row["record_type"],
                  "record_id": row["record_id"], "status": row["status"],
                  "round": row["round"], "step": row["step"]})
