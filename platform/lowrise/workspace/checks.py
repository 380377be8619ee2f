"""Cross-checks: what one file's schema cannot see (a link's target exists, a view's columns are
fields of its type, formulas do not loop...). Each problem points at the value in the YAML.

They run on the model the loader built from whatever was usable. A problem under a path
where the schema pass already found one is dropped: one mistake, one message.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from lowrise.errors import FieldError, LowriseError
from lowrise.expr import Expression, ExpressionError

from .metaschema import NAME_PATTERN, OPERATORS
from .model import SYSTEM_FIELDS, Field, RecordType, Workspace
from .relational_checks import check_cycles, check_derived, link_names
from .yamlpos import Path, Problem, Source

#: (view type, setting) -> (field types that fit, what the view does with it)
#: what a view's setting needs of its field: asked of the field's type
FIELD_KINDS: dict[tuple[str, str], tuple[Callable[[Field], bool], str]] = {
    ("kanban", "group_by"): (lambda f: f.kind.stages, "a kanban board groups by a select field"),
    ("table", "group_by"): (lambda f: f.kind.stages or f.kind.links,
                            "a table groups by a select, link or user field"),
    ("calendar", "date_field"): (lambda f: f.kind.calendar,
                                 "a calendar places records by a date or datetime field"),
    ("calendar", "end_field"): (lambda f: f.kind.calendar,
                                "a calendar ends entries at a date or datetime field"),
    ("kanban", "sum"): (lambda f: _numeric(f), "a kanban board sums a number field"),
}


def _numeric(f: Field) -> bool:
    """Whether the field's values are numbers (a formula's by its result)."""
    return f.kind.value_type(f).family == "number"
FIELD_LISTS = ("columns", "card_fields", "sort")
FIELD_SETTINGS = ("group_by", "sum", "date_field", "end_field", "title_field", "card_title")


@dataclass
class Broken:
    """What the loader could not build: the checks neither use it nor call it unknown."""

    types: set[str] = field(default_factory=set)
    fields: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class Context:
    """Everything the checks read, and the problems they find."""

    workspace: Workspace
    sources: dict[str, Source]
    named: dict[tuple[str, str], str]
    broken: Broken
    schema_paths: dict[str, set[tuple]]
    problems: list[Problem] = field(default_factory=list)

    def report(self, file: str, path: Path, message: str, *, key: bool = False) -> None:
        """Add a problem at `path` of `file`, unless the schema pass found one there already."""
        if any(tuple(path[: len(p)]) == p for p in self.schema_paths.get(file, ())):
            return
        self.problems.append(self.sources[file].problem(path, message, key=key))

    def type_known(self, name: str) -> bool:
        return name in self.workspace.record_types or name in self.broken.types

    def field_known(self, rt: RecordType, name: str) -> bool:
        return name in rt.fields or name in self.broken.fields.get(rt.name, ())


def run(ctx: Context) -> None:
    """Run every cross-check; problems land in ctx.problems."""
    _check_file_names(ctx)
    _check_settings(ctx)
    for rt in ctx.workspace.record_types.values():
        _check_record_type(ctx, rt)
    check_cycles(ctx)  # lookups, rollups and formulas across links
    for view in ctx.workspace.views.values():
        _check_view(ctx, view.loc.file, view.type, view.record_type, view.config)
    for rule in ctx.workspace.rules.values():
        _check_rule(ctx, rule.loc.file, rule.record_type, rule.config)
    if ctx.workspace.documents:
        from .document_checks import check_document

        for doc in ctx.workspace.documents.values():
            check_document(ctx, doc)
    if ctx.workspace.approvals:
        from lowrise.approvals.checks import check_approval

        for approval in ctx.workspace.approvals.values():
            check_approval(ctx, approval)


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeio" else f"a {word}"


def _reserved(name: str) -> str | None:
    if name.startswith("lr_"):
        return f"'{name}' is reserved for the engine (names starting with lr_); choose another name"
    return None


def _not_a_type(ctx: Context, name: str) -> str:
    types = ctx.workspace.record_types.keys() | ctx.broken.types
    return f"'{name}' is not a record type" + (
        _suggest(name, types) or f" (record types: {', '.join(sorted(types)) or 'none'})")


def _not_a_field(ctx: Context, rt: RecordType, name: str) -> str:
    names = rt.fields.keys() | ctx.broken.fields.get(rt.name, set())
    declared = ", ".join(f.name for f in rt.user_fields)
    return f"'{name}' is not a field of {rt.name}" + (
        _suggest(name, names) or f" (fields: {declared}, and the system fields)")


def _check_file_names(ctx: Context) -> None:
    for (kind, name), file in ctx.named.items():
        if kind == "workspace":
            continue
        if not re.fullmatch(NAME_PATTERN, name):
            ctx.problems.append(Problem(file, 0, 0, "", f"'{name}' (the file name) is not a valid "
                                        "name: use lower case letters, digits and _ , starting "
                                        "with a letter; rename the file"))
        elif message := _reserved(name):
            ctx.problems.append(Problem(file, 0, 0, "", f"{message} (rename the file)"))


@cache
def _zones() -> frozenset[str]:
    try:
        return frozenset(zoneinfo.available_timezones())
    except Exception:  # pragma: no cover - no time zone database at all
        return frozenset()


def _check_zone(ctx: Context, file: str, path: Path, zone: Any) -> None:
    if isinstance(zone, str) and _zones() and zone not in _zones():
        ctx.report(file, path, f"'{zone}' is not a time zone" + (
            _suggest(zone, _zones()) or " (like Asia/Shanghai or UTC)"))


def _check_settings(ctx: Context) -> None:
    file = ctx.named.get(("workspace", "workspace"))
    if file is None or not isinstance(ctx.sources[file].data, dict):
        return
    raw = ctx.sources[file].data
    locales, default = raw.get("locales"), raw.get("default_locale")
    if isinstance(locales, list) and isinstance(default, str) and default not in locales:
        ctx.report(file, ("default_locale",), f"'{default}' is not one of the locales "
                   f"({', '.join(map(str, locales))}){_suggest(default, map(str, locales))}")
    users = raw.get("users")
    if isinstance(users, str) and not ctx.type_known(users):
        ctx.report(file, ("users",), _not_a_type(ctx, users))
    _check_zone(ctx, file, ("timezone",), raw.get("timezone"))
    for role in raw["roles"] if isinstance(raw.get("roles"), dict) else ():
        if message := _reserved(role):
            ctx.report(file, ("roles", role), message, key=True)
    if not ctx.broken.types and not ctx.broken.fields:
        from lowrise.access import problems  # permissions: types, fields, scopes, masks

        for path, message in problems(ctx.workspace):
            ctx.report(file, path, message)


def _check_record_type(ctx: Context, rt: RecordType) -> None:
    file = rt.loc.file
    raw_fields = ctx.sources[file].data.get("fields")
    raw_fields = raw_fields if isinstance(raw_fields, dict) else {}
    for name in raw_fields:
        if name in SYSTEM_FIELDS:
            ctx.report(file, ("fields", name), f"'{name}' is a system field every record type "
                       "has; choose another name", key=True)
        elif message := _reserved(name):
            ctx.report(file, ("fields", name), message, key=True)
    formulas: dict[str, set[str]] = {}
    for f in rt.user_fields:
        at = ("fields", f.name)
        if f.kind.links and not f.kind.person and f.target and not ctx.type_known(f.target):
            ctx.report(file, (*at, "target"), _not_a_type(ctx, f.target))
        if f.kind.person and not ctx.workspace.users_type:
            ctx.report(file, (*at, "type"), "a user field needs `users:` in workspace.yaml "
                       "(the record type whose records are the people)")
        _check_options(ctx, file, f, raw_fields[f.name])
        if "timezone" in f.kind.options_schema:
            _check_zone(ctx, file, (*at, "timezone"), raw_fields[f.name].get("timezone"))
        if isinstance(f.config.get("same_as"), str):
            _check_same_as(ctx, file, rt, f)
        if "default" in raw_fields[f.name] and f.default is not None:
            _check_default(ctx, file, rt, f)
        if f.kind.has_expression:
            formulas[f.name] = _check_formula(ctx, file, rt, f)
        if f.kind.derived:
            check_derived(ctx, file, rt, f)
        if f.kind.numbered:
            pattern = f.config.get("pattern")
            if not isinstance(pattern, str):
                ctx.report(file, at, "an autonumber field needs 'pattern' with a counter, like "
                           "CT-{YYYY}-{0000}", key=True)
            elif not re.search(r"\{0+\}", pattern):
                ctx.report(file, (*at, "pattern"), f"'{pattern}' has no counter: add one like "
                           "{0000}, as in CT-{YYYY}-{0000}")
        renamed = raw_fields[f.name].get("renamed_from")
        for i, old in enumerate(f.renamed_from):
            if old != f.name and old in raw_fields:
                where = (*at, "renamed_from", i) if isinstance(renamed, list) else \
                    (*at, "renamed_from")
                ctx.report(file, where, f"'{old}' is still a field of {rt.name}: renamed_from "
                           "names this field's old name, one that no longer exists")
    _check_cycles(ctx, file, formulas)
    raw = ctx.sources[file].data
    if isinstance(raw.get("title"), str) and not ctx.field_known(rt, raw["title"]):
        ctx.report(file, ("title",), _not_a_field(ctx, rt, raw["title"]))
    for i, name in enumerate(raw.get("search") if isinstance(raw.get("search"), list) else []):
        if isinstance(name, str) and not ctx.field_known(rt, name):
            ctx.report(file, ("search", i), _not_a_field(ctx, rt, name))
    _check_indexes(ctx, file, rt, raw.get("indexes"))
    _check_locked(ctx, file, rt, raw.get("locked"))


def _check_locked(ctx: Context, file: str, rt: RecordType, raw: Any) -> None:
    """`locked:` names a select field of the type, its options, its fields and roles."""
    if not isinstance(raw, dict):
        return
    name = raw.get("field")
    f = rt.fields.get(name) if isinstance(name, str) else None
    if isinstance(name, str) and not ctx.field_known(rt, name):
        ctx.report(file, ("locked", "field"), _not_a_field(ctx, rt, name))
    elif f is not None and not f.kind.stages:
        ctx.report(file, ("locked", "field"), f"'{name}' is {f.type}; a lock follows the "
                   "value of a select field")
    options = {o.value for o in f.options} if f is not None else set()
    stages = raw.get("stages") if isinstance(raw.get("stages"), dict) else {}
    for value, spec in stages.items():
        if options and str(value) not in options:
            ctx.report(file, ("locked", "stages", value), f"'{value}' is not an option of "
                       f"{name} ({', '.join(sorted(options))})", key=True)
        for part in ("open", "sealed"):
            names = spec.get(part) if isinstance(spec, dict) else None
            for i, n in enumerate(names if isinstance(names, list) else []):
                if isinstance(n, str) and not ctx.field_known(rt, n):
                    ctx.report(file, ("locked", "stages", value, part, i),
                               _not_a_field(ctx, rt, n))
    roles = set(ctx.workspace.roles)
    for i, r in enumerate(raw.get("by") if isinstance(raw.get("by"), list) else []):
        if isinstance(r, str) and r not in roles:
            ctx.report(file, ("locked", "by", i), f"'{r}' is not a role of the workspace "
                       f"({', '.join(sorted(roles))})")


def _check_indexes(ctx: Context, file: str, rt: RecordType, raw: Any) -> None:
    """Declared indexes: fields of the type that can be sorted, each once, each index once."""
    seen: set[tuple[str, ...]] = set()
    for i, cols in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(cols, list):
            continue
        names = [c.lstrip("-") for c in cols if isinstance(c, str)]
        for j, name in enumerate(names):
            f = rt.fields.get(name)
            if not ctx.field_known(rt, name):
                ctx.report(file, ("indexes", i, j), _not_a_field(ctx, rt, name))
            elif f is not None and not f.kind.sortable:
                ctx.report(file, ("indexes", i, j), f"{name} is a {f.type} field, which an "
                           "index cannot order")
        if len(set(names)) != len(names):
            ctx.report(file, ("indexes", i), "names a field twice")
        key = tuple(c for c in cols if isinstance(c, str))
        if key in seen:
            ctx.report(file, ("indexes", i), "is declared twice")
        seen.add(key)


def _check_same_as(ctx: Context, file: str, rt: RecordType, f: Field) -> None:
    """`same_as: case.client`: a link of this type, and a field of its target that links to
    what this field links to."""
    link, _, other = f.config["same_as"].partition(".")
    path = ("fields", f.name, "same_as")
    via = rt.fields.get(link)
    if via is None or via.system or not via.kind.links or via.kind.person or via.name == f.name:
        ctx.report(file, path, f"'{link}' is not another link field of {rt.name}")
        return
    target = ctx.workspace.record_types.get(via.target or "")
    if target is None:
        return
    theirs = target.fields.get(other)
    if theirs is None or not theirs.kind.links or theirs.target != f.target:
        ctx.report(file, path, f"'{other}' of {target.name} is not a link to {f.target}")


def _check_options(ctx: Context, file: str, f: Field, raw: dict[str, Any]) -> None:
    seen: set[str] = set()
    for i, option in enumerate(f.options):
        if option.value in seen:
            path = ("fields", f.name, "options", i)
            if isinstance(raw["options"][i], dict):
                path = (*path, "value")
            ctx.report(file, path, f"'{option.value}' is listed twice")
        seen.add(option.value)


def _is_relative_default(f: Field) -> bool:
    """`me` (user fields), `now` and `today` (date fields) are resolved when a record is made."""
    if not isinstance(f.default, str):
        return False
    word = f.default.strip().lower()
    return (word == "me" and f.kind.person) or (word in ("now", "today") and f.kind.calendar)


def _check_default(ctx: Context, file: str, rt: RecordType, f: Field) -> None:
    path = ("fields", f.name, "default")
    kind = f.kind
    if f.kind.has_options:
        values = f.default if isinstance(f.default, list) else [f.default]
        allowed = [o.value for o in f.options]
        for value in values:
            if value not in allowed:
                ctx.report(file, path, f"'{value}' is not one of the options of {f.name}"
                           f"{_suggest(str(value), allowed)} (options: {', '.join(allowed)})")
        return
    if _is_relative_default(f):
        return
    try:
        value = kind.parse(f, f.default)
        if value is not None and not kind.generated:
            kind.check(f, value)
    except FieldError as exc:
        ctx.report(file, path, f"takes no default: the field {exc}" if kind.generated
                   else f"the default does not fit: {exc}")
    except (ValueError, TypeError, ArithmeticError) as exc:
        ctx.report(file, path, f"the default does not fit: {exc}")


def _check_formula(ctx: Context, file: str, rt: RecordType, f: Field) -> set[str]:
    """Check the expression; returns the formula fields it reads (for the cycle check)."""
    source = f.config.get("expression")
    if not isinstance(source, str):
        return set()
    path = ("fields", f.name, "expression")
    known = set(rt.fields) | ctx.broken.fields.get(rt.name, set()) | \
        link_names(rt, ctx.workspace)
    try:
        expr = Expression(source, allowed_names=known)
    except ExpressionError as exc:
        try:
            expr = Expression(source)
        except ExpressionError:
            ctx.report(file, path, str(exc))
            return set()
        for name in sorted(expr.names - known):
            ctx.report(file, path, _not_a_field(ctx, rt, name))
    return {n for n in expr.names if n in rt.fields and rt.fields[n].kind.has_expression}


def _check_cycles(ctx: Context, file: str, deps: dict[str, set[str]]) -> None:
    """Report each loop of formulas reading each other once, at its first field."""
    reported: set[frozenset[str]] = set()

    def walk(name: str, trail: list[str]) -> Iterator[list[str]]:
        for dep in sorted(deps.get(name, ())):
            if dep == trail[0]:
                yield [*trail, dep]
            elif dep not in trail and dep in deps:
                yield from walk(dep, [*trail, dep])

    for start in deps:
        for cycle in walk(start, [start]):
            members = frozenset(cycle)
            if members not in reported:
                reported.add(members)
                ctx.report(file, ("fields", start, "expression"), "formulas depend on each "
                           f"other in a cycle: {' → '.join(cycle)}")


def _check_view(ctx: Context, file: str, vtype: str, type_name: str | None,
                config: Any) -> None:
    if vtype == "dashboard" and isinstance(config, dict):
        from .dashboard_checks import check_dashboard

        check_dashboard(ctx, file, config)
    if type_name is None:
        return
    if not ctx.type_known(type_name):
        ctx.report(file, ("record_type",), _not_a_type(ctx, type_name))
        return
    rt = ctx.workspace.record_types.get(type_name)
    if rt is None:
        return
    for setting in FIELD_LISTS:
        items = config.get(setting)
        for i, name in enumerate(items if isinstance(items, list) else []):
            if isinstance(name, str):
                _field_at(ctx, file, rt, (setting, i), name.removeprefix("-"))
    sections = config.get("sections")
    for s, section in enumerate(sections if isinstance(sections, list) else []):
        names = section.get("fields") if isinstance(section, dict) else None
        for i, name in enumerate(names if isinstance(names, list) else []):
            if isinstance(name, str):
                _field_at(ctx, file, rt, ("sections", s, "fields", i), name)
    for setting in FIELD_SETTINGS:
        name = config.get(setting)
        if not isinstance(name, str):
            continue
        f = _field_at(ctx, file, rt, (setting,), name)
        fits, what = FIELD_KINDS.get((vtype, setting), (None, ""))
        if f is None or fits is None or fits(f):
            continue
        good = ", ".join(g.name for g in rt.fields.values() if fits(g))
        ctx.report(file, (setting,), f"'{name}' is {_article(f.type)} field; {what} "
                   f"({f'fields that fit: {good}' if good else f'{rt.name} has none'})")
    _check_filter(ctx, file, rt, config.get("filter"), ("filter",))
    if "public" in config or "feed" in config:
        from .sharing_checks import check_feed, check_public_form

        check_public_form(ctx, file, rt, config.get("public"))
        check_feed(ctx, file, rt, config.get("feed"))


def _field_at(ctx: Context, file: str, rt: RecordType, path: Path, name: str) -> Field | None:
    """The field `name` of rt, or None (reporting it at `path` when it does not exist)."""
    if name in rt.fields:
        return rt.fields[name]
    if not ctx.field_known(rt, name):
        ctx.report(file, path, _not_a_field(ctx, rt, name))
    return None


def _check_rule(ctx: Context, file: str, type_name: str | None, config: Any) -> None:
    if type_name is None:
        return
    if not ctx.type_known(type_name):
        ctx.report(file, ("record_type",), _not_a_type(ctx, type_name))
    elif type_name in ctx.workspace.record_types:
        seen = len(ctx.problems)
        _check_filter(ctx, file, ctx.workspace.record_types[type_name],
                      config.get("conditions"), ("conditions",))
        if ctx.broken.fields.get(type_name):
            return
        from lowrise.rules.parse import rule_problems  # triggers, conditions, actions, stages

        rule = ctx.workspace.rules[_rule_name(ctx, file)]
        for path, message in rule_problems(ctx.workspace, rule):
            if path[:1] != ("conditions",) or len(ctx.problems) == seen:
                ctx.report(file, path, message)


def _rule_name(ctx: Context, file: str) -> str:
    return next(name for (kind, name), f in ctx.named.items() if f == file and kind == "automation")


def _check_filter(ctx: Context, file: str, rt: RecordType, node: Any, path: Path) -> None:
    if not isinstance(node, dict):
        return
    for group in ("all", "any"):
        items = node.get(group)
        for i, sub in enumerate(items if isinstance(items, list) else []):
            _check_filter(ctx, file, rt, sub, (*path, group, i))
    if "not" in node:
        _check_filter(ctx, file, rt, node["not"], (*path, "not"))
    if not isinstance(node.get("field"), str):
        return
    f = _follow(ctx, file, rt, node["field"], (*path, "field"))
    op = node.get("op")
    if f is None or op not in OPERATORS:
        return
    from lowrise import filters  # the filter language knows which values fit each operator

    allowed = filters.operators_for(f)
    if op not in allowed:
        ctx.report(file, (*path, "op"), f"'{op}' does not apply to {_article(f.type)} field "
                   f"({node['field']}); use one of: {', '.join(allowed)}")
        return
    leaf = {k: node[k] for k in ("field", "op", "value") if k in node}
    try:
        filters.parse(leaf, rt, ctx.workspace, strict_options=True)
    except LowriseError as exc:
        ctx.report(file, (*path, "value") if "value" in node else path, str(exc))


def _follow(ctx: Context, file: str, rt: RecordType, dotted: str, path: Path) -> Field | None:
    """The field a (dotted) filter path names, following link and user fields."""
    *hops, last = dotted.split(".")
    for hop in hops:
        f = _field_at(ctx, file, rt, path, hop)
        if f is None:
            return None
        if not f.kind.links:
            ctx.report(file, path, f"'{hop}' is {_article(f.type)} field, not a link: only link "
                       "and user fields lead to another record type")
            return None
        if f.target not in ctx.workspace.record_types:
            return None  # no users type, or an unknown target: reported at the field
        rt = ctx.workspace.record_types[f.target]
    return _field_at(ctx, file, rt, path, last)
