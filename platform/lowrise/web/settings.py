"""A record type's settings page: change its fields, select options and views from the browser,
with the YAML kept as the source of truth.

Every change is a form posted to `preview` (the YAML diff, the migration plan, and the
refusals worded as `lowrise check` and `lowrise migrate` word them); the preview page posts
the same form again to `apply`, which writes the files, migrates (lowrise.workspace.edit),
and swaps the live workspace so that the next page shows the change. The files touched are
fingerprinted at preview: if one changed on disk before apply, apply is refused (preview
again). Every route needs the `manage` permission on the record type (lowrise.access.manage).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _

from lowrise.access.manage import managed_types
from lowrise.fields import registry
from lowrise.fields.choice import COLORS
from lowrise.i18n import msg, tr
from lowrise.storage.migrate_steps import KIND_NAMES
from lowrise.workspace import edit
from lowrise.workspace.metaschema import NAME_PATTERN
from lowrise.workspace.model import Field, Label, RecordType, View, Workspace

from .guard import policy
from .i18n import current_locale
from .render import render
from .runtime import live, repin, rt
from .viewdefs import record_type_or_404

bp = Blueprint("settings", __name__)

NAME = re.compile(NAME_PATTERN)
#: field types offered when adding a field (computed and system types need more than a form)
#: the types a field can be added as here: those a person types values of, whose required
#: options this page asks for (options, the linked type)
ADDABLE = tuple(n for n, t in registry.items().items()
                if t.declarable and not t.generated
                and set(t.required_options) <= {"options", "target"})
LOG_PAGE = 100


class FormProblem(Exception):
    """What is wrong with the posted form: {input name: message}."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


@bp.before_request
def _require_manage():
    """Every settings route: the record type exists and the person may manage it."""
    type_name = (request.view_args or {}).get("type_name")
    if type_name is not None:
        record_type_or_404(rt().workspace, type_name)
        policy().require("manage", type_name)
    elif not managed_types(policy()):
        abort(403)


# ----- pages -----

@bp.get("/r/<type_name>/settings")
def type_settings(type_name: str):
    return _type_page(type_name)


def _type_page(type_name: str, errors: Mapping[str, str] | None = None, status: int = 200):
    ws = rt().workspace
    rtype = ws.type(type_name)
    return render("settings/type.html", rtype=rtype, fields=rtype.user_fields,
                  views=ws.views_of(type_name), addable=[t for t in ADDABLE if t in registry],
                  colors=COLORS, targets=sorted(ws.record_types), ws=ws, errors=errors or {},
                  form=request.form, **_common(), status=status)


@bp.get("/r/<type_name>/settings/fields/<name>")
def field_settings(type_name: str, name: str):
    return _field_page(type_name, name)


def _field_page(type_name: str, name: str, errors: Mapping[str, str] | None = None,
                status: int = 200):
    rtype = rt().workspace.type(type_name)
    f = rtype.fields.get(name)
    if f is None or f.system:
        abort(404)
    return render("settings/field.html", rtype=rtype, field=f, colors=COLORS,
                  addable=[t for t in ADDABLE if t in registry],
                  errors=errors or {}, form=request.form, **_common(), status=status)


@bp.get("/r/<type_name>/settings/views/<view_name>")
def view_settings(type_name: str, view_name: str):
    return _view_page(type_name, view_name)


def _view_page(type_name: str, view_name: str, errors: Mapping[str, str] | None = None,
               status: int = 200):
    ws = rt().workspace
    view = _view_or_404(ws, type_name, view_name)
    return render("settings/view.html", rtype=ws.type(type_name), view=view,
                  errors=errors or {}, form=request.form, **_common(), status=status)


@bp.get("/settings/log")
def log():
    """The recorded schema changes, newest first: who, when, what, the YAML diff."""
    run = rt()
    t = run.schema.schema_log
    with run.engine.connect() as conn:
        if t.name in sa.inspect(conn).get_table_names():
            entries = conn.execute(sa.select(t).order_by(t.c.id.desc()).limit(LOG_PAGE)).all()
        else:  # pragma: no cover - the table is made by the first migration
            entries = []
    locale = current_locale()
    entries = [{**e._mapping, "summary": _summary(e.summary, locale)} for e in entries]
    return render("settings/log.html", entries=entries, **_common())


