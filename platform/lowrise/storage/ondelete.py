"""What deleting a record does to the records that link to it: each link field's `on_delete`.

- `refuse`: the record cannot be deleted while a record links to it through the field.
- `clear`: the linking records' field is emptied, as an update like any other (audited, its
  version bumped, rules see it); the trash entry remembers which records were unlinked, so a
  restore links them again. A required field cannot be emptied: it refuses instead.
- `keep`: the link stays, pointing at the record in the trash (restoring it makes the link
  whole again).

Without `on_delete`, a link is cleared (refused when the field is required). Nothing is ever
deleted in cascade. Records deleted together (a bulk delete) never hold each other back and
are not changed on each other's account, so the outcome does not depend on their order.
Refusals count only the linking records the actor may read; the others are mentioned,
never counted or named.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.errors import BulkValidationError, ValidationError
from lowrise.i18n import Lazy, Msg, language, msg, msg_n, tr
from lowrise.workspace.model import Field, RecordType, Workspace

if TYPE_CHECKING:
    from .records import Records

RULES = ("keep", "clear", "refuse")
#: what a link field does without `on_delete` (a required one refuses: it cannot be empty)
DEFAULT = "clear"
#: how many ids of linking records a refusal names
SHOW_IDS = 5


@dataclass(frozen=True)
class Inbound:
    """A link field of `source` that points at the record type being deleted."""

    source: RecordType
    field: Field

    @property
    def rule(self) -> str:
        return rule_of(self.field)

    @property
    def refuses(self) -> bool:
        """Whether a record linking through this field keeps the target from being deleted."""
        return self.rule == "refuse" or (self.rule == "clear" and self.field.required)


def rule_of(f: Field) -> str:
    """The field's `on_delete` as written, else the default."""
    return f.config.get("on_delete") or DEFAULT


def inbound(ws: Workspace, type_name: str) -> Iterator[Inbound]:
    """Every declared link or user field, of any record type, that points at `type_name`."""
    for rt in ws.record_types.values():
        for f in rt.user_fields:
            if f.kind.links and f.target == type_name:
                yield Inbound(rt, f)


def record_name(rt: RecordType, record_id: int) -> Msg:
    return msg("%(type)s #%(id)s", type=rt.label, id=record_id)


def _joined(parts: list[Msg]) -> Lazy:
    """Several reasons as one sentence part, in the reader's locale."""
    return Lazy(lambda locale: ("；" if language(locale) == "zh" else "; ").join(
        tr(p, locale) for p in parts))


def _ids(ids: list[int]) -> str:
    shown = ", ".join(f"#{i}" for i in ids[:SHOW_IDS])
    return shown + (", …" if len(ids) > SHOW_IDS else "")


def _engine_actor(actor: Actor) -> Actor:
    """The actor, unrestricted: what a delete does to the records linking to it is the
    engine's own doing (a consultant's delete empties a link in a record they cannot see),
    audited under the actor's name."""
    return dataclasses.replace(actor, system=True)


def _linking(conn, records: Records, link: Inbound, record_id: int,
             going: Collection[int], deleted_type: str) -> list[int]:
    t = records.schema.table(link.source.name)
    ids = conn.execute(sa.select(t.c.id).where(t.c[link.field.name] == record_id)
                       .order_by(t.c.id)).scalars().all()
    if link.source.name == deleted_type:  # itself, or records deleted along with it
        ids = [i for i in ids if i != record_id and i not in going]
    return list(ids)


def _reasons(conn, records: Records, link: Inbound, ids: list[int], actor: Actor
             ) -> list[Msg]:
    """Why `ids` (records linking through `link`) refuse the delete, as the actor may know."""
    src, f = link.source, link.field
    pol = records.policy(actor)
    if pol is None:
        seen = ids
    elif pol.may("read", src.name):
        seen = sorted(pol.ids_in_scope(conn, records.schema, src.name, ids))
    else:
        seen = []
    out: list[Msg] = []
    target = records.schema.workspace.record_types[f.target].label if f.target else ""
    kind = src.label if len(seen) == 1 else src.label_plural
    if seen and link.rule == "refuse":
        out.append(msg_n(
            "%(n)s %(type)s links to it through %(field)s (%(ids)s); delete it or change "
            "its %(field)s first",
            "%(n)s %(type)s link to it through %(field)s (%(ids)s); delete them or change "
            "their %(field)s first",
            len(seen), type=kind, field=f.label, ids=_ids(seen)))
    elif seen:
        out.append(msg_n(
            "%(n)s %(type)s links to it through %(field)s (%(ids)s), which is required and "
            "cannot be emptied; delete it or link it to another %(target)s first",
            "%(n)s %(type)s link to it through %(field)s (%(ids)s), which is required and "
            "cannot be emptied; delete them or link them to another %(target)s first",
            len(seen), type=kind, field=f.label, ids=_ids(seen), target=target))
    if len(seen) < len(ids):
        out.append(msg("%(type)s you cannot see link to it through %(field)s; ask someone "
                       "who can see them to change them", type=src.label_plural,
                       field=f.label))
    return out


def before_delete(records: Records, conn, rt: RecordType, record_id: int, actor: Actor, *,
                  going: Collection[int] = ()) -> list[dict[str, Any]]:
    """Apply the `on_delete` of every link to the record about to be deleted: refuse
    (ValidationError, nothing changed), or clear the links. Returns the links cleared, as the
    trash entry remembers them: [{"type", "field", "ids"}]. `going`: ids of records of the
    same type deleted along with it."""
    reasons: list[Msg] = []
    clears: list[tuple[Inbound, list[int]]] = []
    for link in inbound(records.schema.workspace, rt.name):
        if link.rule == "keep":
            continue
        ids = _linking(conn, records, link, record_id, going, rt.name)
        if not ids:
            continue
        if link.refuses:
            reasons += _reasons(conn, records, link, ids, actor)
        else:
            clears.append((link, ids))
    if reasons:
        raise ValidationError({"": msg("%(record)s cannot be deleted: %(reasons)s",
                                       record=record_name(rt, record_id),
                                       reasons=_joined(reasons))})
    cleared = []
    for link, ids in clears:
        _set(records, conn, link, ids, None, actor, refused_by=record_name(rt, record_id))
        cleared.append({"type": link.source.name, "field": link.field.name, "ids": ids})
    return cleared


