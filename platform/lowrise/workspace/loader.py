"""Load a workspace folder (or a dict of YAML texts) into the typed model, checking everything.

Three passes, and every problem of every file is reported at once: the YAML is parsed with
positions (yamlpos), each file is validated by its JSON Schema (metaschema) with the
messages rewritten for people (explain), then the model is built and cross-checked
(checks). A problem reads `schemas/client.yaml:14:11: fields.phone.type: 'phon' is not a
field type; did you mean 'phone'?`.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from lowrise.errors import LowriseError
from lowrise.fields import registry
from lowrise.fields.base import COMMON_OPTIONS
from lowrise.fields.choice import COLORS
from lowrise.fields.relational import resolve as resolve_derived

from . import checks
from .automation_schema import ACTION_HINTS
from .metaschema import (
    ENUM_NOUNS,
    PATTERN_WORDS,
    REQUIRED_HINTS,
    TYPE_WORDS,
    VIEW_TYPES,
    WIDGET_KINDS,
    schema_for,
)
from .model import (
    Document,
    Field,
    Label,
    Loc,
    Locked,
    LockedStage,
    Option,
    RecordType,
    Related,
    Role,
    Rule,
    View,
    Workspace,
)
from .yamlpos import Path, Problem, Source, parse_yaml

FOLDERS = {"schemas": "record_type", "views": "view", "automations": "automation",
           "documents": "document", "approvals": "approval"}
SUFFIXES = (".yaml", ".yml")
_ORDER = {"workspace": 0, "record_type": 1, "view": 2, "automation": 3, "document": 4,
          "approval": 5}

SYSTEM_LABELS = {
    "id": ("id", {"en": "ID", "zh": "编号"}),
    "created_at": ("datetime", {"en": "Created at", "zh": "创建时间"}),
    "updated_at": ("datetime", {"en": "Updated at", "zh": "更新时间"}),
    "created_by": ("created_by", {"en": "Created by", "zh": "创建人"}),
    "updated_by": ("updated_by", {"en": "Updated by", "zh": "更新人"}),
    "version": ("integer", {"en": "Version", "zh": "版本"}),
}


class WorkspaceError(LowriseError):
    """A workspace has problems; `problems` lists every one, each with file, line and column."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the workspace:"
        super().__init__("\n".join([head, *(str(p) for p in self.problems)]))


def load_workspace(path: str | os.PathLike[str]) -> Workspace:
    """Load and check the workspace folder at `path`; raises WorkspaceError listing every problem."""
    root = FsPath(path)
    if not root.is_dir():
        raise WorkspaceError([Problem(str(path), 0, 0, "", "is not a folder (a workspace is "
                                      "a folder with workspace.yaml, schemas/, views/...)")])
    files: dict[str, str] = {}
    problems: list[Problem] = []
    candidates = [root / f"workspace{s}" for s in SUFFIXES]
    for folder in FOLDERS:
        if (root / folder).is_dir():
            candidates += sorted(p for p in (root / folder).iterdir() if p.suffix in SUFFIXES)
    for file in candidates:
        if not file.is_file():
            continue
        rel = file.relative_to(root).as_posix()
        try:
            files[rel] = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            problems.append(Problem(rel, 0, 0, "", f"is not UTF-8 text (byte {exc.start}); "
                                                   "save it as UTF-8"))
        except OSError as exc:
            problems.append(Problem(rel, 0, 0, "", f"cannot be read: {exc.strerror}"))
    if problems:
        return _load(files, str(root.resolve()), root.resolve().name, problems)
    return _load_cached(files, str(root.resolve()), root.resolve().name)


# Workspaces loaded in this process, by folder and the exact text of every file: a folder
# whose files have not changed is not parsed and checked again (every app start, test app,
# reload check and settings preview of the same files would otherwise pay the full load).
# A Workspace is immutable, so one object can serve every caller.
_LOADED: OrderedDict[tuple, Workspace] = OrderedDict()
_LOADED_MAX = 8
_LOADED_LOCK = threading.Lock()


