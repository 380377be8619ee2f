"""Reads of approvals: an approver's queue (and its count) and a record's rounds with their
tasks and trail. Every read carries the Actor: a queue shows only the records its approver
may read, a count counts only those."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.storage.records import Records

from .model import approvals_of

QUEUE_LIMIT = 50


def _readable(records: Records, actor: Actor, tk: sa.Table) -> sa.ColumnElement[bool]:
    """Tasks on records the actor may read: per record type with approvals, its row scope
    as SQL (inside the statement, for the whole queue, its count and its pages)."""
    pol = records.policy(actor)
    if pol is None:
        return sa.true()
    ws = records.schema.workspace
    types = sorted({d.record_type for d in ws.approvals.values() if d.record_type})
    parts = []
    for t in types:
        if t not in ws.record_types or not pol.may("read", t):
            continue
        cond = pol.scope_sql(records.schema, t)
        if cond is None:
            parts.append(tk.c.record_type == t)
        else:
            table = records.schema.table(t)
            parts.append(sa.and_(tk.c.record_type == t, tk.c.record_id.in_(
                sa.select(table.c.id).where(cond))))
    return sa.or_(*parts) if parts else sa.false()


def _branches(records: Records, actor: Actor) -> list[tuple[sa.ColumnElement[bool], bool]]:
    """What waits for `actor`, as two disjoint sets of pending tasks, each read through its
    own index (ix_lr_approval_tasks_assignee, ix_lr_approval_tasks_role), newest first: the
    tasks given to them, and those for anyone with one of their roles. The flag says whether
    the round's requester must be checked: a role's holder may have asked (nobody decides
    their own request), while a person's own task never names the requester (resolve names
    their manager instead; adding or handing on to the requester is refused)."""
    tk = records.schema.system["lr_approval_tasks"]
    readable = _readable(records, actor, tk)
    out = []
    if actor.user is not None:
        out.append((tk.c.assignee == actor.user, False))
    if actor.roles:
        out.append((sa.and_(tk.c.assignee.is_(None), tk.c.role.in_(sorted(actor.roles))),
                    True))
    return [(sa.and_(tk.c.status == "pending", mine, readable), check) for mine, check in out]


def _not_theirs(ap: sa.Table, actor: Actor) -> sa.ColumnElement[bool]:
    """Rounds the actor did not ask for."""
    if actor.user is None:
        return sa.true()
    return sa.or_(ap.c.requester.is_(None), ap.c.requester != actor.user)


def queue(records: Records, actor: Actor, *, limit: int = QUEUE_LIMIT,
          before: int | None = None) -> list[dict[str, Any]]:
    """The tasks waiting for `actor`, newest first; `before` (a task id) pages back. Each
    branch reads only its newest `limit` tasks by its index, so the cost does not grow with
    the number waiting."""
    sys_ = records.schema.system
    tk, ap = sys_["lr_approval_tasks"], sys_["lr_approvals"]
    cols = (tk.c.id.label("task_id"), tk.c.record_type, tk.c.record_id, tk.c.step, tk.c.role,
            tk.c.due_at, tk.c.created_at, tk.c.added_by, tk.c.delegated_from,
            ap.c.id.label("approval_id"), ap.c.name, ap.c["round"], ap.c.requester,
            ap.c.requester_name, ap.c.started_at)
    out: list[dict[str, Any]] = []
    with records.engine.connect() as conn:
        for where, _check in _branches(records, actor):
            stmt = (sa.select(*cols).join(ap, ap.c.id == tk.c.approval_id)
                    .where(where, ap.c.status == "running", _not_theirs(ap, actor))
                    .order_by(tk.c.id.desc()).limit(limit))
            if before is not None:
                stmt = stmt.where(tk.c.id < before)
            out += [dict(r) for r in conn.execute(stmt).mappings()]
    out = sorted(out, key=lambda r: r["task_id"], reverse=True)[:limit]
    known = approvals_of(records.schema.workspace)
    for r in out:
        ap_ = known.get(r["name"])
        r["approval"] = ap_
        r["step_label"] = ap_.steps[r["step"]].label if ap_ and r["step"] < len(ap_.steps) \
            else None
    return out


def count(records: Records, actor: Actor) -> int:
    """How many tasks wait for `actor` (on records they may read): a count of each branch
    by its index; only the roles' branch joins the rounds, to leave out the actor's own
    requests (a pending task always belongs to a running round: ending a round cancels its
    pending tasks)."""
    sys_ = records.schema.system
    tk, ap = sys_["lr_approval_tasks"], sys_["lr_approvals"]
    total = 0
    with records.engine.connect() as conn:
        for where, check in _branches(records, actor):
            source = tk.join(ap, ap.c.id == tk.c.approval_id) if check else tk
            stmt = sa.select(sa.func.count()).select_from(source).where(where)
            if check:
                stmt = stmt.where(_not_theirs(ap, actor))
            total += int(conn.execute(stmt).scalar_one())
    return total


def rounds(records: Records, type_name: str, record_id: int) -> list[dict[str, Any]]:
    """The record's approval rounds, newest first, each with its tasks and trail (callers
    read the record with their actor first: these are shown only beside it)."""
    sys_ = records.schema.system
    ap, tk, tr = sys_["lr_approvals"], sys_["lr_approval_tasks"], sys_["lr_approval_trail"]
    with records.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(ap).where(
            ap.c.record_type == type_name, ap.c.record_id == record_id)
            .order_by(ap.c.id.desc()).limit(20)).mappings()]
        ids = [r["id"] for r in rows]
        tasks = [dict(r) for r in conn.execute(sa.select(tk).where(tk.c.approval_id.in_(ids))
                                               .order_by(tk.c.id)).mappings()] if ids else []
        trail = [dict(r) for r in conn.execute(sa.select(tr).where(tr.c.approval_id.in_(ids))
                                               .order_by(tr.c.id)).mappings()] if ids else []
    known = approvals_of(records.schema.workspace)
    for r in rows:
        r["approval"] = known.get(r["name"])
        r["tasks"] = [t for t in tasks if t["approval_id"] == r["id"]]
        r["trail"] = [e for e in trail if e["approval_id"] == r["id"]]
    return rows


def changes_since_last_round(rows: list[dict[str, Any]], index: int = 0
                             ) -> dict[str, tuple[Any, Any]]:
    """{field: (before, after)} between round `index` (newest first) and the one before it
    of the same approval."""
    if index >= len(rows):
        return {}
    cur = rows[index]
    prev = next((r for r in rows[index + 1:] if r["name"] == cur["name"]), None)
    if prev is None:
        return {}
    a, b = prev.get("locked") or {}, cur.get("locked") or {}
    keep = _compared(cur.get("approval"), prev.get("status"))
    return {k: (a.get(k), b.get(k)) for k in b if a.get(k) != b.get(k) and keep(k)}


def _compared(ap, prev_status: str | None):
    """Which fields a round's changes name: after approved terms changed (the round before
    was restarted), the terms the approval locks, since the rules that react to an approval
    fill others (who approved, when); else every field but the approval's own marks."""
    if ap is None:
        return lambda k: True
    if prev_status == "restarted" and ap.lock:
        return set(ap.lock).__contains__
    own = set(ap.on_approved.set) | set(ap.on_refused.set) | set(ap.on_returned.set) | \
        set(ap.on_restarted.set)
    return lambda k: k not in own


