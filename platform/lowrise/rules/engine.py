"""The rules engine: a Records hook that sees every change inside its transaction.

For one change it (1) enforces stage rules, (2) runs the event rules whose trigger matches
and whose conditions hold, action after action, (3) sets or cancels the timers of time
rules and (4) writes the run log, all in the change's transaction: all or nothing. A rule
never re-triggers itself; a chain of rules stops at `max_depth` with a logged error.

The worker (worker.py) fires timers and schedules through `run_rule`, with the same code.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lowrise import filters
from lowrise.actor import Actor
from lowrise.errors import LowriseError, NotFound, ValidationError
from lowrise.storage import query
from lowrise.storage.records import Change, Records
from lowrise.workspace.model import Workspace

from . import conditions as conds
from . import stages as stage_rules
from . import timers
from .actions import ACTIONS
from .context import SHARED, Blocked, RuleFailed, Run, insert
from .model import Rule, StageRules, TimeTrigger
from .parse import parse_rules
from .tables import RuleTables

CHAIN_KEY = "lowrise_rule_chain"
DEFAULT_MAX_DEPTH = 5


@dataclass
class RuleSet:
    """A workspace's rules, parsed once and indexed by record type."""

    workspace: Workspace
    rules: dict[str, Rule]
    events: dict[str, list[Rule]] = field(default_factory=dict)
    timed: dict[str, list[tuple[Rule, frozenset[str]]]] = field(default_factory=dict)
    stages: dict[str, list[StageRules]] = field(default_factory=dict)
    #: the record's own fields each rule's conditions read (the first step of each path)
    reads: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, ws: Workspace) -> RuleSet:
        rules = parse_rules(ws)
        events, timed, stages = defaultdict(list), defaultdict(list), defaultdict(list)
        for r in rules.values():
            if not r.enabled:
                continue
            if r.stages:
                stages[r.record_type].append(r.stages)
            elif isinstance(r.trigger, TimeTrigger):
                timed[r.record_type].append((r, timers.watched(r)))
            elif r.trigger.kind in ("created", "updated", "field_changed", "matches",
                                    "deleted"):
                events[r.record_type].append(r)
        reads = {r.name: frozenset(conds.fields_of(r.conditions)) for r in rules.values()}
        return cls(ws, rules, dict(events), dict(timed), dict(stages), reads)

    def deadline_rules(self, type_name: str) -> list[Rule]:
        """The enabled time rules of the type whose limit is shown (`deadline:`)."""
        return [r for r, _ in self.timed.get(type_name, ()) if r.deadline is not None]

    def deadline_fields(self, type_name: str) -> list[str]:
        """The fields a record must be read with to tell its deadlines."""
        return sorted({n for r, names in self.timed.get(type_name, ()) if r.deadline is not None
                       for n in names})

    def deadlines(self, type_name: str, record: Mapping[str, Any], actor: Actor
                  ) -> list[timers.Deadline]:
        """The record's time limits (due or overdue), the soonest first (no I/O: a condition
        that reads a linked record is not known here and holds)."""
        rt = self.workspace.type(type_name)
        ctx = filters.FilterContext(user=actor.user, clock=actor.clock)
        tz = self.workspace.config.get("timezone") or "UTC"
        found = [d for r in self.deadline_rules(type_name)
                 if (d := timers.deadline(r, rt, record, ctx, tz)) is not None]
        return sorted(found, key=lambda d: d.due)

    def get(self, name: str) -> Rule:
        try:
            return self.rules[name]
        except KeyError:
            raise NotFound(f"there is no rule '{name}' (rules: "
                           f"{', '.join(sorted(self.rules)) or 'none'})") from None

    def check_move(self, type_name: str, record: Mapping[str, Any] | None,
                   new_values: Mapping[str, Any], actor: Actor,
                   linked: stage_rules.LinkedCheck = None) -> stage_rules.Verdict:
        """May `actor` write `new_values` to `record` as far as stage rules go? (No I/O:
        `linked` answers for the linked records a stage needs; without it they are not
        judged here, only on the write.)"""
        rt = self.workspace.type(type_name)
        reasons, missing = [], []
        for sr in self.stages.get(type_name, ()):
            v = stage_rules.check(sr, rt, record, new_values, actor, linked)
            reasons += v.reasons
            missing += v.missing
        return stage_rules.Verdict(not reasons, tuple(reasons), tuple(missing))


