"""Rule fixtures: automations/fixtures/<name>.yaml gives records and events, and says what
must come out (field values, notifications, outbox messages, comments). `verify` runs each
on a fresh temporary SQLite database with every rule of the workspace switched on.

    now: "2025-03-03T09:00:00+08:00"
    given:                         # created as they are, without running rules
      staff:
        - {ref: boss, name: 王经理, role: manager, email: boss@example.com}
    events:
      - create: case               # or update: <ref>, delete: <ref>
        ref: case1
        values: {client: "@c1", opened_on: 2025-03-03}
        as: {user: "@amy", roles: [consultant]}    # default: every role
        error: "cannot be signed"  # the write must be refused with this text
      - advance: 25h               # the clock moves on; the worker fires what is due
    expect:                        # after the last event (an event may have its own expect)
      records: {case1: {consultant: "@amy"}}
      notifications: [{to: "@boss", title: "看房"}]
      messages: [{kind: email, to: boss@example.com}]
      comments: ["24 小时"]
      counts: {notifications: 2, messages: 1}
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from lowrise.actor import Actor
from lowrise.errors import LowriseError
from lowrise.i18n import from_text
from lowrise.storage.db import create_engine
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.storage.values import compute_formulas
from lowrise.workspace.model import Field, Workspace

from .engine import install
from .tables import RuleTables
from .timing import parse_duration
from .worker import Worker


@dataclass
class FixtureResult:
    name: str
    problems: list[str] = field(default_factory=list)
    steps: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


class _Failed(Exception):
    pass


class _Runner:
    def __init__(self, ws: Workspace, data: Mapping[str, Any], folder: Path):
        from lowrise.storage import migrate as mig

        self.ws, self.data = ws, data
        self.now = _instant(data.get("now") or "2025-03-03T09:00:00+08:00")
        self.engine = create_engine(f"sqlite:///{folder / 'fixture.db'}")
        schema = build_schema(ws)
        with self.engine.connect() as conn:
            plan = mig.plan(conn, schema)
        mig.apply(self.engine, plan)
        self.records = Records(self.engine, schema)
        self.rules = install(self.records)
        self.tables = RuleTables(schema.system)
        self.refs: dict[str, tuple[str, int]] = {}
        self.worker = Worker(self.records, engine=self.rules, senders={}, clock=self.clock,
                             name="fixture")
        self.problems: list[str] = []

    def clock(self) -> datetime:
        return self.now

    def actor(self, spec: Any = None) -> Actor:
        spec = spec or {}
        user = self.value(spec.get("user"))
        roles = spec.get("roles", list(self.ws.roles))
        return Actor(user=user, name=str(spec.get("name") or "fixture"),
                     roles=frozenset(roles), clock=self.clock)

    def value(self, v: Any) -> Any:
        if isinstance(v, str) and v.startswith("@"):
            if v[1:] not in self.refs:
                raise _Failed(f"'{v}' names no record given or created before")
            return self.refs[v[1:]][1]
        if isinstance(v, list):
            return [self.value(x) for x in v]
        return v

    def values(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        return {k: self.value(v) for k, v in (raw or {}).items()}

    def given(self) -> None:
        for type_name, rows in (self.data.get("given") or {}).items():
            for row in rows:
                row = dict(row)
                ref = row.pop("ref", None)
                setup = Actor(name="fixture", system=True, clock=self.clock)
                made = self.records.bulk_create(type_name, [self.values(row)], setup,
                                                run_hooks=False)[0]
                if ref:
                    self.refs[ref] = (type_name, made["id"])

    def event(self, ev: Mapping[str, Any], i: int) -> None:
        where = f"events[{i}]"
        actor = self.actor(ev.get("as"))
        expected_error = ev.get("error")
        try:
            if "advance" in ev:
                self.now += timedelta(seconds=parse_duration(ev["advance"]))
                self.worker.run_once()
            elif "create" in ev:
                made = self.records.create(ev["create"], self.values(ev.get("values")), actor)
                if ev.get("ref"):
                    self.refs[ev["ref"]] = (ev["create"], made["id"])
            elif "update" in ev:
                t, rid = self.refs[ev["update"]]
                self.records.update(t, rid, self.values(ev.get("values")), actor)
            elif "delete" in ev:
                t, rid = self.refs[ev["delete"]]
                self.records.delete(t, rid, actor)
            else:
                raise _Failed(f"{where}: an event is create, update, delete or advance")
        except LowriseError as exc:
            if expected_error and expected_error in str(exc):
                self.rules.flush_failed_runs(self.engine, self.tables)
                return
            raise _Failed(f"{where}: refused: {exc}") from None
        if expected_error:
            raise _Failed(f"{where}: expected a refusal with '{expected_error}', but the write "
                          "went through")
        if ev.get("expect"):
            self.expect(ev["expect"], where)

    def expect(self, exp: Mapping[str, Any], where: str) -> None:
        for ref, fields in (exp.get("records") or {}).items():
            t, rid = self.refs[ref]
            record = self.records.get(t, rid)
            rt = self.ws.type(t)
            # formulas as they are now, on the fixture's clock (one reading today() moves on
            # with `advance:` although the record was last written before)
            compute_formulas(rt, record, self.now)
            for name, want in fields.items():
                if name not in rt.fields:
                    raise _Failed(f"{where}: records.{ref}: {rt.name} has no field '{name}'")
                want = self.expected(rt.fields[name], self.value(want), f"{where}: {ref}.{name}")
                if record.get(name) != want:
                    self.problems.append(f"{where}: {ref}.{name} is {record.get(name)!r}, "
                                         f"expected {want!r}")
        with self.engine.connect() as conn:
            # a title kept as a message reads as the workspace's people read it by default;
            # an expected title may be in any of its locales
            locale = self.ws.default_locale
            notes = [{**r, "title": from_text(r["title"], locale) or "",
                      "any": " ".join(from_text(r["title"], loc) or "" for loc in
                                      self.ws.locales)} for r in
                     conn.execute(sa.select(self.tables.notifications)).mappings()]
            messages = [dict(r) for r in conn.execute(sa.select(self.tables.outbox)).mappings()]
            comments = [r.body for r in conn.execute(sa.select(self.tables.comments))]
            timers = [dict(r) for r in conn.execute(sa.select(self.tables.timers)).mappings()]
        for n in exp.get("notifications") or []:
            uid = self.value(n.get("to"))
            if not any((uid is None or x["user_id"] == uid) and n.get("title", "") in x["any"]
                       for x in notes):
                self.problems.append(f"{where}: no notification to {n.get('to')} with "
                                     f"'{n.get('title', '')}' (got {_titles(notes)})")
        for m in exp.get("messages") or []:
            if not any(x["kind"] == m.get("kind", x["kind"]) and m.get("to", "") in x["target"]
                       for x in messages):
                self.problems.append(f"{where}: no {m.get('kind', '')} message to "
                                     f"{m.get('to', '')} (got "
                                     f"{[(x['kind'], x['target']) for x in messages]})")
        for c in exp.get("comments") or []:
            if not any(c in body for body in comments):
                self.problems.append(f"{where}: no comment with '{c}' (got {comments})")
        for t in exp.get("timers") or []:
            want = (t.get("rule"), self.refs[t["record"]][1], t.get("status", "pending"))
            if not any((x["rule"], x["record_id"], x["status"]) == want for x in timers):
                self.problems.append(f"{where}: no {want[2]} timer of {want[0]} on "
                                     f"{t['record']}")
        counts = {"notifications": len(notes), "messages": len(messages),
                  "comments": len(comments)}
        for key, n in (exp.get("counts") or {}).items():
            if counts.get(key) != n:
                self.problems.append(f"{where}: {counts.get(key)} {key}, expected {n}")

    @staticmethod
    def expected(f: Field, want: Any, where: str) -> Any:
        """An expected value as the field holds it (a formula's, as its result type)."""
        if want is None or f.system:
            return want
        try:
            if f.kind.has_expression:
                return f.kind.coerce(f, f.kind.value_type(f).parse(f, want))
            return f.kind.parse(f, want)
        except (LowriseError, ValueError, TypeError, ArithmeticError) as exc:
            raise _Failed(f"{where}: the expected value {want!r} does not fit the field: "
                          f"{exc}") from None

    def run(self) -> list[str]:
        try:
            self.given()
            for i, ev in enumerate(self.data.get("events") or []):
                self.event(ev, i)
            if self.data.get("expect"):
                self.expect(self.data["expect"], "expect")
        except _Failed as exc:
            self.problems.append(str(exc))
        except (LowriseError, KeyError) as exc:
            self.problems.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.engine.dispose()
        return self.problems


def _titles(notes: list[dict[str, Any]]) -> list[str]:
    return [f"#{x['user_id']}: {x['title'][:40]}" for x in notes]


def _instant(raw: Any) -> datetime:
    value = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def fixture_files(ws: Workspace) -> list[Path]:
    folder = Path(ws.root) / "automations" / "fixtures"
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def run_fixture(ws: Workspace, path: Path) -> FixtureResult:
    """One fixture on its own temporary SQLite database."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    with tempfile.TemporaryDirectory(prefix="lowrise-fixture-") as tmp:
        problems = _Runner(ws, data, Path(tmp)).run()
    return FixtureResult(path.stem, problems, len(data.get("events") or []))


def verify(ws: Workspace, names: list[str] | None = None) -> list[FixtureResult]:
    """Run the workspace's rule fixtures (all, or those named)."""
    files = fixture_files(ws)
    if names:
        files = [f for f in files if f.stem in names]
    return [run_fixture(ws, f) for f in files]
