"""Editing from a table: one cell in place (htmx), bulk edit and delete, and the link picker.

An inline edit carries the version the table showed; a save on a changed record is refused
with the engine's conflict message, and the row comes back as it now is.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block
from markupsafe import Markup

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
from .display import url_pattern
from .forms import build_form, raw_values
from .guard import policy, shown_fields
from .i18n import current_locale, label, safe_next
from .render import hx, is_htmx
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

    def show_url(self, rec) -> str:
        return self._show.format(id=rec["id"])

    def edit_url(self, rec) -> str:
        return self._edit.format(id=rec["id"])

    def editable(self, col: Column, rec) -> bool:
        """Whether this person may edit this cell of this record in place."""
        return col.editable and self._policy.may_write_field(self.rtype.name, col.name, rec)


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
                                   expected_version=request.form.get("_version") or None)
    except ValidationError as exc:
        message = " ".join(f"{label(f.label, locale)} {m}" if k == f.name else m
                           for k, m in exc.errors.items())
        form[f.name].lr_version = request.form.get("_version") or record["version"]
        html = _row_html(rtype, view, record, edit=f.name, edit_form=form[f.name],
                         message=message)
        return hx(_response(html, 422), trigger={"lowrise:toast": {"message": message,
                                                                   "error": True}})
    except ConflictError as exc:
        html = _row_html(rtype, view, run.records.get(type_name, record_id, actor=actor()),
                         message=str(exc), message_field=f.name)
        return hx(_response(html, 409), trigger={"lowrise:toast": {"message": str(exc),
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


@bp.route("/r/<type_name>/bulk", methods=["POST"])
def bulk(type_name: str):
    """Set one field on the selected records, or move them to the trash; all or nothing."""
    run = rt()
    rtype = record_type_or_404(run.workspace, type_name)
    back = safe_next(request.form.get("next"), url_for("pages.table", type_name=type_name))
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit()]
    if not ids:
        flash(_("Select some records first."), "info")
        return redirect(back)
    action = request.form.get("action")
    try:
        if action == "delete":
            run.records.bulk_delete(type_name, ids, actor())
            flash(_("%(num)s records moved to the trash.", num=len(ids)), "success")
        elif action == "update":
            f = _field_or_404(rtype, request.form.get("field", ""))
            raw = request.form.get("value", "")
            value = raw if f.type != "multi_select" else [p for p in raw.split(",") if p.strip()]
            run.records.bulk_update(type_name, [(i, {f.name: value or None}) for i in ids],
                                    actor())
            flash(_("%(num)s records updated.", num=len(ids)), "success")
        else:
            abort(400)
    except BulkValidationError as exc:
        first = next(iter(exc.rows.values()))
        detail = "; ".join(f"{k}: {v}" if k else v for k, v in first.items())
        flash(_("Nothing was changed: %(reason)s", reason=detail), "error")
    except (ValidationError, ConflictError, NotFound) as exc:
        flash(_("Nothing was changed: %(reason)s", reason=str(exc)), "error")
    return redirect(back)


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
