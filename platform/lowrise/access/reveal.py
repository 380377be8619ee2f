"""Revealing a masked value: only for roles granted `reveal`, one record at a time, and every
reveal written to the audit log (action `reveal`, the fields named in `note`) in the same
transaction that reads the values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lowrise.actor import Actor
from lowrise.storage.db import write_transaction


def reveal(records, type_name: str, record_id: int, actor: Actor,
           fields: Iterable[str] | None = None) -> dict[str, Any]:
    """{field: real value} for the fields masked to `actor` on this record (of `fields` when
    given). Forbidden without the reveal permission, NotFound out of the actor's rows."""
    pol = records.policy(actor)
    if pol is None:  # nothing is masked for this actor
        return {}
    pol.require("reveal", type_name)
    wanted = None if fields is None else set(fields)
    with write_transaction(records.engine) as conn:
        shown = records.get(type_name, record_id, conn=conn, actor=actor)
        masked = [n for n, how in shown.access.items()
                  if how == "masked" and (wanted is None or n in wanted)]
        if not masked:
            return {}
        stored = records.get(type_name, record_id, conn=conn)  # the values behind the masks
        conn.execute(records.schema.audit.insert().values(
            record_type=type_name, record_id=record_id, action="reveal", actor=actor.user,
            actor_name=actor.name, at=actor.now(), version=stored["version"], changes=None,
            note=", ".join(masked)))
    return {n: stored.get(n) for n in masked}