def linked_present(conn: sa.Connection, schema, need, ids) -> set[int]:
    """Which of the records `ids` have a record that meets a stage's linked need (read as
    the system: the rule holds whoever moves the record)."""
    ids = [i for i in ids if i is not None]
    if not ids:
        return set()
    table = schema.table(need.type)
    col = table.c[need.link]
    stmt = sa.select(col).distinct().where(col.in_(ids))
    if need.where is not None:
        stmt = stmt.where(query.where_clause(schema, need.type, need.where))
    return {r[0] for r in conn.execute(stmt)}


_CACHE: OrderedDict[int, tuple[Workspace, RuleSet]] = OrderedDict()
_CACHE_SIZE = 16  # workspaces; a process usually has one (tests build many)
_CACHE_LOCK = threading.Lock()


def rule_set(ws: Workspace) -> RuleSet:
    """The workspace's RuleSet, parsed on first use."""
    with _CACHE_LOCK:
        hit = _CACHE.get(id(ws))
        if hit is None or hit[0] is not ws:
            hit = (ws, RuleSet.of(ws))
            _CACHE[id(ws)] = hit
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        _CACHE.move_to_end(id(ws))
        return hit[1]


def _trigger_matches(rule: Rule, change: Change, reads: frozenset[str]) -> bool:
    """Whether the change is the rule's trigger; `reads`: the fields its conditions read."""
    trig, action = rule.trigger, change.action
    match trig.kind:
        case "created":
            return action == "create"
        case "updated":
            return action == "update" and (not trig.fields or any(
                f in change.changed for f in trig.fields))
        case "field_changed":
            if action not in ("create", "update") or trig.field not in change.changed:
                return False
            old = (change.before or {}).get(trig.field)
            new = (change.after or {}).get(trig.field)
            return (trig.from_ is None or old in trig.from_) and (trig.to is None or new in trig.to)
        case "matches":
            # an update that changes none of the fields the conditions read cannot make the
            # record start to match: before and after read the same values at the same moment
            return action == "create" or action == "update" and not reads.isdisjoint(
                change.changed)
        case "deleted":
            return action == "delete"
    return False


