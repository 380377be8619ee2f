"""Builders for the rules tests: a small workspace from YAML strings plus the rules under test,
migrated on the test's database, with a clock the test moves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.rules.engine import RuleEngine, install
from lowrise.rules.tables import RuleTables
from lowrise.rules.worker import Worker
from lowrise.storage import migrate as mig
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts

BASE = {
    "workspace.yaml": "label: Desk\ndefault_locale: en\nlocales: [en]\ntimezone: UTC\n"
                      "users: person\nroles:\n  agent: {label: Agent}\n  boss: {label: Boss}\n",
    "schemas/person.yaml": """
fields:
  name: {type: text, required: true}
  role:
    type: select
    default: agent
    options: [agent, boss]
  active: {type: boolean, default: true}
  email: {type: email}
  manager: {type: link, target: person}
""",
    "schemas/item.yaml": """
fields:
  name: {type: text, required: true}
  state:
    type: select
    default: free
    options: [free, taken, gone]
""",
    "schemas/ticket.yaml": """
fields:
  title: {type: text, required: true}
  status:
    type: select
    default: new
    options: [new, open, waiting, done]
  priority:
    type: select
    default: low
    options: [low, high]
  owner: {type: user}
  item: {type: link, target: item}
  requested_at: {type: datetime}
  answered_at: {type: datetime}
  due_on: {type: date}
  note: {type: text}
  x: {type: integer}
  y: {type: integer}
  count: {type: integer}
""",
    "schemas/log.yaml": """
fields:
  ticket: {type: link, target: ticket}
  text: {type: text}
""",
}

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday


@dataclass
class Env:
    """A migrated database with the rules under test installed, and a movable clock."""

    engine: sa.Engine
    records: Records
    rules: RuleEngine
    now: datetime = T0
    people: dict[str, int] = field(default_factory=dict)

    def clock(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)

    def actor(self, user: int | None = None, roles=("agent", "boss")) -> Actor:
        return Actor(user=user, name="tester", roles=frozenset(roles), clock=self.clock)

    @property
    def tables(self) -> RuleTables:
        return RuleTables(self.records.schema.system)

    def worker(self, **kw) -> Worker:
        kw.setdefault("senders", {})
        return Worker(self.records, engine=self.rules, clock=self.clock, **kw)

    def create(self, type_name: str, **values):
        return self.records.create(type_name, values, self.actor())

    def update(self, type_name: str, rid: int, **values):
        return self.records.update(type_name, rid, values, self.actor())

    def get(self, type_name: str, rid: int):
        return self.records.get(type_name, rid)

    def rows(self, table: str, **where) -> list[dict]:
        t = self.records.schema.system[table]
        stmt = sa.select(t).order_by(t.c.id)
        for k, v in where.items():
            stmt = stmt.where(t.c[k] == v)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]


def workspace(rules: dict[str, str], extra: dict[str, str] | None = None):
    files = dict(BASE)
    files.update({f"automations/{name}.yaml": text for name, text in rules.items()})
    files.update(extra or {})
    return load_workspace_from_texts(files)


def make_env(engine: sa.Engine, rules: dict[str, str], *, max_depth: int | None = None,
             extra: dict[str, str] | None = None) -> Env:
    ws = workspace(rules, extra)
    schema = build_schema(ws)
    with engine.connect() as conn:
        plan = mig.plan(conn, schema)
    mig.apply(engine, plan)
    records = Records(engine, schema)
    rules_engine = install(records, max_depth=max_depth)
    env = Env(engine, records, rules_engine)
    return env


def reopen(env: Env) -> Env:
    """New engine objects on the same database, as after a restart."""
    ws = env.records.schema.workspace
    records = Records(env.engine, build_schema(ws))
    return Env(env.engine, records, install(records), env.now, env.people)


def staff(env: Env) -> dict[str, int]:
    """A boss and three agents (one inactive)."""
    boss = env.create("person", name="Boss", role="boss", email="boss@example.com")["id"]
    ids = {"boss": boss}
    for name, active in (("ann", True), ("bob", False), ("cy", True)):
        ids[name] = env.create("person", name=name, role="agent", active=active,
                               manager=boss, email=f"{name}@example.com")["id"]
    env.people = ids
    return ids
