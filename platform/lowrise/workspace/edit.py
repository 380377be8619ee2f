"""Changing a workspace's schema from code (the browser's settings page) with the YAML kept
as the source of truth.

A change is data (`AddField`, `RenameField`, `AddOption`, `EditView`...). `preview` applies
changes to the YAML text with comments, key order and layout kept (yamledit), loads the
result with the same checks as `lowrise check`, and, given a database connection, returns
the migration plan and the reasons the change would lose data. `commit` writes the files,
migrates, and logs who changed what (the YAML diff) in lr_schema_log; when the migration
fails, the files are put back. No Flask here.

    proposal = preview(root, [AddField("client", "vip", {"type": "boolean"})], conn=conn)
    proposal.diff(), proposal.plan.describe_lines(), proposal.refusals
    commit(proposal, engine, actor="ada@example.com")
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .changes import (
    AddField,
    AddOption,
    AddView,
    Change,
    EditConflict,
    EditError,
    EditField,
    EditOption,
    EditRefused,
    EditView,
    RemoveField,
    RemoveOption,
    RenameField,
    ReorderFields,
    ReorderOptions,
    describe,
)
from .model import Workspace
from .yamledit import Document, comments_to_following_keys, dump, node, rename_key, reorder

#: where a view names fields: lists of names, single names, sort keys
VIEW_FIELD_LISTS = ("columns", "card_fields")
VIEW_FIELD_SETTINGS = ("group_by", "sum", "date_field", "end_field", "title_field")


# ----- applying changes to the YAML -----

class _Files:
    """The workspace's YAML texts, and the documents being edited."""

    def __init__(self, root: Path, texts: dict[str, str], ws: Workspace):
        self.root, self.texts, self.ws = root, texts, ws
        self.docs: dict[str, Document] = {}

    def doc(self, rel: str) -> Document:
        if rel not in self.docs:
            if rel not in self.texts:
                raise EditError(f"{rel} does not exist")
            self.docs[rel] = Document(self.texts[rel])
        return self.docs[rel]

    def type_file(self, type_name: str) -> str:
        rt = self.ws.record_types.get(type_name)
        if rt is None:
            raise EditError(f"there is no record type '{type_name}' (record types: "
                            f"{', '.join(sorted(self.ws.record_types))})")
        return rt.loc.file

    def fields(self, type_name: str):
        fields = self.doc(self.type_file(type_name)).data["fields"]
        comments_to_following_keys(fields)
        return fields

    def field(self, type_name: str, name: str):
        fields = self.fields(type_name)
        if name not in fields:
            raise EditError(f"{type_name} has no field '{name}' (fields: {', '.join(fields)})")
        return fields[name]

    def options(self, type_name: str, field_name: str):
        definition = self.field(type_name, field_name)
        if "options" not in definition:
            raise EditError(f"{type_name}.{field_name} has no options (it is not a select)")
        return definition["options"]

    def view_files(self, type_name: str) -> list[str]:
        return [v.loc.file for v in self.ws.views.values() if v.record_type == type_name]

    def new_texts(self) -> dict[str, str]:
        return {**self.texts, **{rel: d.text() for rel, d in self.docs.items()}}


def _option_index(options, value: str) -> int:
    for i, o in enumerate(options):
        if (o.get("value") if isinstance(o, Mapping) else o) == value:
            return i
    raise EditError(f"there is no option '{value}'")


def _apply(files: _Files, c: Change) -> None:
    if c.kind == "add_field":
        fields = files.fields(c.record_type)
        if c.name in fields:
            raise EditError(f"{c.record_type} already has a field '{c.name}'")
        at = list(fields).index(c.after) + 1 if c.after in fields else len(fields)
        fields.insert(at, c.name, node(dict(c.definition), block=True))
    elif c.kind == "edit_field":
        definition = files.field(c.record_type, c.name)
        for key, value in c.set.items():
            if value is None:
                definition.pop(key, None)
            else:
                definition[key] = node(value)
    elif c.kind == "rename_field":
        _rename_field(files, c)
    elif c.kind == "reorder_fields":
        fields = files.fields(c.record_type)
        if sorted(c.order) != sorted(fields):
            raise EditError(f"the new order must name every field of {c.record_type} once")
        reorder(fields, list(c.order))
    elif c.kind == "remove_field":
        files.field(c.record_type, c.name)
        files.fields(c.record_type).pop(c.name)
        _drop_from_lists(files, c.record_type, c.name)
    elif c.kind == "add_option":
        options = files.options(c.record_type, c.field)
        if any((o.get("value") if isinstance(o, Mapping) else o) == c.option.get("value")
               for o in options):
            raise EditError(f"{c.record_type}.{c.field} already has the option "
                            f"'{c.option.get('value')}'")
        at = _option_index(options, c.after) + 1 if c.after else len(options)
        options.insert(at, node(dict(c.option)))
    elif c.kind == "edit_option":
        options = files.options(c.record_type, c.field)
        i = _option_index(options, c.value)
        if not isinstance(options[i], Mapping):
            options[i] = node({"value": options[i]})
        for key, value in c.set.items():
            if value is None:
                options[i].pop(key, None)
            else:
                options[i][key] = node(value)
        new = c.set.get("value")
        if new and new != c.value and "renamed_from" not in c.set:
            # records holding the old value follow the option (migrate rewrites them)
            before = options[i].get("renamed_from")
            olds = [before] if isinstance(before, str) else list(before or [])
            options[i]["renamed_from"] = c.value if not olds else node([*olds, c.value])
    elif c.kind == "reorder_options":
        options = files.options(c.record_type, c.field)
        items = {(o.get("value") if isinstance(o, Mapping) else o): o for o in options}
        if sorted(c.order) != sorted(items):
            raise EditError(f"the new order must name every option of {c.field} once")
        options[:] = [items[v] for v in c.order]
    elif c.kind == "remove_option":
        options = files.options(c.record_type, c.field)
        del options[_option_index(options, c.value)]
    elif c.kind == "add_view":
        rel = f"views/{c.name}.yaml"
        if rel in files.texts or any(v.name == c.name for v in files.ws.views.values()):
            raise EditError(f"there is a view '{c.name}' already")
        from lowrise.templates import point_schema_hints

        header = point_schema_hints("# yaml-language-server: $schema=view.schema.json\n")
        files.texts[rel] = header + dump(node(dict(c.definition), block=True))
    elif c.kind == "edit_view":
        view = files.ws.views.get(c.name)
        if view is None:
            raise EditError(f"there is no view '{c.name}'")
        data = files.doc(view.loc.file).data
        for key, value in c.set.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = node(value, block=key in ("filter", "sections"))
    else:  # pragma: no cover - the Change union is closed
        raise EditError(f"unknown change {c!r}")