#: a logged migration of many steps is summed up as "create table ×9, create index ×84"
_COUNTED = re.compile(r"([a-z ]+) ×(\d+)")


def _summary(text: str | None, locale: str) -> str:
    """A schema log entry's summary in `locale`: the engine's counts of steps by kind (kept in
    English in the log) put into words; any other summary as it was written."""
    named = {kind.replace("_", " "): name for kind, name in KIND_NAMES.items()}
    found = [_COUNTED.fullmatch(p.strip()) for p in (text or "").split(",")]
    if not text or not all(m and m[1] in named for m in found):
        return text or ""
    return tr(msg(", "), locale).join(
        tr(msg("%(what)s ×%(n)s", what=named[m[1]], n=int(m[2])), locale) for m in found)


def _common() -> dict[str, Any]:
    return {"problems": live().problems, "editable": live().root is not None,
            "lang_codes": rt().workspace.locales}


def _view_or_404(ws: Workspace, type_name: str, view_name: str) -> View:
    view = ws.views.get(view_name)
    if view is None or view.record_type != type_name:
        abort(404)
    return view


# ----- preview and apply -----

@bp.post("/r/<type_name>/settings/preview")
def preview(type_name: str):
    rtype = rt().workspace.type(type_name)
    try:
        changes = changes_from_form(rt().workspace, rtype, request.form)
    except FormProblem as exc:
        return _back(type_name, exc.errors)
    if live().root is None:
        return _back(type_name, {"": _("This workspace was not loaded from a folder: there "
                                        "is no YAML file to change.")})
    try:
        proposal = _propose(changes)
    except edit.EditRefused as exc:
        return _preview_page(rtype, None, refusals=exc.problems)
    except edit.EditError as exc:
        return _back(type_name, {"": str(exc)})
    return _preview_page(rtype, proposal)


@bp.post("/r/<type_name>/settings/apply")
def apply(type_name: str):
    ws = rt().workspace
    rtype = ws.type(type_name)
    try:
        changes = changes_from_form(ws, rtype, request.form)
        if live().root is None:
            raise FormProblem({"": _("This workspace was not loaded from a folder: there is "
                                     "no YAML file to change.")})
    except FormProblem as exc:
        return _back(type_name, exc.errors)
    try:
        proposal = _propose(changes)
        if fingerprint(proposal) != request.form.get("_fingerprint"):
            raise edit.EditConflict(_("The YAML files changed on disk since the preview "
                                      "(someone edited them); look at the change again."))
        if proposal.refusals:
            return _preview_page(rtype, proposal, status=422)
        steps = edit.commit(proposal, rt().engine, actor=_who(), policy=policy())
    except edit.EditConflict as exc:
        return _preview_page(rtype, None, conflict=str(exc), status=409)
    except edit.EditRefused as exc:
        return _preview_page(rtype, None, refusals=exc.problems, status=422)
    except edit.EditError as exc:
        return _back(type_name, {"": str(exc)})
    if not live().reload(proposal):  # pragma: no cover - the files were checked before
        flash(_("The change was written but the workspace did not reload: %(why)s",
                why="; ".join(live().problems)), "error")
        return redirect(url_for("settings.type_settings", type_name=type_name))
    repin()
    flash(_("Applied: %(summary)s (%(steps)s)", summary=proposal.summary,
            steps="; ".join(steps) or _("no database change")), "success")
    return redirect(_after(type_name, request.form))


def _propose(changes) -> edit.Proposal:
    """The change checked against the files and the database (the workspace in use is what
    the files hold, unless they have problems: then they are loaded again)."""
    current = None if live().problems else rt().workspace
    with rt().engine.connect() as conn:
        return edit.preview(live().root, changes, conn=conn, workspace=current)


def fingerprint(proposal: edit.Proposal) -> str:
    """The files a change touches, as they were when it was previewed."""
    h = hashlib.sha256()
    for rel in sorted(proposal.before):
        h.update(rel.encode() + b"\0" + (proposal.before[rel] or "\0none").encode() + b"\0")
    return h.hexdigest()


