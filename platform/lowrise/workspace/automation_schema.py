"""The JSON Schema of an automation rule (automations/<rule>.yaml), part of metaschema.

Every key is checked: a trigger takes the settings of its kind, each action the settings of
its kind, and nothing else, so a misspelt key (`secret_evn:` would send webhooks unsigned,
`emial:` no e-mail) is an error with its likely word, never a setting quietly ignored.
TRIGGER_SETTINGS and ACTION_SETTINGS name them; rules/parse.py checks with the same lists.
"""

from __future__ import annotations

import copy
from typing import Any

from .metaschema import REF_FILTER, REF_LABEL, REF_NAME, _defs, _doc, _schema

TRIGGER_KINDS = ("created", "updated", "field_changed", "matches", "deleted", "time",
                 "schedule", "manual", "webhook", "approved", "refused")
ACTION_KINDS = ("set_fields", "create_record", "update_linked", "assign", "notify", "webhook",
                "chat", "comment", "block")
REF_CONDITION = {"$ref": "#/$defs/condition"}
#: the longest a webhook may wait for its receiver (seconds)
MAX_WEBHOOK_TIMEOUT = 300

#: the settings each kind of trigger takes, besides `kind`
TRIGGER_SETTINGS: dict[str, tuple[str, ...]] = {
    "created": (), "deleted": (), "matches": (), "updated": ("fields",),
    "field_changed": ("field", "from", "to"),
    "time": ("field", "after", "unless", "working_hours"),
    "schedule": ("cron", "limit"), "manual": ("label",),
    "webhook": ("secret_env", "secret", "record_key"),
    "approved": ("approval",), "refused": ("approval",),
}
#: the settings each kind of action takes when it is written as a mapping (set_fields takes
#: field names, checked against the record type instead)
ACTION_SETTINGS: dict[str, tuple[str, ...]] = {
    "create_record": ("type", "values"),
    "update_linked": ("link", "related", "values", "where"),
    "assign": ("field", "among", "strategy", "load", "overwrite"),
    "notify": ("to", "title", "body", "email"),
    "webhook": ("url", "secret_env", "body", "timeout", "retries", "as_role"),
    "chat": ("bot", "url", "url_env", "secret_env", "text", "timeout", "retries"),
    "comment": ("text",),
    "block": ("message", "field"),
}
#: what a setting an action needs is, for "a notify action needs 'title' (...)"
ACTION_HINTS = {
    "type": "the record type", "field": "a field name", "values": "field: value lines",
    "url": "the address called", "to": "who is told", "title": "the notification's title",
    "text": "the comment", "message": "the message shown", "expr": "an expression",
    "users": "a filter on the users",
}


def _object(props: dict[str, Any], description: str, required=()) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": props,
            "description": description, **({"required": list(required)} if required else {})}


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _per_locale(description: str) -> dict[str, Any]:
    """A message template, or one per locale ({en: ..., zh: ...}) as labels are."""
    return {"description": f"{description} Or one per locale ({{en: ..., zh: ...}}): each "
                           "reader gets theirs.",
            "anyOf": [_text(description),
                      {"type": "object", "additionalProperties": {"type": "string"}}]}


def rule_defs() -> dict[str, Any]:
    """The filter of rule conditions: the filter language plus changed / from / to tests."""
    defs = _defs()
    cond = copy.deepcopy(defs["filter"])
    ref = {"$ref": "#/$defs/condition"}
    cond["properties"].update({
        "all": {"type": "array", "items": ref, "description": "Every condition holds."},
        "any": {"type": "array", "items": ref, "description": "At least one holds."},
        "not": _doc(dict(ref), "The condition does not hold."),
        "changed": {"type": "boolean", "description": "The change touched this field."},
        "from": {"description": "The field's value before the change (or a list)."},
        "to": {"description": "The field's value after the change (or a list)."},
    })
    cond["description"] = ("A condition: the filter language, or a test of the change "
                           "{field, changed / from / to}.")
    cond["dependentRequired"] = {"op": ["field"], "value": ["op"], "changed": ["field"],
                                 "from": ["field"], "to": ["field"]}
    defs["condition"] = cond
    defs["values"] = {
        "type": "object", "minProperties": 1,
        "description": "field: value lines; a value is written as it is, or computed: "
                       "{expr: \"amount * 0.03\"}.",
        "additionalProperties": {"if": {"type": "object"}, "then": _object(
            {"expr": _text("A safe expression on the record's fields (see "
                           "docs/automations.md).")},
            "A computed value.", ["expr"])},
    }
    return defs


