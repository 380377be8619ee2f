"""Table views: the default table of every record type and the table views the YAML declares.

The state (filters, sort, quick search, grouping, the page cursor) lives in the URL. An htmx
request gets only the part it replaces: the rows after a cursor ("load more"), or the table.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from lowrise import filters
from lowrise.errors import FilterError

from . import data
from .auth import actor
from .cells import RowKit, bulk_context
from .forms import editable, picker
from .guard import may, policy, require
from .i18n import current_locale, label, say
from .render import is_htmx, render
from .runtime import rt
from .viewdefs import columns, record_type_or_404, sidebar, view_or_404
from .viewstate import SHAPES, Cond, condition_path, filterable, parse_state, sortable

bp = Blueprint("pages", __name__)


def view_url(view, **args) -> str:
    """The page of a view (tables, boards and calendars have one each)."""
    if view.type == "kanban":
        return url_for("kanban.board", type_name=view.record_type, view_name=view.name, **args)
    if view.type == "calendar":
        return url_for("calendar.month", type_name=view.record_type, view_name=view.name, **args)
    if view.name:
        return url_for("pages.table", type_name=view.record_type, view_name=view.name, **args)
    return url_for("pages.table", type_name=view.record_type, **args)


@bp.app_context_processor
def layout_context():
    from flask import g

    run = rt()
    nav = [(t, views) for t, views in sidebar(run.workspace) if may("read", t.name)] \
        if g.get("user") else []
    return {"ws": run.workspace, "nav": nav, "user": g.get("user"), "view_url": view_url}


def css_string(text: str) -> str:
    """`text` as a CSS string: quotes, backslashes and line breaks escaped as CSS reads them."""
    out = "".join(c if c.isprintable() and c not in '"\\<' else f"\\{ord(c):x} " for c in text)
    return f'"{out}"'


@bp.route("/print-head.css")
def print_head():
    """The workspace's name at the top of every printed page, beside print.css's page numbers.

    A page margin box's content cannot come from the page (no inline styles under the
    Content-Security-Policy), so this small stylesheet carries it, per locale."""
    name = css_string(label(rt().workspace))
    css = "@page { @top-left { content: " + name + "; font-size: 8pt; color: #555; } }\n"
    resp = current_app.response_class(css, mimetype="text/css")
    resp.headers["Cache-Control"] = "private, max-age=300"
    return resp


@bp.route("/")
def home():
    ws = rt().workspace
    first = next((n for n in ws.record_types if may("read", n)), None)
    if first is None:
        abort(404 if not ws.record_types else 403)
    return redirect(url_for(".table", type_name=first))


def _table_query(type_name: str, view_name: str | None):
    """A table's view, its state from the URL, and the filter it shows (the view's AND the
    person's), with the conditions that could not be applied."""
    ws = rt().workspace
    rtype = record_type_or_404(ws, type_name)
    require("read", type_name)
    view = view_or_404(ws, type_name, view_name, "table")
    state = parse_state(request.args, ws, rtype, view)
    problems = list(state.problems)
    try:
        flt = data.combined(rtype, view.filter, state.user_filter())
    except FilterError as exc:  # the view's own filter is checked by the loader; a backstop
        problems.append(say(exc))
        flt = data.combined(rtype, view.filter)
    return rtype, view, state, flt, problems