class RuleEngine:
    """The hook. `install(records)` adds it to a Records service."""

    def __init__(self, ws: Workspace, *, max_depth: int | None = None, log_skipped: bool = True):
        self.rules = rule_set(ws)
        self.workspace = ws
        cfg = ws.config.get("automations") or {}
        self.max_depth = max_depth or int(cfg.get("max_depth", DEFAULT_MAX_DEPTH))
        self.log_skipped = log_skipped
        self.tz = ws.config.get("timezone") or "UTC"
        #: runs that failed or were blocked: their transaction rolled back, so they are kept
        #: here until `flush_failed_runs` writes them in a transaction of their own
        self.failed_runs: deque[dict[str, Any]] = deque(maxlen=1000)
        self._lock = threading.Lock()

    def install(self, records: Records) -> RuleEngine:
        if self not in records.hooks:
            records.hooks.append(self)
        return self

    # -- the hook ------------------------------------------------------------------------------
    def __call__(self, conn: sa.Connection, change: Change, actor: Actor,
                 records: Records) -> None:
        rs = self.rules
        t = change.record_type
        shared = conn.info.get(SHARED)
        if shared:  # a worker's batch read this record before it changed
            shared.pop((t, change.record_id), None)
        if t in rs.stages and change.action in ("create", "update"):
            self._enforce_stages(change, actor, conn, records)
        events, timed = rs.events.get(t), rs.timed.get(t)
        if not events and not timed:
            return
        tables = RuleTables(records.schema.system)
        chain: list[str] = conn.info.setdefault(CHAIN_KEY, [])
        logs: list[dict[str, Any]] = []
        rt = records.schema.workspace.type(t)
        ctx_run = None
        for rule in events or ():
            if rule.name in chain or not _trigger_matches(rule, change, rs.reads[rule.name]):
                continue
            record = dict(change.after if change.after is not None else change.before or {})
            run = Run(conn, records, tables, rule, rt, record, actor, rule.trigger.kind, change)
            if len(chain) >= self.max_depth:
                logs.append(run.log_row(status="depth_limit", conditions=None, error=(
                    f"not run: a chain of {len(chain)} rules ({' → '.join(chain)}) reached the "
                    f"limit of {self.max_depth} (automations.max_depth)")))
                continue
            facts = conds.Facts(change.before, change.after or change.before,
                                frozenset(change.changed), run.filter_context())
            ok = self._conditions(rule, change, facts, run)
            if not ok:
                # "starts to match" is the trigger itself: not starting is not a run
                if self.log_skipped and rule.trigger.kind != "matches":
                    logs.append(run.log_row(status="skipped", conditions=False))
                continue
            self.execute(run, chain)
            logs.append(run.log_row(status="ok", conditions=True))
            ctx_run = run
        if timed:
            self._sync_timers(conn, records, tables, change, actor, timed, ctx_run)
        if logs:
            insert(conn, tables.runs, logs)

    def _conditions(self, rule: Rule, change: Change, facts: conds.Facts, run: Run) -> bool:
        if rule.trigger.kind == "matches":
            now_holds = conds.holds(rule.conditions, facts)
            if not now_holds or change.before is None:
                return now_holds
            was = conds.Facts(change.before, change.before, frozenset(), facts.ctx)
            return not conds.holds(rule.conditions, was)
        return conds.holds(rule.conditions, facts)

    def _enforce_stages(self, change: Change, actor: Actor, conn: sa.Connection,
                        records: Records) -> None:
        rt = self.workspace.type(change.record_type)
        for sr in self.rules.stages[change.record_type]:
            if change.action == "update" and sr.field not in change.changed:
                continue
            ids = [change.record_id]
            verdict = stage_rules.check(
                sr, rt, change.before, change.after or {}, actor,
                linked=lambda need, ids=ids: bool(linked_present(conn, records.schema, need,
                                                                  ids)))
            if not verdict:
                raise ValidationError(stage_rules.errors_of(sr, verdict))

    def execute(self, run: Run, chain: list[str]) -> None:
        """Run the rule's actions in order; a failure rolls the whole write back."""
        chain.append(run.rule.name)
        try:
            for action in run.rule.actions:
                if action.when is not None:
                    facts = conds.Facts(run.change.before if run.change else None, run.record,
                                        frozenset(run.change.changed if run.change else ()),
                                        run.filter_context())
                    if not conds.holds(action.when, facts):
                        run.note(action.kind, "skipped (when: does not hold)", action.index)
                        continue
                ACTIONS[action.kind](run, action.spec, action.index)
        except Blocked as exc:
            if exc.rule == run.rule.name:
                self._remember(run.log_row(status="blocked", conditions=True, error=str(exc)))
            raise
        except RuleFailed:
            raise
        except (LowriseError, ValueError, TypeError, KeyError, sa.exc.SQLAlchemyError) as exc:
            message = str(exc) if isinstance(exc, LowriseError) else f"{type(exc).__name__}: {exc}"
            self._remember(run.log_row(status="failed", conditions=True, error=message))
            raise RuleFailed(run.rule.name, message) from exc
        finally:
            chain.pop()

    def _sync_timers(self, conn, records, tables, change: Change, actor: Actor, timed,
                     run: Run | None, *, skip_past: bool = False) -> None:
        now = actor.now()
        if change.action == "delete":
            timers.cancel_all(conn, tables, change.record_type, change.record_id, now)
            return
        after = change.after or {}
        ctx = None
        for rule, watched in timed:
            if change.action == "update" and not watched.intersection(change.changed):
                continue
            if ctx is None:
                rt = records.schema.workspace.type(change.record_type)
                ctx = Run(conn, records, tables, rule, rt, dict(after), actor, "time",
                          change).filter_context()
            want = timers.desired(rule, change.before, after, ctx, self.tz)
            # a new record has no timer yet, unless a rule that ran on its creation wrote it
            # again (and that write set one)
            timers.sync(conn, tables, rule, change.record_id, want, now, self.tz,
                        new=change.action == "create" and run is None, skip_past=skip_past)

    # -- failures ------------------------------------------------------------------------------
    def _remember(self, row: dict[str, Any]) -> None:
        with self._lock:
            self.failed_runs.append(row)

    def flush_failed_runs(self, engine: sa.Engine, tables: RuleTables) -> int:
        """Write the logs of failed and blocked runs (their own write was rolled back)."""
        with self._lock:
            rows = list(self.failed_runs)
            self.failed_runs.clear()
        if not rows:
            return 0
        from lowrise.storage.db import write_transaction

        with write_transaction(engine) as conn:
            conn.execute(tables.runs.insert(), rows)
        return len(rows)

    # -- running a rule outside a change (timers, schedules, buttons, webhooks, tests) ----------
    def run_rule(self, conn: sa.Connection, records: Records, rule: Rule,
                 record: dict[str, Any] | None, actor: Actor, trigger: str, *,
                 payload: Mapping[str, Any] | None = None, check: bool = True) -> Run:
        """Check the conditions on `record` as it is now, then run the actions; logs the run."""
        tables = RuleTables(records.schema.system)
        rt = records.schema.workspace.type(rule.record_type)
        run = Run(conn, records, tables, rule, rt, record, actor, trigger, payload=payload)
        chain: list[str] = conn.info.setdefault(CHAIN_KEY, [])
        facts = conds.Facts(record, record, frozenset(), run.filter_context())
        ok = True
        if check:
            ok = conds.holds(rule.conditions, facts)
            trig = rule.trigger
            if ok and isinstance(trig, TimeTrigger) and trig.unless is not None and record:
                from lowrise import filters

                ok = not filters.evaluate(trig.unless, record, facts.ctx)
        if ok:
            self.execute(run, chain)
        if ok or self.log_skipped:
            insert(conn, tables.runs, [run.log_row(
                status="ok" if ok else "skipped", conditions=ok)])
        run.conditions = ok
        return run


