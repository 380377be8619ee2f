"""A record's history from the audit log: who, when, which field, from what to what.

Values are shown as the record page shows them (labels, option chips, linked titles), so a
stage change reads "Negotiation → Deposit", not "negotiation → deposit".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import g
from flask_babel import gettext as _
from markupsafe import Markup

from lowrise.i18n import Msg, tr
from lowrise.workspace.model import RecordType

from . import data
from .display import from_json, value_html
from .i18n import label
from .runtime import rt


@dataclass
class Change:
    field: str
    before: Markup
    after: Markup


@dataclass
class Entry:
    action: str
    who: str
    at: datetime
    when: str
    version: int | None
    changes: list[Change]
    note: str | None = None


def action_label(action: str) -> str:
    return {"create": _("created"), "update": _("changed"), "delete": _("deleted"),
            "restore": _("restored"), "reveal": _("revealed"),
            "document": _("generated"), "approval": _("approval"),
            "clash": _("entered a value already registered here")}.get(action, action)


def _note(rtype: RecordType, row, locale: str) -> str | None:
    """An entry's note; a reveal's (or a clash's) names the fields, by their labels."""
    note = row.get("note")
    if note and row.get("action") == "approval":
        from .approvals import history_note

        return history_note(note, locale)
    if note and row.get("action") == "document":
        from .documents import history_note

        return history_note(note, locale)
    if note and row.get("action") in ("reveal", "clash"):
        names = [n.strip() for n in note.split(",")]
        shown = ", ".join(label(rtype.fields[n].label, locale) if n in rtype.fields else n
                          for n in names)
        if row.get("reason"):
            return _("%(fields)s (reason: %(reason)s)", fields=shown, reason=row["reason"])
        return shown
    return note


def _who(row, locale: str) -> str:
    """Who wrote an entry: a person's name as it is; the platform's own writers (demo data, the
    rules' worker, a template import: no user) in the reader's language where they have words."""
    name = row.get("actor_name")
    if not name:
        return _("system")
    return tr(Msg(name), locale) if row.get("actor") is None else name


def _babel(locale: str) -> str:
    return {"zh": "zh_CN", "en": "en_US"}.get(locale, locale)


def entries(rtype: RecordType, record_id: int, locale: str, *, limit: int = 200) -> list[Entry]:
    """The record's audit entries, newest first, ready to show."""
    run = rt()
    rows = run.records.history(rtype.name, record_id, actor=g.actor)[:limit]
    zone = ZoneInfo(run.workspace.config.get("timezone") or "UTC")
    parsed = []
    refs: dict[str, set[int]] = {}
    for row in rows:
        changes = []
        for name, pair in (row.get("changes") or {}).items():
            f = rtype.fields.get(name)
            if f is None or not isinstance(pair, (list, tuple)) or len(pair) != 2:
                continue
            before, after = from_json(f, pair[0]), from_json(f, pair[1])
            if f.kind.links and f.target:
                refs.setdefault(f.target, set()).update(
                    v for v in (before, after) if isinstance(v, int))
            changes.append((f, before, after))
        parsed.append((row, changes))
    titles = data.titles(refs, locale)
    out = []
    for row, changes in parsed:
        at = row["at"]
        out.append(Entry(
            action=row["action"], who=_who(row, locale), at=at,
            when=format_datetime(at.astimezone(zone), "medium", locale=_babel(locale)),
            version=row.get("version"), note=_note(rtype, row, locale),
            changes=[Change(label(f.label, locale),
                            value_html(f, b, titles=titles, locale=locale),
                            value_html(f, a, titles=titles, locale=locale))
                     for f, b, a in changes]))
    return out