@bp.route("/r/<type_name>/")
@bp.route("/r/<type_name>/table/<view_name>")
def table(type_name: str, view_name: str | None = None):
    ws = rt().workspace
    rtype, view, state, flt, problems = _table_query(type_name, view_name)
    kit = RowKit(rtype, view.name, columns(rtype, view))
    cols = kit.fields
    locale = current_locale()
    limit = int(view.config.get("page_size") or current_app.config["LOWRISE_PAGE_SIZE"])
    appending = bool(state.after) and is_htmx()
    last_page = data.MAX_OFFSET // limit + 1  # the furthest a page number jumps
    if state.page > last_page:
        problems.append(_("Page numbers go up to %(last)s here; a filter, a search or another "
                          "sort reaches the records further on.", last=last_page))
        state.page = 1
    try:
        page = data.table_page(rtype, flt, sort=state.sort, limit=limit, after=state.after,
                               q=state.q or None, actor=actor(), show=cols, group=state.group,
                               with_total=not appending,
                               offset=0 if state.after else (state.page - 1) * limit)
    except FilterError as exc:  # a damaged cursor, an unsearchable query, or a filter, sort
        problems.append(say(exc))  # or group on a field hidden from this person: the view
        state.sort, state.group = list(view.sort) or ["-updated_at"], None  # as it is made
        flt = data.combined(rtype, view.filter)
        page = data.table_page(rtype, flt, sort=state.sort, limit=limit, after=None, q=None,
                               actor=actor(), show=cols, group=None)
    titles = data.titles_for(cols, page.rows, locale)
    group_field = rtype.fields[state.group] if state.group else None
    group_titles = {}
    if group_field is not None and group_field.kind.links:
        group_titles = data.titles({group_field.target: set(page.groups)}, locale)
    count_url = url_with(
        url_for(".table_count", type_name=type_name, view_name=view.name) if view.name
        else url_for(".table_count", type_name=type_name),
        state.args(sort=[], group=None, after=None))
    ctx = dict(
        rtype=rtype, view=view, state=state, cols=cols, kit=kit, page=page, titles=titles,
        problems=problems, group_field=group_field, group_titles=group_titles,
        prev_group=request.args.get("pg"), fields=searchable_fields(rtype),
        operators=filters.OPERATORS, shapes=SHAPES, sortable=sortable,
        view_filter=(filters.describe(data.parse_filter(rtype, view.filter), ws, locale)
                     if view.filter else ""),
        numeric=data.numeric(cols), current_type=type_name, current_view=view,
        base_url=view_url(view), title=label(view.label, locale), op_label=op_label,
        locale=locale, count_url=count_url, last_page=last_page, **bulk_context(rtype))
    if appending:
        return render("table.html", "rows", **ctx)
    return render("table.html", "table", **ctx)


@bp.route("/r/<type_name>/count")
@bp.route("/r/<type_name>/table/<view_name>/count")
def table_count(type_name: str, view_name: str | None = None):
    """The exact number of records a table shows, with its filters and quick search: asked
    for by the page once it has shown its rows (htmx), or followed as a link without
    JavaScript."""
    rtype, _view, state, flt, _problems = _table_query(type_name, view_name)
    try:
        n = data.count_rows(rtype, flt, q=state.q or None, actor=actor())
    except FilterError as exc:
        return Markup('<span class="error">{}</span>').format(exc), 400
    return Markup('<span data-total="{}">{}</span>').format(
        n, ngettext("%(num)s record", "%(num)s records", n))


def op_label(name: str, f=None) -> str:
    """An operator in words in the current locale (dates say before / after)."""
    op = filters.OPERATORS[name]
    zh = current_locale().startswith("zh")
    if f is not None and filters.flavor(f) in ("date", "datetime") and op.en_time:
        return op.zh_time if zh else op.en_time
    return op.zh if zh else op.en


@bp.route("/r/<type_name>/filter-row")
def filter_row(type_name: str):
    """One condition of the filter builder, fitted to the chosen field (htmx)."""
    ws = rt().workspace
    rtype = record_type_or_404(ws, type_name)
    i = request.args.get("i", type=int) or 0
    name = request.args.get(f"f{i}") or ""
    path = condition_path(name, rtype, ws)
    if not _may_filter_along(rtype.name, path):
        path = ()  # through a field the person may not filter by: the row starts again
    f = path[-1] if path else None
    ops = filters.operators_for(f) if f is not None else ()
    op = request.args.get(f"o{i}")
    if op not in ops:
        op = ops[0] if ops else ""
    cond = Cond(name if path else "", op, request.args.getlist(f"v{i}"), path=path)
    return render_block("table.html", "cond_row", rtype=rtype, c=cond, i=i,
                        fields=searchable_fields(rtype), op_label=op_label)


def _may_filter_along(type_name: str, path) -> bool:
    """Whether every field of a condition's path is one the person sees (unmasked)."""
    pol = policy()
    for f in path:
        if pol.field_access(type_name, f.name) not in ("visible", "read_only"):
            return False
        type_name = f.target or type_name
    return True


