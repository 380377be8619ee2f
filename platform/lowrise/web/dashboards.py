"""Dashboard pages: the widgets of a `type: dashboard` view, computed by `lowrise.dashboards`.

The date range and the dashboard's filters live in the URL (`?range=this_month&consultant=3`,
or `?from=2026-01-01&to=2026-03-31`), so a dashboard can be bookmarked. An htmx request
that changes them gets the board alone. Charts are drawn in the browser from JSON embedded
in the page; every chart also has its numbers as an HTML table.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, g, redirect, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from lowrise import dashboards as dash
from lowrise import filters
from lowrise.storage import query
from lowrise.workspace.model import Workspace

from .auth import actor
from .i18n import current_locale, label
from .render import render
from .runtime import rt

bp = Blueprint("dashboards", __name__, url_prefix="/d")

RANGE_WORDS = {
    "last_7_days": _l("Last 7 days"), "last_30_days": _l("Last 30 days"),
    "last_90_days": _l("Last 90 days"), "this_month": _l("This month"),
    "last_month": _l("Last month"), "this_quarter": _l("This quarter"),
    "this_year": _l("This year"), "last_365_days": _l("Last 365 days"), "all": _l("All time"),
}


@bp.app_context_processor
def dashboards_nav():
    """The dashboards for the sidebar (base.html)."""
    if not g.get("user"):
        return {"dashboards_nav": []}
    return {"dashboards_nav": dash.dashboard_views(rt().workspace)}


@bp.route("/")
def index():
    found = dash.dashboard_views(rt().workspace)
    if not found:
        abort(404)
    return redirect(url_for(".show", name=found[0].name))


def _state() -> dict:
    """The app's dashboards (parsed once per workspace) and its cache of computed widgets."""
    ws = rt().workspace
    state = current_app.extensions.get("lowrise_dashboards")
    if state is None or state["workspace"] is not ws:
        seconds = float(current_app.config.get("LOWRISE_DASHBOARD_CACHE_SECONDS", 60))
        state = {"workspace": ws, "boards": {}, "cache": dash.ResultCache(max_age=seconds)}
        current_app.extensions["lowrise_dashboards"] = state
    return state


def _cache() -> dash.ResultCache | None:
    cache = _state()["cache"]
    return cache if cache.max_age > 0 else None


def _board(ws: Workspace, name: str) -> dash.Dashboard:
    view = ws.views.get(name)
    if view is None or view.type != "dashboard":
        abort(404)
    boards = _state()["boards"]
    if name not in boards:
        boards[name] = dash.load(view, ws)
    return boards[name]


@bp.route("/<name>")
def show(name: str):
    run = rt()
    ws = run.workspace
    board = _board(ws, name)
    who = actor()
    locale = current_locale()
    tz = ws.config.get("timezone") or "UTC"
    today = who.now().astimezone(filters.zone(tz)).date()
    sel = dash.select(board, request.args.to_dict(), today, ws)
    widgets = dash.compute(run.engine, run.schema, board, sel, actor=who, locale=locale,
                           workers=int(current_app.config.get("LOWRISE_DASHBOARD_WORKERS", 1)),
                           cache=None if request.args.get("fresh") else _cache())
    charts = {w.widget.name: chart_spec(w) for w in widgets
              if w.widget.kind in dash.CHARTS and not w.error}
    return render("dashboard.html", "board", board=board, view=ws.views[name], sel=sel,
                  widgets=widgets, charts=charts, presets=dash.PRESETS,
                  choices=control_choices(board, locale), drill_url=drill_url,
                  range_words=RANGE_WORDS, period_text=period_text(sel.range),
                  record_url=record_url, title=label(board.label, locale),
                  current_dashboard=name, base_url=url_for(".show", name=name))


