"""Lookups and rollups: what a change to a client costs its cases, and reading by a derived
field against reading by a plain indexed one (lowrise.storage.derived)."""

from __future__ import annotations

import sqlalchemy as sa

from lowrise.storage import derived, query

from .measure import Result, median_ms, timings

LINKED = 1_000  # cases of the client that changes
SOURCES = ("online", "referral")
PAGE = 25


def _busy_client(ctx) -> int:
    """A client given LINKED cases (the first ones), their lookups brought up to date."""
    if "busy_client" in ctx.cursors:
        return ctx.cursors["busy_client"]
    t, c = ctx.schema.table("case"), ctx.schema.table("client")
    n = min(LINKED, ctx.counts["case"])
    with ctx.engine.begin() as conn:
        cid = conn.execute(sa.select(sa.func.min(c.c.id))).scalar_one()
        conn.execute(t.update().where(t.c.id <= n).values(client=cid))
        derived.refill(conn, ctx.schema, "case", ["client_source", "client_budget"], ctx.now)
        derived.refill_rollups(conn, ctx.schema, ctx.now)
    ctx.cursors["busy_client"] = cid
    return cid


def change_client(ctx) -> Result:
    """A client's source and budget change through Records.update; the lookups of its 1,000
    cases (and the formula that reads its budget) change in the same transaction."""
    cid = _busy_client(ctx)
    t = ctx.schema.table("case")

    last: list[str] = []

    def run(i: int) -> None:
        last.append(SOURCES[i % 2])
        ctx.records.update("client", cid, {"source": SOURCES[i % 2],
                                           "budget": f"{5_000_000 + 1000 * (i + 10)}.00"},
                           ctx.actor)

    samples = timings(run, repeat=ctx.repeat)
    with ctx.engine.connect() as conn:
        linked = conn.execute(sa.select(sa.func.count()).where(t.c.client == cid)).scalar_one()
        wrong = conn.execute(sa.select(sa.func.count()).where(
            t.c.client == cid, t.c.client_source != last[-1])).scalar_one()
    if wrong:
        raise AssertionError(f"{wrong} cases did not follow their client's change")
    return Result(f"change a client with {linked:,} cases (lookups and a formula follow)",
                  ctx.backend, median_ms(samples), "ms", ctx.targets.get("change_client"),
                  samples=samples, detail={"cases": linked})


def change_client_source(ctx) -> Result:
    """Only the client's source changes: the lookups of its 1,000 cases follow in one UPDATE
    (no formula reads the source)."""
    cid = _busy_client(ctx)

    def run(i: int) -> None:
        ctx.records.update("client", cid, {"source": SOURCES[i % 2]}, ctx.actor)

    samples = timings(run, repeat=ctx.repeat)
    return Result("change a client's source: the lookups of its 1,000 cases follow",
                  ctx.backend, median_ms(samples), "ms", ctx.targets.get("change_client"),
                  samples=samples)


def _page(ctx, type_name: str, name: str, *, filter=None, sort) -> Result:
    seen: list[int] = []

    def run(_i: int) -> None:
        with ctx.engine.connect() as conn:
            page = query.list_records(conn, ctx.schema, type_name, filter=filter, sort=sort,
                                      limit=PAGE, ctx=ctx.actor)
        seen.append(len(page.rows))

    samples = timings(run, repeat=ctx.repeat, warmup=3)
    if not seen[-1]:
        raise AssertionError(f"{name}: no rows")
    return Result(name, ctx.backend, median_ms(samples), "ms", ctx.targets["page"],
                  samples=samples, detail={"sort": list(sort), "filter": filter})


def derived_pages(ctx) -> list[Result]:
    """The same page by a lookup (a rollup) and by a plain indexed field, side by side."""
    return [
        _page(ctx, "case", "cases by lookup: client source = online, newest first",
              filter={"field": "client_source", "op": "eq", "value": "online"},
              sort=["-created_at"]),
        _page(ctx, "case", "cases by plain field: stage = negotiation, newest first",
              filter={"field": "stage", "op": "eq", "value": "negotiation"},
              sort=["-created_at"]),
        _page(ctx, "case", "cases sorted by lookup: client budget, highest first",
              sort=["-client_budget"]),
        _page(ctx, "case", "cases sorted by plain field: amount, highest first",
              sort=["-amount"]),
        _page(ctx, "client", "clients sorted by rollup: signed amount, highest first",
              sort=["-signed_amount"]),
        _page(ctx, "client", "clients sorted by count: open cases, most first",
              sort=["-open_cases"]),
        _page(ctx, "client", "clients sorted by plain field: next follow-up, latest first",
              sort=["-next_follow_up_at"]),
    ]
