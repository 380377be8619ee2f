"""Editing from a table: one cell in place (htmx), bulk edit and delete, and the link picker.

An inline edit carries the version the table showed; a save on a changed record is refused
with the engine's conflict message, and the row comes back as it now is.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block
from markupsafe import Markup, escape

from lowrise.errors import (
    BulkValidationError,
    ConflictError,
    FilterError,
    Forbidden,
    NotFound,
    ValidationError,
)
from lowrise.storage import query

from . import data
from .auth import actor
from .display import text, url_pattern, value_html
from .forms import build_form, posted_version, raw_values
from .guard import policy, shown_fields
from .i18n import current_locale, field_problems, label, safe_next, say
from .render import htmx_redirect, hx, is_htmx
from .runtime import rt
from .viewdefs import columns, record_type_or_404, view_or_404

bp = Blueprint("cells", __name__)

PICK_LIMIT = 12


class Column:
    """One column of a table page: its field, whether its cells may be edited in place at all,
    and its edit link's pieces."""

    __slots__ = ("field", "name", "editable", "edit_title", "_cell")

    def __init__(self, kit: RowKit, f) -> None:
        self.field, self.name = f, f.name
        self.editable = kit.may_update and inline_editable(f)
        self.edit_title = _("Edit %(field)s", field=label(f.label, kit.locale))
        self._cell = url_pattern("cells.cell", type_name=kit.rtype.name, field=f.name,
                                 view=kit.view_name, v="{v}") if self.editable else None

    def cell_url(self, rec) -> str:
        return self._cell.format(id=rec["id"], v=rec.get("version") or "")


class RowKit:
    """What every row of a table shares, worked out once a page rather than once a cell: the
    columns the person sees, the URLs (record, form, cell editor) with the id left to fill
    in, the words of the row, and who may edit what. A table of 50 rows and 8 columns has 400
    cells: a `url_for` or a `gettext` per cell was most of the page's time."""

    def __init__(self, rtype, view_name: str | None, cols) -> None:
        self.rtype, self.view_name = rtype, view_name
        self.locale = current_locale()
        self._policy = policy()
        self.may_update = self._policy.may("update", rtype.name)
        self.columns = [Column(self, f) for f in shown_fields(rtype, cols)]
        self.fields = [c.field for c in self.columns]
        self.select_label = _("Select")
        self._show = url_pattern("records.show", type_name=rtype.name)
        self._edit = url_pattern("records.edit", type_name=rtype.name)
        # the record page's Duplicate, beside each row's record link
        self.may_create = self._policy.may("create", rtype.name)
        self._copy = url_for("records.new", type_name=rtype.name) + "?copy={id}"
        self.copy_label = _("Duplicate")

    def show_url(self, rec) -> str:
        return self._show.format(id=rec["id"])

    def edit_url(self, rec) -> str:
        return self._edit.format(id=rec["id"])

    def editable(self, col: Column, rec) -> bool:
        """Whether this person may edit this cell of this record in place."""
        return col.editable and self._policy.may_write_field(self.rtype.name, col.name, rec)

    def cell(self, col: Column, rec, titles, first: bool = False,
             message: str | None = None) -> Markup:
        """One cell of a row as it reads: the value (the first column links to the record),
        a message about it, and its edit link when the person may edit it in place. Written
        here rather than in the row macro: a page has hundreds of cells, and a template spent
        several calls on each. Every value goes through `escape` (display.value_html)."""
        f, v, rid = col.field, rec.get(col.name), rec["id"]
        if not first:
            inner = value_html(f, v, titles=titles, locale=self.locale)
        elif f.kind.links or f.kind.has_options:  # a chip or a link of its own
            inner = Markup(f'{value_html(f, v, titles=titles, locale=self.locale)} '  # nosec B704 - every value in it is escaped
                           f'<a class="row-link" href="{escape(self.show_url(rec))}">#{rid}</a>')
        else:
            shown = text(f, v, self.locale) or f"#{rid}"
            inner = Markup(f'<a class="row-link" href="{escape(self.show_url(rec))}">'  # nosec B704 - every value in it is escaped
                           f'{escape(shown)}</a>')
        if first and self.may_create:
            inner += Markup(  # nosec B704 - every value in it is escaped
                f' <a class="row-copy" href="{escape(self._copy.format(id=rid))}" '
                f'title="{escape(self.copy_label)}" '
                f'aria-label="{escape(self.copy_label)} #{rid}">⧉</a>')
        if message:
            inner += Markup(f'<p class="cell-error" role="alert">{escape(message)}</p>')  # nosec B704 - every value in it is escaped
        if self.editable(col, rec):
            inner += Markup(  # nosec B704 - every value in it is escaped
                f'<a class="cell-edit" href="{escape(self.edit_url(rec))}" '
                f'hx-get="{escape(col.cell_url(rec))}" hx-target="closest td" '
                f'hx-swap="innerHTML" title="{escape(col.edit_title)}" '
                f'aria-label="{escape(col.edit_title)}">✎</a>')
        return Markup(f'<td class="cell t-{escape(f.type)}">{inner}</td>')  # nosec B704 - every value in it is escaped

    def cells(self, rec, titles) -> Markup:
        """Every cell of a row (a row without an open editor)."""
        return Markup("\n  ").join(self.cell(c, rec, titles, i == 0)
                                   for i, c in enumerate(self.columns))


