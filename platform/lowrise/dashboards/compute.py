"""Computing widgets: every number through `lowrise.storage.query` with the Actor, so that
row scopes apply to every aggregate; every figure with the drill-down to its records."""

from __future__ import annotations

import typing as t
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa

from lowrise import access, filters
from lowrise.actor import Actor
from lowrise.errors import LowriseError
from lowrise.storage import query
from lowrise.storage.tables import Schema
from lowrise.workspace.model import Field, View

from . import format as fmt
from . import paths
from .cache import ResultCache, data_version
from .model import (
    DEFAULT_LIMIT,
    MAX_LINK_GROUPS,
    Control,
    Dashboard,
    Drill,
    Measure,
    Selection,
    Widget,
    drill_view,
    flat,
    group_condition,
)
from .periods import Range, buckets_between

#: a list widget with at most this many matching records reads them all and sorts them
#: (about a tenth of a second at the most); with more, it walks the index of its sort
LIST_READ_MATCHES = 100_000

# -- results ---------------------------------------------------------------------------------

@dataclass
class Point:
    """One group (a bar, a slice, a funnel step, a leaderboard row) and its figures."""

    key: t.Any
    label: str
    color: str | None = None
    values: dict[str, t.Any] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    drills: dict[str, Drill | None] = field(default_factory=dict)
    extra: dict[str, t.Any] = field(default_factory=dict)


@dataclass
class Figure:
    """A KPI: the value, the previous period's, and the change between them."""

    value: t.Any
    text: str
    previous: t.Any = None
    previous_text: str = ""
    change: Decimal | None = None
    change_text: str = ""
    trend: str = ""  # good, bad or flat
    short: str = ""


@dataclass
class Pivot:
    rows: list[Point]
    columns: list[Point]
    cells: dict[tuple[int, int], tuple[t.Any, str, Drill | None]]
    total: tuple[t.Any, str, Drill | None]


@dataclass
class WidgetData:
    """A computed widget: what its template and its chart need, already in words."""

    widget: Widget
    title: str
    measures: list[tuple[str, str]] = field(default_factory=list)  # (name, label)
    group_label: str = ""  # what the groups are (Layout, Consultant...)
    ranked: bool = False  # the groups are ranked by a measure (a leaderboard's places)
    points: list[Point] = field(default_factory=list)
    series: list[Point] = field(default_factory=list)  # a bar chart's second grouping
    figure: Figure | None = None
    pivot: Pivot | None = None
    rows: list[dict[str, t.Any]] = field(default_factory=list)
    columns: list[tuple[str, str]] = field(default_factory=list)
    total: int | None = None
    drill: Drill | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None


# -- computing -------------------------------------------------------------------------------