def _load_cached(files: Mapping[str, str], root: str, name: str) -> Workspace:
    key = (root, name, tuple(sorted(files.items())))
    with _LOADED_LOCK:
        if (ws := _LOADED.get(key)) is not None:
            _LOADED.move_to_end(key)
            return ws
    ws = _load(files, root, name, [])  # raises WorkspaceError: failures are never kept
    with _LOADED_LOCK:
        _LOADED[key] = ws
        while len(_LOADED) > _LOADED_MAX:
            _LOADED.popitem(last=False)
    return ws


def load_workspace_from_texts(files: Mapping[str, str], *, root: str | os.PathLike[str] = "",
                              name: str | None = None) -> Workspace:
    """Load and check a workspace given as {relative path: YAML text}; `root` is its folder."""
    texts = {str(k).replace("\\", "/").removeprefix("./"): v for k, v in files.items()}
    return _load(texts, str(root), name or (FsPath(root).name if root else "") or "workspace", [])


def _kind_of(rel: str) -> tuple[str, str] | None:
    """(kind, name) of a workspace file, or None for a file the engine does not read."""
    folder, _, base = rel.rpartition("/")
    stem, dot, suffix = base.rpartition(".")
    if not dot or f".{suffix}" not in SUFFIXES:
        return None
    if folder == "" and stem == "workspace":
        return "workspace", "workspace"
    if folder in FOLDERS:
        return FOLDERS[folder], stem
    return None


def _load(files: Mapping[str, str], root: str, name: str, problems: list[Problem]) -> Workspace:
    sources: dict[str, Source] = {}
    named: dict[tuple[str, str], str] = {}
    for rel in sorted(files, key=_rank):
        kind_name = _kind_of(rel)
        if kind_name is None:
            continue
        if kind_name in named:
            problems.append(Problem(rel, 0, 0, "", f"'{kind_name[1]}' is defined twice "
                                    f"({named[kind_name]} and {rel}); keep one of them"))
            continue
        named[kind_name] = rel
        sources[rel] = parse_yaml(files[rel], rel)
    if ("workspace", "workspace") not in named:
        problems.append(Problem("workspace.yaml", 0, 0, "", "is missing: a workspace folder "
                                "needs a workspace.yaml (its label, locales and time zone)"))
    schema_paths: dict[str, set[tuple]] = {}
    for (kind, _), rel in named.items():
        source = sources[rel]
        problems += source.problems
        if source.parsed:
            found = schema_problems(source, kind)
            schema_paths[rel] = {path for path, _ in found}
            problems += [p for _, p in found]
    ws, broken = _build(named, sources, schema_paths, root, name)
    ctx = checks.Context(ws, sources, named, broken, schema_paths)
    checks.run(ctx)
    problems += ctx.problems
    if problems:
        problems.sort(key=lambda p: (*_rank(p.file), p.line, p.column))
        raise WorkspaceError(_unique(problems))
    return ws


def _rank(rel: str) -> tuple[int, str]:
    """workspace.yaml first, then record types, views and rules, each by name."""
    return _ORDER.get((_kind_of(rel) or ("",))[0], 9), rel


# ----- the schema pass: jsonschema's errors, in words a business user can act on -----

Finding = tuple[Path, str, bool]  # path, message, point at the key rather than the value
QUOTE_HINT = "; put it in quotes (YAML reads yes, no, on and off as true or false)"


