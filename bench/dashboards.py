"""Dashboards: each widget of every dashboard computed through the engine, the whole board,
and the rendered page cold (nothing cached) and warm (computed widgets reused), at the
dashboard's default date range (issue #7: under 500 ms server-side on SQLite); the whole
board again over this year and over all time."""

from __future__ import annotations

from lowrise import dashboards as dash
from lowrise import filters

from .measure import Result, guarded, median_ms, timings

LONG_RANGES = ("this_year", "all")


def _today(ctx):
    return ctx.now.astimezone(filters.zone(ctx.workspace.config.get("timezone"))).date()


def dashboards(ctx) -> list[Result]:
    results: list[Result] = []
    for view in dash.dashboard_views(ctx.workspace):
        results += _dashboard(ctx, view)
    return results


def _dashboard(ctx, view) -> list[Result]:
    board = dash.load(view, ctx.workspace)
    sel = dash.select(board, {}, _today(ctx), ctx.workspace)
    label = f"dashboard '{view.name}' ({board.default_range})"
    results = [guarded(f"{label}: widget {w.name} ({w.kind})", ctx.backend,
                       lambda w=w: _widget(ctx, board, w, sel, label)) for w in board.widgets]
    results.append(guarded(f"{label}: every widget, nothing cached", ctx.backend,
                           lambda: _board(ctx, board, sel, label)))
    for key in LONG_RANGES:
        # the longest ranges a person picks read the most rows (issue #7: slow at first)
        if key != board.default_range:
            long = dash.select(board, {"range": key}, _today(ctx), ctx.workspace)
            name = f"dashboard '{view.name}' ({key})"
            results.append(guarded(f"{name}: every widget, nothing cached", ctx.backend,
                                   lambda long=long, name=name: _board(ctx, board, long, name)))
    return results + _pages(ctx, view.name, label)


def _widget(ctx, board, w, sel, label) -> Result:
    view = dash.drill_view(ctx.workspace, w)

    def run(_i: int) -> None:
        with ctx.engine.connect() as conn:
            data = dash.compute_widget(conn, ctx.schema, w, sel, actor=ctx.actor,
                                       view=view, controls=board.controls)
        if data.error:
            raise AssertionError(f"widget {w.name}: {data.error}")

    samples = timings(run, repeat=min(ctx.repeat, 10), warmup=1)
    return Result(f"{label}: widget {w.name} ({w.kind})", ctx.backend, median_ms(samples), "ms",
                  None, samples=samples, detail={"record_type": w.record_type})


def _board(ctx, board, sel, label) -> Result:
    def run(_i: int) -> None:
        dash.compute(ctx.engine, ctx.schema, board, sel, actor=ctx.actor)

    samples = timings(run, repeat=min(ctx.repeat, 10), warmup=1)
    return Result(f"{label}: every widget, nothing cached", ctx.backend, median_ms(samples),
                  "ms", ctx.targets["dashboard"], samples=samples)


def _pages(ctx, name: str, label: str) -> list[Result]:
    from .web import _app

    app, client, _ = _app(ctx)
    out = []
    for how, url in (("cold: nothing cached", f"/d/{name}?fresh=1"),
                     ("warm: widgets computed since the last write", f"/d/{name}")):
        out.append(guarded(f"{label}: rendered page, {how}", ctx.backend,
                           lambda how=how, url=url: _page(ctx, client, label, how, url)))
    return out


def _page(ctx, client, label: str, how: str, url: str) -> Result:
    sizes: list[int] = []

    def get(_i: int) -> None:
        response = client.get(url, headers={"Accept-Language": "zh"})
        if response.status_code != 200 or b'class="dash-error"' in response.data:
            raise AssertionError(f"GET {url}: HTTP {response.status_code} or a widget failed")
        sizes.append(len(response.data))

    samples = timings(get, repeat=min(ctx.repeat, 10), warmup=1)
    return Result(f"{label}: rendered page, {how}", ctx.backend, median_ms(samples), "ms",
                  ctx.targets["dashboard"], samples=samples, detail={"bytes": sizes[-1]})
