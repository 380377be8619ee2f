"""Kanban boards: one column per option of a select field, in the options' order.

A card moves by a POST that goes through Records.update with the card's version, so the
engine (and the rules it runs) decide; a refused move answers with the reason, and the
board puts the card back.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block

from lowrise import filters
from lowrise.errors import ConflictError, FilterError, NotFound, ValidationError
from lowrise.storage import query

from . import data
from .auth import actor
from .display import text
from .i18n import current_locale, label
from .render import render
from .runtime import rt
from .viewdefs import record_type_or_404, view_or_404
from .viewstate import parse_state

bp = Blueprint("kanban", __name__)

EMPTY = "__empty__"


def _setup(type_name: str, view_name: str):
    ws = rt().workspace
    rtype = record_type_or_404(ws, type_name)
    view = view_or_404(ws, type_name, view_name, "kanban")
    group = rtype.fields.get(view.config.get("group_by") or "")
    if group is None or group.type != "select":
        abort(404)
    return rtype, view, group


def _card_fields(rtype, view):
    names = view.config.get("card_fields") or []
    return [rtype.fields[n] for n in names if n in rtype.fields and n != rtype.title_field]


def _sum_field(rtype, view):
    f = rtype.fields.get(view.config.get("sum") or "")
    return f if f is not None and filters.flavor(f) == "number" else None


def _base_filter(rtype, view):
    state = parse_state(request.args, rt().workspace, rtype, view)
    return data.combined(rtype, view.filter, state.user_filter()), state


def _column_filter(rtype, group, value, base):
    cond = ({"field": group.name, "op": "is_empty"} if value is None
            else {"field": group.name, "op": "eq", "value": value})
    return filters.all_of(base, data.parse_filter(rtype, cond))


def _totals(rtype, view, group, base) -> dict:
    """{option value: {"count": n, "sum": formatted}} for every column, in one query."""
    run = rt()
    sf = _sum_field(rtype, view)
    measures = ["count"] + ([f"sum:{sf.name}"] if sf else [])
    with run.engine.connect() as conn:
        rows = query.aggregate(conn, run.schema, rtype.name, group_by=[group.name],
                               measures=measures, filter=base, ctx=actor())
    out = {}
    for r in rows:
        out[r[group.name]] = {"count": r["count"],
                              "sum": text(sf, r[f"sum:{sf.name}"]) if sf else ""}
    return out


def _cards(rtype, view, group, value, base, after=None):
    run = rt()
    limit = int(current_app.config["LOWRISE_KANBAN_PAGE"])
    shown = _card_fields(rtype, view)
    wanted = [f.name for f in shown] + [rtype.title_field, "version", group.name]
    wanted = [n for n in dict.fromkeys(wanted) if n in rtype.fields and n != "id"]
    with run.engine.connect() as conn:
        page = query.list_records(conn, run.schema, rtype.name,
                                  filter=_column_filter(rtype, group, value, base),
                                  sort=view.sort or ["-updated_at"], limit=limit, after=after,
                                  fields=wanted, ctx=actor())
    return page


@bp.route("/r/<type_name>/kanban/<view_name>")
def board(type_name: str, view_name: str):
    rtype, view, group = _setup(type_name, view_name)
    locale = current_locale()
    try:
        base, state = _base_filter(rtype, view)
    except FilterError as exc:
        flash(str(exc), "error")
        base, state = data.combined(rtype, view.filter), None
    totals = _totals(rtype, view, group, base)
    columns = []
    values = [o.value for o in group.options]
    if totals.get(None):
        values.append(None)
    all_rows = []
    for value in values:
        page = _cards(rtype, view, group, value, base)
        opt = group.option(value) if value is not None else None
        columns.append({"value": value, "key": EMPTY if value is None else value,
                        "label": label(opt.label, locale) if opt else _("(empty)"),
                        "color": opt.color if opt else "gray", "page": page,
                        "count": totals.get(value, {}).get("count", 0),
                        "sum": totals.get(value, {}).get("sum", "")})
        all_rows += page.rows
    shown = _card_fields(rtype, view)
    titles = data.titles_for(shown, all_rows, locale)
    return render("kanban.html", "board", rtype=rtype, view=view, group=group, columns=columns,
                  card_fields=shown, titles=titles, sum_field=_sum_field(rtype, view),
                  state=state, current_type=type_name, current_view=view,
                  title=label(view.label, locale))


@bp.route("/r/<type_name>/kanban/<view_name>/column/<key>")
def column(type_name: str, view_name: str, key: str):
    """More cards of one column (htmx "load more")."""
    rtype, view, group = _setup(type_name, view_name)
    value = None if key == EMPTY else key
    if value is not None and group.option(value) is None:
        abort(404)
    base, _state = _base_filter(rtype, view)
    try:
        page = _cards(rtype, view, group, value, base, after=request.args.get("after"))
    except FilterError:
        abort(400)
    shown = _card_fields(rtype, view)
    col = {"value": value, "key": key, "page": page}
    return render_block("kanban.html", "cards", rtype=rtype, view=view, group=group, col=col,
                        card_fields=shown, titles=data.titles_for(shown, page.rows,
                                                                  current_locale()))


@bp.route("/r/<type_name>/kanban/<view_name>/move", methods=["POST"])
def move(type_name: str, view_name: str):
    """Move a card to another column: an update of the group field, with the card's version."""
    run = rt()
    rtype, view, group = _setup(type_name, view_name)
    wants_json = request.accept_mimetypes.best == "application/json"
    record_id = request.form.get("id", type=int)
    to = request.form.get("to") or None
    if to == EMPTY:
        to = None
    back = url_for(".board", type_name=type_name, view_name=view_name)
    try:
        if record_id is None:
            raise NotFound(_("no card given"))
        saved = run.records.update(type_name, record_id, {group.name: to}, actor(),
                                   expected_version=request.form.get("version") or None)
    except (ValidationError, ConflictError, NotFound) as exc:
        if isinstance(exc, ValidationError):
            message = "; ".join(
                f"{label(rtype.fields[k].label)} {m}" if k in rtype.fields else m
                for k, m in exc.errors.items())
            status = 422
        else:
            message, status = str(exc), 409 if isinstance(exc, ConflictError) else 404
        if wants_json:
            return jsonify(ok=False, message=message), status
        flash(message, "error")
        return redirect(back)
    locale = current_locale()
    opt = group.option(to) if to else None
    message = _("Moved to %(column)s.", column=label(opt.label, locale) if opt else _("(empty)"))
    if not wants_json:
        flash(message, "success")
        return redirect(back)
    base, _state = _base_filter(rtype, view)
    totals = _totals(rtype, view, group, base)
    shown = _card_fields(rtype, view)
    card = render_block("kanban.html", "card", rtype=rtype, view=view, group=group, rec=saved,
                        card_fields=shown, titles=data.titles_for(shown, [saved], locale))
    cols = {(EMPTY if v is None else v): t for v, t in totals.items()}
    for o in group.options:
        cols.setdefault(o.value, {"count": 0, "sum": ""})
    return jsonify(ok=True, version=saved["version"], card=card, columns=cols, message=message)
