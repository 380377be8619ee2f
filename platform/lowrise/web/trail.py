"""/audit: the reveals and exports across records (lowrise.trail), for the roles the
workspace flags `audit: true` and administrators; filtered by person, kind and dates (in the
workspace's time zone, `to` included)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, abort, g, request
from flask_babel import gettext as _

from lowrise import trail

from .guard import policy
from .i18n import current_locale, label
from .render import render
from .runtime import rt

bp = Blueprint("trail", __name__)

KINDS = ("reveal", "export")


def may_read_trail() -> bool:
    """Whether the signed-in person reads the log (the sidebar's link, the page)."""
    return g.get("actor") is not None and trail.may_read(policy())


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@bp.get("/audit")
def index():
    if not may_read_trail():
        abort(403)
    run = rt()
    ws = run.workspace
    zone = ZoneInfo(ws.config.get("timezone") or "UTC")
    args = request.args
    person = int(args["person"]) if (args.get("person") or "").isdigit() else None
    kind = args.get("kind") if args.get("kind") in KINDS else None
    start, end = _day(args.get("from")), _day(args.get("to"))
    bad = [n for n, d in (("from", start), ("to", end)) if args.get(n) and d is None]
    since = datetime.combine(start, time(), zone) if start else None
    until = datetime.combine(end + timedelta(days=1), time(), zone) if end else None
    items = trail.entries(run.engine, run.schema, policy(), person=person, since=since,
                          until=until, kind=kind)
    locale = current_locale()
    rows = [_row(ws, e, locale) for e in items]
    return render("trail.html", "trail", rows=rows, people=trail.people(run.engine, run.schema),
                  person=person, kind=kind, start=args.get("from", ""), end=args.get("to", ""),
                  bad=bad, limit=trail.LIMIT)


def _how(word: str) -> str:
    """full, masked or none, in the reader's words."""
    return {"full": _("in full"), "masked": _("masked"), "none": _("left out")}.get(word, word)


VIA = {"csv": "CSV", "xlsx": "Excel", "api-csv": "API · CSV", "api-xlsx": "API · Excel"}


def _row(ws, e: trail.TrailEntry, locale: str) -> dict:
    """One entry as the page shows it: labels in the reader's language."""
    rtype = ws.record_types.get(e.record_type)

    def field_label(name: str) -> str:
        f = rtype.fields.get(name) if rtype is not None else None
        return label(f.label, locale) if f is not None else name

    out = {"entry": e, "type": label(rtype.label, locale) if rtype else e.record_type,
           "fields": ", ".join(field_label(n) for n in e.fields)}
    if e.kind == "export":
        out["via"] = VIA.get(e.via or "", _("share link") if e.via == "share" else e.via)
        out["confidential"] = ", ".join(
            f"{field_label(n)} ({_how(how)})"
            for n, how in (e.confidential or {}).items())
    return out


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals.update(may_read_trail=may_read_trail)