class _Run:
    """One widget's computation: its base conditions, the connection, the actor, the locale."""

    def __init__(self, conn: sa.Connection, schema: Schema, widget: Widget, sel: Selection,
                 actor: Actor | None, locale: str, view: View | None,
                 controls: Sequence[Control] = ()):
        self.conn, self.schema, self.widget, self.sel = conn, schema, widget, sel
        self.ws = schema.workspace
        self.actor, self.locale = actor, locale
        self.rt = self.ws.type(widget.record_type)
        self.view = view
        self.notes: list[str] = []
        self.ranked = False
        base: list[t.Any] = []
        if view is not None and view.filter:
            base.append(view.filter)
        if widget.filter:
            base.append(widget.filter)
        self.base = base
        self.range_conds = self.range_conditions(sel.range)
        self.control_conds = []
        for c in controls:
            if c.name in sel.values:
                fname = c.fields.get(widget.record_type)
                if fname:
                    self.control_conds.append({"field": fname, "op": "eq",
                                               "value": sel.values[c.name]})
                else:
                    self.notes.append(fmt.word("not_filtered", locale,
                                               field=fmt.text(c.label, locale)))
        # The drill-down opens `view` (None: the table a type without declared ones gets),
        # which applies its own filter: the URL adds the rest.
        own = flat(widget.filter)
        self.drillable = own is not None
        self.flat_base = own or []

    def range_conditions(self, rng: Range | None) -> list[dict]:
        if rng is None or rng.start is None or not self.widget.date_field:
            return []
        return [{"field": self.widget.date_field, "op": "between",
                 "value": [rng.start.isoformat(), rng.end.isoformat()]}]

    def filter(self, *extra: t.Any, range_conds: list | None = None) -> t.Any:
        conds = [*self.base, *(self.range_conds if range_conds is None else range_conds),
                 *self.control_conds, *(e for e in extra if e)]
        return {"all": conds} if conds else None

    def drill(self, *extra: t.Any) -> Drill | None:
        if not self.drillable:
            return None
        conds = [*self.flat_base, *self.range_conds, *self.control_conds]
        for e in extra:
            more = flat(e)
            if more is None:
                return None
            conds += more
        return Drill(self.rt.name, self.view.name if self.view else None, tuple(conds))

    def aggregate(self, group_by: Sequence[str], measures: Sequence[Measure],
                  range_conds: list | None = None) -> dict[tuple, dict[str, t.Any]]:
        """{group key: {measure name: value}}: one aggregate per distinct measure filter."""
        out: dict[tuple, dict[str, t.Any]] = {}
        by_filter: dict[str, list[Measure]] = {}
        for m in measures:
            if m.spec:
                by_filter.setdefault(repr(m.filter), []).append(m)
        for group in by_filter.values():
            specs = list(dict.fromkeys(m.spec for m in group))
            rows = paths.aggregate(self.conn, self.schema, self.rt.name, group_by=group_by,
                                   measures=specs, ctx=self.actor,
                                   filter=self.filter(group[0].filter, range_conds=range_conds))
            for row in rows:
                key = tuple(row[g] for g in group_by)
                slot = out.setdefault(key, {})
                for m in group:
                    slot[m.name] = row[m.spec]
        for m in measures:
            if m.ratio:
                for slot in out.values():
                    slot[m.name] = _ratio(slot.get(m.ratio[0]), slot.get(m.ratio[1]))
        if not group_by:
            out.setdefault((), {m.name: _empty(m) for m in measures})
        return out

    def text(self, m: Measure, value: t.Any) -> str:
        return fmt.measure_text(self.rt, m, value, self.locale)

    def field_of(self, spec: str) -> tuple[Field, str | None]:
        """The field a group spec names (through a link for `client.source`), its bucket."""
        name, _, bucket = spec.partition(":")
        link, _, rest = name.partition(".")
        if rest:
            target = filters.link_target(self.rt.fields[link], self.ws)
            return self.ws.type(target or "").fields[rest], None
        return self.rt.fields[name], bucket or None


def _ratio(num: t.Any, den: t.Any) -> Decimal | None:
    if num is None or not den:
        return None
    return Decimal(num) / Decimal(den)


def _empty(m: Measure) -> t.Any:
    return 0 if m.spec == "count" else None


def compute(engine: sa.Engine, schema: Schema, board: Dashboard, sel: Selection, *,
            actor: Actor | None, locale: str = "en", workers: int = 1,
            cache: ResultCache | None = None) -> list[WidgetData]:
    """The data of every widget the actor may read; a widget that fails carries its error and
    the others still show. With a `cache`, widgets computed since the last write are reused."""
    ws = schema.workspace
    version = 0
    if cache is not None:
        with engine.connect() as conn:
            version = data_version(conn, schema)
    who = (actor.user, tuple(sorted(actor.roles)), actor.system) if actor else None
    base = (board.name, id(board), sel.range, tuple(sorted(sel.values.items())), who, locale)

    def one(w: Widget) -> WidgetData:
        key = (*base, w.name)
        if cache is not None and (hit := cache.get(key, version)) is not None:
            return hit
        with engine.connect() as conn:
            data = compute_widget(conn, schema, w, sel, actor=actor, locale=locale,
                                  view=drill_view(ws, w), controls=board.controls)
        if cache is not None and data.error is None:
            cache.put(key, version, data)
        return data

    pol = access.policy(ws, actor)
    # A widget over records the person may not read at all is left out, not shown as an error.
    widgets = [w for w in board.widgets if pol is None or pol.may("read", w.record_type)]
    if workers > 1 and len(widgets) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, widgets))
    return [one(w) for w in widgets]