def _row_html(rtype, view, record, **extra) -> str:
    kit = RowKit(rtype, view.name, columns(rtype, view))
    titles = data.titles_for(kit.fields, [record], kit.locale)
    return render_block("_row.html", "row", kit=kit, rec=record, titles=titles, **extra)


def _view(rtype):
    return view_or_404(rt().workspace, rtype.name, request.values.get("view") or None, "table")


def inline_editable(f, rtype=None, rec=None) -> bool:
    from .pages import inline_editable as editable_here

    return editable_here(f, rtype, rec)


def _field_or_404(rtype, name: str):
    f = rtype.fields.get(name)
    if f is None or not inline_editable(f) or \
            policy().field_access(rtype.name, f.name) == "hidden":
        abort(404)
    return f


@bp.route("/r/<type_name>/<int:record_id>/row")
def row(type_name: str, record_id: int):
    """A table row as it is now (the cancel button of an inline edit)."""
    rtype = record_type_or_404(rt().workspace, type_name)
    try:
        record = rt().records.get(type_name, record_id, actor=actor())
    except NotFound:
        abort(404)
    return _row_html(rtype, _view(rtype), record)


@bp.route("/r/<type_name>/<int:record_id>/cell/<field>", methods=["GET", "POST"])
def cell(type_name: str, record_id: int, field: str):
    """GET: the editor of one cell. POST: save it; the whole row comes back."""
    run = rt()
    rtype = record_type_or_404(run.workspace, type_name)
    f = _field_or_404(rtype, field)
    view = _view(rtype)
    try:
        record = run.records.get(type_name, record_id, actor=actor())
    except NotFound:
        abort(404)
    if not inline_editable(f, rtype, record):
        abort(403)
    locale = current_locale()
    if request.method == "GET":
        form = build_form(rtype, [f], locale=locale, record=record, formdata=None)
        wf = form[f.name]
        wf.lr_version = request.args.get("v") or record["version"]
        return render_block("_row.html", "cell", rtype=rtype, view_name=view.name, rec=record,
                            f=f, wf=wf)
    form = build_form(rtype, [f], locale=locale, record=record)
    values = raw_values(form, [f], creating=False)
    try:
        saved = run.records.update(type_name, record_id, values, actor(),
                                   expected_version=posted_version(rtype, record_id))
    except ValidationError as exc:
        message = " ".join(field_problems(rtype, exc.errors, locale))
        form[f.name].lr_version = request.form.get("_version") or record["version"]
        html = _row_html(rtype, view, record, edit=f.name, edit_form=form[f.name],
                         message=message)
        return hx(_response(html, 422), trigger={"lowrise:toast": {"message": message,
                                                                   "error": True}})
    except ConflictError as exc:
        html = _row_html(rtype, view, run.records.get(type_name, record_id, actor=actor()),
                         message=say(exc), message_field=f.name)
        return hx(_response(html, 409), trigger={"lowrise:toast": {"message": say(exc),
                                                                   "error": True}})
    if not is_htmx():
        flash(_("Changes saved."), "success")
        return redirect(safe_next(request.form.get("next"),
                                  url_for("records.show", type_name=type_name,
                                          record_id=record_id)))
    return _row_html(rtype, view, saved)


def _response(body: str, status: int):
    from flask import make_response

    return make_response(body, status)


BULK_PREFIX = "bulk-"


def bulk_fields(rtype) -> list:
    """The fields bulk edit offers: those the person may set in place on this type."""
    pol = policy()
    return [f for f in rtype.user_fields if inline_editable(f, rtype)
            and pol.field_access(rtype.name, f.name) != "hidden"]


def bulk_input(rtype, f, *, posted: bool = False):
    """The typed input of bulk edit for one field (a select's options, a date input, a
    picker, a checkbox, a number with its bounds...): the record form's widget, named
    `bulk-<field>`; filled from the request when `posted`."""
    form = build_form(rtype, [f], locale=current_locale(), prefix=BULK_PREFIX,
                      formdata=None if not posted else "auto")
    return form, form[f.name]


def bulk_context(rtype, f=None, *, posted: bool = False, error: str | None = None,
                 selected: int = 0) -> dict:
    """What the bulk-edit bar shows: the fields, the chosen one's input, an error at it."""
    fields = bulk_fields(rtype)
    f = f or (fields[0] if fields else None)
    wf = bulk_input(rtype, f, posted=posted)[1] if f is not None else None
    return {"bulk_fields": fields, "bulk_field": f, "bulk_wf": wf, "bulk_error": error,
            "bulk_selected": selected}


