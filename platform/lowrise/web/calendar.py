"""Calendar views: the records of a month on a grid, by a date or datetime field.

Weeks start on Monday; a datetime is placed on its day in the workspace's time zone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, request
from flask_babel import format_date

from lowrise import filters
from lowrise.storage import query

from . import data
from .auth import actor
from .display import url_pattern
from .i18n import current_locale, label
from .render import render
from .runtime import rt
from .viewdefs import record_type_or_404, view_or_404

bp = Blueprint("calendar", __name__)

MAX_PER_MONTH = 1000


def _month(arg: str | None, today: date) -> date:
    try:
        y, m = (int(p) for p in (arg or "").split("-"))
        return date(y, m, 1)
    except ValueError:
        return today.replace(day=1)


def _shift(first: date, months: int) -> date:
    n = first.year * 12 + first.month - 1 + months
    return date(n // 12, n % 12 + 1, 1)


@bp.route("/r/<type_name>/calendar/<view_name>")
def month(type_name: str, view_name: str):
    run = rt()
    ws = run.workspace
    rtype = record_type_or_404(ws, type_name)
    view = view_or_404(ws, type_name, view_name, "calendar")
    df = rtype.fields.get(view.config.get("date_field") or "")
    if df is None or filters.flavor(df) not in ("date", "datetime"):
        abort(404)
    tf = rtype.fields.get(view.config.get("title_field") or rtype.title_field)
    zone = ZoneInfo(df.config.get("timezone") or ws.config.get("timezone") or "UTC")
    today = actor().now().astimezone(zone).date()
    first = _month(request.args.get("month"), today)
    start = first - timedelta(days=first.weekday())
    end = _shift(first, 1)
    end = end + timedelta(days=(7 - end.weekday()) % 7)
    span = {"field": df.name, "op": "between",
            "value": [start.isoformat(), (end - timedelta(days=1)).isoformat()]}
    flt = data.combined(rtype, view.filter, span)
    wanted = [n for n in dict.fromkeys([df.name, rtype.title_field, tf.name if tf else None])
              if n and n in rtype.fields and n != "id"]
    with run.engine.connect() as conn:
        page = query.list_records(conn, run.schema, type_name, filter=flt, sort=[df.name],
                                  limit=MAX_PER_MONTH, fields=wanted, ctx=actor())
    locale = current_locale()
    titles = data.titles_for([tf] if tf else [], page.rows, locale)
    days: dict[date, list[dict]] = {}
    show = url_pattern("records.show", type_name=type_name)  # one url_for for the month
    for rec in page.rows:
        v = rec.get(df.name)
        if v is None:
            continue
        if isinstance(v, datetime):
            at = v.astimezone(zone)
            day, time = at.date(), f"{at.hour:02d}:{at.minute:02d}"
        else:
            day, time = v, ""
        if tf is not None and tf.kind.links and rec.get(tf.name) is not None:
            name = titles.get((tf.target, rec[tf.name])) or f"#{rec[tf.name]}"
        elif tf is not None and rec.get(tf.name) not in (None, ""):
            name = tf.kind.display(tf, rec[tf.name], locale)
        else:
            name = data.title_of(rtype, rec, locale)
        days.setdefault(day, []).append({"id": rec["id"], "time": time, "title": name,
                                         "href": show.format(id=rec["id"])})
    weeks = []
    d = start
    while d < end:
        weeks.append([(d + timedelta(days=i)) for i in range(7)])
        d += timedelta(days=7)
    dow = [format_date(start + timedelta(days=i), "EEE") for i in range(7)]
    return render("calendar.html", "calendar", rtype=rtype, view=view, weeks=weeks, days=days,
                  first=first, today=today, dow=dow, date_field=df,
                  month_name=format_date(first, "yyyy MMMM" if locale == "zh" else "MMMM yyyy"),
                  prev=_shift(first, -1).strftime("%Y-%m"), next=_shift(first, 1).strftime("%Y-%m"),
                  this=today.strftime("%Y-%m"), truncated=page.next_cursor is not None,
                  current_type=type_name, current_view=view, title=label(view.label, locale))
