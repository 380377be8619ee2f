"""Read measurements through the engine's query layer (`lowrise.storage.query`): the calls a
table page, a board or a dashboard makes. Each timed call takes a pooled connection, as a
request does."""

from __future__ import annotations

from lowrise.storage import query
from lowrise.workspace.model import View

from .measure import Result, median_ms, timings

PAGE = 25
DEEP = 30_000
WALK = 1_000  # rows a step while walking to the deep page (query.MAX_LIMIT)
AD_HOC_FILTER = {"field": "stage", "op": "eq", "value": "negotiation"}
AD_HOC_SORT = ["-amount"]


def default_table(ctx, type_name: str = "case") -> View:
    """The type's default table view (the page a person lands on)."""
    views = [v for v in ctx.workspace.views_of(type_name) if v.type == "table"]
    views.sort(key=lambda v: not v.config.get("default"))
    return views[0]


def _page(ctx, name: str, *, filter=None, sort, after=None, detail=None) -> Result:
    rows_seen: list[int] = []

    def run(_i: int) -> None:
        with ctx.engine.connect() as conn:
            page = query.list_records(conn, ctx.schema, "case", filter=filter, sort=sort,
                                      limit=PAGE, after=after, ctx=ctx.actor)
        rows_seen.append(len(page.rows))

    samples = timings(run, repeat=ctx.repeat, warmup=3)
    if rows_seen[-1] != PAGE:
        raise AssertionError(f"{name}: expected {PAGE} rows, got {rows_seen[-1]}")
    return Result(name, ctx.backend, median_ms(samples), "ms", ctx.targets["page"],
                  samples=samples, detail={"sort": list(sort), "filter": filter, **(detail or {})})


def first_page(ctx) -> Result:
    view = default_table(ctx)
    return _page(ctx, f"first page of cases, view '{view.name}' ({', '.join(view.sort)})",
                 filter=view.filter, sort=view.sort or query.DEFAULT_SORT)


def view_page(ctx) -> Result:
    """A declared view with a filter and a sort (the index it asked for serves it)."""
    view = ctx.workspace.views["cases_open"]
    return _page(ctx, f"filtered page, view '{view.name}' (stage not in 3, {view.sort[0]})",
                 filter=view.filter, sort=view.sort)


def filtered_page(ctx) -> Result:
    """An ad-hoc filter and sort a person builds in the table (no view declares it)."""
    return _page(ctx, "filtered page, ad hoc (stage = negotiation, -amount)",
                 filter=AD_HOC_FILTER, sort=AD_HOC_SORT)


def deep_page(ctx) -> Result:
    """A page 30,000 rows deep: walked to with cursors during setup, then timed."""
    view = default_table(ctx)
    sort = view.sort or query.DEFAULT_SORT
    depth = min(DEEP, ctx.counts["case"] // 2)
    cursor, walked = None, 0
    with ctx.engine.connect() as conn:
        while walked < depth:
            page = query.list_records(conn, ctx.schema, "case", filter=view.filter, sort=sort,
                                      limit=min(WALK, depth - walked), after=cursor,
                                      fields=["id"])
            walked += len(page.rows)
            cursor = page.next_cursor
            if cursor is None:
                raise AssertionError(f"the cases ran out after {walked} rows")
    return _page(ctx, f"page {depth:,} rows deep (keyset cursor, view '{view.name}')",
                 filter=view.filter, sort=sort, after=cursor, detail={"depth": depth})


def _timed(ctx, name: str, target: str, call) -> Result:
    out: list = []

    def run(_i: int) -> None:
        with ctx.engine.connect() as conn:
            out.append(call(conn))

    samples = timings(run, repeat=max(5, ctx.repeat // 3), warmup=1)
    return Result(name, ctx.backend, median_ms(samples), "ms", ctx.targets[target],
                  samples=samples, detail={"result": _jsonable(out[-1])})


def count_all(ctx) -> list[Result]:
    """The total a table page shows: every case, and the open ones."""
    view = ctx.workspace.views["cases_open"]
    return [
        _timed(ctx, "count all cases (exact)", "aggregate",
               lambda c: query.count(c, ctx.schema, "case")),
        _timed(ctx, "count all cases (estimate_count)", "aggregate",
               lambda c: query.estimate_count(c, ctx.schema, "case")),
        _timed(ctx, f"count cases in view '{view.name}'", "aggregate",
               lambda c: query.count(c, ctx.schema, "case", view.filter, ctx.actor)),
    ]


def aggregate_by_stage(ctx) -> list[Result]:
    """The pipeline's numbers: cases and amounts per stage, over all and over open cases."""
    view = ctx.workspace.views["cases_open"]
    measures = ["count", "sum:amount"]
    return [
        _timed(ctx, "grouped count + sum(amount) by stage, all cases", "aggregate",
               lambda c: query.aggregate(c, ctx.schema, "case", group_by=["stage"],
                                         measures=measures)),
        _timed(ctx, f"grouped count + sum(amount) by stage, view '{view.name}'", "aggregate",
               lambda c: query.aggregate(c, ctx.schema, "case", group_by=["stage"],
                                         measures=measures, filter=view.filter,
                                         ctx=ctx.actor)),
    ]


def _jsonable(value):
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value if isinstance(value, (int, float, str, type(None))) else str(value)