@bp.route("/r/<type_name>/bulk-input")
def bulk_field(type_name: str):
    """The bulk-edit bar's input for the chosen field (htmx, when the field changes)."""
    rtype = record_type_or_404(rt().workspace, type_name)
    f = _field_or_404(rtype, request.args.get("field", ""))
    if f not in bulk_fields(rtype):
        abort(404)
    return render_block("table.html", "bulk_value", rtype=rtype, **bulk_context(rtype, f))


@bp.route("/r/<type_name>/bulk", methods=["POST"])
def bulk(type_name: str):
    """Set one field on the selected records, or move them to the trash; all or nothing.

    The value comes from the field's own typed input and is checked by the engine for every
    record before any is written; a refusal names the field (and the record, when only some
    records refuse it) next to the input (htmx) or in a message (without JavaScript)."""
    run = rt()
    rtype = record_type_or_404(run.workspace, type_name)
    back = safe_next(request.form.get("next"), url_for("pages.table", type_name=type_name))
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit()]
    action = request.form.get("action")
    f = None
    if action == "update":
        f = _field_or_404(rtype, request.form.get("field", ""))
        if f not in bulk_fields(rtype):
            abort(404)
    elif action != "delete":
        abort(400)
    if not ids:
        return _bulk_refused(rtype, f, back, _("Select some records first."), 0, "info")
    locale = current_locale()
    try:
        if action == "delete":
            run.records.bulk_delete(type_name, ids, actor())
            done = _("%(num)s records moved to the trash.", num=len(ids))
        else:
            form, _wf = bulk_input(rtype, f, posted=True)
            value = raw_values(form, [f], creating=False).get(f.name)
            run.records.bulk_update(type_name, [(i, {f.name: value}) for i in ids], actor())
            done = _("%(num)s records updated.", num=len(ids))
    except BulkValidationError as exc:
        parts = []
        for i, errors in exc.rows.items():  # by the row's position in the batch
            rid = ids[i] if 0 <= i < len(ids) else i + 1
            for k, m in errors.items():
                parts += [f"#{rid}: {p}" for p in field_problems(rtype, {k: m}, locale)]
        return _bulk_refused(rtype, f, back, _("Nothing was changed: %(reason)s",
                                                reason="; ".join(parts[:5])), len(ids))
    except ValidationError as exc:
        detail = "; ".join(field_problems(rtype, exc.errors, locale))
        return _bulk_refused(rtype, f, back, _("Nothing was changed: %(reason)s",
                                                reason=detail), len(ids))
    except (ConflictError, NotFound, Forbidden) as exc:
        return _bulk_refused(rtype, f, back, _("Nothing was changed: %(reason)s",
                                                reason=say(exc)), len(ids))
    flash(done, "success")
    return htmx_redirect(back)


def _bulk_refused(rtype, f, back: str, message: str, selected: int, category: str = "error"):
    """A bulk edit that changed nothing: the bar again with the message at the field's input
    and what was typed (htmx), or back to the table with the message."""
    if not is_htmx():
        flash(message, category)
        return redirect(back)
    html = render_block("table.html", "bulk_form", rtype=rtype, next_url=back,
                        **bulk_context(rtype, f, posted=f is not None, error=message,
                                       selected=selected))
    return hx(_response(html, 422), trigger={"lowrise:toast": {"message": message,
                                                               "error": True}})


@bp.route("/r/<type_name>/pick")
def pick(type_name: str):
    """Records of a type matching what was typed, as picker options (htmx)."""
    run = rt()
    rtype = record_type_or_404(run.workspace, type_name)
    q = next((v for k, v in request.args.items() if k.endswith("__q")),
             request.args.get("q", "")).strip()
    locale = current_locale()
    title = rtype.title_field if rtype.title_field in rtype.fields else None
    fields = [title] if title else []
    try:
        with run.engine.connect() as conn:
            page = query.list_records(conn, run.schema, type_name, limit=PICK_LIMIT,
                                      fields=fields, ctx=actor(), q=q or None,
                                      sort=[title] if title and rtype.fields[title].kind.sortable
                                      and not q else ["-updated_at"])
    except (FilterError, Forbidden):  # a type one may not read has nothing to pick
        page = query.Page([], None)
    items = [Markup('<li role="option" id="{t}-opt-{id}" data-id="{id}" data-title="{title}" '
                    'aria-selected="false"><span>{title}</span>'
                    '<span class="muted">#{id}</span></li>').format(
        t=type_name, id=r["id"], title=data.title_of(rtype, r, locale)) for r in page.rows]
    if not items:
        items = [Markup('<li class="none" role="option" aria-disabled="true">{}</li>').format(
            _("No match"))]
    return Markup("").join(items)
