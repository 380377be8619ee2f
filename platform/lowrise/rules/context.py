"""What one rule run works with, and the errors a run raises."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lowrise import filters
from lowrise.actor import Actor
from lowrise.errors import NotFound, ValidationError
from lowrise.i18n import dump
from lowrise.storage.records import Change, Records
from lowrise.workspace.model import RecordType

from .model import Rule
from .tables import RuleTables

#: conn.info keys of a worker's batch (worker.py): rows to insert once the batch is done, and
#: records read for the whole batch (the rules engine drops a record from it when it changes)
DEFERRED = "lowrise_rule_deferred"
SHARED = "lowrise_rule_records"


def insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows of the rules' own tables (run log, inbox, comments, outbox): now, or, in a
    worker's batch, with every other timer's rows of the same table in one statement at the
    end of the batch (a timer that fails drops its rows with its savepoint)."""
    deferred = conn.info.get(DEFERRED)
    if deferred is None:
        conn.execute(table.insert(), rows)
    else:
        deferred.append((table, rows))


class Blocked(ValidationError):
    """A block action refused the change; nothing was written."""

    def __init__(self, errors: Mapping[str, str], *, rule: str):
        self.rule = rule
        super().__init__(errors)


class RuleFailed(ValidationError):
    """An action of a rule failed; the whole write was rolled back."""

    def __init__(self, rule: str, message: str):
        self.rule = rule
        super().__init__({"": f"automation '{rule}' failed: {message}"})


def rule_actor(rule: Rule, actor: Actor) -> Actor:
    """Who a rule's own writes are by: the system, on the triggering actor's clock."""
    return Actor(user=None, name=f"rule {rule.name}", locale=actor.locale, clock=actor.clock,
                 system=True)


@dataclass
class Run:
    """One run of one rule on one record (or none): its facts, and what it did."""

    conn: sa.Connection
    records: Records
    tables: RuleTables
    rule: Rule
    rt: RecordType
    record: dict[str, Any] | None
    actor: Actor  # who triggered it
    trigger: str
    change: Change | None = None
    payload: Mapping[str, Any] | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    conditions: bool | None = None
    linked: dict[tuple[str, int], dict[str, Any] | None] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def now(self) -> datetime:
        return self.actor.now()

    @property
    def writer(self) -> Actor:
        return rule_actor(self.rule, self.actor)

    @property
    def record_id(self) -> int | None:
        return None if self.record is None else self.record.get("id")

    def resolver(self, type_name: str, rid: int) -> dict[str, Any] | None:
        """A linked record (read once a run: paths like consultant.manager reuse it)."""
        key = (type_name, rid)
        if key not in self.linked:
            shared = self.conn.info.get(SHARED)
            if shared is not None and key in shared:
                self.linked[key] = shared[key]
                return shared[key]
            try:
                self.linked[key] = self.records.get(type_name, rid, conn=self.conn)
            except NotFound:
                self.linked[key] = None
        return self.linked[key]

    def filter_context(self) -> filters.FilterContext:
        return filters.FilterContext(user=self.actor.user, clock=self.actor.clock,
                                     resolver=self.resolver)

    def note(self, action: str, result: str, index: int) -> None:
        """What an action did: `result` in English words, and as a message (`i18n.dump`) that
        the rule's page puts into its reader's language."""
        self.results.append({"action": action, "index": index, "result": str(result),
                             "message": dump(result)})

    def log_row(self, *, status: str, conditions: bool | None, error: str | None = None
                ) -> dict[str, Any]:
        return dict(rule=self.rule.name, record_type=self.rt.name, record_id=self.record_id,
                    trigger=self.trigger, conditions=conditions, status=status,
                    actions=list(self.results),
                    duration_ms=round((time.perf_counter() - self.started) * 1000, 3),
                    error=error, actor_name=self.actor.name[:255] if self.actor.name else None,
                    at=self.now)
