"""An approver's queue page (/approvals) with 10,000 open approvals waiting for them (issue:
under 100 ms, server-side): rounds and tasks written straight into lr_approvals and
lr_approval_tasks on the loaded contracts, then the page timed through the Flask client."""

from __future__ import annotations

import sqlalchemy as sa

from .measure import Result, median_ms, timings
from .web import _app

OPEN = 10_000
SMOKE_OPEN = 200
APPROVER = 1  # the benchmark's account (bench/web.py) is staff #1


def _fill(ctx, n: int) -> None:
    sys_ = ctx.schema.system
    ap, tk = sys_["lr_approvals"], sys_["lr_approval_tasks"]
    with ctx.engine.begin() as conn:
        conn.execute(tk.delete())
        conn.execute(ap.delete())
        ids = list(conn.execute(sa.select(ctx.schema.table("contract").c.id)
                                .order_by("id").limit(n)).scalars()) or [1]
        rounds = [dict(id=i + 1, name="contract_review", record_type="contract",
                       record_id=ids[i % len(ids)], status="running", round=1, step=0,
                       level=1, requester=2, requester_name="顾问", started_at=ctx.now)
                  for i in range(n)]
        for start in range(0, n, 2000):
            conn.execute(ap.insert(), rounds[start:start + 2000])
        tasks = [dict(approval_id=r["id"], record_type="contract", record_id=r["record_id"],
                      step=0, assignee=APPROVER, status="pending", created_at=ctx.now)
                 for r in rounds]
        for start in range(0, n, 2000):
            conn.execute(tk.insert(), tasks[start:start + 2000])


def queue_page(ctx) -> list[Result]:
    if "contract_review" not in ctx.workspace.approvals:
        raise NotImplementedError("the workspace declares no contract_review approval")
    n = SMOKE_OPEN if ctx.smoke else OPEN
    _fill(ctx, n)
    _app_, client, _ = _app(ctx)
    repeat, warmup = (2, 1) if ctx.smoke else (10, 2)
    out = []
    for label, url in ((f"approval queue page, {n:,} open", "/approvals"),
                       ("  its API (GET /api/v1/approvals)", "/api/v1/approvals")):
        def get(_i: int, url=url) -> None:
            response = client.get(url, headers={"Accept-Language": "zh"})
            if response.status_code != 200:
                raise AssertionError(f"GET {url}: HTTP {response.status_code}")
        samples = timings(get, repeat=repeat, warmup=warmup)
        out.append(Result(label, ctx.backend, median_ms(samples), "ms", ctx.targets["render"],
                          samples=samples, detail={"open": n}))
    return out