def _rename_field(files: _Files, c: RenameField) -> None:
    fields = files.fields(c.record_type)
    definition = files.field(c.record_type, c.old)
    if c.new in fields:
        raise EditError(f"{c.record_type} already has a field '{c.new}'")
    rename_key(fields, c.old, c.new)
    before = definition.get("renamed_from")
    olds = [before] if isinstance(before, str) else list(before or [])
    definition["renamed_from"] = c.old if not olds else node([*olds, c.old])
    data = files.doc(files.type_file(c.record_type)).data
    if data.get("title") == c.old:
        data["title"] = c.new
    _rename_in_list(data, "search", c.old, c.new)
    locked = data.get("locked")
    if isinstance(locked, Mapping):  # the lock's field and each stage's open and sealed ones
        if locked.get("field") == c.old:
            locked["field"] = c.new
        for spec in (locked.get("stages") or {}).values():
            for key in ("open", "sealed"):
                _rename_in_list(spec, key, c.old, c.new)
    for rel in files.view_files(c.record_type):
        view = files.doc(rel).data
        for key in VIEW_FIELD_LISTS:
            _rename_in_list(view, key, c.old, c.new)
        for section in view.get("sections") or []:
            _rename_in_list(section, "fields", c.old, c.new)
        for key in VIEW_FIELD_SETTINGS:
            if view.get(key) == c.old:
                view[key] = c.new
        sort = view.get("sort")
        for i, key in enumerate(sort or []):
            if key.lstrip("-") == c.old:
                sort[i] = key.replace(c.old, c.new, 1)
        _rename_in_filter(view.get("filter"), c.old, c.new)


def _rename_in_list(data, key: str, old: str, new: str) -> None:
    items = data.get(key) if isinstance(data, Mapping) else None
    for i, item in enumerate(items if isinstance(items, list) else []):
        if item == old:
            items[i] = new


def _rename_in_filter(node_: Any, old: str, new: str) -> None:
    """`field: old` (or a path starting old.) in a view's filter of the same record type."""
    if isinstance(node_, list):
        for item in node_:
            _rename_in_filter(item, old, new)
    elif isinstance(node_, Mapping):
        f = node_.get("field")
        if isinstance(f, str) and (f == old or f.startswith(old + ".")):
            node_["field"] = new + f[len(old):]
        for key in ("all", "any", "not"):
            if key in node_:
                _rename_in_filter(node_[key], old, new)


def _drop_from_lists(files: _Files, type_name: str, name: str) -> None:
    data = files.doc(files.type_file(type_name)).data
    if isinstance(data.get("search"), list) and name in data["search"]:
        data["search"].remove(name)
    locked = data.get("locked")
    for spec in ((locked.get("stages") or {}).values() if isinstance(locked, Mapping) else ()):
        for key in ("open", "sealed"):
            if isinstance(spec, Mapping) and isinstance(spec.get(key), list) and \
                    name in spec[key]:
                spec[key].remove(name)
    for rel in files.view_files(type_name):
        view = files.doc(rel).data
        for key in VIEW_FIELD_LISTS:
            if isinstance(view.get(key), list) and name in view[key]:
                view[key].remove(name)
        for section in view.get("sections") or []:
            if isinstance(section.get("fields"), list) and name in section["fields"]:
                section["fields"].remove(name)


# ----- preview and commit -----