def searchable_fields(rtype) -> list:
    """The fields the person may filter by: those they see, not masked everywhere."""
    pol = policy()
    return [f for f in filterable(rtype)
            if pol.field_access(rtype.name, f.name) in ("visible", "read_only")]


PERIOD_WORDS = {
    "today": _l("today"), "yesterday": _l("yesterday"), "this_week": _l("this week"),
    "last_week": _l("last week"), "this_month": _l("this month"), "last_month": _l("last month"),
    "this_year": _l("this year"), "last_7_days": _l("the last 7 days"),
    "last_30_days": _l("the last 30 days"), "next_7_days": _l("the next 7 days"),
    "next_30_days": _l("the next 30 days"), "overdue": _l("overdue"),
}


def filter_value(f, c: Cond, i: int) -> Markup:
    """The value input of one filter condition, fitted to the field and the operator."""
    shape = SHAPES.get(c.op, "one")
    name, vals = f"v{i}", c.values
    first = vals[0] if vals else ""
    flav = filters.flavor(f)
    label = Markup('<label class="sr-only" for="{}">{}</label>').format(name + "-in", _("Value"))
    if shape == "none":
        return Markup("")
    if shape == "period":
        opts = Markup("").join(
            Markup('<option value="{}"{}>{}</option>').format(
                p, Markup(" selected") if p == first else "", PERIOD_WORDS.get(p, p))
            for p in filters.PERIODS)
        return label + Markup('<select id="{}" name="{}">{}</select>').format(
            name + "-in", name, opts)
    if flav in ("select", "multi") and f.options:
        many = shape == "many"
        chosen = set(vals if many else [first])
        if many and len(vals) == 1 and "," in first:
            chosen = {p.strip() for p in first.split(",")}
        opts = Markup("").join(
            Markup('<option value="{}"{}>{}</option>').format(
                o.value, Markup(" selected") if o.value in chosen else "", label_of(o.label))
            for o in f.options)
        return label + Markup('<select id="{}" name="{}"{}>{}</select>').format(
            name + "-in", name, Markup(" multiple size=3") if many else "", opts)
    if flav == "bool":
        opts = Markup("").join(
            Markup('<option value="{}"{}>{}</option>').format(
                v, Markup(" selected") if v == first else "", t)
            for v, t in (("true", _("Yes")), ("false", _("No"))))
        return label + Markup('<select id="{}" name="{}">{}</select>').format(
            name + "-in", name, opts)
    kind = "date" if flav in ("date", "datetime") else "text"
    if flav == "link" and shape == "one":
        rid = int(first) if first.isdigit() else None
        title = data.titles({f.target: {rid}}).get((f.target, rid), "") if rid else first
        return label + picker(name, name + "-in", f.target, rid or "", title)
    if shape == "pair":
        a, b = (vals + ["", ""])[:2]
        return Markup('<input type="{k}" name="{n}" value="{a}" aria-label="{la}">'
                      '<input type="{k}" name="{n}" value="{b}" aria-label="{lb}">').format(
            k=kind, n=name, a=a, b=b, la=_("From"), lb=_("To"))
    return label + Markup('<input type="{}" id="{}" name="{}" value="{}">').format(
        kind, name + "-in", name, ", ".join(vals) if shape == "many" else first)


def inline_editable(f, rtype=None, rec=None) -> bool:
    """Whether a table cell of this field can be edited in place (by this person, on this
    record, when given)."""
    if not editable(f) or f.kind.stores_files or f.kind.form_input(f).control == "textarea":
        return False
    if rtype is None:
        return True
    pol = policy()
    return pol.may("update", rtype.name) and pol.may_write_field(rtype.name, f.name, rec)


def label_of(lab) -> str:
    return label(lab, current_locale())


@bp.record_once
def _globals(state):
    state.app.jinja_env.globals.update(
        filter_value=filter_value, operators_for=filters.operators_for,
        inline_editable=inline_editable,
        record_title=lambda rtype, rec: data.title_of(rtype, rec, current_locale()))


@bp.app_template_global()
def url_with(base: str, args) -> str:
    """`base` with a query string built from a MultiDict."""
    from urllib.parse import urlencode

    qs = urlencode(list(args.items(multi=True)))
    return f"{base}?{qs}" if qs else base
