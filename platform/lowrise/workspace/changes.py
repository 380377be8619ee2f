"""The schema changes a settings page can ask for, as data, and the errors of editing.

Each change is a frozen dataclass with a `kind` tag; `lowrise.workspace.edit` applies them
to the YAML, previews and commits them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lowrise.errors import LowriseError


class EditError(LowriseError):
    """A change cannot be made as asked (no such field, the name is taken...)."""


class EditRefused(EditError):
    """The changed workspace has problems, or the change would lose data; `problems` says why."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("the change is refused; nothing was changed:\n" + "\n".join(
            f"  {p}" for p in self.problems))


class EditConflict(EditError):
    """A file changed on disk after the preview; preview again."""


# ----- the changes -----

@dataclass(frozen=True)
class AddField:
    """A new field, after `after` (default: last)."""

    record_type: str
    name: str
    definition: Mapping[str, Any]
    after: str | None = None
    kind: Literal["add_field"] = "add_field"


@dataclass(frozen=True)
class EditField:
    """Set (or, with None, remove) options of a field: label, required, help, type..."""

    record_type: str
    name: str
    set: Mapping[str, Any]
    kind: Literal["edit_field"] = "edit_field"


@dataclass(frozen=True)
class RenameField:
    """A new name; the column is renamed (renamed_from) and the record type's views follow."""

    record_type: str
    old: str
    new: str
    kind: Literal["rename_field"] = "rename_field"


@dataclass(frozen=True)
class ReorderFields:
    """The fields in a new order (the form's order); every field, once."""

    record_type: str
    order: Sequence[str]
    kind: Literal["reorder_fields"] = "reorder_fields"


@dataclass(frozen=True)
class RemoveField:
    """The field leaves the YAML and the views' lists; its column and data stay until --prune."""

    record_type: str
    name: str
    kind: Literal["remove_field"] = "remove_field"


@dataclass(frozen=True)
class AddOption:
    """A new option of a select or multi_select field: {value, label, color}."""

    record_type: str
    field: str
    option: Mapping[str, Any]
    after: str | None = None
    kind: Literal["add_option"] = "add_option"


@dataclass(frozen=True)
class EditOption:
    """Set an option's label or colour, or its value (the old value goes to the option's
    `renamed_from`, so records holding it follow)."""

    record_type: str
    field: str
    value: str
    set: Mapping[str, Any]
    kind: Literal["edit_option"] = "edit_option"


@dataclass(frozen=True)
class ReorderOptions:
    record_type: str
    field: str
    order: Sequence[str]
    kind: Literal["reorder_options"] = "reorder_options"


@dataclass(frozen=True)
class RemoveOption:
    """Refused while records use the option."""

    record_type: str
    field: str
    value: str
    kind: Literal["remove_option"] = "remove_option"


@dataclass(frozen=True)
class AddView:
    name: str
    definition: Mapping[str, Any]
    kind: Literal["add_view"] = "add_view"


@dataclass(frozen=True)
class EditView:
    """Set (or, with None, remove) settings of a view: label, columns, sort, filter..."""

    name: str
    set: Mapping[str, Any]
    kind: Literal["edit_view"] = "edit_view"


Change = (AddField | EditField | RenameField | ReorderFields | RemoveField | AddOption
          | EditOption | ReorderOptions | RemoveOption | AddView | EditView)


def describe(change: Change) -> str:
    """One line for the schema log and the preview."""
    c = change
    return {
        "add_field": lambda: f"add field {c.record_type}.{c.name}",
        "edit_field": lambda: f"change {', '.join(c.set)} of {c.record_type}.{c.name}",
        "rename_field": lambda: f"rename {c.record_type}.{c.old} to {c.new}",
        "reorder_fields": lambda: f"reorder the fields of {c.record_type}",
        "remove_field": lambda: f"remove field {c.record_type}.{c.name}",
        "add_option": lambda: f"add option {c.option.get('value')} to {c.record_type}.{c.field}",
        "edit_option": lambda: f"change option {c.value} of {c.record_type}.{c.field}",
        "reorder_options": lambda: f"reorder the options of {c.record_type}.{c.field}",
        "remove_option": lambda: f"remove option {c.value} of {c.record_type}.{c.field}",
        "add_view": lambda: f"add view {c.name}",
        "edit_view": lambda: f"change {', '.join(c.set)} of view {c.name}",
    }[c.kind]()