def compute_widget(conn: sa.Connection, schema: Schema, widget: Widget, sel: Selection, *,
                   actor: Actor | None, locale: str = "en", view: View | None = None,
                   controls: Sequence[Control] = ()) -> WidgetData:
    """One widget's data (`view`: the table view its drill-downs open)."""
    data = WidgetData(widget, fmt.text(widget.title, locale))
    try:
        run = _Run(conn, schema, widget, sel, actor, locale, view, controls)
        data.measures = [(m.name, fmt.text(m.label, locale)) for m in widget.measures]
        if widget.group_by:
            data.group_label = fmt.text(run.field_of(widget.group_by[0])[0].label, locale)
        data.notes = run.notes
        {"kpi": _kpi, "funnel": _funnel, "pivot": _pivot, "list": _list}.get(
            widget.kind, _grouped)(run, data)
    except (LowriseError, KeyError, ValueError) as exc:  # a filter, a field, the actor's role
        data.error = str(exc)
    return data


def _kpi(run: _Run, data: WidgetData) -> None:
    w, m = run.widget, run.widget.shown
    value = run.aggregate((), w.measures)[()].get(m.name)
    data.figure = Figure(value, run.text(m, value), short=fmt.short(run.rt, m, value,
                                                                    run.locale))
    data.drill = run.drill(m.filter if m.spec else _ratio_filter(w, m))
    prev = run.sel.range.previous
    if prev is not None and w.date_field and w.config.get("compare", True):
        conds = run.range_conditions(prev)
        before = run.aggregate((), w.measures, range_conds=conds)[()].get(m.name)
        fig = data.figure
        fig.previous, fig.previous_text = before, run.text(m, before)
        if before not in (None, 0) and value is not None:
            fig.change = (Decimal(value) - Decimal(before)) / abs(Decimal(before))
            fig.change_text = fmt.change(fig.change, run.locale)
            good_up = w.config.get("good", "up") == "up"
            fig.trend = "flat" if fig.change == 0 else (
                "good" if (fig.change > 0) == good_up else "bad")


def _ratio_filter(w: Widget, m: Measure) -> t.Any:
    """A ratio's records are its numerator's."""
    num = next((x for x in w.measures if m.ratio and x.name == m.ratio[0]), None)
    return num.filter if num else None


def _labels(run: _Run, f: Field, bucket: str | None, keys: Sequence[t.Any]) -> dict:
    """{group value: (label, colour)} for the values of one grouping."""
    if bucket:
        return {k: (fmt.bucket_label(k, bucket, run.locale), None) for k in keys}
    empty = fmt.word("empty", run.locale)
    if f.kind.has_options and not f.kind.multiple:
        out = {}
        for k in keys:
            o = f.option(k) if k is not None else None
            out[k] = (fmt.text(o.label, run.locale) if o else (k or empty),
                      o.color if o else "gray")
        return out
    if f.kind.links:
        target = filters.link_target(f, run.ws)
        titles = fmt.titles(run.conn, run.schema, target, [k for k in keys if k is not None],
                            run.locale, run.actor)
        return {k: (titles.get(k, f"#{k}") if k is not None else empty, None) for k in keys}
    return {k: (f.kind.display(f, k, run.locale) if k is not None else empty, None)
            for k in keys}


def _keys_in_order(run: _Run, f: Field, bucket: str | None, found: Sequence[t.Any]) -> list:
    """The groups to show: every option of a select, every bucket of the range, else found."""
    if bucket:
        rng = run.sel.range
        if rng.start is not None and run.widget.date_field == f.name:
            return buckets_between(rng.start, rng.end, bucket) + (
                [None] if None in found else [])
        days = sorted(k for k in found if k is not None)
        return (buckets_between(days[0], days[-1], bucket) if days else []) + (
            [None] if None in found else [])
    if f.kind.has_options and not f.kind.multiple:
        keys = [o.value for o in f.options]
        return keys + [k for k in found if k not in keys]
    return list(found)