def _preview_page(rtype: RecordType, proposal: edit.Proposal | None, *,
                  refusals: list[str] | None = None, conflict: str | None = None,
                  status: int | None = None):
    refusals = list(refusals or (proposal.refusals if proposal else []))
    hidden = [(k, v) for k, vs in request.form.lists() for v in vs
              if k not in ("csrf_token", "_fingerprint")]
    if status is None:
        status = 422 if refusals else 200
    return render("settings/preview.html", rtype=rtype, proposal=proposal,
                  refusals=refusals, conflict=conflict, hidden=hidden,
                  plan_lines=proposal.plan.describe_lines() if proposal and proposal.plan
                  else [], fingerprint=fingerprint(proposal) if proposal else "",
                  back=_after(rtype.name, request.form), **_common(), status=status)


def _back(type_name: str, errors: Mapping[str, str]):
    """The page the form came from, with its errors (nothing was written)."""
    page = request.form.get("_page", "")
    if page.startswith("field:"):
        return _field_page(type_name, page[6:], errors, 422)
    if page.startswith("view:"):
        return _view_page(type_name, page[5:], errors, 422)
    return _type_page(type_name, errors, 422)


def _after(type_name: str, form: Mapping[str, str]) -> str:
    page = form.get("_page", "")
    if page.startswith("field:"):
        return url_for("settings.field_settings", type_name=type_name,
                       name=form.get("new") or page[6:])
    if page.startswith("view:"):
        return url_for("settings.view_settings", type_name=type_name, view_name=page[5:])
    return url_for("settings.type_settings", type_name=type_name)


def _who() -> str:
    user = g.get("user")
    return getattr(user, "email", None) or getattr(user, "name", None) or "unknown"


# ----- forms to changes -----

def changes_from_form(ws: Workspace, rtype: RecordType, form) -> list:
    """The change a settings form asks for; FormProblem when the input is not usable."""
    kind = form.get("change", "")
    build = BUILDERS.get(kind)
    if build is None:
        raise FormProblem({"": _("Unknown change '%(kind)s'.", kind=kind)})
    return build(ws, rtype, form)


def _field(rtype: RecordType, form, key: str = "name") -> Field:
    f = rtype.fields.get(form.get(key, ""))
    if f is None or f.system:
        raise FormProblem({key: _("%(type)s has no field '%(name)s'.", type=rtype.name,
                                  name=form.get(key, ""))})
    return f


def _new_name(rtype: RecordType, form, key: str) -> str:
    name = (form.get(key) or "").strip()
    if not name:
        raise FormProblem({key: _("Give the field a name.")})
    if not NAME.match(name):
        raise FormProblem({key: _("'%(name)s' is not a usable name: use lower-case letters, "
                                  "digits and _, starting with a letter (at most 63).",
                                  name=name)})
    if name in rtype.fields:
        raise FormProblem({key: _("%(type)s already has a field '%(name)s'.",
                                  type=rtype.name, name=name)})
    return name


def _label(ws: Workspace, form, prefix: str, current: Label | None) -> Any:
    """The label in the form (label_en, label_zh...): a string, a per-locale map, or None."""
    texts = {loc: (form.get(f"{prefix}_{loc}") or "").strip() for loc in _locale_order(ws, current)}
    texts = {k: v for k, v in texts.items() if v}
    if current is not None and texts == _label_texts(ws, current):
        return ...  # unchanged
    if not texts:
        return None
    values = set(texts.values())
    return values.pop() if len(values) == 1 and len(texts) == len(ws.locales) else texts


def _locale_order(ws: Workspace, current: Label | None) -> list[str]:
    """Locales in the order the files write labels: the label's own, else the workspace's."""
    written = [k for k in (current or ws.label).texts if k in ws.locales]
    return written + [loc for loc in ws.locales if loc not in written]


def _label_texts(ws: Workspace, label: Label | None) -> dict[str, str]:
    """What a label's inputs show, locale by locale."""
    if label is None:
        return {}
    t = label.texts
    return {loc: t.get(loc, t.get("", "")) for loc in ws.locales if t.get(loc, t.get("", ""))}


def _options(form) -> list[dict[str, Any]]:
    """`value | label | colour` lines of the add-field form."""
    out, seen = [], set()
    for n, line in enumerate((form.get("options") or "").splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        value = parts[0]
        _check_option_value(value, "options", n)
        if value in seen:
            raise FormProblem({"options": _("Line %(n)s: the option '%(value)s' is there "
                                            "twice.", n=n, value=value)})
        seen.add(value)
        option: dict[str, Any] = {"value": value}
        if len(parts) > 1 and parts[1]:
            option["label"] = parts[1]
        if len(parts) > 2 and parts[2]:
            if parts[2] not in COLORS:
                raise FormProblem({"options": _("Line %(n)s: '%(color)s' is not a colour "
                                                "(colours: %(colors)s).", n=n, color=parts[2],
                                                colors=", ".join(COLORS))})
            option["color"] = parts[2]
        out.append(option)
    return out


def _check_option_value(value: str, key: str, line: int | None = None) -> None:
    where = _("Line %(n)s: ", n=line) if line else ""
    if not value:
        raise FormProblem({key: where + _("Give the option a value.")})
    if "|" in value or len(value) > 63:
        raise FormProblem({key: where + _("'%(value)s' is not a usable option value (no |, "
                                          "at most 63 characters).", value=value)})


def _add_field(ws: Workspace, rtype: RecordType, form) -> list:
    name = _new_name(rtype, form, "name")
    ftype = form.get("type", "")
    if ftype not in ADDABLE or ftype not in registry:
        raise FormProblem({"type": _("Choose a field type.")})
    definition: dict[str, Any] = {"type": ftype}
    label = _label(ws, form, "label", None)
    if label is not None:
        definition["label"] = label
    if form.get("required"):
        definition["required"] = True
    if registry.get(ftype).has_options:
        options = _options(form)
        if not options:
            raise FormProblem({"options": _("A %(type)s field needs at least one option, one "
                                            "a line.", type=ftype)})
        definition["options"] = options
    if "target" in registry.get(ftype).required_options:
        target = form.get("target", "")
        if target not in ws.record_types:
            raise FormProblem({"target": _("Choose the record type it links to.")})
        definition["target"] = target
    after = form.get("after") or None
    if after is not None and after not in rtype.fields:
        raise FormProblem({"after": _("%(type)s has no field '%(name)s'.", type=rtype.name,
                                      name=after)})
    return [edit.AddField(rtype.name, name, definition, after=after)]


def _edit_field(ws: Workspace, rtype: RecordType, form) -> list:
    f = _field(rtype, form)
    changed: dict[str, Any] = {}
    for key, current in (("label", f.label), ("help", f.help)):
        value = _label(ws, form, key, current)
        if value is not ...:
            changed[key] = value
    ftype = form.get("type") or f.type
    if ftype != f.type:
        if ftype not in ADDABLE or ftype not in registry:
            raise FormProblem({"type": _("Choose a field type.")})
        changed["type"] = ftype
    required = bool(form.get("required"))
    if required != f.required:
        changed["required"] = True if required else None
    if not changed:
        raise FormProblem({"": _("Nothing was changed.")})
    return [edit.EditField(rtype.name, f.name, changed)]


def _rename_field(ws: Workspace, rtype: RecordType, form) -> list:
    f = _field(rtype, form)
    return [edit.RenameField(rtype.name, f.name, _new_name(rtype, form, "new"))]


def _moved(items: list[str], item: str, direction: str) -> list[str]:
    i = items.index(item)
    j = i - 1 if direction == "up" else i + 1
    if direction not in ("up", "down") or not 0 <= j < len(items):
        raise FormProblem({"": _("It cannot move that way.")})
    items[i], items[j] = items[j], items[i]
    return items


def _move_field(ws: Workspace, rtype: RecordType, form) -> list:
    f = _field(rtype, form)
    order = _moved([x.name for x in rtype.user_fields], f.name, form.get("direction", ""))
    return [edit.ReorderFields(rtype.name, order)]


def _select_field(rtype: RecordType, form) -> Field:
    f = _field(rtype, form, "field")
    if not f.options:
        raise FormProblem({"field": _("%(name)s has no options (it is not a select).",
                                      name=f.name)})
    return f


def _option_settings(ws: Workspace, form, current) -> dict[str, Any]:
    out: dict[str, Any] = {}
    label = _label(ws, form, "label", current.label if current else None)
    if label is not ...:
        out["label"] = label
    color = form.get("color") or ""
    if color and color not in COLORS:
        raise FormProblem({"color": _("'%(color)s' is not a colour (colours: %(colors)s).",
                                      color=color, colors=", ".join(COLORS))})
    if color and (current is None or color != current.color):
        out["color"] = color
    return out


def _add_option(ws: Workspace, rtype: RecordType, form) -> list:
    f = _select_field(rtype, form)
    value = (form.get("value") or "").strip()
    _check_option_value(value, "value")
    if f.option(value) is not None:
        raise FormProblem({"value": _("%(name)s already has the option '%(value)s'.",
                                      name=f.name, value=value)})
    option = {"value": value, **{k: v for k, v in _option_settings(ws, form, None).items()
                                 if v is not None}}
    return [edit.AddOption(rtype.name, f.name, option)]


def _edit_option(ws: Workspace, rtype: RecordType, form) -> list:
    f = _select_field(rtype, form)
    current = f.option(form.get("value", ""))
    if current is None:
        raise FormProblem({"value": _("%(name)s has no option '%(value)s'.", name=f.name,
                                      value=form.get("value", ""))})
    changed = _option_settings(ws, form, current)
    if not changed:
        raise FormProblem({"": _("Nothing was changed.")})
    return [edit.EditOption(rtype.name, f.name, current.value, changed)]


def _move_option(ws: Workspace, rtype: RecordType, form) -> list:
    f = _select_field(rtype, form)
    values = [o.value for o in f.options]
    if form.get("value") not in values:
        raise FormProblem({"value": _("%(name)s has no option '%(value)s'.", name=f.name,
                                      value=form.get("value", ""))})
    order = _moved(values, form["value"], form.get("direction", ""))
    return [edit.ReorderOptions(rtype.name, f.name, order)]


def _names(text: str) -> list[str]:
    return [n.strip() for n in re.split(r"[,\s]+", text or "") if n.strip()]


def _add_column(ws: Workspace, rtype: RecordType, form) -> list:
    view = _form_view(ws, rtype, form)
    f = _field(rtype, form, "field")
    columns = list(view.config.get("columns") or [])
    if f.name in columns:
        raise FormProblem({"field": _("The view shows %(name)s already.", name=f.name)})
    return [edit.EditView(view.name, {"columns": [*columns, f.name]})]


def _edit_view(ws: Workspace, rtype: RecordType, form) -> list:
    view = _form_view(ws, rtype, form)
    changed: dict[str, Any] = {}
    label = _label(ws, form, "label", view.label)
    if label is not ...:
        changed["label"] = label
    if "columns" in form:
        columns = _names(form["columns"])
        unknown = [c for c in columns if c not in rtype.fields]
        if unknown:
            raise FormProblem({"columns": _("%(type)s has no field %(names)s.",
                                            type=rtype.name, names=", ".join(unknown))})
        if columns != list(view.config.get("columns") or []):
            changed["columns"] = columns or None
    if not changed:
        raise FormProblem({"": _("Nothing was changed.")})
    return [edit.EditView(view.name, changed)]


def _form_view(ws: Workspace, rtype: RecordType, form) -> View:
    view = ws.views.get(form.get("view", ""))
    if view is None or view.record_type != rtype.name:
        raise FormProblem({"view": _("%(type)s has no view '%(name)s'.", type=rtype.name,
                                     name=form.get("view", ""))})
    return view


BUILDERS = {
    "add_field": _add_field, "edit_field": _edit_field, "rename_field": _rename_field,
    "move_field": _move_field, "add_option": _add_option, "edit_option": _edit_option,
    "move_option": _move_option, "add_column": _add_column, "edit_view": _edit_view,
}


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals.update(label_texts=lambda label: _label_texts(rt().workspace, label))
    app.before_request(_tell_about_problems)

    @app.context_processor
    def settings_context():
        def may_manage(type_name: str) -> bool:
            return g.get("actor") is not None and policy().may("manage", type_name)

        return {"may_manage": may_manage, "workspace_problems": live().problems}


def _tell_about_problems() -> None:
    """Once a session, tell people who manage the schema that the files on disk have errors."""
    problems = live().problems
    if (not problems or request.method != "GET" or g.get("user") is None
            or request.headers.get("HX-Request") == "true"):
        return
    key = hashlib.sha256("\n".join(problems).encode()).hexdigest()[:16]
    if session.get("lr_problems_seen") == key or not managed_types(policy()):
        return
    session["lr_problems_seen"] = key
    flash(_("The workspace files have errors; the server keeps running on the last good "
            "version: %(problems)s", problems="; ".join(problems)), "error")
