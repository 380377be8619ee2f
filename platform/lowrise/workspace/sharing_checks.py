"""Cross-checks of a form's `public:` block (docs/sharing.md) and a calendar's `feed:`: the
fields a visitor fills in exist, can be typed by someone who sees nothing of the workspace,
and reveal nothing (no unique field but a match key, no link pickers); the values the form
sets fit their fields; every required field is asked for or set; the roles exist."""

from __future__ import annotations

from typing import Any

from lowrise.errors import FieldError

from .checks import Context, _article, _field_at, _suggest
from .model import Field, RecordType

#: field types a visitor types a value into (no pickers of records, no files)
VISITOR_TYPES = ("text", "long_text", "integer", "decimal", "currency", "percent", "boolean",
                 "date", "datetime", "duration", "select", "multi_select", "email", "phone",
                 "url", "rating")


def form_items(public: dict) -> list[tuple[int, str]]:
    """(index, path) of each entry of `fields`, written as a path or as {field: path}."""
    out = []
    for i, item in enumerate(public.get("fields") or []):
        path = item.get("field") if isinstance(item, dict) else item
        if isinstance(path, str):
            out.append((i, path))
    return out


def match_paths(public: dict) -> list[tuple[tuple, str]]:
    """(YAML path, match path) of each `match` entry."""
    raw = public.get("match")
    if isinstance(raw, str):
        return [(("public", "match"), raw)]
    return [(("public", "match", i), p) for i, p in enumerate(raw if isinstance(raw, list)
                                                                 else []) if isinstance(p, str)]


def check_public_form(ctx: Context, file: str, rt: RecordType, public: Any) -> None:
    """Every check of one form view's `public:` block."""
    if not isinstance(public, dict):
        return
    asked: dict[str, Field] = {}
    for i, path in form_items(public):
        at = ("public", "fields", i)
        f = _resolve(ctx, file, rt, path, at)
        if f is None:
            continue
        if path in asked:
            ctx.report(file, at, f"'{path}' is asked for twice")
        elif f.system or f.read_only or f.kind.generated or f.type not in VISITOR_TYPES:
            why = "read-only" if f.read_only else f"{_article(f.type)} field"
            ctx.report(file, at, f"'{path}' is {why}, which a visitor cannot fill in (a public "
                       f"form asks for {', '.join(VISITOR_TYPES)} fields; set others under "
                       "set:)")
        asked[path] = f
    keys = {p for _, p in match_paths(public)}
    for path, f in asked.items():
        if f.unique and path not in keys:
            ctx.report(file, ("public", "fields"), f"'{path}' must be unique, and refusing a "
                       "value already taken would tell a visitor it exists; name it under "
                       "match: to find the known record instead")
    given = public.get("set") if isinstance(public.get("set"), dict) else {}
    for path, value in given.items():
        _check_set(ctx, file, rt, str(path), value, asked)
    links = {p.split(".")[0] for p in (*asked, *given) if "." in p}
    for at, path in match_paths(public):
        if path not in asked:
            ctx.report(file, at, f"'{path}' is not among the fields the form asks for; a "
                       "known record is matched by what the visitor typed")
    _check_required(ctx, file, rt, "", set(asked) | set(given), links)
    for link in sorted(links):
        f = rt.fields.get(link)
        if f is not None and f.kind.links and not f.kind.person \
                and f.target in ctx.workspace.record_types:
            _check_required(ctx, file, ctx.workspace.record_types[f.target], link + ".",
                            set(asked) | set(given), set())
    roles = public.get("managed_by")
    for i, role in enumerate(roles if isinstance(roles, list) else []):
        if isinstance(role, str) and role not in ctx.workspace.roles:
            ctx.report(file, ("public", "managed_by", i), f"'{role}' is not a role"
                       + (_suggest(role, ctx.workspace.roles) or
                          f" (roles: {', '.join(sorted(ctx.workspace.roles)) or 'none'})"))


def check_feed(ctx: Context, file: str, rt: RecordType, feed: Any) -> None:
    """A calendar feed's `details` are fields of the calendar's record type."""
    if not isinstance(feed, dict):
        return
    details = feed.get("details")
    for i, name in enumerate(details if isinstance(details, list) else []):
        if isinstance(name, str):
            _field_at(ctx, file, rt, ("feed", "details", i), name)


def _resolve(ctx: Context, file: str, rt: RecordType, path: str, at: tuple) -> Field | None:
    """The field a form path names (one step through a link field at most), or None."""
    first, _, rest = path.partition(".")
    f = _field_at(ctx, file, rt, at, first)
    if f is None or not rest:
        return f
    if not f.kind.links or f.kind.person or f.target not in ctx.workspace.record_types:
        ctx.report(file, at, f"'{first}' is {_article(f.type)} field; a public form reaches "
                   "another record through a link field")
        return None
    return _field_at(ctx, file, ctx.workspace.record_types[f.target], at, rest)


def _check_set(ctx: Context, file: str, rt: RecordType, path: str, value: Any,
               asked: dict[str, Field]) -> None:
    at = ("public", "set", path)
    f = _resolve(ctx, file, rt, path, at)
    if f is None:
        return
    if path in asked:
        ctx.report(file, at, f"'{path}' is asked for and set: keep one", key=True)
    elif f.system or f.kind.generated or f.kind.stores_files:
        ctx.report(file, at, f"'{path}' is {_article(f.type)} field, which a form cannot set",
                   key=True)
    elif f.unique:
        ctx.report(file, at, f"'{path}' must be unique: one value set on every submission "
                   "would refuse all but the first", key=True)
    elif not (isinstance(value, str) and value.strip().lower() in ("now", "today")
              and f.kind.calendar):
        try:
            parsed = f.kind.parse(f, value)
            if parsed is not None:
                f.kind.check(f, parsed)
        except FieldError as exc:
            ctx.report(file, at, f"the value does not fit {path}: {exc}")
        except (ValueError, TypeError, ArithmeticError) as exc:
            ctx.report(file, at, f"the value does not fit {path}: {exc}")


def _check_required(ctx: Context, file: str, rt: RecordType, prefix: str, given: set[str],
                    links: set[str]) -> None:
    """Every required field of `rt` without a default is asked for or set (a link the form
    fills through its fields counts as given)."""
    for f in rt.user_fields:
        if not f.required or f.default is not None or f.kind.generated:
            continue
        if prefix + f.name in given or (not prefix and f.name in links):
            continue
        ctx.report(file, ("public", "fields"), f"{rt.name} requires '{f.name}': ask for "
                   f"'{prefix}{f.name}' under fields: or give it under set:")
