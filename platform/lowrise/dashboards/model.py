"""The dashboard model: widgets, measures and controls parsed from a dashboard view, the
person's selection (date range, control values), and drill-downs as filter-language data."""

from __future__ import annotations

import typing as t
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from lowrise import filters
from lowrise.i18n import msg, tr
from lowrise.workspace.model import Field, Label, Loc, View, Workspace

from . import format as fmt
from .periods import Range, bucket_days, resolve_range

KINDS = ("kpi", "bar", "line", "pie", "donut", "funnel", "leaderboard", "pivot", "list")
#: the widgets drawn as a chart (the others are tables or figures)
CHARTS = ("bar", "line", "pie", "donut", "funnel")
GROUP_TYPES = ("select", "link", "user", "boolean")
SIZES = ("small", "narrow", "medium", "large", "full")
DEFAULT_SIZE = {"kpi": "small", "list": "medium", "pivot": "medium", "leaderboard": "medium",
                "funnel": "large", "pie": "narrow", "donut": "narrow"}
DEFAULT_LIMIT = {"leaderboard": 10, "list": 10}
#: most groups a chart shows when the groups are records (consultants, units...)
MAX_LINK_GROUPS = 12


# -- the model -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Measure:
    """One figure per group: `spec` (count, sum:amount...) over the widget's records, narrowed
    by `filter`; or `ratio` = (numerator, denominator), two other measures' names."""

    name: str
    label: Label
    spec: str | None = "count"
    filter: t.Any = None
    ratio: tuple[str, str] | None = None

    @property
    def field_name(self) -> str | None:
        return self.spec.partition(":")[2] or None if self.spec else None


@dataclass(frozen=True)
class Widget:
    """One widget as declared; `config` keeps the kind's own options (limit, steps, columns...)."""

    name: str
    kind: str
    title: Label
    record_type: str
    filter: t.Any = None
    group_by: tuple[str, ...] = ()
    measures: tuple[Measure, ...] = ()
    date_field: str | None = None
    view: str | None = None
    size: str = "medium"
    config: Mapping[str, t.Any] = field(default_factory=dict)
    description: Label | None = None

    @property
    def shown(self) -> Measure:
        """The measure a KPI shows: `value:`, else the last one listed."""
        name = self.config.get("value")
        return next((m for m in self.measures if m.name == name), self.measures[-1])


@dataclass(frozen=True)
class Control:
    """A dashboard-wide filter: one value narrows every widget whose type maps to a field."""

    name: str
    label: Label
    fields: Mapping[str, str]


@dataclass(frozen=True)
class Dashboard:
    name: str
    label: Label
    widgets: tuple[Widget, ...]
    controls: tuple[Control, ...] = ()
    default_range: str = "all"
    description: Label | None = None
    loc: Loc = Loc("")


def _measure(raw: t.Any, rt_label: Label, ws: Workspace, type_name: str) -> Measure:
    if isinstance(raw, str):
        raw = {"measure": raw}
    spec = raw.get("measure", None if raw.get("ratio") else "count")
    name = raw.get("name") or (spec or "ratio").replace(":", "_")
    label = Label.of(raw["label"], name) if raw.get("label") else _measure_label(
        spec, rt_label, ws, type_name)
    ratio = tuple(raw["ratio"]) if raw.get("ratio") else None
    return Measure(name, label, spec, raw.get("filter"), ratio)  # type: ignore[arg-type]


def _measure_label(spec: str | None, rt_label: Label, ws: Workspace, type_name: str) -> Label:
    if not spec or spec == "count":
        return rt_label
    fn, _, name = spec.partition(":")
    rt = ws.record_types.get(type_name)
    f = rt.fields.get(name) if rt else None
    base = f.label if f else Label.of(None, name)
    words = fmt.MEASURE_WORDS.get(fn)
    if words is None:  # a sum reads as the field's label
        return base
    return Label({loc: tr(msg(words.id, field=text), loc) for loc, text in base.texts.items()})