def _trigger() -> dict[str, Any]:
    duration = {"anyOf": [{"type": "string"}, {"type": "number"}],
                "description": "A duration: 24h, 3d, 1h30m, 45m (a bare number is hours)."}
    props: dict[str, Any] = {
        "kind": {"enum": list(TRIGGER_KINDS), "description": "created, updated, "
                 "field_changed, matches (starts to match the conditions), deleted, time, "
                 "schedule (cron), manual (a button), webhook (incoming)."},
        "fields": {"type": "array", "items": REF_NAME,
                   "description": "updated: only when one of these fields changes."},
        "field": _doc(dict(REF_NAME), "field_changed: the field; time: the date field "
                      "the delay counts from (default: when the conditions start to hold)."),
        "from": {"description": "field_changed: the value before (or a list)."},
        "to": {"description": "field_changed: the value after (or a list)."},
        "after": {"description": "time: how long after; a duration, or {by: field, "
                  "durations: {option: duration}, otherwise: duration}.",
                  "anyOf": [duration, {"type": "object", "required": ["by", "durations"],
                                       "additionalProperties": False, "properties": {
                                           "by": REF_NAME, "otherwise": duration,
                                           "durations": {"type": "object",
                                                         "additionalProperties": duration}}}]},
        "unless": _doc(dict(REF_FILTER), "time: the timer is cancelled (or does not fire) "
                       "once this holds."),
        "working_hours": {"description": "time: count working hours only: true, or "
                          "{days: [mon, ...], start: '09:00', end: '18:00'}.",
                          "anyOf": [{"type": "boolean"}, _object({
                              "days": {"type": "array", "items": {"type": "string"},
                                       "description": "mon, tue, wed, thu, fri, sat, sun."},
                              "start": _text("When a working day starts, like 09:00."),
                              "end": _text("When it ends, like 18:00.")},
                              "The working days and hours.")]},
        "cron": _text("schedule: minute hour day month weekday, in the workspace's time "
                      "zone."),
        "limit": {"type": "integer", "minimum": 1, "description": "schedule: records a run "
                  "handles at most."},
        "label": _doc(dict(REF_LABEL), "manual: the button's label."),
        "secret_env": _text("webhook: the environment variable holding the shared secret."),
        "secret": _text("webhook: the shared secret (prefer secret_env)."),
        "record_key": _text("webhook: the payload key naming the record (default id)."),
        "approval": _text("approved / refused: the approval (approvals/<name>.yaml); "
                          "default: any of the record's."),
    }
    branches = [{"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                 "then": {"properties": {"kind": props["kind"],
                                         **{s: props[s] for s in settings}},
                          "additionalProperties": False}}
                for kind, settings in TRIGGER_SETTINGS.items()]
    return {"type": "object", "required": ["kind"], "description": "What starts the rule.",
            "properties": props, "allOf": branches}


def _actions() -> dict[str, dict[str, Any]]:
    """The schema of each kind of action's settings."""
    values = {"$ref": "#/$defs/values"}
    to_item = {"anyOf": [_text("A user field (owner) or a path (owner.manager)."),
                         _object({"users": _doc(dict(REF_FILTER), "The people matching this "
                                                "filter.")}, "People by filter.", ["users"])]}
    webhook = _object({
        "url": _text("The http:// or https:// address called."),
        "secret_env": _text("The environment variable holding the secret the delivery is "
                            "signed with."),
        "body": _text("The JSON sent, as a template (default: the event)."),
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_WEBHOOK_TIMEOUT,
                    "description": "Seconds to wait for the receiver (default 10)."},
        "retries": {"type": "integer", "minimum": 0, "maximum": 25,
                    "description": "Attempts after the first (default 5)."},
        "as_role": _doc(dict(REF_NAME), "The body shows the record as this role sees it."),
    }, "A POST to a URL.", ["url"])
    return {
        "set_fields": _doc(dict(values), "Set fields of the record."),
        "create_record": _object({"type": _doc(dict(REF_NAME), "The record type created."),
                                  "values": values}, "Create a record.", ["type", "values"]),
        "update_linked": _object({
            "link": _doc(dict(REF_NAME), "The link field whose record is updated."),
            "related": _object({"type": REF_NAME, "field": REF_NAME},
                               "The records of `type` whose link `field` points here.",
                               ["type", "field"]),
            "values": values,
            "where": _doc(dict(REF_FILTER), "related: only the records matching this.")},
            "Update the linked record, or the records that link here.", ["values"]),
        "assign": _object({
            "field": _doc(dict(REF_NAME), "The user field set."),
            "among": _doc(dict(REF_FILTER), "The people it may go to."),
            "strategy": {"enum": ["round_robin", "least_loaded"],
                         "description": "round_robin (default) or least_loaded."},
            "load": _doc(dict(REF_FILTER), "least_loaded: the records counted as load."),
            "overwrite": {"type": "boolean", "description": "Set it even when it is set."}},
            "Give the record to one of a group of people.", ["field"]),
        "notify": _object({
            "to": {"description": "Who: user fields, paths or {users: filter}.",
                   "anyOf": [to_item["anyOf"][0], to_item["anyOf"][1],
                             {"type": "array", "items": to_item}]},
            "title": _per_locale("The notification's title (a template)."),
            "body": _per_locale("Its text (a template)."),
            "email": {"type": "boolean", "description": "Send it by e-mail too."}},
            "Tell people, in the inbox (and by e-mail).", ["to", "title"]),
        "webhook": {"description": "A POST to a URL: the URL, or its settings.",
                    "anyOf": [_text("The URL."), webhook]},
        "chat": _object({
            "bot": {"enum": ["wecom", "dingtalk", "feishu"],
                    "description": "The group chat's robot: wecom (企业微信), dingtalk (钉钉) "
                                   "or feishu (飞书)."},
            "url": _text("The robot's webhook address."),
            "url_env": _text("The environment variable holding the address instead (it "
                             "holds the robot's token)."),
            "secret_env": _text("dingtalk, feishu: the environment variable holding the "
                                "signing secret (加签 / 签名校验)."),
            "text": _per_locale("The message (a template); the workspace's locale is used."),
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_WEBHOOK_TIMEOUT,
                        "description": "Seconds to wait for the robot (default 10)."},
            "retries": {"type": "integer", "minimum": 0, "maximum": 25,
                        "description": "Attempts after the first (default 5)."}},
            "A message to a group chat through its robot.", ["bot", "text"]),
        "comment": {"description": "A comment on the record (a template).",
                    "anyOf": [_text("The comment."),
                              _object({"text": _per_locale("The comment, in the workspace's "
                                                           "locale.")}, "A comment.",
                                      ["text"])]},
        "block": {"description": "Refuse the change with a message (a template).",
                  "anyOf": [_text("The message."),
                            _object({"message": _per_locale("The message, in the locale of "
                                                            "whoever made the change."),
                                     "field": _doc(dict(REF_NAME), "The field it is about.")},
                                    "A refusal.", ["message"])]},
    }