@functools.cache
def _validator(kind: str, types: tuple[str, ...]) -> Draft202012Validator:
    return Draft202012Validator(schema_for(kind),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_problems(source: Source, kind: str) -> list[tuple[Path, Problem]]:
    """Validate one file's data by its kind's schema: (path, Problem) for each thing wrong."""
    validator = _validator(kind, tuple(registry.names()))
    data = {} if source.data is None else source.data
    out: list[tuple[Path, Problem]] = []
    seen: set[tuple[Path, str]] = set()
    for error in validator.iter_errors(data):
        for path, message, key in _explain(error, kind, validator.schema["$defs"]):
            if (path, message) not in seen:
                seen.add((path, message))
                out.append((path, source.problem(path, message, key=key)))
    return out


def _quote(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _suggest(word: Any, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1) if isinstance(word, str) else []
    return f"; did you mean '{close[0]}'?" if close else ""


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeio" else f"a {word}"


def _subject(kind: str, path: Path, instance: Any) -> str:
    """What the mapping at `path` is, for a message: 'a link field', 'a table view'..."""
    itype = instance.get("type") if isinstance(instance, dict) else None
    if kind == "record_type" and len(path) == 2 and path[0] == "fields":
        return f"{_article(itype)} field" if itype in registry else "a field"
    if path[-2:-1] in (("options",), ("sections",)):
        return "an option" if path[-2] == "options" else "a form section"
    if kind == "workspace" and path[:1] == ("roles",):
        return "a role"
    if kind == "automation" and path == ("trigger",):
        trig = instance.get("kind") if isinstance(instance, dict) else None
        return f"the {trig} trigger" if isinstance(trig, str) else "a trigger"
    if kind == "automation" and path[:1] == ("actions",) and len(path) in (2, 3):
        return f"the {path[2]} action" if len(path) == 3 else "an action"
    if kind == "automation" and path[-2:-1] in (("set_fields",), ("values",)):
        return "a computed value"
    if kind == "automation" and path[-1:] in (("related",), ("after",), ("working_hours",)):
        return {"related": "related", "after": "a delay by field",
                "working_hours": "working hours"}[path[-1]]
    if path:
        return "this"
    if kind == "view":
        return f"a {itype} view" if itype in VIEW_TYPES else "a view"
    return {"workspace": "workspace.yaml", "record_type": "a record type",
            "automation": "a rule", "document": "a document",
            "approval": "an approval"}[kind]


def _hint(key: str, kind: str, path: Path) -> str:
    if kind == "automation" and path[:1] == ("actions",) and len(path) > 2:
        return f" ({ACTION_HINTS[key]})" if key in ACTION_HINTS else ""
    if path[:1] == ("widgets",) and key in ("type", "record_type"):  # a dashboard's widget
        return f" ({', '.join(WIDGET_KINDS)})" if key == "type" else " (the record type it counts)"
    if key == "type":
        return (" (the field type, like text, select or link)" if kind == "record_type"
                else f" ({', '.join(VIEW_TYPES)})")
    if key == "record_type":
        return f" (the record type it {'watches' if kind == 'automation' else 'shows'})"
    if key == "fields":
        return (" (the fields of the section)" if path
                else " (a mapping of field names to their definitions)")
    return f" ({REQUIRED_HINTS[key]})" if key in REQUIRED_HINTS else ""


def _explain(error: ValidationError, kind: str, defs: dict[str, Any]) -> list[Finding]:
    path, v, value, inst = (tuple(error.absolute_path), error.validator,
                            error.validator_value, error.instance)
    if "propertyNames" in error.schema_path:
        return [((*path, inst), f"{_quote(inst)} {PATTERN_WORDS.get(value, 'is not allowed')}",
                 True)]
    if v in ("anyOf", "oneOf"):
        return _explain_choice(error, kind, defs)
    if v == "enum":
        noun = ENUM_NOUNS.get(path[-1] if path else "")
        if path[-1:] == ("type",):
            noun = "a field type" if kind == "record_type" else "a view type"
        close = _suggest(inst, [str(c) for c in value])
        if noun:
            tail = close or f" (use one of: {', '.join(map(str, value))})"
            return [(path, f"{_quote(inst)} is not {noun}{tail}", False)]
        return [(path, f"must be one of {', '.join(map(_quote, value))}{close}", False)]
    if v == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        subject = _subject(kind, path, inst)
        what = "an option" if subject.endswith(" field") else "a setting"
        if "oneOf" in error.schema and subject != "an action":
            subject, what = "a filter", "a key"
        elif subject == "an option":
            what = "a key"
        return [((*path, extra), f"'{extra}' is not {what} of {subject}"
                 f"{_suggest(extra, allowed)} ({what.split()[-1]}s: {', '.join(allowed)})", True)
                for extra in inst if extra not in allowed]
    if v in ("required", "dependentRequired"):
        needed = value if v == "required" else [
            k for key, deps in value.items() if key in inst for k in deps]
        subject = "a filter condition" if v == "dependentRequired" else _subject(kind, path, inst)
        return [(path, f"{subject} needs '{k}'{_hint(k, kind, path)}", True)
                for k in needed if k not in inst]
    if v == "type":
        types = [value] if isinstance(value, str) else list(value)
        message = "must be " + " or ".join(TYPE_WORDS.get(t, t) for t in types)
        if kind == "record_type" and len(path) == 2 and path[0] == "fields":
            message = "must be a mapping with at least a type, like {type: text}"
        if isinstance(inst, bool) and "string" in types:
            message += QUOTE_HINT
        return [(path, message, False)]
    if v == "pattern":
        return [(path, f"{_quote(inst)} {PATTERN_WORDS.get(value, f'does not match {value}')}",
                 False)]
    if v == "format":
        return [(path, f"{_quote(inst)} is not a valid regular expression", False)]
    if v in ("minItems", "minProperties"):
        return [(path, "needs at least one field" if path == ("fields",) else "must not be empty",
                 False)]
    if v == "uniqueItems":
        dupes = [i for i, item in enumerate(inst) if item in inst[:i]]
        return [((*path, i), f"{_quote(inst[i])} is listed twice", False) for i in dupes[:1]]
    if v in ("minimum", "maximum"):
        return [(path, f"must be at {'least' if v == 'minimum' else 'most'} {value}", False)]
    return [(path, error.message, False)]


def _fits(schema: dict[str, Any], instance: Any) -> bool:
    """Whether `instance` has a JSON type the schema accepts (so its errors are the useful ones)."""
    expected = schema.get("type")
    types = [expected] if isinstance(expected, str) else expected or []
    return not types or any(Draft202012Validator.TYPE_CHECKER.is_type(instance, t) for t in types)


def _explain_choice(error: ValidationError, kind: str, defs: dict[str, Any]) -> list[Finding]:
    """anyOf / oneOf: explain the branch the value was meant for, judged by its JSON type."""
    path, inst = tuple(error.absolute_path), error.instance
    if error.schema is defs["filter"]:
        if not isinstance(inst, dict):
            return []  # "must be a mapping" comes from the type keyword
        given = [k for k in ("all", "any", "not", "field") if k in inst]
        if len(given) > 1:
            return [(path, "a filter takes one of all, any, not or field, not several (here: "
                     f"{', '.join(given)})", False)]
        if not given and not {"op", "value"} & inst.keys():
            return [(path, "a filter needs all:, any:, not: or field: with op:", True)]
        return []  # op or value without field: dependentRequired says so
    branches = [defs[b["$ref"].removeprefix("#/$defs/")] if "$ref" in b else b
                for b in error.validator_value]
    if isinstance(inst, dict) and all(set(b) == {"required"} and len(b["required"]) == 1
                                      for b in branches):  # one of these keys (an action)
        keys = [b["required"][0] for b in branches]
        given = [k for k in keys if k in inst]
        what = _subject(kind, path, inst)
        if len(given) > 1:
            return [(path, f"{what} takes one of {', '.join(keys)}, not several (here: "
                     f"{', '.join(given)})", False)]
        return [(path, f"{what} needs one of {', '.join(keys)}", True)] if not given else []
    fitting = [i for i, b in enumerate(branches) if _fits(b, inst)]
    if fitting:
        return [f for ctx in error.context if ctx.relative_schema_path[0] == fitting[0]
                for f in _explain(ctx, kind, defs)]
    if error.schema is defs["label"]:
        message = "must be text, or a map of locale to text like {en: Client, zh: 客户}"
    elif path[-1:] == ("renamed_from",):
        message = "must be a name or a list of names"
    elif path[-2:-1] == ("options",):
        message = "must be an option value, or a mapping like {value: walk_in, label: Walk-in}"
    else:
        words = [TYPE_WORDS.get(b.get("type"), "something else") for b in branches]
        message = "must be " + " or ".join(dict.fromkeys(words))
    if isinstance(inst, bool) and any(b.get("type") == "string" for b in branches):
        message += QUOTE_HINT
    return [(path, message, False)]


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    return [p for p in problems if not (p in seen or seen.add(p))]


def _label(raw: Any, fallback: str) -> Label:
    """A Label from what was written, or from the name when that is missing or malformed."""
    if isinstance(raw, str) or (isinstance(raw, dict) and raw
                                and all(isinstance(v, str) for v in raw.values())):
        return Label.of(raw, fallback)
    return Label.of(None, fallback)


def _mapping(raw: Any) -> dict[str, Any]:
    return raw if isinstance(raw, dict) else {}


def _strings(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    return tuple(x for x in raw if isinstance(x, str)) if isinstance(raw, list) else ()


def _build(named: dict[tuple[str, str], str], sources: dict[str, Source],
           schema_paths: dict[str, set[tuple]], root: str, name: str
           ) -> tuple[Workspace, checks.Broken]:
    """The model, built from whatever is usable; `Broken` names what could not be built."""
    def data(rel: str | None) -> dict[str, Any]:
        return _mapping(sources[rel].data) if rel in sources else {}

    settings = data(named.get(("workspace", "workspace")))
    default_locale = settings.get("default_locale")
    locales = _strings(settings.get("locales")) or (
        (default_locale,) if isinstance(default_locale, str) else ("en",))
    if not isinstance(default_locale, str):
        default_locale = locales[0]
    timezone = settings.get("timezone") if isinstance(settings.get("timezone"), str) else "UTC"
    users = settings.get("users") if isinstance(settings.get("users"), str) else None
    broken = checks.Broken()
    record_types: dict[str, RecordType] = {}
    views: dict[str, View] = {}
    rules: dict[str, Rule] = {}
    documents: dict[str, Document] = {}
    approvals: dict[str, Rule] = {}
    for (kind, item), rel in named.items():
        source = sources[rel]
        if not isinstance(source.data, dict) and kind != "workspace":
            if kind == "record_type":
                broken.types.add(item)
            continue
        raw = source.data
        if kind == "record_type":
            record_types[item] = _record_type(item, source, schema_paths.get(rel, set()),
                                              timezone, users, broken)
        elif kind == "view":
            config = {k: v for k, v in raw.items() if k not in ("type", "label", "record_type")}
            views[item] = View(item, str(raw.get("type", "")), _label(raw.get("label"), item),
                               _str(raw.get("record_type")), config, Loc(rel))
        elif kind == "automation":
            rules[item] = Rule(item, _str(raw.get("record_type")), dict(raw), Loc(rel))
        elif kind == "document":
            documents[item] = _document(item, raw, Loc(rel))
        elif kind == "approval":
            approvals[item] = Rule(item, _str(raw.get("record_type")), dict(raw), Loc(rel))
    record_types = resolve_derived(record_types)  # lookups and rollups take their value's shape
    roles = {}
    for role_name, raw in _mapping(settings.get("roles")).items():
        raw = _mapping(raw)
        rest = {k: v for k, v in raw.items() if k not in ("label", "permissions")}
        roles[role_name] = Role(role_name, _label(raw.get("label"), role_name),
                                _mapping(raw.get("permissions")), rest)
    ws = Workspace(
        name=_str(settings.get("name")) or name,
        label=_label(settings.get("label"), _str(settings.get("name")) or name),
        default_locale=default_locale, locales=locales, record_types=record_types,
        views=views, rules=rules, roles=roles, users_type=users, root=root, documents=documents,
        approvals=approvals,
        config={**settings, "timezone": timezone, "default_locale": default_locale,
                "locales": list(locales)},
    )
    return ws, broken


def _str(raw: Any) -> str | None:
    return raw if isinstance(raw, str) else None


def _document(name: str, raw: dict[str, Any], loc: Loc) -> Document:
    """A document template as declared; the checks say what is wrong with it."""
    template = _str(raw.get("template")) or ""
    formats = _strings(raw.get("formats")) or (("docx",) if template.endswith(".docx")
                                               else ("pdf",))
    related = {}
    for key, spec in _mapping(raw.get("related")).items():
        spec = _mapping(spec)
        limit = spec.get("limit")
        related[key] = Related(
            _str(spec.get("record_type")) or "", _str(spec.get("link")) or "",
            _strings(spec.get("sort")), spec.get("filter"),
            limit if isinstance(limit, int) and not isinstance(limit, bool) else 200)
    roles = raw.get("roles")
    return Document(
        name=name, label=_label(raw.get("label"), name),
        record_type=_str(raw.get("record_type")) or "", template=template, formats=formats,
        attach_to=_str(raw.get("attach_to")) or "", file_name=_str(raw.get("file_name")),
        roles=_strings(roles) if isinstance(roles, list) else None,
        when=raw.get("when"), locked_when=raw.get("locked_when"),
        locale=_str(raw.get("locale")), related=related,
        constants=_mapping(raw.get("constants")), loc=loc)


def _record_type(name: str, source: Source, bad: set[tuple], timezone: str,
                 users: str | None, broken: checks.Broken) -> RecordType:
    raw = source.data
    fields: dict[str, Field] = {}
    for fname, fdef in _mapping(raw.get("fields")).items():
        ftype = fdef.get("type") if isinstance(fdef, dict) else None
        usable = (isinstance(ftype, str) and ftype in registry and registry.get(ftype).declarable
                  and not any(p[:2] == ("fields", fname) for p in bad))
        if not usable:
            broken.fields.setdefault(name, set()).add(fname)
            continue
        fields[fname] = _field(fname, fdef, source, timezone, users)
    for sname, (stype, texts) in SYSTEM_LABELS.items():
        config: dict[str, Any] = _implied_config(registry.get(stype), {}, timezone, users)
        fields[sname] = Field(sname, stype, Label(texts), read_only=True, system=True,
                              config=config, loc=Loc(source.file))
    declared = [f for f in fields.values() if not f.system]
    title = _str(raw.get("title")) or next((f.name for f in declared if f.kind.titles), "id")
    search = _strings(raw.get("search")) if isinstance(raw.get("search"), list) else tuple(
        f.name for f in declared if f.kind.searchable)
    label = _label(raw.get("label"), name)
    return RecordType(
        name=name, label=label,
        label_plural=_label(raw["label_plural"], name) if "label_plural" in raw else label,
        fields=fields, title_field=title, icon=_str(raw.get("icon")),
        description=_label(raw["description"], "") if raw.get("description") else None,
        search_fields=search, loc=Loc(source.file),
        indexes=tuple(tuple(c for c in ix if isinstance(c, str))
                      for ix in (raw.get("indexes") if isinstance(raw.get("indexes"), list)
                                 else []) if isinstance(ix, list) and ix),
        locked=_locked(raw.get("locked")),
    )


def _locked(raw: Any) -> Locked | None:
    """`locked:` as written (checks.py reports what is wrong with it)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("field"), str) or \
            not isinstance(raw.get("stages"), dict):
        return None
    stages = {}
    for value, spec in raw["stages"].items():
        spec = spec if isinstance(spec, dict) else {}
        stages[str(value)] = LockedStage(open=frozenset(_strings(spec.get("open"))),
                                         sealed=frozenset(_strings(spec.get("sealed"))))
    return Locked(raw["field"], stages, _strings(raw.get("by")))


def _implied_config(kind, config: dict[str, Any], timezone: str,
                    users: str | None) -> dict[str, Any]:
    """What the workspace gives a field of this kind: its time zone (values that are
    instants: a datetime, a formula giving one) and, for a person, the users type."""
    if kind.zoned(config):
        config.setdefault("timezone", timezone)
    if kind.person:
        config["target"] = users
    return config


def _field(name: str, fdef: dict[str, Any], source: Source, timezone: str,
           users: str | None) -> Field:
    ftype = fdef["type"]
    config = {k: v for k, v in fdef.items() if k not in COMMON_OPTIONS and k != "options"}
    config = _implied_config(registry.get(ftype), config, timezone, users)
    options = []
    for i, raw in enumerate(fdef.get("options") or []):
        raw = {"value": raw} if isinstance(raw, str) else raw
        value = str(raw["value"])
        options.append(Option(value, _label(raw.get("label"), value),
                              raw.get("color") or COLORS[i % len(COLORS)],
                              renamed_from=_strings(raw.get("renamed_from"))))
    help_ = fdef.get("help")
    return Field(
        name=name, type=ftype, label=_label(fdef.get("label"), name),
        required=fdef.get("required") is True, unique=fdef.get("unique") is True,
        indexed=fdef.get("indexed") is True, read_only=fdef.get("read_only") is True,
        default=fdef.get("default"), help=_label(help_, "") if help_ else None,
        renamed_from=_strings(fdef.get("renamed_from")), options=tuple(options),
        config=config, loc=Loc(source.file, *source.where(("fields", name), key=True)),
        sample=fdef.get("sample"),
    )
