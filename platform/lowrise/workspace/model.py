"""The typed, immutable model a workspace folder is loaded into."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

SYSTEM_FIELDS = ("id", "created_at", "updated_at", "created_by", "updated_by", "version")


@dataclass(frozen=True)
class Loc:
    """Where something was declared: file (relative to the workspace), line and column (1-based)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


@dataclass(frozen=True)
class Label:
    """A plain string or a per-locale map; `get(locale)` falls back sensibly."""

    texts: Mapping[str, str]

    @classmethod
    def of(cls, raw: Any, fallback: str) -> Label:
        if raw is None:
            return cls({"": fallback.replace("_", " ").capitalize()})
        if isinstance(raw, str):
            return cls({"": raw})
        return cls(dict(raw))

    def get(self, locale: str | None = None, default_locale: str | None = None) -> str:
        t = self.texts
        for key in (locale, default_locale, "", "en"):
            if key is not None and key in t:
                return t[key]
        return next(iter(t.values()))

    def __str__(self) -> str:
        return self.get()


@dataclass(frozen=True)
class Option:
    """One choice of a select or multi_select field."""

    value: str
    label: Label
    color: str = "gray"
    #: values this option used to be (or that it takes over): migrate rewrites them to it
    renamed_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class Field:
    """One field of a record type. `config` holds the type-specific options as written."""

    name: str
    type: str
    label: Label
    required: bool = False
    unique: bool = False
    indexed: bool = False
    read_only: bool = False
    default: Any = None
    help: Label | None = None
    renamed_from: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    loc: Loc = Loc("")
    system: bool = False
    #: how demo data fills this field (see lowrise.seed)
    sample: Any = None

    @cached_property
    def kind(self):
        """The FieldType that implements this field (cached: looked up on every value)."""
        from lowrise.fields import registry

        return registry.get(self.type).bind(self)

    @cached_property
    def bounds(self) -> tuple[Any, Any]:
        """`min` and `max` parsed once into the field's own value type (None when absent)."""
        return self.kind.bound(self, "min"), self.kind.bound(self, "max")

    def option(self, value: str) -> Option | None:
        return next((o for o in self.options if o.value == value), None)

    @property
    def target(self) -> str | None:
        """The record type a link or user field points at."""
        return self.config.get("target")


@dataclass(frozen=True)
class LockedStage:
    """What stays writable while a record is at one value of its lock field: `open` fields
    anyone allowed may still change (the way on, like archiving a signed contract); `sealed`
    fields nobody changes, not even the roles that unlock the rest."""

    open: frozenset[str] = frozenset()
    sealed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Locked:
    """A record type's `locked:` setting: once `field` (a select) holds one of the values of
    `stages`, the record is immutable (no update, no delete) but for that value's open
    fields; the roles `by` may still change it (not its sealed fields), and every change
    is in its history like any other."""

    field: str
    stages: Mapping[str, LockedStage]
    by: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordType:
    """A record type: one table, one column per field."""

    name: str
    label: Label
    label_plural: Label
    fields: Mapping[str, Field]
    title_field: str
    icon: str | None = None
    description: Label | None = None
    search_fields: tuple[str, ...] = ()
    loc: Loc = Loc("")
    #: indexes the type's file declares: each a tuple of field names, `-name` descending
    indexes: tuple[tuple[str, ...], ...] = ()
    #: the values of a select field that make a record immutable (see Locked)
    locked: Locked | None = None

    @property
    def user_fields(self) -> list[Field]:
        """The fields declared in YAML (no system fields)."""
        return [f for f in self.fields.values() if not f.system]

    def field(self, name: str) -> Field:
        return self.fields[name]


@dataclass(frozen=True)
class View:
    """A view of records: table, form, kanban, calendar or dashboard. `config` is as written."""

    name: str
    type: str
    label: Label
    record_type: str | None
    config: Mapping[str, Any] = field(default_factory=dict)
    loc: Loc = Loc("")

    @property
    def filter(self) -> Any:
        return self.config.get("filter")

    @property
    def sort(self) -> list[str]:
        """Sort keys as `field` or `-field` (descending)."""
        return list(self.config.get("sort") or [])


@dataclass(frozen=True)
class Rule:
    """An automation rule as written; the rules engine interprets `config`."""

    name: str
    record_type: str | None
    config: Mapping[str, Any] = field(default_factory=dict)
    loc: Loc = Loc("")


@dataclass(frozen=True)
class Related:
    """Records that link to a document's record, as a list a template loops over."""

    record_type: str
    link: str
    sort: tuple[str, ...] = ()
    filter: Any = None
    limit: int = 200


@dataclass(frozen=True)
class Document:
    """A document template (documents/<name>.yaml): a file filled from one record; the
    lowrise.documents package renders it."""

    name: str
    label: Label
    record_type: str
    template: str  # the template file, relative to the documents/ folder
    formats: tuple[str, ...]
    attach_to: str
    file_name: str | None = None
    roles: tuple[str, ...] | None = None  # None: whoever may update the record
    when: Any = None
    locked_when: Any = None
    locale: str | None = None
    related: Mapping[str, Related] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)
    loc: Loc = Loc("")


@dataclass(frozen=True)
class Role:
    name: str
    label: Label
    permissions: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Workspace:
    """A whole workspace: everything the engine needs, loaded and checked once."""

    name: str
    label: Label
    default_locale: str
    locales: tuple[str, ...]
    record_types: Mapping[str, RecordType]
    views: Mapping[str, View]
    rules: Mapping[str, Rule]
    roles: Mapping[str, Role]
    users_type: str | None = None
    root: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)
    documents: Mapping[str, Document] = field(default_factory=dict)
    #: approval chains (approvals/<name>.yaml) as written; lowrise.approvals reads them
    approvals: Mapping[str, Rule] = field(default_factory=dict)

    def type(self, name: str) -> RecordType:
        return self.record_types[name]

    def documents_of(self, type_name: str) -> list[Document]:
        return [d for d in self.documents.values() if d.record_type == type_name]

    def views_of(self, type_name: str) -> list[View]:
        return [v for v in self.views.values() if v.record_type == type_name]

    def links_to(self, type_name: str) -> list[tuple[RecordType, Field]]:
        """Fields of any type that link to `type_name` (the reverse side of links)."""
        return [
            (rt, f)
            for rt in self.record_types.values()
            for f in rt.fields.values()
            if f.kind.links and f.target == type_name
        ]