def load(view: View, ws: Workspace) -> Dashboard:
    """The dashboard a view declares (the loader has checked it against the schema)."""
    cfg = view.config
    widgets = []
    for i, raw in enumerate(cfg.get("widgets") or []):
        kind, type_name = raw.get("type", "kpi"), raw.get("record_type", "")
        rt = ws.record_types.get(type_name)
        rt_label = rt.label_plural if rt else Label.of(None, type_name)
        if kind == "pivot":
            group = (raw.get("rows"), raw.get("columns"))
        else:
            group = (raw.get("group_by"), raw.get("series"))
        raw_measures = raw.get("measures") or [raw.get("measure", "count")]
        measures = tuple(_measure(m, rt_label, ws, type_name) for m in raw_measures)
        own = {k: v for k, v in raw.items() if k not in (
            "type", "title", "record_type", "filter", "group_by", "series", "rows", "columns",
            "measure", "measures", "date_field", "view", "size", "name", "description")}
        if kind == "list":
            own["columns"] = raw.get("columns") or []
        widgets.append(Widget(
            name=raw.get("name") or f"w{i + 1}", kind=kind,
            title=Label.of(raw.get("title"), raw.get("name") or type_name),
            record_type=type_name, filter=raw.get("filter"),
            group_by=tuple(g for g in group if g), measures=measures,
            date_field=raw.get("date_field"), view=raw.get("view"),
            size=raw.get("size") or DEFAULT_SIZE.get(kind, "medium"), config=own,
            description=Label.of(raw["description"], "") if raw.get("description") else None))
    controls = tuple(Control(c["name"], Label.of(c.get("label"), c["name"]), dict(c["fields"]))
                     for c in cfg.get("filters") or [])
    rng = cfg.get("date_range") or {}
    return Dashboard(view.name, view.label, tuple(widgets), controls,
                     rng.get("default", "all") if isinstance(rng, dict) else str(rng),
                     Label.of(cfg["description"], "") if cfg.get("description") else None,
                     view.loc)


def dashboard_views(ws: Workspace) -> list[View]:
    """The workspace's dashboards, in file order."""
    return [v for v in ws.views.values() if v.type == "dashboard"]


# -- what the person chose: a date range and the controls' values ---------------------------

@dataclass(frozen=True)
class Selection:
    range: Range
    values: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def select(board: Dashboard, args: Mapping[str, str], today: date, ws: Workspace) -> Selection:
    """The date range and control values from a query string's plain values."""
    problems: list[str] = []
    try:
        rng = resolve_range(args.get("range") or (None if args.get("from") or args.get("to")
                                                  else board.default_range),
                            today, args.get("from"), args.get("to"))
    except ValueError as exc:
        problems.append(str(exc))
        rng = resolve_range(board.default_range, today)
    values = {}
    for c in board.controls:
        raw = (args.get(c.name) or "").strip()
        if not raw:
            continue
        bad = [p for tn, fn in c.fields.items() if tn in ws.record_types
               for p in filters.check({"field": fn, "op": "eq", "value": raw}, tn, ws)]
        if bad:
            problems.append(f"{fmt.text(c.label)}: {bad[0]}")
        else:
            values[c.name] = raw
    return Selection(rng, values, tuple(problems))


# -- drill-down ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Drill:
    """The records behind a number: a table view of `record_type` narrowed by `conditions`
    (a flat list in the filter language, which a table view's URL can carry)."""

    record_type: str
    view: str | None
    conditions: tuple[Mapping[str, t.Any], ...]


def flat(data: t.Any) -> list[dict] | None:
    """Filter data as a flat list of conditions (None: not flat: `any:`, `not:`), which a
    table view's URL can hold."""
    if not data:
        return []
    if isinstance(data, Mapping) and "field" in data:
        # (a path through a link, client.source, goes into a table's URL too: viewstate.py)
        return [dict(data)]
    items = data if isinstance(data, list) else (
        data["all"] if isinstance(data, Mapping) and set(data) == {"all"} else None)
    if not isinstance(items, list):
        return None
    out: list[dict] = []
    for item in items:
        sub = flat(item)
        if sub is None:
            return None
        out += sub
    return out


def drill_view(ws: Workspace, widget: Widget) -> View | None:
    """The table view drill-downs open: the widget's `view`, else the type's default table
    (None when the type declares none: the table made from its fields, with no filter)."""
    if widget.view:
        return ws.views.get(widget.view)
    tables = [v for v in ws.views_of(widget.record_type) if v.type == "table"]
    return sorted(tables, key=lambda v: not v.config.get("default"))[0] if tables else None


def group_condition(spec: str, f: Field, bucket: str | None, value: t.Any) -> dict[str, t.Any]:
    """The condition selecting one group's records (`spec` as in group_by: a field, a path
    through a link, or a date bucket)."""
    name = spec.partition(":")[0]
    if value is None:
        return {"field": name, "op": "is_empty"}
    if bucket:
        first, last = bucket_days(value, bucket)
        return {"field": name, "op": "between", "value": [first.isoformat(), last.isoformat()]}
    if isinstance(value, bool):
        return {"field": name, "op": "eq", "value": "true" if value else "false"}
    return {"field": name, "op": "eq", "value": str(value)}
