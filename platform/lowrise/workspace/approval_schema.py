"""The JSON Schema of an approval chain (approvals/<name>.yaml), part of metaschema.

Every key is checked, as in automations: a misspelt `lokc:` would leave a contract's terms
open to change while it is approved, so it is an error with its likely word, never a setting
quietly ignored. lowrise.approvals.model reads the same keys (see docs/approvals.md).
"""

from __future__ import annotations

from typing import Any

from .automation_schema import REF_CONDITION, rule_defs
from .metaschema import REF_LABEL, REF_NAME, _doc, _schema

STEP_KINDS = ("one", "all", "any", "role", "manager", "field")
APPROVER_KEYS = ("person", "field", "role", "manager")
#: what each kind of step takes besides name, label, kind, when and timeout
STEP_SETTINGS: dict[str, tuple[str, ...]] = {
    "one": ("approver",), "all": ("approvers",), "any": ("approvers",), "role": ("role",),
    "manager": ("levels",), "field": ("field",),
}

_DURATION = {"anyOf": [{"type": "string"}, {"type": "number"}],
             "description": "A duration: 24h, 3d, 1h30m, 45m (a bare number is hours)."}
_WHEN = {"anyOf": [{"type": "string", "minLength": 1}, REF_CONDITION],
         "description": "An expression on the record (discount > 3, template == 'custom') "
                        "or a condition (the rules' condition language)."}


def _approver() -> dict[str, Any]:
    return {
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "maxProperties": 1,
        "description": "One approver: {person: a name or e-mail}, {field: a user field or "
                       "path}, {role: a role} or {manager: the level above the requester}.",
        "properties": {
            "person": {"type": "string", "minLength": 1,
                       "description": "A fixed person: the name or e-mail of a staff record."},
            "field": {"type": "string", "minLength": 1,
                      "description": "The person in this user field (or a path like "
                                     "case.consultant.manager)."},
            "role": _doc(dict(REF_NAME), "Anyone with this role (one of them decides)."),
            "manager": {"type": "integer", "minimum": 1, "maximum": 10,
                        "description": "The requester's manager (1), their manager (2)..."},
        },
    }


def _outcome() -> dict[str, Any]:
    return {
        "type": "object", "additionalProperties": False,
        "description": "What the record gets when the approval ends this way.",
        "properties": {
            "set": {"type": "object", "propertyNames": REF_NAME, "minProperties": 1,
                    "description": "Field values written to the record, like {status: "
                                   "approved}."},
            "revert": {"type": "boolean", "description": "Put the locked fields back to "
                       "their values before the change that started the approval."},
        },
    }


def approval_schema() -> dict[str, Any]:
    """The schema of an approval chain (approvals/<name>.yaml); see docs/approvals.md."""
    approver = _approver()
    step = {
        "type": "object", "additionalProperties": False, "required": ["kind"],
        "description": "One step: who approves it and how many of them must.",
        "properties": {
            "name": _doc(dict(REF_NAME), "The step's name (default: step1, step2...)."),
            "label": _doc(dict(REF_LABEL), "The step's label, like 经理审批."),
            "kind": {"enum": list(STEP_KINDS), "description": "one (one approver), all "
                     "(会签: every approver), any (或签: the first of them), role (anyone "
                     "with the role), manager (the requester's manager and up to `levels`), "
                     "field (the person in a user field)."},
            "approver": approver,
            "approvers": {"type": "array", "items": approver, "minItems": 1,
                          "description": "all / any: the approvers."},
            "role": _doc(dict(REF_NAME), "role: the role whose holders approve."),
            "levels": {"type": "integer", "minimum": 1, "maximum": 10,
                       "description": "manager: how many levels up, one after the other "
                                      "(default 1)."},
            "field": {"type": "string", "minLength": 1,
                      "description": "field: the user field (or path) naming the approver."},
            "when": _doc(dict(_WHEN), "The step applies only when this holds."),
            "timeout": {
                "type": "object", "additionalProperties": False, "required": ["after"],
                "description": "When nobody decided in time, the step is escalated.",
                "properties": {
                    "after": _DURATION,
                    "escalate_to": approver,
                },
            },
        },
    }
    start = {
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "description": "When the approval starts: when a write makes `when` hold, and/or "
                       "from a button on the record page.",
        "properties": {
            "when": _WHEN,
            "button": _doc(dict(REF_LABEL), "A button on the record page that starts it."),
            "on_create": {"type": "boolean", "description": "false: a new record does not "
                          "start it, only a change does (default true)."},
            "roles": {"type": "array", "items": REF_NAME, "uniqueItems": True,
                      "description": "Roles that may press the button (default: whoever "
                                     "may update the record)."},
        },
    }
    return _schema("approval", "Lowrise approval chain (approvals/<name>.yaml)",
                   "Steps of approvers a record goes through; what it locks while and after "
                   "it is approved. The file name is the approval's name.", {
        "type": "object",
        "required": ["record_type", "start", "steps"],
        "additionalProperties": False,
        "properties": {
            "record_type": _doc(dict(REF_NAME), "The record type it approves."),
            "label": _doc(dict(REF_LABEL), "The approval's label, like 合同审批."),
            "start": start,
            "steps": {"type": "array", "items": step, "minItems": 1,
                      "description": "The steps, in order."},
            "lock": {"type": "array", "items": REF_NAME, "uniqueItems": True,
                     "description": "Fields nobody may change while it runs; changing them "
                                    "after approval starts it again."},
            "cancel_when": _doc(dict(_WHEN), "A change that makes this hold withdraws a "
                                "running round (like a contract put back to draft)."),
            "on_approved": _outcome(),
            "on_refused": _outcome(),
            "on_returned": _doc(_outcome(), "When an approver sends it back to the "
                                "requester."),
            "on_restarted": _doc(_outcome(), "When a change of locked fields after approval "
                                 "starts it again (like status back to in review)."),
            "enabled": {"type": "boolean", "description": "false: not started (default true)."},
        },
    }, rule_defs())
