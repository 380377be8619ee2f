"""`python -m bench.office`: a sales office on the production stack, over HTTP on loopback.

Consultants browse the cases table, open their cases, edit a cell in place, look at the
board, move cards and comment; managers look at the dashboard, the open cases and the board.
Every request is the one the browser sends for that click (the same URLs, htmx headers and
CSRF tokens), followed by what the page loads by itself (a table's count, a board's columns),
each timed on its own. Users pause `--think` seconds on average between clicks (exponential);
`--writers N` instead runs N people saving inline edits back to back (no pause): the
write-heavy case. Timings are recorded, never tested; a 5xx, a dropped connection or an
unexpected answer is an error. `--smoke` runs it on a small new database in seconds.

    python -m bench.office --db sqlite:////tmp/b/bench.db --users 10,50,100 --duration 60
    python -m bench.office --db sqlite:////tmp/b/bench.db --writers 20 --duration 30
    python -m bench.office --smoke
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("LOWRISE_PASSWORD_HASHING", "test-only-cheapest")  # bench accounts only

import sqlalchemy as sa  # noqa: E402

from .browser import Browser, HttpError  # noqa: E402
from .stack import ROOT, running_stack  # noqa: E402

PASSWORD = "office-bench-password"
EARLY = ("lead", "reception", "presentation")  # stages a card moves between freely
NEXT_ACTIONS = ["电话回访确认看房时间", "发送户型图和价格表", "邀约周末到访售楼处", "准备认购书"]
CONSULTANT = [("table", 25), ("record", 25), ("edit", 20), ("board", 10), ("move", 10),
              ("comment", 10)]
MANAGER = [("dashboard", 50), ("open cases", 25), ("board", 25)]


class Recorder:
    """Every timed request: (action, ms, outcome); outcome is ok, conflict or error."""

    def __init__(self):
        self.rows: list[tuple[str, float, str]] = []
        self.errors: Counter = Counter()
        self.lock = threading.Lock()
        self.on = True

    def timed(self, action: str, call, expect=(200,), conflict=(409,)):
        started = time.perf_counter()
        try:
            status, headers, body = call()
        except HttpError as exc:
            status, headers, body = None, {}, str(exc)
        ms = (time.perf_counter() - started) * 1000
        outcome = "ok" if status in expect else "conflict" if status in conflict else "error"
        if self.on:
            with self.lock:
                self.rows.append((action, ms, outcome))
                if outcome == "error":
                    self.errors[f"{action}: {status} {body[:80]!r}"] += 1
        return status, headers, body


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(rows, seconds: float) -> dict:
    ms = [r[1] for r in rows]
    out = {"requests": len(rows), "per_second": round(len(rows) / seconds, 1),
           "errors": sum(r[2] == "error" for r in rows),
           "conflicts": sum(r[2] == "conflict" for r in rows)}
    for p in (50, 95, 99):
        v = percentile(ms, p)
        out[f"p{p}_ms"] = round(v, 1) if v is not None else None
    out["max_ms"] = round(max(ms), 1) if ms else None
    return out


# -- the people ------------------------------------------------------------------------------
class Person:
    """One signed-in person clicking through the app."""

    def __init__(self, browser: Browser, rec: Recorder, cases: list[dict], rng: random.Random):
        self.b, self.rec, self.cases, self.rng = browser, rec, cases, rng

    def page(self, action: str, path: str) -> str:
        """GET a page, then what it loads by itself (hx-trigger="load"), as a browser does."""
        _, _, body = self.rec.timed(action, lambda: self.b.get(path))
        for url in Browser.loads(body):
            self.rec.timed(f"{action}: loaded part", lambda url=url: self.b.get(url, hx=True))
        return body

    def case(self) -> dict:
        return self.rng.choice(self.cases)

    def table(self):
        self.page("table", "/r/case/")

    def open_cases(self):
        self.page("open cases", "/r/case/table/cases_open")

    def record(self):
        body = self.page("record", f"/r/case/{self.case()['id']}")
        return body

    def board(self):
        self.page("board", "/r/case/kanban/cases_board")

    def dashboard(self):
        self.page("dashboard", "/d/dashboard")

    def edit(self):
        c = self.case()
        url = f"/r/case/{c['id']}/cell/next_action?view=cases"
        status, _, body = self.rec.timed("edit: open editor", lambda: self.b.get(url, hx=True))
        version = Browser.field(body, "_version") if status == 200 else None
        if version is None:
            return
        form = {"next_action": self.rng.choice(NEXT_ACTIONS), "_version": version}
        status, _, body = self.rec.timed("edit: save", lambda: self.b.post(url, form, hx=True))
        if status == 200:
            c["version"] = Browser.attr(body, "data-version") or c["version"]

    def move(self):
        c = self.case()
        to = self.rng.choice([s for s in EARLY if s != c["stage"]])
        form = {"id": c["id"], "to": to, "version": c["version"]}
        status, _, body = self.rec.timed(
            "move", lambda: self.b.post("/r/case/kanban/cases_board/move", form, json=True),
            conflict=(409, 422))
        if status == 200:
            c["version"], c["stage"] = json.loads(body)["version"], to
        else:  # someone (a rule, the worker) changed it: read it again, as the board would
            _, _, page = self.b.get(f"/r/case/{c['id']}")
            c["version"] = Browser.field(page, "_version") or c["version"]

    def comment(self):
        c = self.case()
        self.rec.timed("comment", lambda: self.b.post(
            f"/r/case/{c['id']}/comments", {"body": "回访：客户周末再来看房"}, hx=True))

    def run(self, mix, stop: threading.Event, think: float):
        names, weights = zip(*mix, strict=True)
        while not stop.is_set():
            getattr(self, self.rng.choices(names, weights)[0].replace(" ", "_"))()
            if think:
                stop.wait(self.rng.expovariate(1 / think))

    def tour(self, mix) -> None:
        """Each action of the mix once (the smoke run: every kind of click works)."""
        for name, _weight in mix:
            getattr(self, name.replace(" ", "_"))()

    def write(self, stop: threading.Event):
        while not stop.is_set():
            self.edit()

    def api(self, stop: threading.Event, token: str):
        """Through the REST API, back to back: half updates (If-Match), a quarter creations,
        a quarter lists."""
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        while not stop.is_set():
            c, pick = self.case(), self.rng.random()
            if pick < 0.5:
                status, headers, _ = self.rec.timed("api: update", lambda c=c: self.b.request(
                    "PATCH", f"/api/v1/case/{c['id']}",
                    json.dumps({"next_action": self.rng.choice(NEXT_ACTIONS)}),
                    {**auth, "If-Match": f'"{c["version"]}"'}), conflict=(412,))
                if status == 200:
                    c["version"] = int(headers["ETag"].strip('W/"'))
                elif status == 412:
                    _, headers, _ = self.b.request("GET", f"/api/v1/case/{c['id']}",
                                                   headers=auth)
                    c["version"] = int(headers["ETag"].strip('W/"'))
            elif pick < 0.75:
                body = json.dumps({"client": c["client"], "opened_on": "2026-12-07"})
                self.rec.timed("api: create", lambda body=body: self.b.request(
                    "POST", "/api/v1/case", body, auth), expect=(201,))
            else:
                self.rec.timed("api: list", lambda: self.b.request(
                    "GET", "/api/v1/case?limit=25", headers=auth))


# -- set-up ------------------------------------------------------------------------------------
def people(engine: sa.Engine, consultants: int, managers: int, seed: int):
    """Accounts for the busiest consultants (each with a sample of their early-stage cases)
    and for managers; made once, reused by later runs on the same database."""
    from lowrise.accounts import Accounts

    accounts, rng = Accounts(engine), random.Random(seed)
    accounts.ensure_table()
    with engine.connect() as conn:
        busiest = conn.execute(sa.text(
            "SELECT consultant FROM \"case\" WHERE consultant IS NOT NULL GROUP BY consultant "
            "ORDER BY count(*) DESC LIMIT :n"), {"n": consultants}).scalars().all()
        bosses = conn.execute(sa.text(
            "SELECT DISTINCT manager FROM staff WHERE manager IS NOT NULL ORDER BY manager "
            "LIMIT :n"), {"n": managers}).scalars().all()
        out = []
        for staff in busiest:
            rows = conn.execute(sa.text(
                "SELECT id, version, stage, client FROM \"case\" WHERE consultant = :s AND stage IN "
                "('lead', 'reception', 'presentation') ORDER BY id LIMIT 400"), {"s": staff})
            cases = [dict(r._mapping) for r in rows]
            rng.shuffle(cases)
            out.append(("consultant", *_account(accounts, "consultant", staff), cases[:200]))
    out += [("manager", *_account(accounts, "manager", staff), []) for staff in bosses]
    return [(role, email, cases, token) for role, email, token, cases in out]


def _account(accounts, role: str, staff: int) -> tuple[str, str]:
    """(e-mail, a new API token) of the bench's account for a staff record."""
    email = f"{role}{staff}@office-bench.example"
    user = accounts.by_email(email) or accounts.add(email, PASSWORD, name=f"{role} {staff}",
                                                    staff_id=staff, roles=[role])
    return email, accounts.create_token(user.id, "office bench")[0]


