"""The approvals engine: a Records hook that starts approval rounds and guards locked fields,
and the actions of approvers (approve, refuse, send back, add an approver, delegate).

Everything happens in the write's transaction: a round, its tasks, its trail, the record's
outcome fields, the rules that react, the inbox notices; all or nothing. A round's step
timeouts are durable timers in lr_timers (rule "approval:<name>") that `fire_due` escalates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from lowrise import filters
from lowrise.actor import Actor
from lowrise.errors import Forbidden, NotFound, ValidationError
from lowrise.i18n import msg, to_text, tr
from lowrise.storage.db import write_transaction
from lowrise.storage.records import Change, Records

from . import resolve
from .model import Approval, Approver, Outcome, Step, approvals_of, for_type

INTERNAL = "lowrise_approvals_internal"  # conn.info: our own writes, not guarded again
TIMER_PREFIX = "approval:"
DECISIONS = ("approve", "refuse", "send_back", "add", "delegate")


class ApprovalError(ValidationError):
    """An approver's action was refused; the message says why, in the reader's words."""

    def __init__(self, message: str):
        super().__init__({"": message})


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def snapshot(ap: Approval, record: Mapping[str, Any] | None, ws) -> dict[str, Any]:
    """The record's own values as JSON (to tell what changed between rounds)."""
    rt = ws.type(ap.record_type)
    return {f.name: _jsonable((record or {}).get(f.name)) for f in rt.user_fields
            if not (f.kind.stores_files or f.kind.has_expression)}