def changes_for(records: Records, rows: list[dict[str, Any]]) -> dict[int, list[str]]:
    """{approval id: the fields changed since the round before} for queue rows (one query
    for all of them; a first round has none)."""
    later = [r for r in rows if r["round"] > 1]
    if not later:
        return {}
    ap = records.schema.system["lr_approvals"]
    ids = {r["approval_id"] for r in later}
    keys = {(r["name"], r["record_type"], r["record_id"]) for r in later}
    with records.engine.connect() as conn:
        found = [dict(x) for x in conn.execute(sa.select(
            ap.c.id, ap.c.name, ap.c.record_type, ap.c.record_id, ap.c["round"], ap.c.locked,
            ap.c.status)
            .where(ap.c.record_id.in_(sorted({k[2] for k in keys})))
            .order_by(ap.c.id)).mappings()]
    known = approvals_of(records.schema.workspace)
    out: dict[int, list[str]] = {}
    for aid in ids:
        cur = next((f for f in found if f["id"] == aid), None)
        if cur is None:
            continue
        prev = [f for f in found if (f["name"], f["record_type"], f["record_id"]) == (
            cur["name"], cur["record_type"], cur["record_id"]) and f["id"] < aid]
        if prev:
            a, b = prev[-1]["locked"] or {}, cur["locked"] or {}
            keep = _compared(known.get(cur["name"]), prev[-1]["status"])
            out[aid] = [k for k in b if a.get(k) != b.get(k) and keep(k)]
    return out