def automation_schema() -> dict[str, Any]:
    """The schema of an automation rule (automations/<rule>.yaml); see docs/automations.md."""
    action = {
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "description": "One action: exactly one of " + ", ".join(ACTION_KINDS) + ".",
        "properties": {**_actions(),
                       "when": _doc(dict(REF_CONDITION), "Run this action only when this holds."),
                       "label": _doc(dict(REF_LABEL), "What the action is for.")},
        "oneOf": [{"required": [k]} for k in ACTION_KINDS],
    }
    stages = {
        "type": "object", "required": ["field"], "additionalProperties": False,
        "description": "Stage rules on a select field.",
        "properties": {
            "field": _doc(dict(REF_NAME), "The select field holding the stage."),
            "transitions": {"type": "object", "description": "from: [to, ...]; a stage not "
                            "listed may move anywhere.",
                            "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            "roles": {"type": "object", "description": "'to' or 'from -> to': the roles allowed "
                      "to make that move.",
                      "additionalProperties": {"type": "array", "items": REF_NAME}},
            "required": {"type": "object", "description": "to: fields that must be filled "
                         "before entering.",
                         "additionalProperties": {"type": "array", "items": REF_NAME}},
            "path": {"type": "array", "items": {"type": "string"}, "description": "The "
                     "standard path: each stage may go on to the next; going back or skipping "
                     "is an override."},
            "exits": {"type": "array", "items": {"type": "string"}, "description": "Stages "
                      "that may be entered from any stage (e.g. lost)."},
            "override": {"type": "object", "additionalProperties": False,
                         "description": "Who may go back or skip a step on the path, and the "
                         "field that must say why.",
                         "properties": {"roles": {"type": "array", "items": REF_NAME},
                                        "reason": REF_NAME}},
            "linked": {"type": "object", "description": "to: records of another type that "
                       "must link here before entering ({type, link, where, label}).",
                       "additionalProperties": {"type": "array", "items": {
                           "type": "object", "additionalProperties": False,
                           "required": ["type", "link"],
                           "properties": {"type": REF_NAME, "link": REF_NAME,
                                          "where": REF_FILTER, "label": REF_LABEL}}}},
        },
    }
    return _schema("automation", "Lowrise automation rule (automations/<rule>.yaml)",
                   "When something happens to a record (trigger) and the conditions hold, "
                   "run the actions; or stage rules on a select field. The file name is the "
                   "rule's name.", {
        "type": "object",
        "required": ["record_type"],
        "properties": {
            "record_type": _doc(dict(REF_NAME), "The record type the rule watches."),
            "label": _doc(dict(REF_LABEL), "The rule's label."),
            "description": _doc(dict(REF_LABEL), "What the rule is for."),
            "enabled": {"type": "boolean", "description": "false turns the rule off."},
            "trigger": _trigger(),
            "conditions": _doc(dict(REF_CONDITION), "The rule runs only when these hold."),
            "actions": {"type": "array", "items": action, "minItems": 1,
                        "description": "What the rule does, in order."},
            "stages": stages,
            "deadline": {
                "anyOf": [{"const": True}, dict(REF_LABEL)],
                "description": "A time trigger's time limit shows on the record page and the "
                               "board's cards, due or overdue (true: named by the rule's "
                               "label, or a label of its own)."},
        },
        "additionalProperties": False,
        "oneOf": [{"required": ["trigger", "actions"]}, {"required": ["stages"]}],
    }, rule_defs())