class TimerHook:
    """A hook that only sets the timers of time rules, and runs no rule: for records written
    as they are (demo data) that should still come due like any other. With `skip_past`, a
    moment that has already passed gets no timer: records that tell what happened before
    now (demo data) do not remind anyone of it."""

    def __init__(self, engine: RuleEngine, skip_past: bool = False):
        self.engine = engine
        self.skip_past = skip_past

    def __call__(self, conn: sa.Connection, change: Change, actor: Actor,
                 records: Records) -> None:
        timed = self.engine.rules.timed.get(change.record_type)
        if timed:
            self.engine._sync_timers(conn, records, RuleTables(records.schema.system), change,
                                     actor, timed, None, skip_past=self.skip_past)


def timers_only(records: Records, *, skip_past: bool = False) -> Records:
    """The same Records service, whose writes set time rules' timers and run no rule
    (`skip_past`: only timers due after the write's moment)."""
    import dataclasses

    engine = RuleEngine(records.schema.workspace)
    return dataclasses.replace(records, hooks=[TimerHook(engine, skip_past)])


def install(records: Records, *, max_depth: int | None = None) -> RuleEngine:
    """Add the rules engine of the records' workspace to a Records service; returns it."""
    for hook in records.hooks:
        if isinstance(hook, RuleEngine):
            return hook
    engine = RuleEngine(records.schema.workspace, max_depth=max_depth).install(records)
    if records.schema.workspace.approvals:  # approval chains run beside the rules
        from lowrise.approvals.engine import install as install_approvals

        install_approvals(records)
    return engine
