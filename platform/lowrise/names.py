"""Words for the platform's own codes, as messages: field types, colours, kinds of view, rule
triggers and actions, how a rule's run or message ended.

The codes are what the YAML files say (`type: currency`, `color: blue`); a person reading a
page in Chinese reads 金额 and 蓝色. `name_of(kind, code)` gives the message, or the code as
it is when it has no name here (a type added later reads as its code until it gets one).
"""

from __future__ import annotations

from lowrise.i18n import Msg, msg

FIELD_TYPES = {
    "text": msg("text"), "long_text": msg("long text"), "email": msg("e-mail address"),
    "phone": msg("phone number"), "url": msg("web address"), "integer": msg("whole number"),
    "decimal": msg("decimal number"), "currency": msg("amount of money"),
    "percent": msg("percentage"), "rating": msg("rating"), "boolean": msg("yes / no"),
    "date": msg("date"), "datetime": msg("date and time"), "duration": msg("duration"),
    "select": msg("single choice"), "multi_select": msg("multiple choice"),
    "link": msg("link to a record"), "user": msg("person"), "attachment": msg("attachment"),
    "autonumber": msg("automatic number"), "formula": msg("formula"), "id": msg("record number"),
    "lookup": msg("value from a linked record"), "rollup": msg("summary of linked records"),
    "count": msg("count of linked records"), "time": msg("time of day"),
    "rich_text": msg("rich text"), "location": msg("location"), "barcode": msg("barcode"),
    "created_by": msg("created by"), "updated_by": msg("updated by"),
}

COLORS = {
    "gray": msg("gray"), "red": msg("red"), "orange": msg("orange"), "yellow": msg("yellow"),
    "green": msg("green"), "teal": msg("teal"), "blue": msg("blue"), "indigo": msg("indigo"),
    "purple": msg("purple"), "pink": msg("pink"), "brown": msg("brown"),
}

VIEW_TYPES = {
    "table": msg("table"), "form": msg("form"), "kanban": msg("board"),
    "calendar": msg("calendar"), "dashboard": msg("dashboard"),
}

TRIGGERS = {
    "created": msg("when a record is created"), "updated": msg("when a record is changed"),
    "field_changed": msg("when a field changes"), "matches": msg("when a record comes to match"),
    "deleted": msg("when a record is deleted"), "time": msg("at a time set by a field"),
    "schedule": msg("on a schedule"), "manual": msg("by hand"),
    "webhook": msg("when called from outside"), "stages": msg("stage rules"),
    "approved": msg("when approved"), "refused": msg("when refused"),
}

ACTIONS = {
    "set_fields": msg("set fields"), "create_record": msg("create a record"),
    "update_linked": msg("change linked records"), "assign": msg("assign"),
    "notify": msg("notify"), "webhook": msg("call a web address"), "comment": msg("comment"),
    "block": msg("refuse the change"), "chat": msg("post to a group chat"),
}

RUN_STATUSES = {
    "ok": msg("done"), "failed": msg("failed"), "blocked": msg("refused the change"),
    "skipped": msg("skipped"), "depth_limit": msg("stopped: rules triggering rules too deep"),
    "fired": msg("fired"), "cancelled": msg("cancelled"),
}

MESSAGE_KINDS = {"email": msg("e-mail"), "webhook": msg("web address call"),
                 "chat": msg("group chat robot")}

MESSAGE_STATUSES = {
    "pending": msg("waiting"), "sending": msg("sending"), "delivered": msg("delivered"),
    "failed": msg("failed"), "cancelled": msg("cancelled"),
}

KINDS = {"field_type": FIELD_TYPES, "color": COLORS, "view_type": VIEW_TYPES,
         "trigger": TRIGGERS, "action": ACTIONS, "run_status": RUN_STATUSES,
         "message_kind": MESSAGE_KINDS, "message_status": MESSAGE_STATUSES}


def name_of(kind: str, code: str | None) -> Msg | str:
    """The words for `code` among the codes of `kind` (see KINDS); the code itself if none."""
    return KINDS[kind].get(code or "", code or "")