def _grouped(run: _Run, data: WidgetData) -> None:
    """bar, line, pie, donut and leaderboard: figures per group (and per series for bars)."""
    w = run.widget
    if not w.group_by:
        raise ValueError(f"widget '{w.name}' needs group_by")
    f, bucket = run.field_of(w.group_by[0])
    table = run.aggregate(w.group_by, w.measures)
    found = list(dict.fromkeys(k[0] for k in table))
    keys = _keys_in_order(run, f, bucket, found)
    keys = _ordered(run, f, bucket, keys, table)
    data.ranked = run.ranked
    labels = _labels(run, f, bucket, keys)
    series_keys: list = [None]
    if len(w.group_by) > 1:
        sf, sbucket = run.field_of(w.group_by[1])
        skeys = _keys_in_order(run, sf, sbucket, list(dict.fromkeys(k[1] for k in table)))
        slabels = _labels(run, sf, sbucket, skeys)
        data.series = [Point(k, *slabels[k]) for k in skeys]
        series_keys = skeys
    for k in keys:
        label, color = labels[k]
        p = Point(k, label, color)
        cond = group_condition(w.group_by[0], f, bucket, k)
        for sk in series_keys:
            slot = table.get((k,) if len(w.group_by) == 1 else (k, sk), {})
            extra = [cond] + ([group_condition(w.group_by[1], sf, sbucket, sk)] if len(w.group_by) > 1 else [])
            for m in w.measures:
                name = m.name if len(w.group_by) == 1 else f"{m.name}@{sk}"
                value = slot.get(m.name, _empty(m))
                p.values[name], p.texts[name] = value, run.text(m, value)
                p.drills[name] = run.drill(*extra, m.filter if m.spec else _ratio_filter(w, m))
        data.points.append(p)
    if w.kind == "leaderboard" and w.config.get("show") and f.kind.links:
        _show_target_fields(run, f, data)
    data.drill = run.drill()


def _ordered(run: _Run, f: Field, bucket: str | None, keys: list, table: dict) -> list:
    """Groups in the widget's `sort` (a measure, or the group itself; `-` for descending),
    cut to `limit`. Leaderboards and groups of records rank by the first measure."""
    w = run.widget
    ranked = w.kind == "leaderboard" or (f.kind.links and not bucket)
    sort = w.config.get("sort") or (f"-{w.measures[0].name}" if ranked else None)
    if sort:
        name, desc = sort.lstrip("-"), sort.startswith("-")
        if name in {m.name for m in w.measures}:
            run.ranked = True
            scores: dict[t.Any, t.Any] = {}
            for key, slot in table.items():
                if slot.get(name) is not None:
                    scores[key[0]] = scores.get(key[0], 0) + slot[name]
            keys = sorted(keys, key=lambda k: (0, -scores[k] if desc else scores[k])
                          if k in scores else (1, 0))
        elif desc:
            keys = keys[::-1]
    limit = w.config.get("limit") or (DEFAULT_LIMIT.get(w.kind, MAX_LINK_GROUPS)
                                      if ranked else None)
    return keys[: int(limit)] if limit else keys


def _show_target_fields(run: _Run, f: Field, data: WidgetData) -> None:
    """A leaderboard's extra columns: fields of the grouped records (a consultant's rating)."""
    target = run.ws.type(filters.link_target(f, run.ws))
    names = [n for n in run.widget.config["show"] if n in target.fields]
    ids = [p.key for p in data.points if p.key is not None]
    recs = fmt.records_by_id(run.conn, run.schema, target.name, ids, names, run.actor)
    data.columns = [(n, fmt.text(target.fields[n].label, run.locale)) for n in names]
    for p in data.points:
        rec = recs.get(p.key, {})
        for n in names:
            tf = target.fields[n]
            p.extra[n] = tf.kind.display(tf, rec.get(n), run.locale) if rec.get(n) is not None \
                else ""


