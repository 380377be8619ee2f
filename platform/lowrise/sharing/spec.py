"""What a view's YAML says about sharing, as typed data: a form's `public:` block
(PublicForm), whether a view may be shared by link, and a calendar's feed (FeedSpec).

The loader has checked the YAML (workspace/sharing_checks.py); parsing here only reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lowrise.workspace.model import Field, Label, View, Workspace
from lowrise.workspace.sharing_checks import form_items, match_paths

#: the kinds of view that may be shared by link
SHAREABLE = ("table", "kanban", "calendar")
DEFAULT_LIMITS = {"per_client": 5, "per_form": 200, "window": 3600, "min_seconds": 3.0}


@dataclass(frozen=True)
class FormField:
    """One field a visitor fills in: `path` is `name` or `link.name` (a linked record's)."""

    path: str
    field: Field
    link: str | None = None
    label: Label | None = None
    help: Label | None = None
    required: bool = False

    @property
    def name(self) -> str:
        return self.field.name

    @property
    def input_name(self) -> str:
        """The name of its input on the page (a path's dot is no good in a form's names)."""
        return "f_" + self.path.replace(".", "__")

    def shown_label(self) -> Label:
        return self.label or self.field.label

    def shown_help(self) -> Label | None:
        """The form's own help only: a field's help is written for staff, not visitors."""
        return self.help

    @property
    def must(self) -> bool:
        return self.required or self.field.required


@dataclass(frozen=True)
class PublicForm:
    """A form view that may be published: what a visitor fills in, what the form sets, how a
    known record is recognised, who manages the link, and the limits against floods."""

    view: View
    record_type: str
    fields: tuple[FormField, ...]
    #: own field -> raw value; and link -> {field of the linked type: raw value}
    fixed: Mapping[str, Any] = field(default_factory=dict)
    fixed_links: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: "" (the form's own record) or a link -> the field a known record is found by
    match: Mapping[str, str] = field(default_factory=dict)
    title: Label | None = None
    intro: Label | None = None
    thanks: Label | None = None
    managed_by: tuple[str, ...] = ()
    per_client: int = 5
    per_form: int = 200
    window: int = 3600
    min_seconds: float = 3.0

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def links(self) -> tuple[str, ...]:
        """The link fields whose records the form fills in (asked for or set)."""
        return tuple(dict.fromkeys([*(f.link for f in self.fields if f.link),
                                    *self.fixed_links]))

    def heading(self) -> Label:
        return self.title or self.view.label


def _label(raw: Any) -> Label | None:
    return Label.of(raw, "") if raw not in (None, "") else None


def public_form(ws: Workspace, view: View | None) -> PublicForm | None:
    """The public form a view declares, or None (not a form, or no `public:` block)."""
    if view is None or view.type != "form" or view.record_type not in ws.record_types:
        return None
    raw = view.config.get("public")
    if not isinstance(raw, dict):
        return None
    rt = ws.type(view.record_type)
    items = {i: item for i, item in enumerate(raw.get("fields") or [])}
    fields = []
    for i, path in form_items(raw):
        f, link = _field_of(ws, rt.name, path)
        if f is None:
            continue
        item = items[i] if isinstance(items[i], dict) else {}
        fields.append(FormField(path, f, link, _label(item.get("label")),
                                _label(item.get("help")), bool(item.get("required"))))
    fixed: dict[str, Any] = {}
    fixed_links: dict[str, dict[str, Any]] = {}
    for path, value in (raw.get("set") or {}).items():
        link, _, name = str(path).rpartition(".")
        (fixed_links.setdefault(link, {}) if link else fixed)[name] = value
    match = {}
    for _, path in match_paths(raw):
        link, _, name = path.rpartition(".")
        match[link] = name
    limits = {**DEFAULT_LIMITS, **(raw.get("limits") or {})}
    return PublicForm(
        view=view, record_type=rt.name, fields=tuple(fields), fixed=fixed,
        fixed_links=fixed_links, match=match, title=_label(raw.get("title")),
        intro=_label(raw.get("intro")), thanks=_label(raw.get("thanks")),
        managed_by=tuple(raw.get("managed_by") or ()), per_client=int(limits["per_client"]),
        per_form=int(limits["per_form"]), window=int(limits["window"]),
        min_seconds=float(limits["min_seconds"]))


def _field_of(ws: Workspace, type_name: str, path: str) -> tuple[Field | None, str | None]:
    first, _, rest = path.partition(".")
    f = ws.type(type_name).fields.get(first)
    if f is None or not rest:
        return f, None
    if not f.kind.links or f.kind.person or f.target not in ws.record_types:
        return None, None
    return ws.type(f.target).fields.get(rest), first


def public_forms(ws: Workspace) -> list[PublicForm]:
    """Every form of the workspace that may be published, in the views' order."""
    return [p for v in ws.views.values() if (p := public_form(ws, v)) is not None]


def shareable(view: View | None) -> bool:
    """Whether a view may be shared by a read-only link (`share: false` says no)."""
    return view is not None and view.type in SHAREABLE and view.config.get("share") is not False


@dataclass(frozen=True)
class FeedSpec:
    """A calendar view's iCalendar feed: how far back and ahead it reaches, and the fields
    written into each event's description."""

    view: View
    past_days: int = 60
    future_days: int = 365
    details: tuple[str, ...] = ()


def feed_spec(view: View | None) -> FeedSpec | None:
    """The feed of a calendar view, or None (not a calendar, or `feed: false`)."""
    if view is None or view.type != "calendar":
        return None
    raw = view.config.get("feed", True)
    if raw is False:
        return None
    raw = raw if isinstance(raw, dict) else {}
    return FeedSpec(view, int(raw.get("past_days", 60)), int(raw.get("future_days", 365)),
                    tuple(raw.get("details") or ()))
