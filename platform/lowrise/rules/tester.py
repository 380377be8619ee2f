"""Running one rule on purpose: `dry_run` (what it would do, then rolled back), a manual
button (`run_manual`) and an incoming webhook (`receive_webhook`, signed: see signing.py)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lowrise.actor import Actor, utcnow
from lowrise.errors import LowriseError, NotFound, ValidationError
from lowrise.i18n import msg
from lowrise.storage.db import write_transaction
from lowrise.storage.records import Records

from . import signing, timers
from .context import Run
from .engine import CHAIN_KEY, install
from .model import IncomingWebhook, Manual, TimeTrigger
from .tables import RuleTables


class WebhookRefused(LowriseError):
    """An incoming webhook call with a good signature was refused (too old, bad payload)."""


class WebhookUnknown(WebhookRefused):
    """No webhook to call here: no such rule, or not one that takes webhooks, or the secret or
    the signature does not match. One answer for all, so callers cannot probe for rules."""


UNKNOWN = msg("there is no such webhook")
log = logging.getLogger("lowrise.rules")


@dataclass
class RuleTest:
    """What a rule would do to one record, found by doing it and rolling back."""

    rule: str
    record_id: int
    at: datetime
    conditions: bool | None = None
    timer: str | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    chained: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = "ok"  # ok | skipped | not due | blocked | failed | stages
    message: str = ""

    def lines(self) -> list[str]:
        out = [f"rule {self.rule} on record #{self.record_id} at {self.at.isoformat()}"]
        if self.timer:
            out.append(f"  timer: {self.timer}")
        if self.conditions is not None:
            out.append(f"  conditions: {'hold' if self.conditions else 'do not hold'}")
        for a in self.actions:
            out.append(f"  {a['index'] + 1}. {a['action']}: {a['result']}")
        for c in self.chained:
            out.append(f"  then rule {c['rule']} ({c['status']}): "
                       + "; ".join(x["result"] for x in c.get("actions") or []))
        if self.message:
            out.append(f"  {self.outcome}: {self.message}")
        out.append("Nothing was changed (dry run).")
        return out


def dry_run(records: Records, name: str, record_id: int, *, at: datetime | None = None,
              actor: Actor | None = None) -> RuleTest:
    """Run the rule on the record as it is (a time rule: as if at `at`), then roll back."""
    engine = install(records)
    rule = engine.rules.get(name)
    at = at or utcnow()
    actor = actor or Actor(name=msg("rules test"), system=True, clock=lambda: at)
    report = RuleTest(name, record_id, at)
    tables = RuleTables(records.schema.system)
    with records.engine.connect() as conn:
        conn.execution_options(lowrise_write=True)
        trans = conn.begin()
        try:
            record = records.get(rule.record_type, record_id, conn=conn)
            if rule.stages:
                report.outcome = "stages"
                rt = records.schema.workspace.type(rule.record_type)
                moves = [f"{o.value}: {'yes' if v else v.message}" for o in
                         rt.fields[rule.stages.field].options
                         if (v := engine.rules.check_move(rt.name, record, {
                             rule.stages.field: o.value}, actor)) is not None
                         and o.value != record.get(rule.stages.field)]
                report.message = "moves from here: " + "; ".join(moves)
                return report
            if isinstance(rule.trigger, TimeTrigger):
                run = Run(conn, records, tables, rule, records.schema.workspace.type(
                    rule.record_type), record, actor, "time")
                want = timers.desired(rule, None, record, run.filter_context(), engine.tz)
                if isinstance(want, timers.Want) and not rule.trigger.from_field:
                    # since the conditions started to hold: the pending timer knows when
                    t = tables.timers
                    since = conn.execute(sa.select(t.c.since).where(
                        t.c.rule == name, t.c.record_id == record_id,
                        t.c.status == "pending")).scalar()
                    want = timers.Want(since, want.seconds) if since else None
                if isinstance(want, timers.Want):
                    want = timers.due_at(rule, want.since, want.seconds, engine.tz)
                if want is None or want is timers.KEEP:
                    report.timer = "none (the conditions do not hold, unless: holds, or the " \
                                   "date is empty)"
                    report.outcome, report.conditions = "skipped", False
                    return report
                report.timer = f"due {want.isoformat()}"
                if want > at:
                    report.outcome = "not due"
                    report.message = f"would fire at {want.isoformat()}; pass --at to see it fire"
                    return report
            last = conn.execute(sa.select(sa.func.max(tables.runs.c.id))).scalar() or 0
            remembered = len(engine.failed_runs)
            try:
                run = engine.run_rule(conn, records, rule, record, actor, rule.trigger.kind)
                report.conditions = run.conditions
                report.actions = run.results
                report.outcome = "ok" if run.conditions else "skipped"
            except ValidationError as exc:
                report.outcome = "blocked" if "failed" not in str(exc) else "failed"
                report.message = str(exc)
                while len(engine.failed_runs) > remembered:  # a dry run logs nothing
                    engine.failed_runs.pop()
                conn.info.pop(CHAIN_KEY, None)
                return report
            report.chained = [dict(r) for r in conn.execute(
                sa.select(tables.runs).where(tables.runs.c.id > last,
                                             tables.runs.c.rule != name)
                .order_by(tables.runs.c.id)).mappings()]
            return report
        finally:
            trans.rollback()


def manual_rule(engine, name: str, type_name: str):
    """The rule behind a button on a record of `type_name`; NotFound unless it is an enabled
    manual rule on that very type (a button never runs on a record of another type)."""
    try:
        rule = engine.rules.get(name)
    except NotFound:
        rule = None
    if rule is None or rule.record_type != type_name or not isinstance(rule.trigger, Manual) \
            or not rule.enabled:
        raise NotFound(msg("there is no button '%(rule)s' on this record", rule=name))
    return rule


def run_manual(records: Records, name: str, type_name: str, record_id: int,
               actor: Actor) -> Run:
    """Press a rule's button on record `type_name`#`record_id`: check its conditions, run its
    actions. NotFound unless the rule is an enabled manual rule of that record type."""
    engine = install(records)
    rule = manual_rule(engine, name, type_name)
    with write_transaction(records.engine) as conn:
        record = records.get(rule.record_type, record_id, conn=conn)
        run = engine.run_rule(conn, records, rule, record, actor, "manual")
    if not run.conditions:
        raise ValidationError({"": msg("'%(rule)s' does not apply to this record now",
                                       rule=rule.label)})
    return run


def receive_webhook(records: Records, name: str, body: bytes, signature: str | None,
                    timestamp: str | None, *, key: str | None = None,
                    actor: Actor | None = None, now: datetime | None = None) -> Run | None:
    """An incoming webhook: check its signature and its age, refuse a replay, then run the rule
    on the named record; None when this delivery was accepted before (it does not run twice).

    WebhookUnknown, the same for every caller, when there is no enabled webhook rule of that
    name, its secret is not configured or the signature does not match: an anonymous caller
    learns nothing about which rules exist."""
    engine = install(records)
    now = now or utcnow()
    try:
        rule = engine.rules.get(name)
    except NotFound:
        rule = None
    trig = rule.trigger if rule is not None else None
    if rule is None or not isinstance(trig, IncomingWebhook) or not rule.enabled:
        log.info("webhook %r refused: no enabled webhook rule of that name", name)
        raise WebhookUnknown(UNKNOWN)
    secret = os.environ.get(trig.secret_env) if trig.secret_env else trig.secret
    if not secret:
        log.warning("webhook %r refused: its secret (%s) is not configured", name,
                    trig.secret_env or "secret")
        raise WebhookUnknown(UNKNOWN)
    if not signing.verify(secret, body, signature, timestamp):
        log.info("webhook %r refused: the signature does not match", name)
        raise WebhookUnknown(UNKNOWN)
    max_age = max_webhook_age(records.schema.workspace.config)
    if signing.age(timestamp or "", now) > max_age:
        raise WebhookRefused(msg("the delivery was signed more than %(n)s seconds ago (or "
                                 "ahead of this server's clock); sign it again with the time "
                                 "of sending", n=max_age))
    try:
        payload = json.loads(body or b"{}")
        rid = int(payload[trig.record_key])
    except (ValueError, KeyError, TypeError):
        raise WebhookRefused(msg("the body must be JSON with '%(key)s' (the record's id)",
                                 key=trig.record_key)) from None
    actor = actor or Actor(name=f"webhook {name}", system=True)
    tables = RuleTables(records.schema.system)
    keep = max(signing.KEEP_SEEN, timedelta(seconds=max_age))
    with write_transaction(records.engine) as conn:
        if not signing.remember(conn, tables.webhook_seen, name,
                                [f"signature {signature}", *([f"key {key}"] if key else [])],
                                now, keep):
            return None
        record = records.get(rule.record_type, rid, conn=conn)
        return engine.run_rule(conn, records, rule, record, actor, "webhook", payload=payload)


def max_webhook_age(config) -> int:
    """Seconds a delivery's timestamp may be from the clock (workspace.yaml
    `automations: {webhook_max_age: 300}`)."""
    return int((config.get("automations") or {}).get("webhook_max_age",
                                                      signing.DEFAULT_MAX_AGE))