def period_text(rng: dash.Range) -> str:
    """The range in words, and the period its changes are measured against."""
    if rng.start is None or rng.end is None:
        return str(_("All time"))
    text = _("%(start)s to %(end)s", start=format_date(rng.start), end=format_date(rng.end))
    prev = rng.previous
    if prev is not None and prev.start and prev.end:
        text += " · " + _("changes against %(start)s to %(end)s",
                          start=format_date(prev.start), end=format_date(prev.end))
    return text


def drill_url(drill: dash.Drill | None) -> str | None:
    """The table view's URL showing exactly the records behind a number (viewstate.py reads
    f0/o0/v0...)."""
    if drill is None:
        return None
    args: list[tuple[str, Any]] = []
    for i, c in enumerate(drill.conditions):
        args += [(f"f{i}", c["field"]), (f"o{i}", c["op"])]
        value = c.get("value")
        for v in value if isinstance(value, (list, tuple)) else ([] if value is None else [value]):
            args.append((f"v{i}", v if isinstance(v, str) else json.dumps(v)))
    if drill.view:
        base = url_for("pages.table", type_name=drill.record_type, view_name=drill.view)
    else:
        base = url_for("pages.table", type_name=drill.record_type)
    return f"{base}?{urlencode(args)}" if args else base


def record_url(type_name: str, record_id: int) -> str:
    return url_for("records.show", type_name=type_name, record_id=record_id)


def control_choices(board: dash.Dashboard, locale: str) -> dict[str, list[tuple[str, str]]]:
    """The values each dashboard filter offers: a select's options, or the linked records
    (people for a user field) the person may see, by title."""
    run = rt()
    ws = run.workspace
    out: dict[str, list[tuple[str, str]]] = {}
    for c in board.controls:
        type_name, field_name = next(iter(c.fields.items()))
        f = ws.type(type_name).fields[field_name]
        target = filters.link_target(f, ws)
        if f.options:
            out[c.name] = [(o.value, label(o.label, locale)) for o in f.options]
        elif target:
            trt = ws.type(target)
            shown = [trt.title_field] if trt.title_field in trt.fields else []
            with run.engine.connect() as conn:
                page = query.list_records(conn, run.schema, target, fields=shown,
                                          sort=shown or ["id"], limit=500, ctx=actor())
            me = [("me", _("Me"))] if f.kind.person else []
            out[c.name] = me + [(str(r["id"]), str(r.get(trt.title_field) or f"#{r['id']}"))
                                for r in page.rows]
        elif f.kind.flavor == "bool":
            out[c.name] = [("true", _("Yes")), ("false", _("No"))]
        else:
            out[c.name] = []
    return out


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def chart_spec(w: dash.WidgetData) -> dict[str, Any]:
    """What static/dashboards.js needs to draw one chart: labels, datasets (values, their
    text, colours, drill-down links) and the kind of chart."""
    widget = w.widget
    names = [n for n, _ in w.measures]
    plot = widget.config.get("plot") or names
    spec: dict[str, Any] = {"kind": widget.kind, "labels": [p.label for p in w.points],
                            "colors": [p.color for p in w.points],
                            "stacked": bool(widget.config.get("stacked")),
                            "horizontal": bool(widget.config.get("horizontal")),
                            "datasets": []}
    labels = dict(w.measures)
    if w.series:
        m = names[0]
        for s in w.series:
            key = f"{m}@{s.key}"
            spec["datasets"].append(_dataset(w, key, s.label, s.color))
    else:
        for n in plot if widget.kind not in ("pie", "donut", "funnel") else names[:1]:
            spec["datasets"].append(_dataset(w, n, labels.get(n, n), None))
    if widget.kind == "funnel":
        spec["rates"] = [p.extra.get("rate_text", "") for p in w.points]
    return spec


def _dataset(w: dash.WidgetData, key: str, name: str, color: str | None) -> dict[str, Any]:
    return {"label": name, "color": color,
            "data": [_number(p.values.get(key)) for p in w.points],
            "texts": [p.texts.get(key, "") for p in w.points],
            "links": [drill_url(p.drills.get(key)) for p in w.points]}
