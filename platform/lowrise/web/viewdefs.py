"""The views a record type has: those declared in YAML, and sensible defaults for the rest.

A type without a table view gets one made from its fields; a type without a form view gets a
single two-column section of every field. Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort

from lowrise.workspace.model import Field, Label, RecordType, View, Workspace

DEFAULT_COLUMNS = 8
#: field types that make poor table columns (long, or many values)
_WIDE = {"long_text", "attachment"}
#: the kinds of view that have a page of their own
PAGE_KINDS = ("table", "kanban", "calendar")


def generated_table(rt: RecordType) -> View:
    """The table view a type gets when its YAML declares none."""
    names = [rt.title_field] if rt.title_field in rt.fields else []
    for f in rt.user_fields:
        if len(names) >= DEFAULT_COLUMNS:
            break
        if f.name not in names and f.type not in _WIDE:
            names.append(f.name)
    return View(name="", type="table", label=rt.label_plural, record_type=rt.name,
                config={"columns": names, "sort": ["-updated_at"], "generated": True})


def views_of(ws: Workspace, type_name: str, kind: str) -> list[View]:
    """Declared views of one kind for a type, the default one first."""
    found = [v for v in ws.views_of(type_name) if v.type == kind]
    return sorted(found, key=lambda v: not v.config.get("default"))


def table_views(ws: Workspace, type_name: str) -> list[View]:
    return views_of(ws, type_name, "table") or [generated_table(ws.type(type_name))]


def page_views(ws: Workspace, type_name: str) -> list[View]:
    """The views with a page, in sidebar order: tables, then boards, then calendars."""
    out = table_views(ws, type_name)
    for kind in PAGE_KINDS[1:]:
        out += views_of(ws, type_name, kind)
    return out


def record_type_or_404(ws: Workspace, type_name: str) -> RecordType:
    rt = ws.record_types.get(type_name)
    if rt is None:
        abort(404)
    return rt


def view_or_404(ws: Workspace, type_name: str, view_name: str | None, kind: str) -> View:
    """A declared view of this type and kind, or (for tables) the type's default."""
    if not view_name:
        views = table_views(ws, type_name) if kind == "table" else views_of(ws, type_name, kind)
        if not views:
            abort(404)
        return views[0]
    view = ws.views.get(view_name)
    if view is None or view.record_type != type_name or view.type != kind:
        abort(404)
    return view


def columns(rt: RecordType, view: View) -> list[Field]:
    """The fields a table view shows, in order (unknown names are skipped, never an error)."""
    names = view.config.get("columns") or generated_table(rt).config["columns"]
    return [rt.fields[n] for n in names if n in rt.fields]


@dataclass(frozen=True)
class Section:
    """A group of fields on a form or a record page."""

    label: Label | None
    columns: int
    fields: tuple[Field, ...]


def form_sections(ws: Workspace, rt: RecordType) -> list[Section]:
    """The form layout: the default form view's sections, then any field it left out."""
    forms = views_of(ws, rt.name, "form")
    sections: list[Section] = []
    placed: set[str] = set()
    if forms:
        for raw in forms[0].config.get("sections") or []:
            names = [n for n in raw.get("fields") or [] if n in rt.fields and n not in placed]
            placed.update(names)
            label = Label.of(raw["label"], "") if raw.get("label") else None
            sections.append(Section(label, int(raw.get("columns") or 1),
                                    tuple(rt.fields[n] for n in names)))
    rest = tuple(f for f in rt.user_fields if f.name not in placed)
    if rest:
        sections.append(Section(None, 2, rest))
    return sections


def sidebar(ws: Workspace) -> list[tuple[RecordType, list[View]]]:
    """Each record type with its page views, in the workspace's order."""
    return [(rt, page_views(ws, rt.name)) for rt in ws.record_types.values()]
