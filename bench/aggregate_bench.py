"""`python -m bench.aggregate_bench`: the REST API's aggregate endpoint on the flagship's
cases, against what a client had to do before it (one filtered count per stage).

Loads N cases (bench.load, SQLite in a temporary folder, or `--reuse FILE` from an earlier
`python -m bench --keep`), then times through the app (Flask's test client, an admin's
token, no HTTP server) the median of `--repeat` calls of:
  aggregate   GET /api/v1/case/aggregate?group_by=stage                 (one call)
  per stage   GET /api/v1/case?filter=stage eq X&limit=1, reading total (one call a stage)
  sum         GET /api/v1/case/aggregate?group_by=stage&measures=count,sum:amount
Prints one line per figure and `uptime`'s load (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from lowrise.storage.db import create_engine
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace

from .load import load, migrate

ROOT = Path(__file__).resolve().parent.parent


def _median_ms(fn, repeat: int) -> float:
    fn()
    fn()  # warm-up
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return statistics.median(out) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.aggregate_bench")
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--reuse", help="a SQLite file an earlier `python -m bench --keep` left")
    args = ap.parse_args(argv)
    ws = load_workspace(ROOT)
    folder = Path(tempfile.mkdtemp(prefix="lr-aggbench-"))
    path = Path(args.reuse) if args.reuse else folder / "bench.db"
    url = f"sqlite:///{path}"
    if not args.reuse:
        engine = create_engine(url)
        schema = build_schema(ws)
        migrate(engine, schema)
        started = time.perf_counter()
        load(engine, ws, schema, cases=args.cases, seed=42, now=datetime.now(UTC))
        print(f"loaded {args.cases:,} cases in {time.perf_counter() - started:.1f} s")
        engine.dispose()
    from lowrise.web import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "LOWRISE_WORKSPACE": ws,
                      "DATABASE_URL": url, "LOWRISE_INSTANCE": str(folder / "instance")})
    run = app.extensions["lowrise"]
    user = run.accounts.add("bench@example.com", "Tr0ub4dor-and-3-horses", name="Bench",
                            roles=["admin"])
    token, _ = run.accounts.create_token(user.id, "bench")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    stages = [o.value for o in ws.type("case").fields["stage"].options]

    def get(url, **params):
        resp = client.get(url, query_string=params, headers=headers)
        assert resp.status_code == 200, resp.text
        return resp.get_json()

    def aggregate():
        return get("/api/v1/case/aggregate", group_by="stage")

    def per_stage():
        return {s: get("/api/v1/case", filter=json.dumps(
            {"field": "stage", "op": "eq", "value": s}), limit=1, fields="stage")["total"]
            for s in stages}

    def with_sum():
        return get("/api/v1/case/aggregate", group_by="stage", measures="count,sum:amount")

    got = {r["stage"]: r["count"] for r in aggregate()["data"]}
    assert got == {k: v for k, v in per_stage().items() if v}, (got, per_stage())
    print(f"cases: {sum(got.values()):,}; repeat {args.repeat}, median")
    for name, fn in (("aggregate count per stage (1 call)", aggregate),
                     (f"filtered totals ({len(stages)} calls)", per_stage),
                     ("aggregate count + sum:amount per stage", with_sum)):
        print(f"  {name:<42} {_median_ms(fn, args.repeat):8.1f} ms")
    print("load:", os.getloadavg())
    run.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