def sign_in_all(port: int, team, seed: int) -> list[tuple[str, Person]]:
    out = []
    for n, (role, email, cases, token) in enumerate(team):
        b = Browser(port)
        b.sign_in(email, PASSWORD)
        p = Person(b, Recorder(), cases, random.Random(seed + n))
        p.token = token
        out.append((role, p))
    return out


def run_level(team, n_users: int, seconds: float, think: float, warmup: float,
              writers: bool | str = False, cpu=lambda: 0.0) -> dict:
    """n_users of the team (a fifth of them managers, unless writers) for `seconds`;
    writers: True (inline edits) or "api" (the REST API)."""
    managers = [p for role, p in team if role == "manager"]
    consultants = [p for role, p in team if role == "consultant"]
    n_managers = 0 if writers else max(1, n_users // 5) if n_users >= 5 else 0
    chosen = [(p, MANAGER) for p in managers[:n_managers]]
    chosen += [(p, CONSULTANT) for p in consultants[:n_users - len(chosen)]]
    if len(chosen) < n_users:
        raise SystemExit(f"only {len(chosen)} people have cases to work on; ask for fewer")
    rec = Recorder()
    rec.on = False
    stop = threading.Event()
    threads = []
    for p, mix in chosen:
        p.rec = rec
        if writers == "api":
            work, kwargs = p.api, {"stop": stop, "token": p.token}
        elif writers:
            work, kwargs = p.write, {"stop": stop}
        else:
            work, kwargs = p.run, {"mix": mix, "stop": stop, "think": think}
        threads.append(threading.Thread(target=work, kwargs=kwargs, daemon=True))
    for t in threads:
        t.start()
    time.sleep(warmup)
    load_before, cpu_before = os.getloadavg()[0], cpu()
    rec.on, started = True, time.perf_counter()
    time.sleep(seconds)
    rec.on = False
    elapsed, cpu_used = time.perf_counter() - started, cpu() - cpu_before
    stop.set()
    for t in threads:
        t.join(30)
    by_action = {}
    for action in sorted({r[0] for r in rec.rows}):
        by_action[action] = summary([r for r in rec.rows if r[0] == action], elapsed)
    return {"users": n_users, "writers": writers, "think_s": 0 if writers else think,
            "seconds": round(elapsed, 1), **summary(rec.rows, elapsed),
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            # the app's own CPU time per request: what bounds throughput whatever else runs
            "app_cpu_ms_per_request": round(cpu_used * 1000 / max(1, len(rec.rows)), 1),
            "by_action": by_action, "error_samples": dict(rec.errors.most_common(5))}


def tour(team) -> dict:
    """Every person does each kind of click once; what it took."""
    rec = Recorder()
    started = time.perf_counter()
    for role, p in team:
        p.rec = rec
        p.tour(MANAGER if role == "manager" else CONSULTANT)
    elapsed = time.perf_counter() - started
    return {"users": len(team), "writers": False, "think_s": 0, "seconds": round(elapsed, 1),
            **summary(rec.rows, elapsed), "load_average": [round(os.getloadavg()[0], 2)] * 2,
            "by_action": {a: summary([r for r in rec.rows if r[0] == a], elapsed)
                          for a in sorted({r[0] for r in rec.rows})},
            "error_samples": dict(rec.errors.most_common(5))}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m bench.office", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", help="the database to serve (an SQLite URL or a PostgreSQL URL), "
                   "loaded beforehand by `python -m bench --keep`")
    p.add_argument("--users", default="10,50,100", help="concurrent users, one run each")
    p.add_argument("--writers", type=int, help="instead: this many people saving inline "
                   "edits back to back")
    p.add_argument("--api", action="store_true", help="with --writers: through the REST "
                   "API instead (half updates with If-Match, a quarter creations, a quarter "
                   "lists), as the reliability test 4c did")
    p.add_argument("--duration", type=float, default=60, help="seconds measured per run")
    p.add_argument("--warmup", type=float, default=5, help="seconds before measuring")
    p.add_argument("--think", type=float, default=1.0, help="mean pause between clicks (s)")
    p.add_argument("--processes", type=int, help="web processes (LOWRISE_WEB_PROCESSES)")
    p.add_argument("--threads", type=int, help="threads per web process")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    p.add_argument("--smoke", action="store_true", help="a small new SQLite database, 3 "
                   "users for 2 s: checks that every action works")
    return p.parse_args(argv)


