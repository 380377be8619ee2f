"""Revealing a masked value: only for roles granted `reveal`, one record at a time, and every
reveal written to the audit log (action `reveal`, the fields named in `note`, the reason
given in `reason`) in the same transaction that reads the values.

A grant may ask for a reason (`fields: {id_number: {access: masked, reveal_reason: true}}`):
revealing such a field without one is refused and nothing is shown or written. With several
roles that may reveal the type, a reason is needed only where every one of them asks for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lowrise.actor import Actor
from lowrise.errors import ValidationError
from lowrise.i18n import msg
from lowrise.storage.db import write_transaction

#: the longest reason kept
REASON_MAX = 500


class ReasonRequired(ValidationError):
    """A reveal that needs a reason was asked for without one (or with one too long)."""


def reason_fields(pol, type_name: str) -> set[str]:
    """The fields whose reveal needs a reason from this actor (None policy: none)."""
    if pol is None:
        return set()
    grants = pol.grants(type_name, "reveal")
    if not grants:
        return set()
    return set.intersection(*(set(g.reveal_reasons) for g in grants))


def reveal(records, type_name: str, record_id: int, actor: Actor,
           fields: Iterable[str] | None = None, *, reason: str | None = None
           ) -> dict[str, Any]:
    """{field: real value} for the fields masked to `actor` on this record (of `fields` when
    given). Forbidden without the reveal permission, NotFound out of the actor's rows,
    ReasonRequired when a field needs a reason and none is given."""
    pol = records.policy(actor)
    if pol is None:  # nothing is masked for this actor
        return {}
    pol.require("reveal", type_name)
    wanted = None if fields is None else set(fields)
    reason = " ".join((reason or "").split())  # one line, as the log shows it
    if len(reason) > REASON_MAX:
        raise ReasonRequired({"reason": msg("a reason has at most %(n)s characters",
                                            n=REASON_MAX)})
    with write_transaction(records.engine) as conn:
        shown = records.get(type_name, record_id, conn=conn, actor=actor)
        masked = [n for n, how in shown.access.items()
                  if how == "masked" and (wanted is None or n in wanted)]
        if not masked:
            return {}
        if not reason and reason_fields(pol, type_name) & set(masked):
            raise ReasonRequired({"reason": msg("say why you need to see these values: the "
                                                "reason is kept with the reveal")})
        stored = records.get(type_name, record_id, conn=conn)  # the values behind the masks
        conn.execute(records.schema.audit.insert().values(
            record_type=type_name, record_id=record_id, action="reveal", actor=actor.user,
            actor_name=actor.name, at=actor.now(), version=stored["version"], changes=None,
            note=", ".join(masked), reason=reason or None))
    return {n: stored.get(n) for n in masked}