def _set(records: Records, conn, link: Inbound, ids: list[int], value: int | None,
         actor: Actor, *, refused_by: Msg) -> None:
    """Set the link field of these records: checked, audited updates (rules run). A refusal
    (a rule's block) refuses the delete or restore that asked for it, naming the record.
    With hooks (rules) installed, record by record: a rule's refusal does not say which."""
    batches = [[i] for i in ids] if records.hooks else [ids]
    for batch in batches:
        try:
            records.update_many(link.source.name, [(i, {link.field.name: value}) for i in batch],
                                _engine_actor(actor), conn=conn)
        except (BulkValidationError, ValidationError) as exc:  # a rule's block, say
            if isinstance(exc, BulkValidationError):
                i, errors = next(iter(exc.rows.items()))
            else:
                i, errors = 0, exc.errors
            other = record_name(link.source, batch[i])
            problem = _joined(list(errors.values()))
            if value is None:
                refusal = msg("%(record)s cannot be deleted: emptying %(field)s of %(other)s "
                              "was refused (%(problem)s)", record=refused_by,
                              field=link.field.label, other=other, problem=problem)
            else:
                refusal = msg("%(record)s cannot be restored: linking %(other)s to it again "
                              "through %(field)s was refused (%(problem)s)", record=refused_by,
                              field=link.field.label, other=other, problem=problem)
            raise ValidationError({"": refusal}) from None


# -- restoring -------------------------------------------------------------------------------


def _trashed(conn, records: Records, type_name: str, record_id: int) -> Mapping | None:
    tr_ = records.schema.trash
    return conn.execute(sa.select(tr_).where(tr_.c.record_type == type_name,
                                             tr_.c.record_id == record_id)).mappings().first()


def before_restore(records: Records, conn, rt: RecordType, record_id: int,
                   values: dict[str, Any]) -> dict[str, Any]:
    """The restored record's own links to records in the trash, as `on_delete` would have
    left them had those been deleted after it: refuse → ValidationError (restore that one
    first); clear → emptied here, and remembered in that one's trash entry so that restoring
    it links this record again; keep → kept. Returns {field: [old, new]} of what it emptied."""
    errors: dict[str, Msg] = {}
    emptied: dict[str, Any] = {}
    for f in rt.user_fields:
        value = values.get(f.name)
        if not f.kind.links or not f.target or value is None or \
                (f.target == rt.name and value == record_id):
            continue
        link = Inbound(rt, f)
        if link.rule == "keep":
            continue
        target = records.schema.table(f.target)
        if conn.execute(sa.select(target.c.id).where(target.c.id == value)).first():
            continue
        entry = _trashed(conn, records, f.target, value)
        if entry is None:
            continue
        if link.refuses:
            errors[f.name] = msg("points at %(record)s, which is in the trash; restore it "
                                 "first", record=record_name(
                                     records.schema.workspace.record_types[f.target], value))
            continue
        values[f.name] = None
        emptied[f.name] = [value, None]
        remembered = list(entry.get("cleared") or [])
        remembered.append({"type": rt.name, "field": f.name, "ids": [record_id]})
        tr_ = records.schema.trash
        conn.execute(tr_.update().where(tr_.c.id == entry["id"]).values(cleared=remembered))
    if errors:
        raise ValidationError(errors)
    return emptied


def after_restore(records: Records, conn, rt: RecordType, record_id: int,
                  cleared: list[Mapping[str, Any]] | None, actor: Actor) -> None:
    """Link again the records whose link to it the delete emptied, where they still exist
    and the field is still empty (one checked, audited update per field; rules run)."""
    ws = records.schema.workspace
    for entry in cleared or []:
        src = ws.record_types.get(entry.get("type"))
        f = src.fields.get(entry.get("field")) if src else None
        if f is None or not f.kind.links or f.target != rt.name:
            continue  # the field is gone or points elsewhere now
        t = records.schema.table(src.name)
        wanted = [int(i) for i in entry.get("ids") or []]
        ids = []
        for start in range(0, len(wanted), 900):
            ids += conn.execute(sa.select(t.c.id).where(
                t.c.id.in_(wanted[start:start + 900]), t.c[f.name].is_(None))
                .order_by(t.c.id)).scalars().all()
        if ids:
            _set(records, conn, Inbound(src, f), ids, record_id, actor,
                 refused_by=record_name(rt, record_id))


def in_trash(conn, schema, type_name: str, ids: Collection[int]) -> dict[int, str | None]:
    """Which of these records of `type_name` are in the trash, with their titles (a link
    kept by `keep` shows what it points at)."""
    tr_ = schema.trash
    wanted = sorted({int(i) for i in ids})
    out: dict[int, str | None] = {}
    for start in range(0, len(wanted), 900):
        for rid, title in conn.execute(sa.select(tr_.c.record_id, tr_.c.title).where(
                tr_.c.record_type == type_name, tr_.c.record_id.in_(wanted[start:start + 900]))):
            out[rid] = title
    return out


__all__ = ["DEFAULT", "RULES", "Inbound", "after_restore", "before_delete", "before_restore",
           "in_trash", "inbound", "rule_of"]
