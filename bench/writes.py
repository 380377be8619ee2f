"""Write measurements, through the engine's own paths: Records (with its audit entry) and the
migration code (plan, then apply)."""

from __future__ import annotations

import dataclasses
import os
import random
import statistics
import time

from lowrise.actor import Actor
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace.model import Field, Label, Workspace

from .data import Generated, TableData
from .measure import Result, median_ms, timings

STAGES = ("reception", "presentation", "viewing", "negotiation", "deposit")


def update_one(ctx) -> Result:
    """One case changes stage and amount through Records.update: read, check, write, audit."""
    records: Records = ctx.records
    actor: Actor = ctx.actor
    rng = random.Random(7)
    ids = [rng.randint(1, ctx.counts["case"]) for _ in range(ctx.repeat + 2)]

    def run(i: int) -> None:
        rid = ids[i]
        records.update("case", rid, {"stage": STAGES[i % len(STAGES)],
                                     "amount": f"{3_000_000 + 1000 * (i + 10)}.00"}, actor)

    samples = timings(run, repeat=ctx.repeat)
    with ctx.engine.connect() as conn:
        audited = conn.exec_driver_sql(
            "SELECT count(*) FROM lr_audit WHERE action = 'update'").scalar_one()
    return Result("update one case (Records.update, audited)", ctx.backend, median_ms(samples),
                  "ms", ctx.targets.get("update"), samples=samples,
                  detail={"audit_entries": audited})


def bulk_insert(ctx) -> Result:
    """New cases through Records.bulk_create (validation, links checked, numbering, audit)."""
    data = TableData(ctx.workspace, ctx.workspace.type("case"), ctx.schema.table("case"),
                     ctx.engine.dialect, seed=99, now=ctx.now,
                     gen=Generated(counts=dict(ctx.counts)), total=ctx.bulk_rows)
    runs = 1  # each run adds its rows for good; one of 20,000 is a steady rate already
    batches = [data.input_rows(ctx.bulk_rows) for _ in range(runs)]
    rates, cpu = [], []
    for rows in batches:
        started, cpu_started = time.perf_counter(), time.process_time()
        created = ctx.records.bulk_create("case", rows, ctx.actor, batch_size=1000,
                                          run_hooks=False)
        elapsed = time.perf_counter() - started
        # SQLite works in this process: its CPU time tells a busy machine's wait apart
        cpu.append(round(time.process_time() - cpu_started, 3))
        assert len(created) == len(rows)
        rates.append(len(rows) / elapsed)
    ctx.counts["case"] += sum(len(b) for b in batches)
    return Result(f"bulk insert {ctx.bulk_rows:,} cases (Records.bulk_create)", ctx.backend,
                  statistics.median(rates), "rows/s", ctx.targets.get("bulk_insert"),
                  better="higher", samples=rates,
                  note=f"median of {runs} run{'s' if runs > 1 else ''}, batch_size=1000",
                  detail={"cpu_s": cpu, "load_average": os.getloadavg()[0]})


def with_extra_field(ws: Workspace, type_name: str, name: str) -> Workspace:
    """The workspace with one more nullable text field on a type (as if added to its YAML)."""
    rt = ws.type(type_name)
    extra = Field(name=name, type="text", label=Label.of(None, name))
    fields = {f.name: f for f in rt.user_fields}
    fields[name] = extra
    fields.update({f.name: f for f in rt.fields.values() if f.system})
    new_rt = dataclasses.replace(rt, fields=fields)
    return dataclasses.replace(ws, record_types={**ws.record_types, type_name: new_rt})


def add_field(ctx) -> Result:
    """A new nullable field on the (million-row) case table through migrate.plan + apply."""
    from lowrise.storage import migrate as mig

    ws = ctx.workspace
    samples, plans = [], []
    for i in range(3):
        ws = with_extra_field(ws, "case", f"bench_extra_{i + 1}")
        schema = build_schema(ws)
        started = time.perf_counter()
        with ctx.engine.connect() as conn:
            plan = mig.plan(conn, schema)
        planned = time.perf_counter()
        mig.apply(ctx.engine, plan)
        done = time.perf_counter()
        samples.append(done - started)
        plans.append({"plan_s": round(planned - started, 4), "apply_s": round(done - planned, 4),
                      "steps": [s.describe() for s in plan.changes]})
    return Result(f"add a field to case ({ctx.counts['case']:,} rows; migrate plan + apply)",
                  ctx.backend, statistics.median(samples), "s", ctx.targets.get("add_field"),
                  samples=samples, note="median of 3 fields added one after the other",
                  detail={"runs": plans})
