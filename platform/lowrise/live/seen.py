"""What one subscriber is told of change-log rows, decided with its own Actor.

An event carries ids only: the record type, the record's id, the action, the new version and
the name of who made it (as the record's history shows it). A record's event goes only to
someone who may read that record now (its type, and its row in their scope); a notice only
to its recipient. A deleted record cannot be looked up any more: someone whose rows of that
type are scoped is told only that a record of the type went (no id), so that the page
re-reads what it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lowrise.actor import Actor
from lowrise.storage.records import Records


def events_for(records: Records, actor: Actor, rows: Sequence[dict[str, Any]]
               ) -> list[dict[str, Any]]:
    """The events of `rows` that `actor` may receive, in order (each with the row's id)."""
    ws = records.schema.workspace
    pol = records.policy(actor)
    wanted: dict[str, set[int]] = {}
    for row in rows:
        rtype, rid = row["record_type"], row["record_id"]
        if rtype in ws.record_types and rid is not None and row["action"] != "delete":
            wanted.setdefault(rtype, set()).add(int(rid))
    readable: dict[str, set[int] | None] = {}
    if pol is not None:
        with records.engine.connect() as c:
            for rtype, ids in wanted.items():
                readable[rtype] = (pol.ids_in_scope(c, records.schema, rtype, ids)
                                   if pol.may("read", rtype) else set())
    out = []
    for row in rows:
        event = _event(row, actor, pol, readable)
        if event is not None:
            out.append(event)
    return out


def _event(row: dict[str, Any], actor: Actor, pol, readable) -> dict[str, Any] | None:
    action, rtype, rid = row["action"], row["record_type"], row["record_id"]
    if action == "notice":
        if actor.user is None or row["for_user"] != actor.user:
            return None
        return {"id": row["id"], "action": "notice"}
    if rtype is None:
        return None
    event = {"id": row["id"], "action": action, "type": rtype}
    if pol is not None and not pol.may("read", rtype):
        return None
    if rid is None:  # many records of the type at once
        return event
    if action == "delete":
        if pol is not None and pol.row_scope(rtype) is not None:
            return event  # which one is not said: it may have been out of their rows
        return {**event, "record": int(rid)}
    if pol is not None and int(rid) not in readable.get(rtype, set()):
        return None
    event.update(record=int(rid), version=row["version"], by=row["actor_name"] or "")
    return event
