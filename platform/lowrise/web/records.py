"""One record: its page (fields, related records, history), its form, delete and restore.

Writes go through the engine's Records service with the request's Actor; its per-field
errors come back onto the form, and a stale version comes back as a conflict message.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _

from lowrise.access import ReasonRequired, reason_fields
from lowrise.errors import ConflictError, NotFound, ValidationError

from . import data, history
from .auth import actor
from .forms import add_errors, build_form, editable, keep_held_values, posted_version, raw_values
from .guard import (
    can_change,
    masked_fields,
    may,
    policy,
    require,
    shown_fields,
    writable_fields,
)
from .i18n import current_locale, field_problems, label, safe_next, say, say_all
from .render import render
from .runtime import rt
from .viewdefs import Section, form_sections, record_type_or_404

bp = Blueprint("records", __name__)


def _get_or_404(type_name: str, record_id: int) -> dict:
    """The record as the person may see it: 404 out of their rows, 403 for their role."""
    try:
        return rt().records.get(type_name, record_id, actor=actor())
    except NotFound:
        abort(404)


def _shown_sections(rtype, sections, record=None) -> list[Section]:
    out = []
    for s in sections:
        fields = tuple(shown_fields(rtype, s.fields, record))
        if fields:
            out.append(Section(s.label, s.columns, fields))
    return out


@bp.route("/r/<type_name>/<int:record_id>")
def show(type_name: str, record_id: int, revealed: dict | None = None,
         compose: dict | None = None, reveal_error: str | None = None):
    """The record page; `compose` keeps a refused comment's draft and error on it."""
    from .comments import record_context

    run = rt()
    ws = run.workspace
    rtype = record_type_or_404(ws, type_name)
    record = _get_or_404(type_name, record_id)
    if revealed:
        record = dict(record, **revealed)
    locale = current_locale()
    sections = _shown_sections(rtype, form_sections(ws, rtype), record)
    titles = data.titles_for(rtype.fields.values(), [record], locale)
    entries = history.entries(rtype, record_id, locale)
    related = data.related_lists(rtype, record_id, locale, record=record)
    masked = [] if revealed else masked_fields(rtype, record)
    return render("record.html", "record", rtype=rtype, record=record, sections=sections,
                  titles=titles, history=entries, related=related,
                  title=data.title_of(rtype, record, locale), current_type=type_name,
                  can_edit=can_change(rtype, record_id, "update"),
                  can_delete=can_change(rtype, record_id, "delete"),
                  masked=masked, can_reveal=bool(masked) and may("reveal", type_name),
                  reveal_reason=bool(set(masked) & reason_fields(policy(), type_name)),
                  reveal_error=reveal_error,
                  revealed=[label(f.label, locale) for f in rtype.user_fields
                            if f.name in (revealed or ())],
                  **record_context(rtype, record_id, **(compose or {})))


@bp.route("/r/<type_name>/<int:record_id>/reveal", methods=["POST"])
def reveal(type_name: str, record_id: int):
    """Show the values behind the masks of one record; written to its history (with the
    reason given, which the workspace may ask for)."""
    from lowrise.access import reveal as reveal_values

    run = rt()
    record_type_or_404(run.workspace, type_name)
    require("reveal", type_name)
    try:
        values = reveal_values(run.records, type_name, record_id, actor(),
                               reason=request.form.get("reason"))
    except NotFound:
        abort(404)
    except ReasonRequired as exc:
        return show(type_name, record_id, reveal_error=say(exc.errors["reason"])), 422
    return show(type_name, record_id, revealed=values)


def _form_page(rtype, record: dict | None):
    """The new / edit form: GET shows it, POST saves or shows it again with the errors."""
    run = rt()
    ws = run.workspace
    locale = current_locale()
    sections = _shown_sections(rtype, form_sections(ws, rtype), record)
    # only the fields this person may set are inputs; the others show as values
    fields = writable_fields(rtype, [f for s in sections for f in s.fields], record)
    initial = dict(record or {})
    copy_of = None
    if record is None:
        initial.update(defaults(fields))
        if request.args.get("copy"):
            copy_of, values = copied(rtype, fields, request.args["copy"])
            initial.update(values)
        # prefill from the query string: /r/case/new?client=12
        for f in fields:
            if f.name in request.args and editable(f):
                initial[f.name] = (request.args.getlist(f.name) if f.kind.multiple
                                   else request.args[f.name])
    form = build_form(rtype, fields, locale=locale, record=initial)
    problems: list[str] = []
    conflict = None
    status = 200
    if request.method == "POST" and form.validate_on_submit():
        values = keep_held_values(raw_values(form, fields, creating=record is None), record,
                                  fields)
        try:
            if record is None:
                saved = run.records.create(rtype.name, values, actor())
                flash(_("%(type)s created.", type=label(rtype.label)), "success")
            else:
                saved = run.records.update(rtype.name, record["id"], values, actor(),
                                           expected_version=posted_version(rtype, record["id"]))
                flash(_("Changes saved."), "success")
            return redirect(safe_next(request.form.get("next"),
                                      url_for(".show", type_name=rtype.name,
                                              record_id=saved["id"])))
        except ValidationError as exc:
            problems = add_errors(form, exc.errors, locale)
            status = 422
        except ConflictError as exc:
            conflict = say(exc)
            status = 409
        except NotFound:
            abort(404)
    elif request.method == "POST":
        status = 422
    return render("form.html", "form", status=status, rtype=rtype, record=record, form=form,
                  sections=sections, problems=problems, conflict=conflict,
                  titles=data.titles_for(fields, [record or {}], locale),
                  next=request.values.get("next", ""), current_type=rtype.name,
                  copy_of=copy_of)


