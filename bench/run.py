"""One benchmark run on one database: set up (migrate, load), then measure each figure."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.storage.records import Records
from lowrise.storage.tables import Schema, build_schema
from lowrise.workspace.model import Workspace

from . import approvals, dashboards, load, reads, relational, web, writes
from .data import bench_now
from .measure import Result, guarded

# The targets of issue #2 (SQLite, this 2-core machine) and issue #3 (rendered pages).
TARGETS = {
    "page": 20.0,  # ms, median
    "aggregate": 300.0,  # ms
    "update": 5.0,  # ms
    "bulk_insert": 30_000.0,  # rows/s, more is better
    "add_field": 1.0,  # s
    "render": 100.0,  # ms, server-side, first page of a default view
    "dashboard": 500.0,  # ms, issue #7: the flagship dashboard rendered server-side
    "change_client": 50.0,  # ms: a client with 1,000 cases changes, its lookups follow
}


@dataclass
class Context:
    """What every measurement needs about the database it runs on."""

    backend: str
    engine: sa.Engine
    workspace: Workspace
    schema: Schema
    records: Records
    actor: Actor
    counts: dict[str, int]
    now: datetime
    folder: Path
    repeat: int
    bulk_rows: int
    smoke: bool
    targets: dict[str, float] = field(default_factory=lambda: dict(TARGETS))
    cursors: dict[str, Any] = field(default_factory=dict)


@dataclass
class Setup:
    backend: str
    migrate_s: float = 0.0
    load_s: float = 0.0
    how: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    #: the machine's 1-minute load average when measuring began and ended (2 cores: above 2,
    #: something else was running and the timings are inflated)
    load_average: list[float] = field(default_factory=list)
    error: str | None = None


MEASUREMENTS: list[tuple[str, Callable[[Context], Result | list[Result]]]] = [
    ("first page", reads.first_page),
    ("view page", reads.view_page),
    ("filtered page", reads.filtered_page),
    ("deep page", reads.deep_page),
    ("count", reads.count_all),
    ("aggregate", reads.aggregate_by_stage),
    ("render", web.render_default_views),
    ("dashboards", dashboards.dashboards),
    ("approval queue", approvals.queue_page),
    ("update", writes.update_one),
    ("bulk insert", writes.bulk_insert),
    ("add field", writes.add_field),
    ("change client", relational.change_client),
    ("change client source", relational.change_client_source),
    ("derived pages", relational.derived_pages),
]


def run_backend(backend: str, ws: Workspace, *, cases: int, smoke: bool, folder: Path,
                seed: int, keep: bool, pg_admin_url: str,
                say: Callable[[str], None] = load.say, reuse: str | None = None,
                only: list[str] | None = None) -> tuple[Setup, list[Result]]:
    """Set up a fresh database for `backend`, load it, measure; the database is dropped after.

    `reuse`: the URL of a database a run kept (`--keep`): measured as it is, nothing loaded
    and nothing dropped. `only`: the names of the measurements to take (default: all)."""
    setup = Setup(backend)
    results: list[Result] = []
    schema = build_schema(ws)
    now = bench_now()
    opened = (load.existing(reuse) if reuse else
              load.database(backend, folder, pg_admin_url=pg_admin_url, keep=keep))
    with opened as engine:
        if reuse:
            setup.how = f"reused {engine.url.render_as_string(hide_password=True)}"
            setup.counts = load.row_counts(engine, ws)
        else:
            say(f"{backend}: creating the tables")
            started = time.perf_counter()
            setup.how, _ = load.migrate(engine, schema)
            setup.migrate_s = time.perf_counter() - started
            say(f"{backend}: loading {cases:,} cases and their clients, units, contracts...")
            started = time.perf_counter()
            setup.counts = load.load(engine, ws, schema, cases=cases, seed=seed, now=now,
                                     progress=say)
            setup.load_s = time.perf_counter() - started
        setup.pending = load.pending_steps(engine, schema)
        say(f"{backend}: loaded in {setup.load_s:.0f} s; measuring")
        setup.load_average.append(os.getloadavg()[0])
        staff = Actor(user=1, name="bench", roles=frozenset({"admin"}), clock=lambda: now)
        ctx = Context(backend, engine, ws, schema, Records(engine, schema), staff,
                      dict(setup.counts), now, folder, repeat=5 if smoke else 30,
                      bulk_rows=500 if smoke else 20_000, smoke=smoke)
        for name, fn in MEASUREMENTS:
            if only and name not in only:
                continue
            out = guarded(name, backend, lambda fn=fn: fn(ctx), say=say)
            for r in out if isinstance(out, list) else [out]:
                if r.error is None:
                    say(f"  {r.name}: {format_value(r)}")
                results.append(r)
        setup.load_average.append(os.getloadavg()[0])
    return setup, results


def format_value(r: Result) -> str:
    if r.value is None:
        return "-"
    if r.unit == "rows/s":
        return f"{r.value:,.0f} rows/s"
    if r.unit == "s":
        return f"{r.value:.3f} s"
    return f"{r.value:.2f} ms"


def format_target(r: Result) -> str:
    if r.target is None:
        return ""
    sign = "<" if r.better == "lower" else ">"
    if r.unit == "rows/s":
        return f"{sign} {r.target:,.0f} rows/s"
    return f"{sign} {r.target:g} {r.unit}"
