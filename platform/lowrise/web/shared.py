"""What a share link (/s/<token>) and a calendar feed (/feeds/<token>.ics) show to someone
who is not signed in: read-only, as the sharer (or the feed's owner) sees it now, through
lowrise.sharing. A shared page has no edit controls and no links into the app; it exports
CSV only when its link allows it. Every visit of a share link is logged. A token that opens
nothing (unknown, revoked, expired, its person's access gone) is a 404.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    make_response,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import format_date, refresh
from flask_babel import gettext as _

from lowrise import exporter
from lowrise.access import Masked
from lowrise.errors import FilterError
from lowrise.sharing import reading
from lowrise.sharing.feeds import events
from lowrise.sharing.ical import calendar
from lowrise.sharing.links import Opened

from .i18n import current_locale, label
from .runtime import rt

bp = Blueprint("shared", __name__)

PRIVATE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow",
           "Referrer-Policy": "no-referrer"}


@bp.before_request
def visitor_locale() -> None:
    """`?lang=zh|en` chooses the language without a session."""
    lang = request.args.get("lang")
    if lang in rt().workspace.locales:
        g.locale = lang
        refresh()


def _opened(token: str) -> Opened:
    found = current_app.extensions["lowrise_sharing"].links.open(
        rt().workspace, token, current_locale())
    if found is None:
        abort(make_response(render_template("sharing/gone.html", title=_("Link not found")),
                            404, PRIVATE))
    return found


def _month(arg: str | None, today: date) -> date:
    """The month asked for (`2026-12`), this month when it is not one (or far off)."""
    try:
        y, m = (int(p) for p in (arg or "").split("-"))
        if 1900 <= y <= 2999:
            return date(y, m, 1)
    except ValueError:
        pass
    return today.replace(day=1)


@bp.get("/s/<token>")
def page(token: str):
    opened = _opened(token)
    run, view, actor = rt(), opened.view, opened.actor
    links = current_app.extensions["lowrise_sharing"].links
    links.log(opened.link.id, request.remote_addr or "", "page")
    ctx = dict(view=view, token=token, rtype=run.workspace.type(view.record_type),
               expires=opened.link.expires_at, title=label(view.label),
               exportable=opened.may_export(run.workspace), display=reading.display,
               masked=lambda v: isinstance(v, Masked))
    try:
        if view.type == "table":
            ctx["table"] = reading.table_page(run.engine, run.schema, view, actor,
                                              after=request.args.get("after"))
        elif view.type == "kanban":
            ctx["board"] = reading.board(run.engine, run.schema, view, actor)
        else:
            first = _month(request.args.get("month"), actor.now().date())
            m = reading.month(run.engine, run.schema, view, actor, first)
            n = first.year * 12 + first.month - 1
            ctx.update(month=m, month_name=format_date(first, "yyyy MMMM" if current_locale()
                                                       == "zh" else "MMMM yyyy"),
                       prev=f"{(n - 1) // 12}-{(n - 1) % 12 + 1:02d}",
                       next=f"{(n + 1) // 12}-{(n + 1) % 12 + 1:02d}",
                       dow=[format_date(d, "EEE") for d in m.weeks[0]])
    except FilterError:  # the view sorts or groups by what the sharer may not see
        ctx["unreadable"] = True
    return make_response(render_template("sharing/shared.html", **ctx), 200, PRIVATE)


@bp.get("/s/<token>/export.csv")
def export(token: str):
    opened = _opened(token)
    run, view = rt(), opened.view
    if view.type != "table" or not opened.may_export(run.workspace):
        abort(404)
    current_app.extensions["lowrise_sharing"].links.log(opened.link.id,
                                                        request.remote_addr or "", "export")
    cols = reading.table_page(run.engine, run.schema, view, opened.actor, limit=1).columns
    lines = exporter.rows(run.engine, run.schema, view.record_type, cols, actor=opened.actor,
                          via="share",
                          filter=reading.view_filter(run.schema, view),
                          sort=view.sort or ["-updated_at"], locale=current_locale())
    name = quote(f"{label(view.label)}.csv")
    headers = {**PRIVATE, "Content-Disposition":
               f"attachment; filename=export.csv; filename*=UTF-8''{name}"}
    body = (chunk.encode("utf-8") for chunk in exporter.csv_text(lines))
    return Response(stream_with_context(body), headers=headers,
                    mimetype="text/csv; charset=utf-8")


@bp.get("/feeds/<token>.ics")
def feed(token: str):
    run = rt()
    found = current_app.extensions["lowrise_sharing"].feeds.open(
        run.workspace, token, current_locale())
    if found is None:
        return Response(_("This feed does not exist (any more)."), 404, PRIVATE,
                        mimetype="text/plain")
    _feed, spec, actor = found
    link = lambda t, i: url_for("records.show", type_name=t, record_id=i,  # noqa: E731
                                _external=True)
    text = calendar(events(run.engine, run.schema, spec, actor, link=link),
                    name=f"{label(spec.view.label)} · {label(run.workspace.label)}",
                    timezone=run.workspace.config.get("timezone") or "UTC", now=actor.now())
    return Response(text, 200, {**PRIVATE, "Content-Disposition":
                                f"inline; filename={spec.view.name}.ics"},
                    mimetype="text/calendar")