def _funnel(run: _Run, data: WidgetData) -> None:
    """Counts over the ordered options of a select field, and stage-to-stage conversion."""
    w = run.widget
    f, _ = run.field_of(w.group_by[0])
    steps = list(w.config.get("steps") or [o.value for o in f.options])
    m = w.measures[0]
    table = run.aggregate(w.group_by[:1], [m])
    counts = {k[0]: slot.get(m.name) or 0 for k, slot in table.items()}
    cumulative = w.config.get("cumulative", True)
    prev = first = None
    for i, step in enumerate(steps):
        reached = steps[i:] if cumulative else [step]
        value = sum(counts.get(s, 0) for s in reached)
        o = f.option(step)
        p = Point(step, fmt.text(o.label, run.locale) if o else step, o.color if o else None)
        p.values[m.name], p.texts[m.name] = value, run.text(m, value)
        cond = ({"field": f.name, "op": "in", "value": reached} if len(reached) > 1
                else {"field": f.name, "op": "eq", "value": step})
        p.drills[m.name] = run.drill(cond, m.filter)
        first = value if first is None else first
        p.extra["rate"] = _ratio(value, prev) if i else None
        p.extra["rate_text"] = fmt.percent(p.extra["rate"], run.locale) if i else ""
        p.extra["of_first"] = _ratio(value, first)
        p.extra["of_first_text"] = fmt.percent(p.extra["of_first"], run.locale)
        prev = value
        data.points.append(p)
    data.drill = run.drill({"field": f.name, "op": "in", "value": steps}, m.filter)


def _pivot(run: _Run, data: WidgetData) -> None:
    """rows × columns × one measure, with totals."""
    w = run.widget
    m = w.measures[0]
    (rf, rb), (cf, cb) = run.field_of(w.group_by[0]), run.field_of(w.group_by[1])
    table = run.aggregate(w.group_by, [m])
    rkeys = _keys_in_order(run, rf, rb, list(dict.fromkeys(k[0] for k in table)))
    ckeys = _keys_in_order(run, cf, cb, list(dict.fromkeys(k[1] for k in table)))
    rl, cl = _labels(run, rf, rb, rkeys), _labels(run, cf, cb, ckeys)
    rows = [Point(k, *rl[k]) for k in rkeys]
    cols = [Point(k, *cl[k]) for k in ckeys]
    cells = {}
    summable = m.spec is not None and m.spec.split(":")[0] in ("count", "sum")
    for i, r in enumerate(rows):
        rc = group_condition(w.group_by[0], rf, rb, r.key)
        for j, c in enumerate(cols):
            v = table.get((r.key, c.key), {}).get(m.name, _empty(m))
            cells[(i, j)] = (v, run.text(m, v),
                             run.drill(rc, group_condition(w.group_by[1], cf, cb, c.key), m.filter))
        if summable:
            tot = sum(cells[(i, j)][0] or 0 for j in range(len(cols)))
            r.values[m.name], r.texts[m.name] = tot, run.text(m, tot)
            r.drills[m.name] = run.drill(rc, m.filter)
    for j, c in enumerate(cols):
        if summable:
            tot = sum(cells[(i, j)][0] or 0 for i in range(len(rows)))
            c.values[m.name], c.texts[m.name] = tot, run.text(m, tot)
            c.drills[m.name] = run.drill(group_condition(w.group_by[1], cf, cb, c.key), m.filter)
    grand = run.aggregate((), [m])[()].get(m.name)
    data.pivot = Pivot(rows, cols, cells, (grand, run.text(m, grand), run.drill(m.filter)))


def _list(run: _Run, data: WidgetData) -> None:
    """A few records (the SLA misses), with a link to all of them."""
    w = run.widget
    names = [n for n in w.config.get("columns") or [] if n in run.rt.fields]
    if not names:
        names = [run.rt.title_field] if run.rt.title_field in run.rt.fields else []
    limit = int(w.config.get("limit") or DEFAULT_LIMIT["list"])
    flt = run.filter()
    data.total = query.count(run.conn, run.schema, run.rt.name, flt, run.actor)
    # Few matches (this month's late viewings) are read and sorted, whatever order they sit
    # in along the sort's index; many (all time) are found by walking that index from the top.
    page = query.list_records(run.conn, run.schema, run.rt.name, filter=flt,
                              sort=w.config.get("sort") or ["-updated_at"], limit=limit,
                              fields=names, ctx=run.actor,
                              matches_first=data.total <= LIST_READ_MATCHES)
    data.columns = [(n, fmt.text(run.rt.fields[n].label, run.locale)) for n in names]
    data.rows = fmt.display_rows(run.conn, run.schema, run.rt, names, page.rows, run.locale,
                                 run.actor)
    data.drill = run.drill()
