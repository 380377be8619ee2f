"""Cross-checks of dashboard views: each widget's record type, fields, groupings (select,
link, user, boolean, or a date bucket), measures (sums and averages of number fields),
funnel steps, and the fields each dashboard filter maps to."""

from __future__ import annotations

from .checks import (
    Context,
    _article,
    _check_filter,
    _field_at,
    _follow,
    _not_a_type,
    _numeric,
    _suggest,
)
from .model import Field, RecordType
from .yamlpos import Path

WIDGET_GROUP_KEYS = ("group_by", "series", "rows", "columns")


def check_dashboard(ctx: Context, file: str, config: dict) -> None:
    """Each widget's record type, fields, groupings and measures; each filter's fields."""
    widgets = config.get("widgets")
    for i, w in enumerate(widgets if isinstance(widgets, list) else []):
        tn = w.get("record_type") if isinstance(w, dict) else None
        if not isinstance(tn, str):
            continue
        at: Path = ("widgets", i)
        if not ctx.type_known(tn):
            ctx.report(file, (*at, "record_type"), _not_a_type(ctx, tn))
            continue
        if tn not in ctx.workspace.record_types:
            continue
        rt = ctx.workspace.record_types[tn]
        _check_filter(ctx, file, rt, w.get("filter"), (*at, "filter"))
        if isinstance(w.get("date_field"), str):
            f = _field_at(ctx, file, rt, (*at, "date_field"), w["date_field"])
            if f is not None and _flavor(f) not in ("date", "datetime"):
                ctx.report(file, (*at, "date_field"), f"'{f.name}' is {_article(f.type)} field; "
                           "the date range applies to a date or datetime field")
        view = w.get("view")
        if isinstance(view, str):
            v = ctx.workspace.views.get(view)
            if v is None or v.type != "table" or v.record_type != tn:
                ctx.report(file, (*at, "view"), f"'{view}' is not a table view of {tn}")
        for key in WIDGET_GROUP_KEYS:
            if isinstance(w.get(key), str) and not (key == "columns" and w.get("type") == "list"):
                _check_group(ctx, file, rt, w[key], (*at, key), w.get("type") == "funnel")
        _check_measures(ctx, file, rt, w, at)
        _check_widget_fields(ctx, file, rt, w, at)
    for i, c in enumerate(config.get("filters") or [] if isinstance(config.get("filters"), list)
                          else []):
        fields = c.get("fields") if isinstance(c, dict) else None
        for tn, name in (fields.items() if isinstance(fields, dict) else ()):
            if not ctx.type_known(tn):
                ctx.report(file, ("filters", i, "fields", tn), _not_a_type(ctx, tn), key=True)
            elif tn in ctx.workspace.record_types and isinstance(name, str):
                _field_at(ctx, file, ctx.workspace.record_types[tn], ("filters", i, "fields", tn),
                          name)


def _flavor(f: Field) -> str:
    from lowrise.filters import flavor  # the one place that says how a field compares

    return flavor(f)


def _check_group(ctx: Context, file: str, rt: RecordType, spec: str, path: Path,
                 funnel: bool) -> None:
    name, _, bucket = spec.partition(":")
    f = _follow(ctx, file, rt, name, path) if "." in name else _field_at(ctx, file, rt, path, name)
    if f is None:
        return
    if bucket:
        if "." in name or _flavor(f) not in ("date", "datetime"):
            ctx.report(file, path, f"'{spec}': a bucket (:{bucket}) groups a date or datetime "
                       "field of the record type itself")
    elif funnel and not f.kind.value_type(f).stages:
        ctx.report(file, path, f"'{name}' is {_article(f.type)} field; a funnel's steps are the "
                   "options of a select field")
    elif not f.kind.groupable:
        ctx.report(file, path, f"'{name}' is {_article(f.type)} field; a widget groups by a "
                   "select, link, user or boolean field, or a date field with :day, :week, "
                   ":month or :year")


def _check_measures(ctx: Context, file: str, rt: RecordType, w: dict, at: Path) -> None:
    raw = w.get("measures") if isinstance(w.get("measures"), list) else (
        [w["measure"]] if "measure" in w else [])
    where = (*at, "measures") if isinstance(w.get("measures"), list) else (*at, "measure")
    names = set()
    for i, m in enumerate(raw):
        path = (*where, i) if where[-1] == "measures" else where
        spec = m if isinstance(m, str) else m.get("measure") if isinstance(m, dict) else None
        if isinstance(m, dict):
            names.add(m.get("name") or (spec or "ratio").replace(":", "_"))
            _check_filter(ctx, file, rt, m.get("filter"), (*path, "filter"))
            path = (*path, "measure") if "measure" in m else path
        elif isinstance(m, str):
            names.add(m.replace(":", "_"))
        fn, _, name = spec.partition(":") if isinstance(spec, str) else ("", "", "")
        if not name:
            continue
        f = _field_at(ctx, file, rt, path, name)
        if f is None:
            continue
        if fn in ("sum", "avg") and not _numeric(f):
            ctx.report(file, path, f"'{name}' is {_article(f.type)} field; {fn} needs a number "
                       "field")
        elif fn in ("min", "max") and not (_numeric(f) or
                                           _flavor(f) in ("date", "datetime")):
            ctx.report(file, path, f"'{name}' is {_article(f.type)} field; {fn} needs a number "
                       "or a date")
    for i, m in enumerate(raw):
        for j, part in enumerate(m.get("ratio") or [] if isinstance(m, dict) else []):
            if part not in names:
                ctx.report(file, (*where, i, "ratio", j), f"'{part}' is not a measure of this "
                           f"widget (measures: {', '.join(sorted(names))})")
    for key in ("value", "sort"):
        value = w.get(key)
        if isinstance(value, str) and key == "value" and value not in names:
            ctx.report(file, (*at, key), f"'{value}' is not a measure of this widget")
        if isinstance(value, str) and key == "sort" and w.get("type") != "list":
            name = value.lstrip("-")
            group = str(w.get("group_by") or "").partition(":")[0]
            if name not in names and name != group:
                ctx.report(file, (*at, key), f"'{name}' is neither a measure of this widget nor "
                           f"its group_by (measures: {', '.join(sorted(names))})")


def _check_widget_fields(ctx: Context, file: str, rt: RecordType, w: dict, at: Path) -> None:
    """A list's columns and sort, a leaderboard's `show`, a funnel's steps."""
    if w.get("type") == "list":
        for key in ("columns", "sort"):
            items = w.get(key)
            for i, name in enumerate(items if isinstance(items, list) else []):
                if isinstance(name, str):
                    _field_at(ctx, file, rt, (*at, key, i), name.removeprefix("-"))
    group = w.get("group_by")
    f = rt.fields.get(group) if isinstance(group, str) else None
    steps = w.get("steps")
    if f is not None and f.kind.stages and isinstance(steps, list):
        values = [o.value for o in f.options]
        for i, step in enumerate(steps):
            if step not in values:
                ctx.report(file, (*at, "steps", i), f"'{step}' is not an option of {f.name}"
                           f"{_suggest(str(step), values)} (options: {', '.join(values)})")
    show = w.get("show")
    if f is not None and isinstance(show, list):
        target = ctx.workspace.record_types.get(f.target or ctx.workspace.users_type or "")
        if not f.kind.links or target is None:
            ctx.report(file, (*at, "show"), "show lists fields of the grouped records: "
                       "group_by a link or user field")
            return
        for i, name in enumerate(show):
            if isinstance(name, str):
                _field_at(ctx, file, target, (*at, "show", i), name)
