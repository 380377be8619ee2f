"""The view options of sharing (docs/sharing.md), as JSON Schema: a form's `public:` block,
`share:` on tables, boards and calendars, and a calendar's `feed:`. metaschema.py adds them
to the view schema; sharing_checks.py checks what a schema cannot (fields, types, roles)."""

from __future__ import annotations

from typing import Any

_NAME = "[a-z][a-z0-9_]{0,62}"
#: a field of the form's record type, or one step through a link: client.phone
FORM_PATH = f"^{_NAME}(\\.{_NAME})?$"
REF_NAME = {"$ref": "#/$defs/name"}
REF_LABEL = {"$ref": "#/$defs/label"}


def _label(text: str) -> dict[str, Any]:
    return {**REF_LABEL, "description": text}


_PATH = {"type": "string", "pattern": FORM_PATH,
         "description": "A field of the form's record type, or of a record it links to "
                        "(client.phone): that record is made (or found) with the form's."}

PUBLIC_FORM: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["fields"],
    "description": "Lets people who manage the form publish it at a secret link, for anyone "
                   "to fill in without signing in (see docs/sharing.md).",
    "properties": {
        "fields": {
            "type": "array", "minItems": 1,
            "description": "What a visitor fills in, in order: fields, or {field, label, help, "
                           "required} to word one differently or require it here.",
            "items": {"anyOf": [_PATH, {
                "type": "object", "required": ["field"], "additionalProperties": False,
                "properties": {
                    "field": _PATH,
                    "label": _label("The field's label on the public form."),
                    "help": _label("A line under the field on the public form."),
                    "required": {"type": "boolean",
                                 "description": "Required on the public form (true), even "
                                                "where the field is not."}}}]}},
        "set": {
            "type": "object",
            "propertyNames": {"pattern": FORM_PATH},
            "description": "Values the form sets itself, as a field's input (today and now "
                           "work for dates): `stage: lead`, `client.source: online`."},
        "match": {
            "description": "How a submission is recognised as someone already known: "
                           "`client.phone` finds the linked client by phone instead of "
                           "making another; `phone` finds the form's own record. The known "
                           "record is never changed: it gets a comment with what was sent.",
            "anyOf": [_PATH, {"type": "array", "items": _PATH, "minItems": 1}]},
        "title": _label("The public page's heading (default: the view's label)."),
        "intro": _label("A paragraph above the fields."),
        "thanks": _label("What the page says once the form is sent."),
        "managed_by": {"type": "array", "items": REF_NAME, "minItems": 1,
                       "description": "Roles whose people may publish, revoke and renew the "
                                      "form's link (besides admins and those who may manage "
                                      "the record type)."},
        "limits": {
            "type": "object", "additionalProperties": False,
            "description": "Against floods and bots.",
            "properties": {
                "per_client": {"type": "integer", "minimum": 1,
                               "description": "Posts from one address in a window "
                                              "(default 5)."},
                "per_form": {"type": "integer", "minimum": 1,
                             "description": "Posts from everyone in a window (default 200)."},
                "window": {"type": "integer", "minimum": 60, "maximum": 86400,
                           "description": "The window, in seconds (default 3600)."},
                "min_seconds": {"type": "number", "minimum": 0, "maximum": 600,
                                "description": "A form sent sooner after it was opened is "
                                               "not taken (default 3)."}}},
    },
}

SHARE: dict[str, Any] = {
    "type": "boolean",
    "description": "Whether people may share this view by a read-only link (default true).",
}

FEED: dict[str, Any] = {
    "description": "The calendar's iCalendar feed (default on): false turns it off.",
    "anyOf": [{"type": "boolean"}, {
        "type": "object", "additionalProperties": False,
        "properties": {
            "past_days": {"type": "integer", "minimum": 0, "maximum": 3660,
                          "description": "Days back the feed reaches (default 60)."},
            "future_days": {"type": "integer", "minimum": 1, "maximum": 3660,
                            "description": "Days ahead the feed reaches (default 365)."},
            "details": {"type": "array", "items": REF_NAME,
                        "description": "Fields written into each event's description."}}}],
}