@dataclass
class Proposal:
    """A checked change: the files before and after, the new workspace, the migration plan and
    what would stop it (refusals) or is worth knowing (notes)."""

    root: Path
    changes: tuple[Change, ...]
    before: dict[str, str | None]
    after: dict[str, str]
    workspace: Workspace
    plan: Any = None
    refusals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the workspace before the change, and every YAML text before and after it
    old: Workspace | None = field(default=None, repr=False)
    texts: dict[str, str] = field(default_factory=dict, repr=False)
    new_texts: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def summary(self) -> str:
        return "; ".join(describe(c) for c in self.changes)

    def diff(self) -> str:
        """The change as a unified diff of the YAML files."""
        out = []
        for rel, new in self.after.items():
            old = self.before.get(rel) or ""
            out += difflib.unified_diff(old.splitlines(keepends=True),
                                        new.splitlines(keepends=True),
                                        f"a/{rel}" if self.before.get(rel) is not None
                                        else "/dev/null", f"b/{rel}")
        return "".join(out)


def read_texts(root: Path) -> dict[str, str]:
    """Every YAML text of the workspace folder, by path relative to it."""
    from lowrise.templates import workspace_files

    return {rel: data.decode("utf-8") for rel, data in workspace_files(root).items()
            if rel.endswith((".yaml", ".yml"))}


def preview(root: str | os.PathLike, changes: Sequence[Change], *,
            conn: sa.Connection | None = None, workspace: Workspace | None = None) -> Proposal:
    """Apply `changes` to the YAML (nothing is written) and check the result.

    Raises EditError when a change names something that is not there, EditRefused (with
    file:line messages) when the changed workspace does not pass `lowrise check`. With
    `conn`, the proposal has the migration plan and the refusals of changes that would lose
    data (a column that cannot be converted, options records still use).
    """
    from . import WorkspaceError, load_workspace_from_texts

    root = Path(root)
    texts = read_texts(root)
    ws = workspace or load_workspace_from_texts(texts, root=root.resolve())
    files = _Files(root, dict(texts), ws)
    for change in changes:
        _apply(files, change)
    new_texts = files.new_texts()
    try:
        new_ws = load_workspace_from_texts(new_texts, root=root.resolve())
    except WorkspaceError as exc:
        raise EditRefused([str(p) for p in exc.problems]) from None
    changed = {rel: t for rel, t in new_texts.items() if texts.get(rel) != t}
    proposal = Proposal(root, tuple(changes), {rel: texts.get(rel) for rel in changed},
                        changed, new_ws, old=ws, texts=texts, new_texts=new_texts)
    if conn is not None:
        _check_database(proposal, conn)
    return proposal


def _check_database(proposal: Proposal, conn: sa.Connection) -> None:
    from lowrise.storage.migrate import plan
    from lowrise.storage.tables import build_schema

    schema = build_schema(proposal.workspace)
    proposal.plan = plan(conn, schema)
    proposal.refusals = [r.describe() for r in proposal.plan.refusals]
    proposal.notes = [u.describe() for u in proposal.plan.unused]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def commit(proposal: Proposal, engine: sa.Engine, *, actor: str, policy=None) -> list[str]:
    """Write the proposal's files and migrate, logging the YAML diff; returns the steps done.

    With `policy` (a `lowrise.access.Policy`), a change to a record type (or to one of its
    views) the person may not `manage` is Forbidden and nothing is written.

    The plan is made again against the database as it is now: a change that would lose data
    is refused (EditRefused) and nothing is written. A file changed on disk since the preview
    raises EditConflict. If the migration fails, the files are put back as they were.
    """
    from lowrise.storage.migrate import MigrationError, apply

    from .watch import database_lock

    if policy is not None:
        from lowrise.access.manage import require_manage

        require_manage(policy, proposal.changes)
    with database_lock(engine):  # a server reloading the files meanwhile waits, then finds
        current = read_texts(proposal.root)  # the database already migrated
        for rel, before in proposal.before.items():
            if current.get(rel) != before:
                raise EditConflict(f"{rel} changed since the preview; look at the change again")
        with engine.connect() as conn:
            if current == proposal.texts and proposal.old is not None:  # no file changed:
                fresh = proposal  # only the database may have (plan again)
                _check_database(fresh, conn)
            else:
                fresh = preview(proposal.root, proposal.changes, conn=conn)
        if fresh.refusals:
            raise EditRefused(fresh.refusals)
        for rel, text in fresh.after.items():
            _write(proposal.root / rel, text)
        try:
            return apply(engine, fresh.plan, actor=actor, diff=fresh.diff(),
                         summary=fresh.summary)
        except (MigrationError, sa.exc.SQLAlchemyError):
            for rel, text in fresh.before.items():
                path = proposal.root / rel
                if text is None:
                    path.unlink(missing_ok=True)
                else:
                    _write(path, text)
            raise


__all__ = ["AddField", "AddOption", "AddView", "Change", "EditConflict", "EditError",
           "EditField", "EditOption", "EditRefused", "EditView", "Proposal",
           "RemoveField", "RemoveOption", "RenameField", "ReorderFields", "ReorderOptions",
           "commit", "describe", "preview", "read_texts"]
