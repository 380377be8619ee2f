"""`python -m bench`: the flagship workspace at 1,000,000 cases on SQLite and PostgreSQL.

`--smoke` runs the same measurements on 2,000 cases in seconds (`make test` runs it): it
fails only when something breaks, never on a timing. Timings are recorded, not tested.
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from .load import PG_ADMIN_URL, say
from .run import MEASUREMENTS, Setup, format_target, format_value, run_backend

ROOT = Path(__file__).resolve().parent.parent
FULL_CASES = 1_000_000
SMOKE_CASES = 2_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true",
                   help=f"tiny size ({SMOKE_CASES:,} cases), a few repeats: checks that every "
                        "measurement runs")
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--cases", type=int, help=f"number of cases (default {FULL_CASES:,}, "
                                             f"or {SMOKE_CASES:,} with --smoke)")
    p.add_argument("--out", type=Path, help="write the results as JSON to this file")
    p.add_argument("--workspace", type=Path, default=ROOT,
                   help="the workspace folder (default: the flagship at the repository root)")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated data")
    p.add_argument("--dir", type=Path, help="folder for the SQLite database (default: a "
                                            "temporary folder)")
    p.add_argument("--pg-url", default=PG_ADMIN_URL,
                   help="a PostgreSQL database to connect to for creating (and dropping) the "
                        "benchmark's own database")
    p.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    p.add_argument("--reuse", metavar="DB",
                   help="measure a database an earlier run kept (a SQLite file's path or a "
                        "database URL) as it is, without loading; needs --backend sqlite or "
                        "postgresql. Measurements that write (update, bulk insert, add field) "
                        "change it: use --only to leave them out")
    p.add_argument("--only", metavar="NAMES",
                   help="a comma-separated list of the measurements to take, of: "
                        + ", ".join(name for name, _ in MEASUREMENTS))
    return p.parse_args(argv)


def environment() -> dict[str, str]:
    return {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "machine": platform.machine(), "system": platform.platform()}


def print_table(setups: list[Setup], results: list) -> None:
    print()
    print(f"{'backend':<11} {'measurement':<62} {'median':>16} {'target':>18}  ")
    print("-" * 112)
    for r in results:
        if r.error:
            verdict, value = "ERROR", r.error[:60]
        else:
            verdict = {True: "ok", False: "MISSED", None: ""}[r.ok]
            value = format_value(r)
        print(f"{r.backend:<11} {r.name[:62]:<62} {value:>16} {format_target(r):>18}  {verdict}")
    for s in setups:
        line = f"{s.backend}: tables by {s.how}; loaded {sum(s.counts.values()):,} rows " \
               f"in {s.load_s:.0f} s"
        if s.load_average:
            line += f"; load average {s.load_average[0]:.1f} -> {s.load_average[-1]:.1f}"
        if s.pending:
            line += f"; migration still wants {len(s.pending)} step(s): {s.pending[:3]}"
        if s.error:
            line = f"{s.backend}: SETUP FAILED: {s.error}"
        print(line)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = [n.strip() for n in (args.only or "").split(",") if n.strip()] or None
    unknown = sorted(set(only or ()) - {name for name, _ in MEASUREMENTS})
    if unknown:
        print(f"--only: no measurement named {', '.join(unknown)}", file=sys.stderr)
        return 2
    if args.reuse and args.backend == "both":
        print("--reuse measures one database: give --backend sqlite or postgresql",
              file=sys.stderr)
        return 2
    cases = args.cases or (SMOKE_CASES if args.smoke else FULL_CASES)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    from lowrise.workspace import load_workspace

    ws = load_workspace(args.workspace)
    setups: list[Setup] = []
    results: list = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lowrise-bench-") as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for backend in backends:
            try:
                setup, out = run_backend(backend, ws, cases=cases, smoke=args.smoke,
                                         folder=folder, seed=args.seed, keep=args.keep,
                                         pg_admin_url=args.pg_url, reuse=args.reuse,
                                         only=only)
            except Exception as exc:  # the other backend still runs
                say(traceback.format_exc())
                setup, out = Setup(backend, error=f"{type(exc).__name__}: {exc}"), []
            setups.append(setup)
            results += out
    print_table(setups, results)
    errors = [r for r in results if r.error] + [s for s in setups if s.error]
    if args.out:
        args.out.write_text(json.dumps({
            "cases": cases, "smoke": args.smoke, "environment": environment(),
            "seconds": round(time.perf_counter() - started, 1),
            "setup": [asdict(s) for s in setups],
            "results": [r.as_dict() for r in results],
        }, indent=2, default=str))
    if errors:
        print(f"{len(errors)} measurement(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