def _smoke_db(folder: Path) -> str:
    from lowrise.storage.db import create_engine
    from lowrise.storage.tables import build_schema
    from lowrise.workspace import load_workspace

    from . import load
    from .data import bench_now

    ws = load_workspace(ROOT)
    url = f"sqlite:///{folder / 'smoke.db'}"
    engine = create_engine(url)
    load.migrate(engine, build_schema(ws))
    load.load(engine, ws, build_schema(ws), cases=2000, seed=1, now=bench_now(),
              progress=lambda _m: None)
    engine.dispose()
    return url


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the stack on the way out
    from lowrise.storage.db import create_engine

    with tempfile.TemporaryDirectory(prefix="lowrise-office-") as tmp:
        url = _smoke_db(Path(tmp)) if args.smoke else args.db
        if not url:
            raise SystemExit("--db is needed (or --smoke)")
        levels = [3] if args.smoke else [int(x) for x in args.users.split(",")]
        most = args.writers or max(levels)
        engine = create_engine(url, poolclass=sa.NullPool)
        team = people(engine, consultants=most, managers=max(1, most // 5), seed=args.seed)
        engine.dispose()
        results = []
        with running_stack(url, Path(tmp), processes=args.processes, threads=args.threads) as stack:
            print(f"stack: {stack.describe()}", file=sys.stderr)
            signed = sign_in_all(stack.port, team, args.seed)
            if args.smoke:
                results.append(tour(signed))
                print(_line(results[-1]), file=sys.stderr)
            duration = 2 if args.smoke else args.duration
            kind = "api" if args.api else True
            runs = [(args.writers, kind)] if args.writers else [(n, False) for n in levels]
            for n, writers in runs:
                out = run_level(signed, n, duration, args.think, 1 if args.smoke else
                                args.warmup, writers=writers, cpu=stack.cpu_seconds)
                out["stack"] = stack.describe()
                results.append(out)
                print(_line(out), file=sys.stderr)
    report = {"database": sa.engine.make_url(url).get_backend_name(), "runs": results}
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 1 if any(r["errors"] for r in results) or not all(r["requests"] for r in results) \
        else 0


def _line(r: dict) -> str:
    who = f"{r['users']} {'API ' if r['writers'] == 'api' else ''}writers" if r["writers"] \
        else f"{r['users']} users"
    return (f"{who}: {r['requests']} requests ({r['per_second']}/s), p50 {r['p50_ms']} ms, "
            f"p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms, "
            f"{r['errors']} errors, {r['conflicts']} conflicts, load {r['load_average']}, "
            f"app CPU {r.get('app_cpu_ms_per_request')} ms a request")


if __name__ == "__main__":
    sys.exit(main())