def copied(rtype, fields, raw_id: str) -> tuple[dict, dict]:
    """A duplicate's first values: the record's own (links included), for the fields this
    person may set and reads in full. A unique value would be refused and a masked or hidden
    one is not the person's to copy: both start empty, as do files (a copy shares none).
    The source record (read as the person, 404 outside their rows) and the values."""
    if not raw_id.isdigit():
        abort(404)
    source = _get_or_404(rtype.name, int(raw_id))
    pol = policy()
    values = {}
    for f in fields:
        if not editable(f) or f.unique or f.name not in source or source[f.name] is None \
                or f.kind.stores_files \
                or pol.field_access(rtype.name, f.name, source) in ("masked", "hidden"):
            continue
        values[f.name] = source[f.name]
    return source, values


def defaults(fields) -> dict:
    """The values a new record starts with, as the engine would give them (`me`, `now` and
    `today` by the engine's own reading: today on the workspace's calendar)."""
    from lowrise.errors import FieldError
    from lowrise.storage.values import resolve_special

    out = {}
    me = actor()
    zone = rt().workspace.config.get("timezone") or "UTC"
    for f in fields:
        if f.default is None or not editable(f):
            continue
        raw = resolve_special(f, f.default, me, f.config.get("timezone") or zone)
        try:
            out[f.name] = f.kind.parse(f, raw)
        except FieldError:
            continue
    return out


@bp.route("/r/<type_name>/new", methods=["GET", "POST"])
def new(type_name: str):
    rtype = record_type_or_404(rt().workspace, type_name)
    require("create", type_name)
    return _form_page(rtype, None)


@bp.route("/r/<type_name>/<int:record_id>/edit", methods=["GET", "POST"])
def edit(type_name: str, record_id: int):
    rtype = record_type_or_404(rt().workspace, type_name)
    record = _get_or_404(type_name, record_id)
    if not can_change(rtype, record_id, "update"):
        abort(403)
    return _form_page(rtype, record)


@bp.route("/r/<type_name>/<int:record_id>/delete", methods=["POST"])
def delete(type_name: str, record_id: int):
    run = rt()
    rtype = record_type_or_404(run.workspace, type_name)
    try:
        run.records.delete(type_name, record_id, actor(),
                           expected_version=posted_version(rtype, record_id))
    except NotFound:
        abort(404)
    except ConflictError as exc:
        flash(say(exc), "error")
        return redirect(url_for(".show", type_name=type_name, record_id=record_id))
    except ValidationError as exc:  # a rule or a link refused the delete
        flash("; ".join(say_all(exc.errors).values()), "error")
        return redirect(url_for(".show", type_name=type_name, record_id=record_id))
    flash(_("%(type)s #%(id)s moved to the trash.", type=label(rtype.label), id=record_id),
          "success")
    return redirect(safe_next(request.form.get("next"),
                              url_for("pages.table", type_name=type_name)))


@bp.route("/trash")
def trash():
    run = rt()
    items = run.records.trash(limit=200, actor=actor())
    staff = {i["deleted_by"] for i in items if i.get("deleted_by")}
    users = run.workspace.users_type
    titles = data.titles({users: staff}, current_locale()) if users else {}
    return render("trash.html", "trash", items=items, titles=titles, users_type=users)


@bp.route("/trash/<type_name>/<int:record_id>/restore", methods=["POST"])
def restore(type_name: str, record_id: int):
    run = rt()
    rtype = record_type_or_404(run.workspace, type_name)
    try:
        run.records.restore(type_name, record_id, actor())
    except NotFound:
        abort(404)
    except ValidationError as exc:
        flash("; ".join(field_problems(rtype, exc.errors)), "error")
        return redirect(url_for(".trash"))
    flash(_("Restored."), "success")
    return redirect(url_for(".show", type_name=type_name, record_id=record_id))


@bp.route("/files/<key>")
def download(key: str):
    """An attachment, always as a download (never rendered inline as HTML), for a person
    who may read a record it is attached to."""
    try:
        path = rt().files.path(key)
    except ValueError:
        abort(404)
    if not path.is_file() or not data.file_readable(key):
        abort(404)
    name = request.args.get("name") or key
    resp = send_file(path, as_attachment=True, download_name=name,
                     mimetype="application/octet-stream")
    resp.headers["X-Content-Type-Options"] = "nosniff"
    # even opened in a tab, a stored file runs nothing and reaches nothing
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp

