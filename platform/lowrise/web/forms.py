"""Record forms made with WTForms from the field definitions: one widget per field type.

The form only carries raw input; the engine parses and checks it (Records.create / update),
and its per-field errors are put back on the form, so validation lives in one place.
"""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import (
    BooleanField,
    Field,
    FileField,
    MultipleFileField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.widgets import CheckboxInput, Input, ListWidget, TextInput

from lowrise.fields.file import FileUpload
from lowrise.i18n import tr
from lowrise.workspace.model import Field as WsField
from lowrise.workspace.model import RecordType

from . import data
from .display import value_html
from .i18n import label, say_about

try:  # WTForms 3.2+ takes SelectChoice; tuples are deprecated there
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    def SelectChoice(value, label):  # noqa: N802
        return (value, label)

# -- widgets -------------------------------------------------------------------------------


def picker(name: str, input_id: str, target: str, value, title: str, **attrs) -> Markup:
    """A search box that looks up records of `target`, keeping the chosen id in `name`."""
    opts_id = f"{input_id}-options"
    url = url_for("cells.pick", type_name=target)
    extra = Markup(" ").join(Markup('{}="{}"').format(k.replace("_", "-"), v)
                             for k, v in attrs.items() if k not in ("id", "required"))
    return Markup(
        '<div class="picker" data-picker>'
        '<input type="hidden" name="{name}" value="{value}" data-picker-value>'
        '<input type="search" id="{id}" name="{name}__q" value="{title}" class="picker-input"'
        ' autocomplete="off" role="combobox" aria-autocomplete="list" aria-expanded="false"'
        ' aria-controls="{opts}" placeholder="{ph}" data-picker-input'
        ' hx-get="{url}" hx-trigger="input changed delay:200ms, focus" hx-target="#{opts}"'
        ' hx-swap="innerHTML" hx-push-url="false" hx-sync="this:replace" {extra}>'
        '<ul id="{opts}" class="picker-options" role="listbox"></ul>'
        '</div>'
    ).format(name=name, value="" if value is None else value, id=input_id, title=title or "",
             opts=opts_id, url=url, ph=_("Type to search…"), extra=extra)


class PickerWidget:
    """A link or user picker: a hidden id, and a search box that asks the server for matches."""

    def __call__(self, field: Field, **kw) -> Markup:
        return picker(field.name, field.id, field.lr_field.target, field.data,
                      getattr(field, "lr_title", ""), **kw)


class PickerField(StringField):
    widget = PickerWidget()


class TypedInput(Input):
    """An <input> of the type a field type asks for (number, date, email, time...)."""

    validation_attrs = ["required", "disabled", "readonly", "maxlength", "minlength",
                        "pattern", "max", "min", "step"]


class RatingWidget:
    """Stars as radio buttons; 'none' clears the rating."""

    def __init__(self, top: int = 5):
        self.top = top

    def __call__(self, field: Field, **kw) -> Markup:
        parts = [Markup('<fieldset class="rating-input" id="{}"><legend class="sr-only">{}'
                        '</legend>').format(field.id, field.label.text)]
        current = str(field.data or "")
        for value, text in [("", _("none"))] + [(str(i), "★" * i) for i in
                                                   range(1, self.top + 1)]:
            rid = f"{field.id}-{value or 'none'}"
            parts.append(Markup(
                '<input type="radio" id="{rid}" name="{name}" value="{v}"{chk}>'
                '<label for="{rid}" title="{v}">{t}</label>').format(
                    rid=rid, name=field.name, v=value, t=text,
                    chk=Markup(" checked") if value == current else ""))
        parts.append(Markup("</fieldset>"))
        return Markup("").join(parts)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False, html_tag="ul")
    option_widget = CheckboxInput()


# -- building ------------------------------------------------------------------------------


def editable(f: WsField) -> bool:
    """Whether a person may type a value for this field in a form."""
    return not (f.system or f.read_only or f.kind.generated)


def make_field(f: WsField, locale: str) -> Field:
    """The WTForms field for one workspace field: the control its type asks for."""
    lab = label(f.label, locale)
    desc = label(f.help, locale) if f.help else ""
    kw: dict[str, Any] = {"label": lab, "description": desc}
    asked = f.kind.form_input(f)
    attrs = dict(asked.attrs)
    rk: dict[str, Any] = {}
    if f.required:
        rk["required"] = True
        rk["aria_required"] = "true"
    control = asked.control
    if control == "textarea":
        return TextAreaField(**kw, render_kw={**rk, **attrs})
    if control == "checkbox":
        return BooleanField(**kw, false_values=("false", "", "0", "off"))
    if control == "select":
        choices = [SelectChoice("", "—")] + [SelectChoice(o.value, o.label.get(locale))
                                             for o in f.options]
        return SelectField(**kw, choices=choices, validate_choice=False, render_kw=rk)
    if control == "checkboxes":
        choices = [SelectChoice(o.value, o.label.get(locale)) for o in f.options]
        return MultiCheckboxField(**kw, choices=choices, validate_choice=False)
    if control == "stars":
        return RadioField(**kw, choices=[], validate_choice=False,
                          widget=RatingWidget(int(attrs.get("max", 5))))
    if control == "file":
        cls = MultipleFileField if attrs.pop("multiple", False) else FileField
        return cls(**kw, render_kw=attrs)
    if control == "picker":
        return PickerField(**kw, render_kw=rk)
    # text, and a control a plugin's type names that the web does not draw: an input
    input_type = attrs.pop("type", "text")
    return StringField(**kw, widget=TextInput() if input_type == "text" else TypedInput(input_type),
                       render_kw={**rk, **attrs})


def form_value(f: WsField, value: Any) -> Any:
    """A stored value as the form shows it (the inverse of what parse accepts)."""
    return None if value is None else f.kind.form_value(f, value)


def build_form(rt: RecordType, fields: list[WsField], *, locale: str,
               record: dict[str, Any] | None = None, prefix: str = "",
               formdata: Any = "auto") -> FlaskForm:
    """A form for `fields` of `rt`, filled from `record` (or from the request when posted)."""
    attrs: dict[str, Any] = {}
    for f in fields:
        if editable(f):
            attrs[f.name] = make_field(f, locale)
    cls = type(f"{rt.name.title()}Form", (FlaskForm,), attrs)
    initial = {f.name: form_value(f, (record or {}).get(f.name)) for f in fields if editable(f)}
    kw: dict[str, Any] = {"data": initial, "prefix": prefix}
    if formdata != "auto":
        kw["formdata"] = formdata
    form = cls(**kw)
    refs: dict[str, set[int]] = {}
    for f in fields:
        if f.name not in form:
            continue
        wf = form[f.name]
        wf.lr_field = f
        if f.kind.stores_files:
            wf.lr_current = value_html(f, (record or {}).get(f.name))
        if f.kind.links and (rid := _int(wf.data)) is not None:
            refs.setdefault(f.target, set()).add(rid)
        if f.kind.has_options:
            _offer_held_values(f, wf)
    found = data.titles(refs, locale) if refs else {}
    for f in fields:
        if f.name in form and f.kind.links:
            wf = form[f.name]
            rid = _int(wf.data)
            if rid is not None:
                wf.lr_title = found.get((f.target, rid)) or f"#{rid}"
            else:
                wf.lr_title = request.form.get(wf.name + "__q", "") if request.method == "POST" else ""
    return form


def _offer_held_values(f: WsField, wf: Field) -> None:
    """A value the record holds that is no longer an option stays selectable, marked as such,
    instead of the form showing nothing and saving that."""
    held = wf.data if isinstance(wf.data, list) else [wf.data]
    for value in held:
        if isinstance(value, str) and value and f.option(value) is None:
            wf.choices = [*wf.choices, SelectChoice(
                value, _("%(value)s (no longer an option)", value=value))]


def keep_held_values(values: dict[str, Any], record: dict[str, Any] | None,
                     fields: list[WsField]) -> dict[str, Any]:
    """`values` without the choice fields sent back as the record holds them while that is
    no longer an option: the record keeps it (the field type would refuse it as new); and
    without a value sent back as the form showed it (a date and time to the minute): the
    record keeps its own, which the form could not show whole (its seconds), so that an
    untouched field is no change (a locked record refuses any change)."""
    if not record:
        return values
    out = dict(values)
    for f in fields:
        if f.name in out and isinstance(out[f.name], str) and not f.kind.has_options and \
                not f.kind.stores_files and record.get(f.name) is not None:
            shown = f.kind.form_value(f, record[f.name])
            if isinstance(shown, str) and shown == out[f.name]:
                del out[f.name]
                continue
        if not f.kind.has_options or f.name not in out:
            continue
        held = record.get(f.name)
        stale = [v for v in (held if isinstance(held, list) else [held])
                 if isinstance(v, str) and f.option(v) is None]
        if stale and out[f.name] == held:
            del out[f.name]
    return out


def _int(raw: Any) -> int | None:
    try:
        return int(str(raw))
    except (TypeError, ValueError):
        return None


def raw_values(form: FlaskForm, fields: list[WsField], *, creating: bool) -> dict[str, Any]:
    """What the person typed, as the engine takes it (files as FileUpload)."""
    out: dict[str, Any] = {}
    for f in fields:
        if f.name not in form:
            continue
        wf = form[f.name]
        if f.kind.stores_files:
            ups = [FileUpload(s.filename, s.read(), s.mimetype or "")
                   for s in request.files.getlist(wf.name) if s and s.filename]
            if ups:
                out[f.name] = ups
            elif request.form.get(wf.name + "__clear"):
                out[f.name] = None
            elif creating:
                out[f.name] = None
            continue
        control = f.kind.form_input(f).control
        if control == "checkbox":
            # what was posted, for the field type to read as the API's and an import's
            # values are read (a checkbox posts "y" when ticked, nothing when not)
            out[f.name] = wf.raw_data[-1] if wf.raw_data else False
        elif control == "checkboxes":
            out[f.name] = list(wf.data or []) or None
        elif f.kind.links:
            out[f.name] = wf.data or None
        else:
            out[f.name] = wf.data if wf.data not in ("", None) else None
    return out


def add_errors(form: FlaskForm, errors: dict[str, str], locale: str) -> list[str]:
    """Put the engine's per-field errors on the form; returns those no field shows."""
    rest = []
    for name, message in errors.items():
        if name and name in form:
            form[name].errors = [*(form[name].errors or []), tr(message, locale)]
        else:
            rest.append(f"{name}: {tr(message, locale)}" if name else tr(message, locale))
    return rest


def error_text(form_field: Field) -> Markup:
    """'<Label> <message>' for each error of a field: errors that name the field."""
    return Markup("<br>").join(escape(say_about(form_field.label.text, m))
                               for m in form_field.errors)


def posted_version(rtype, record_id: int, name: str = "_version") -> int | None:
    """The record version a form was made from (None when the form has none); a version that
    is empty or not a number raises ConflictError, which every form answers with "reload"."""
    from lowrise.storage.records import expected_version_of

    raw = request.form.get(name)
    return None if raw is None else expected_version_of(raw, rtype, record_id)