class Approvals:
    """The approvals of one Records service: the hook, and the approvers' actions."""

    def __init__(self, records: Records):
        self.records = records
        self.ws = records.schema.workspace
        sys_ = records.schema.system
        self.t = sys_["lr_approvals"]
        self.tasks = sys_["lr_approval_tasks"]
        self.trail = sys_["lr_approval_trail"]
        self.timers = sys_["lr_timers"]
        self.notes = sys_["lr_notifications"]
        self.audit = sys_["lr_audit"]
        self.tz = self.ws.config.get("timezone") or "UTC"

    def install(self) -> Approvals:
        if not any(isinstance(h, Approvals) for h in self.records.hooks):
            self.records.hooks.append(self)
        return self

    # -- the hook ------------------------------------------------------------------------------
    def __call__(self, conn: sa.Connection, change: Change, actor: Actor, records: Records
                 ) -> None:
        declared = for_type(self.ws, change.record_type)
        if not declared or conn.info.get(INTERNAL):
            return
        for ap in declared:
            current = self._latest(conn, ap, change.record_id)
            if change.action == "delete":
                if current and current["status"] == "running":
                    self._end(conn, current, "cancelled", actor, None)
                continue
            locked = sorted(set(ap.lock) & set(change.changed)) if change.action == "update" \
                else []
            if locked and current and current["status"] == "running":
                rt = self.ws.type(ap.record_type)
                names = "、".join(str(rt.fields[f].label.get(actor.locale)) for f in locked)
                raise ValidationError({locked[0]: msg(
                    "%(fields)s cannot change while the record is in approval (%(approval)s); "
                    "ask an approver to send it back first", fields=names,
                    approval=ap.label.get(actor.locale))})
            if locked and current and current["status"] == "approved":
                self._trail(conn, current, "restarted", actor, None, {"fields": locked})
                conn.execute(self.t.update().where(self.t.c.id == current["id"])
                             .values(status="restarted", ended_at=actor.now()))
                aid = self.start(ap, change.record_id, actor, conn=conn, before=change.before,
                                 record=change.after, round_=current["round"] + 1)
                self._apply(conn, ap, {"id": aid, "record_id": change.record_id},
                            ap.on_restarted, replace(actor, system=True))
                continue
            after = change.after or {}
            ctx = filters.FilterContext(user=actor.user, clock=actor.clock,
                                        resolver=self._resolver(conn))
            if current and current["status"] == "running":
                if ap.cancel_when is not None and ap.cancel_when.holds(
                        change.before, after, frozenset(change.changed), ctx, self.tz):
                    self._end(conn, current, "cancelled", actor, None)
                continue
            if ap.start_when is None or change.action == "create" and not ap.on_create:
                continue
            holds = ap.start_when.holds(change.before, after, frozenset(change.changed), ctx,
                                        self.tz)
            if not holds:
                continue
            if ap.start_when.expression is not None and change.before is not None and \
                    ap.start_when.holds(change.before, change.before, frozenset(), ctx, self.tz):
                continue  # it held already: only starting to hold starts an approval
            self.start(ap, change.record_id, actor, conn=conn, before=change.before,
                       record=after, round_=(current["round"] + 1) if current else 1)

    def _resolver(self, conn):
        def get(type_name: str, rid: int):
            try:
                return self.records.get(type_name, rid, conn=conn)
            except NotFound:
                return None
        return get

    # -- reading state -------------------------------------------------------------------------
    def _latest(self, conn, ap: Approval, record_id: int) -> dict[str, Any] | None:
        t = self.t
        row = conn.execute(sa.select(t).where(
            t.c.name == ap.name, t.c.record_type == ap.record_type,
            t.c.record_id == record_id).order_by(t.c.id.desc()).limit(1)).mappings().first()
        return dict(row) if row else None

    def approval(self, ap: Approval | str) -> Approval:
        name = ap if isinstance(ap, str) else ap.name
        try:
            return approvals_of(self.ws)[name]
        except KeyError:
            raise NotFound(msg("there is no approval '%(name)s'", name=name)) from None

    # -- starting ------------------------------------------------------------------------------
    def start(self, ap: Approval | str, record_id: int, actor: Actor, *,
              conn: sa.Connection | None = None, before: Mapping[str, Any] | None = None,
              record: Mapping[str, Any] | None = None, round_: int | None = None,
              button: bool = False) -> int:
        """Start a round of `ap` on the record, requested by `actor`; returns its id."""
        ap = self.approval(ap)
        if conn is None:
            with write_transaction(self.records.engine) as c:
                return self.start(ap, record_id, actor, conn=c, button=button)
        if button:
            self._may_press(ap, record_id, actor, conn)
        current = self._latest(conn, ap, record_id)
        if current and current["status"] == "running":
            raise ApprovalError(msg("this record is already in approval (%(approval)s)",
                                    approval=ap.label.get(actor.locale)))
        # read again: the rules that ran on this change may have filled fields (a reviewer)
        record = self.records.get(ap.record_type, record_id, conn=conn)
        if round_ is None:
            round_ = (current["round"] + 1) if current else 1
        now = actor.now()
        snap = snapshot(ap, record, self.ws)
        reverted = {f: _jsonable(before.get(f)) for f in ap.lock} if before else None
        aid = conn.execute(self.t.insert().values(
            name=ap.name, record_type=ap.record_type, record_id=record_id, status="running",
            round=round_, step=0, level=1, requester=actor.user,
            requester_name=(actor.name or "")[:255] or None, locked=snap, reverted=reverted,
            started_at=now)).inserted_primary_key[0]
        row = dict(id=aid, name=ap.name, record_type=ap.record_type, record_id=record_id,
                   status="running", round=round_, step=0, level=1, requester=actor.user,
                   requester_name=actor.name)
        self._trail(conn, row, "started", actor, None, {"round": round_})
        self._enter(conn, ap, row, 0, actor, record)
        return aid

    def _may_press(self, ap: Approval, record_id: int, actor: Actor, conn) -> None:
        if ap.button is None:
            raise ApprovalError(msg("this approval starts by itself, not from a button"))
        self.records.get(ap.record_type, record_id, conn=conn, actor=actor)  # may read it
        pol = self.records.policy(actor)
        allowed = ap.button_roles
        if pol is not None and (allowed is not None and not set(allowed) & set(actor.roles)
                                or allowed is None and not pol.may("update", ap.record_type)):
            raise Forbidden(msg("you may not start this approval"))

    # -- steps ---------------------------------------------------------------------------------
    def _applies(self, conn, step: Step, actor: Actor, record: Mapping[str, Any]) -> bool:
        if step.when is None:
            return True
        ctx = filters.FilterContext(user=actor.user, clock=actor.clock,
                                    resolver=self._resolver(conn))
        return step.when.holds(None, record, frozenset(), ctx, self.tz)

    def _enter(self, conn, ap: Approval, row: dict[str, Any], index: int, actor: Actor,
               record: Mapping[str, Any] | None = None, level: int = 1) -> None:
        """Make the tasks of the first step from `index` on that applies (or end approved)."""
        if record is None:
            record = self.records.get(ap.record_type, row["record_id"], conn=conn)
        while index < len(ap.steps):
            step = ap.steps[index]
            if self._applies(conn, step, actor, record):
                whos = self._whos(conn, ap, step, row, record, level)
                if whos:
                    self._set_step(conn, row, index, level)
                    self._make_tasks(conn, ap, row, index, whos, actor)
                    return
                if step.kind == "manager" and level > 1:  # the chain ends below `levels`
                    pass
            index, level = index + 1, 1
        self._finish(conn, ap, row, "approved", actor)

    def _whos(self, conn, ap: Approval, step: Step, row, record, level: int):
        req = row["requester"]
        specs = [Approver("manager", level)] if step.kind == "manager" else list(step.approvers)
        out: list[resolve.Who] = []
        for spec in specs:
            who = resolve.resolve(self.records, conn, ap.record_type, record, spec, req)
            if who is not None and who not in out:
                out.append(who)
        if not out and step.kind == "manager" and level == 1 or \
                not out and step.kind != "manager":
            role = resolve.admin_role(self.records)  # nobody named: the administrators decide
            out = [resolve.Who(role=role)] if role else []
        return out

    def _set_step(self, conn, row, index: int, level: int) -> None:
        row["step"], row["level"] = index, level
        conn.execute(self.t.update().where(self.t.c.id == row["id"])
                     .values(step=index, level=level))

    def _make_tasks(self, conn, ap: Approval, row, index: int, whos, actor: Actor, *,
                    added_by: int | None = None, delegated_from: int | None = None,
                    timer: bool = True) -> None:
        step = ap.steps[index]
        now = actor.now()
        due = now + timedelta(seconds=step.timeout) if step.timeout else None
        conn.execute(self.tasks.insert(), [dict(
            approval_id=row["id"], record_type=row["record_type"], record_id=row["record_id"],
            step=index, assignee=w.person, role=w.role, status="pending", added_by=added_by,
            delegated_from=delegated_from, due_at=due, created_at=now) for w in whos])
        if due is not None and timer and added_by is None and delegated_from is None:
            conn.execute(self.timers.insert().values(
                rule=TIMER_PREFIX + ap.name, record_type=ap.record_type,
                record_id=row["record_id"], due_at=due, since=now, status="pending",
                created_at=now, attempts=0))
        self._notify(conn, ap, row, whos, now, msg(
            "Waiting for your approval: %(approval)s", approval=ap.label))

    def _notify(self, conn, ap: Approval, row, whos, now, title) -> None:
        people: set[int] = {w.person for w in whos if w.person is not None}
        roles = {w.role for w in whos if w.role}
        if roles:
            users = self._accounts(conn)
            if users is not None:
                for uid_roles in conn.execute(sa.select(users.c.staff_id, users.c.roles).where(
                        users.c.active.is_(True), users.c.staff_id.is_not(None))):
                    if roles & set(uid_roles.roles or ()):
                        people.add(uid_roles.staff_id)
        people.discard(row["requester"])
        text = to_text(title, self.ws.locales)  # read in each reader's own locale
        if len(text) > 255:
            text = tr(title, self.ws.default_locale)[:255]
        if people:
            conn.execute(self.notes.insert(), [dict(
                user_id=p, rule=None, record_type=row["record_type"],
                record_id=row["record_id"], title=text, body=None, created_at=now)
                for p in sorted(people)])

    def _accounts(self, conn) -> sa.Table | None:
        """The sign-in accounts (lowrise.accounts), to tell a role's holders; None where
        there are none (an engine used without the app)."""
        if not hasattr(self, "_users"):
            from lowrise.accounts import users_table

            self._users = users_table(sa.MetaData()) if sa.inspect(conn).has_table(
                "lr_users") else None
        return self._users

    # -- ending --------------------------------------------------------------------------------
    def _finish(self, conn, ap: Approval, row, status: str, actor: Actor,
                comment: str | None = None) -> None:
        self._end(conn, row, status, actor, comment)
        outcome = {"approved": ap.on_approved, "refused": ap.on_refused,
                   "returned": ap.on_returned}.get(status)
        writer = replace(actor, system=True)
        if outcome is not None:
            self._apply(conn, ap, row, outcome, writer)
        if status in ("approved", "refused"):
            label = ap.label
            self._react(conn, ap, row, status, writer)
            if row.get("requester") is not None:
                self._notify(conn, ap, {**row, "requester": None},
                             [resolve.Who(person=row["requester"])], actor.now(),
                             msg("Approved: %(approval)s", approval=label)
                             if status == "approved" else
                             msg("Refused: %(approval)s", approval=label))

    def _apply(self, conn, ap: Approval, row, outcome: Outcome, writer: Actor) -> None:
        """Write an outcome's field values (and the reverted ones) to the record, as the
        approval: its own write, which no lock refuses and which starts nothing."""
        values: dict[str, Any] = dict(outcome.set)
        if outcome.revert:
            reverted = conn.execute(sa.select(self.t.c.reverted).where(
                self.t.c.id == row["id"])).scalar()
            values.update(reverted or {})
        if not values:
            return
        conn.info[INTERNAL] = conn.info.get(INTERNAL, 0) + 1
        try:
            self.records.update(ap.record_type, row["record_id"], values, writer, conn=conn)
        finally:
            conn.info[INTERNAL] -= 1
            if not conn.info[INTERNAL]:
                conn.info.pop(INTERNAL)

    def _end(self, conn, row, status: str, actor: Actor, comment: str | None) -> None:
        now = actor.now()
        conn.execute(self.t.update().where(self.t.c.id == row["id"])
                     .values(status=status, ended_at=now))
        row["status"] = status
        conn.execute(self.tasks.update().where(self.tasks.c.approval_id == row["id"],
                                               self.tasks.c.status == "pending")
                     .values(status="cancelled", decided_at=now))
        self._cancel_timers(conn, row, now)
        self._trail(conn, row, status, actor, comment, None)

    def _cancel_timers(self, conn, row, now) -> None:
        tm = self.timers
        conn.execute(tm.update().where(
            tm.c.rule == TIMER_PREFIX + row["name"], tm.c.record_type == row["record_type"],
            tm.c.record_id == row["record_id"], tm.c.status == "pending")
            .values(status="cancelled", done_at=now))

    def _react(self, conn, ap: Approval, row, status: str, actor: Actor) -> None:
        """Run the rules whose trigger is this approval's end (approved / refused)."""
        from lowrise.rules.engine import RuleEngine

        engine = next((h for h in self.records.hooks if isinstance(h, RuleEngine)), None)
        if engine is None:
            return
        record = self.records.get(ap.record_type, row["record_id"], conn=conn)
        for rule in engine.rules.rules.values():
            trig = rule.trigger
            if not rule.enabled or rule.record_type != ap.record_type or \
                    getattr(trig, "kind", None) != status:
                continue
            if getattr(trig, "approval", None) not in (None, ap.name):
                continue
            engine.run_rule(conn, self.records, rule, dict(record), actor, status)

    # -- the trail -----------------------------------------------------------------------------
    def _trail(self, conn, row, event: str, actor: Actor, comment: str | None,
               detail: dict[str, Any] | None) -> None:
        now = actor.now()
        name = (actor.name or "")[:255] or None
        conn.execute(self.trail.insert().values(
            approval_id=row["id"], record_type=row["record_type"], record_id=row["record_id"],
            event=event, step=row.get("step"), actor=actor.user, actor_name=name,
            comment=comment, detail=detail, at=now))
        note = json.dumps({"approval": row["name"], "event": event, "step": row.get("step"),
                           "comment": comment}, ensure_ascii=False)
        conn.execute(self.audit.insert().values(
            record_type=row["record_type"], record_id=row["record_id"], action="approval",
            actor=actor.user, actor_name=name, at=now, note=note))

    # -- approvers' actions --------------------------------------------------------------------
    def act(self, task_id: int, actor: Actor, decision: str, *, comment: str | None = None,
            to_step: int | None = None, person: int | None = None) -> dict[str, Any]:
        """One approver's decision on one task; returns the round as it is after it."""
        if decision not in DECISIONS:
            raise ApprovalError(msg("'%(decision)s' is not an approval action (%(known)s)",
                                    decision=decision, known=", ".join(DECISIONS)))
        comment = (comment or "").strip()[:4000] or None
        with write_transaction(self.records.engine) as conn:
            task, row, ap = self._claim(conn, task_id, actor)
            step = ap.steps[task["step"]]
            now = actor.now()
            if decision == "approve":
                self._decide(conn, task, "approved", actor, comment)
                self._trail(conn, row, "approve", actor, comment, None)
                self._after_approve(conn, ap, row, step, task, actor)
            elif decision == "refuse":
                self._decide(conn, task, "refused", actor, comment)
                self._trail(conn, row, "refuse", actor, comment, None)
                self._finish(conn, ap, row, "refused", actor, comment)
            elif decision == "send_back":
                if not comment:
                    raise ApprovalError(msg("say why you send it back (the reason is "
                                            "required)"))
                self._decide(conn, task, "returned", actor, comment)
                if to_step is None or to_step < 0:
                    self._trail(conn, row, "send_back", actor, comment, {"to": "requester"})
                    self._finish(conn, ap, row, "returned", actor)
                    if row.get("requester") is not None:
                        self._notify(conn, ap, {**row, "requester": None},
                                     [resolve.Who(person=row["requester"])], now, msg(
                                         "Sent back to you: %(approval)s", approval=ap.label))
                else:
                    if to_step >= row["step"]:
                        raise ApprovalError(msg("a round is sent back to an earlier step "
                                                "or to the requester"))
                    self._trail(conn, row, "send_back", actor, comment, {"to": to_step})
                    self._cancel_pending(conn, row, now)
                    self._enter(conn, ap, row, to_step, actor)
            elif decision == "add":
                who = self._other_person(conn, person, row, actor)
                self._trail(conn, row, "add", actor, comment, {"person": who})
                self._make_tasks(conn, ap, row, task["step"], [resolve.Who(person=who)],
                                 actor, added_by=actor.user)
            else:  # delegate
                who = self._other_person(conn, person, row, actor)
                self._decide(conn, task, "delegated", actor, comment)
                self._trail(conn, row, "delegate", actor, comment, {"person": who})
                self._make_tasks(conn, ap, row, task["step"], [resolve.Who(person=who)],
                                 actor, delegated_from=actor.user)
            return self._row(conn, row["id"])

    def _row(self, conn, aid: int) -> dict[str, Any]:
        return dict(conn.execute(sa.select(self.t).where(self.t.c.id == aid)).mappings().one())

    def _claim(self, conn, task_id: int, actor: Actor):
        tk = self.tasks
        task = conn.execute(sa.select(tk).where(tk.c.id == task_id).with_for_update()
                            ).mappings().first()
        if task is None or not self.may_decide(task, actor):
            raise NotFound(msg("there is no approval waiting for you here"))
        task = dict(task)
        # the record must be one they may read (NotFound as for any record out of scope)
        self.records.get(task["record_type"], task["record_id"], conn=conn, actor=actor)
        row = dict(conn.execute(sa.select(self.t).where(self.t.c.id == task["approval_id"])
                                .with_for_update()).mappings().one())
        if task["status"] != "pending" or row["status"] != "running":
            raise ApprovalError(msg("this approval was decided already; reload the page "
                                    "to see where it stands"))
        if actor.user is not None and actor.user == row["requester"]:
            raise ApprovalError(msg("nobody approves their own request"))
        return task, row, self.approval(row["name"])

    @staticmethod
    def may_decide(task: Mapping[str, Any], actor: Actor) -> bool:
        if task["assignee"] is not None:
            return actor.user is not None and task["assignee"] == actor.user
        return bool(task["role"]) and task["role"] in actor.roles

    def _decide(self, conn, task, status: str, actor: Actor, comment: str | None) -> None:
        conn.execute(self.tasks.update().where(self.tasks.c.id == task["id"]).values(
            status=status, decided_at=actor.now(), decided_by=actor.user, comment=comment))

    def _cancel_pending(self, conn, row, now, *, step: int | None = None,
                        keep_added: bool = False) -> None:
        tk = self.tasks
        where = [tk.c.approval_id == row["id"], tk.c.status == "pending"]
        if step is not None:
            where.append(tk.c.step == step)
        if keep_added:
            where.append(tk.c.added_by.is_(None))
        conn.execute(tk.update().where(*where).values(status="cancelled", decided_at=now))

    def _after_approve(self, conn, ap: Approval, row, step: Step, task, actor: Actor) -> None:
        now = actor.now()
        if not step.needs_all and task["added_by"] is None:
            # 或签 / one approver: the first decision settles the step (added approvers stay)
            self._cancel_pending(conn, row, now, step=task["step"], keep_added=True)
        tk = self.tasks
        left = conn.execute(sa.select(sa.func.count()).where(
            tk.c.approval_id == row["id"], tk.c.step == task["step"],
            tk.c.status == "pending")).scalar_one()
        if left:
            return
        self._cancel_timers(conn, row, now)
        if step.kind == "manager" and row["level"] < step.levels:
            record = self.records.get(ap.record_type, row["record_id"], conn=conn)
            whos = self._whos(conn, ap, step, row, record, row["level"] + 1)
            if whos:
                self._set_step(conn, row, row["step"], row["level"] + 1)
                self._make_tasks(conn, ap, row, row["step"], whos, actor)
                return
        self._enter(conn, ap, row, row["step"] + 1, actor)

    def _other_person(self, conn, person: int | None, row, actor: Actor) -> int:
        users = self.ws.users_type
        if person is None or not users:
            raise ApprovalError(msg("choose the person"))
        try:
            self.records.get(users, int(person), conn=conn)
        except (NotFound, ValueError, TypeError):
            raise ApprovalError(msg("choose the person")) from None
        if int(person) == row["requester"]:
            raise ApprovalError(msg("nobody approves their own request"))
        if int(person) == actor.user:
            raise ApprovalError(msg("choose someone other than yourself"))
        return int(person)

    # -- timeouts ------------------------------------------------------------------------------
    def fire_due(self, now: datetime, actor: Actor | None = None) -> int:
        """Escalate the steps whose timeout passed; returns how many were escalated."""
        tm = self.timers
        fired = 0
        with write_transaction(self.records.engine) as conn:
            due = conn.execute(sa.select(tm).where(
                tm.c.status == "pending", tm.c.due_at <= now,
                tm.c.rule.startswith(TIMER_PREFIX)).order_by(tm.c.due_at, tm.c.id)
                .limit(500)).mappings().all()
            for timer in due:
                conn.execute(tm.update().where(tm.c.id == timer["id"]).values(
                    status="fired", done_at=now, attempts=tm.c.attempts + 1))
                fired += self._escalate(conn, timer, now, actor)
        return fired

    def _escalate(self, conn, timer, now: datetime, actor: Actor | None) -> int:
        name = timer["rule"][len(TIMER_PREFIX):]
        ap = approvals_of(self.ws).get(name)
        if ap is None:
            return 0
        row = self._latest(conn, ap, timer["record_id"])
        if row is None or row["status"] != "running":
            return 0
        step = ap.steps[row["step"]]
        who_acts = actor or Actor(name="system", system=True, clock=lambda: now)
        tk = self.tasks
        pending = conn.execute(sa.select(tk.c.id).where(
            tk.c.approval_id == row["id"], tk.c.step == row["step"],
            tk.c.status == "pending")).scalars().all()
        if not pending:
            return 0
        spec = step.escalate_to or Approver("manager", 1)
        record = self.records.get(ap.record_type, row["record_id"], conn=conn)
        who = resolve.resolve(self.records, conn, ap.record_type, record, spec, row["requester"])
        if who is None:
            role = resolve.admin_role(self.records)
            who = resolve.Who(role=role) if role else None
        if who is None:
            return 0
        conn.execute(tk.update().where(tk.c.id.in_(pending)).values(
            status="escalated", decided_at=now))
        self._trail(conn, row, "escalated", who_acts, None,
                    {"to": who.person if who.person is not None else who.role})
        self._make_tasks(conn, ap, row, row["step"], [who], who_acts, timer=False)
        return 1


def install(records: Records) -> Approvals:
    """Add the approvals hook to a Records service (once); returns it."""
    for hook in records.hooks:
        if isinstance(hook, Approvals):
            return hook
    return Approvals(records).install()
