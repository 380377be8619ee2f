"""A visitor's submission of a public form, checked and written in one transaction.

Only the fields the form's YAML asks for are read from the input, and the values it sets
are added; everything is parsed and checked before anything is written, the same way
whether the visitor is known or not, and the refusals name only the visitor's own values
(no unique or link checks that could tell what else exists). Then, in one transaction:

- each linked record the form fills in (`client.name`, `client.phone`) is found by its
  match key (`match: client.phone`) or made; a found one is not changed: it gets a comment
  listing what was sent (confidential fields masked, the key left out);
- the form's own record is made through `Records.create`, linked to them, as the form's
  actor ("public form <view>", a system actor limited to what the form declares), so the
  workspace's rules (assignment, timers, notifications) run on it as on any other record;
  with `match` on one of its own fields, a known record gets the comment instead.

The visitor is never told which happened: the web layer shows the same thanks either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lowrise.access import mask_record
from lowrise.actor import Actor, utcnow
from lowrise.errors import LowriseError, ValidationError
from lowrise.i18n import about, msg, tr
from lowrise.storage.records import Records
from lowrise.storage.values import REQUIRED, parse_values
from lowrise.workspace.model import RecordType

from .spec import PublicForm

NOT_SENT = msg("The form could not be sent. Please check your answers and send it again.")


class Refused(LowriseError):
    """The submission was refused: `errors` maps a form path ("" = the whole form) to why."""

    def __init__(self, errors: Mapping[str, Any]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k or 'form'}: {v}" for k, v in self.errors.items()))


@dataclass(frozen=True)
class Submitted:
    """What became of a submission (for the owners' figures, never for the visitor)."""

    outcome: str  # created | merged
    record_id: int | None
    known: tuple[tuple[str, int], ...] = ()  # records found by their match key


def form_actor(form: PublicForm, locale: str = "en",
               clock: Callable[[], datetime] = utcnow) -> Actor:
    """Who writes a form's records: the engine, named after the form (history, comments)."""
    return Actor(name=f"public form {form.name}", system=True, locale=locale, clock=clock)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, (list, tuple)):
        return [v for v in value if v not in (None, "")] or None
    return value


def split(form: PublicForm, raw: Mapping[str, Any]) -> tuple[dict, dict[str, dict]]:
    """The input the form reads: (its own values, {link: the linked record's values}), each
    with the values the form sets; anything the form does not ask for is ignored."""
    own: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {link: {} for link in form.links}
    for ff in form.fields:
        value = _clean(raw.get(ff.path))
        if value is None and ff.field.kind.widget != "checkbox":  # unticked: sent as nothing
            continue
        (nested[ff.link] if ff.link else own)[ff.name] = value
    for link, values in form.fixed_links.items():
        nested[link].update(values)
    own.update(form.fixed)
    return own, nested


def check(records: Records, form: PublicForm, raw: Mapping[str, Any], actor: Actor
          ) -> tuple[dict, dict[str, dict]]:
    """The input, split and checked without writing (Refused names each problem)."""
    ws = records.schema.workspace
    own, nested = split(form, raw)
    errors: dict[str, Any] = {}
    for ff in form.fields:
        given = (nested[ff.link] if ff.link else own).get(ff.name)
        if ff.required and given in (None, False):
            errors[ff.path] = REQUIRED
    rt = ws.type(form.record_type)
    placeholders = dict.fromkeys(form.links, 1)  # filled in once their records exist
    _, errs = parse_values(rt, {**own, **placeholders}, creating=True, actor=actor)
    _collect(form, rt, "", {k: v for k, v in errs.items() if k not in placeholders}, errors)
    for link, values in nested.items():
        target = ws.type(rt.fields[link].target)
        _, errs = parse_values(target, values, creating=True, actor=actor)
        _collect(form, target, link, errs, errors)
    if errors:
        raise Refused(errors)
    return own, nested


def _collect(form: PublicForm, rt: RecordType, link: str, errs: Mapping[str, Any],
             errors: dict[str, Any]) -> None:
    """Errors of `rt`'s fields under the form's paths; one the visitor cannot mend (a value
    the form sets) is the form's."""
    asked = {ff.path for ff in form.fields}
    for name, problem in errs.items():
        path = f"{link}.{name}" if link else name
        if path in asked:
            errors.setdefault(path, problem)
        else:
            f = rt.fields.get(name)
            errors.setdefault("", about(f.label if f else name, problem))


def submit(records: Records, form: PublicForm, raw: Mapping[str, Any], *,
           locale: str | None = None, clock: Callable[[], datetime] = utcnow) -> Submitted:
    """Check and write one submission (see the module's docstring); Refused when the input
    does not fit. Two visitors racing with the same new key: the later one is merged."""
    ws = records.schema.workspace
    actor = form_actor(form, locale or ws.default_locale, clock)
    own, nested = check(records, form, raw, actor)
    try:
        return _write(records, form, own, nested, actor)
    except (sa.exc.IntegrityError, ValidationError):
        pass  # another visitor's record with the same key came first: it is found now
    try:
        return _write(records, form, own, nested, actor)
    except (sa.exc.IntegrityError, ValidationError):
        raise Refused({"": NOT_SENT}) from None


def _write(records: Records, form: PublicForm, own: dict, nested: dict[str, dict],
           actor: Actor) -> Submitted:
    ws = records.schema.workspace
    rt = ws.type(form.record_type)
    with records.transaction() as conn:
        mine = _find(conn, records, rt.name, form.match.get(""), own, actor)
        if mine is not None:
            _comment(conn, records, form, "", rt.name, mine, own, actor)
            return Submitted("merged", mine, ((rt.name, mine),))
        known: list[tuple[str, str, int, dict]] = []
        values = dict(own)
        for link, given in nested.items():
            target = rt.fields[link].target
            found = _find(conn, records, target, form.match.get(link), given, actor)
            if found is not None:
                known.append((link, target, found, given))
                values[link] = found
            else:
                values[link] = records.create(target, given, actor, conn=conn)["id"]
        made = records.create(rt.name, values, actor, conn=conn)
        for link, target, rid, given in known:
            _comment(conn, records, form, link, target, rid, given, actor,
                     made=(rt, made["id"]))
        outcome = "merged" if known else "created"
        return Submitted(outcome, made["id"], tuple((t, i) for _, t, i, _ in known))


def _find(conn: sa.Connection, records: Records, type_name: str, key: str | None,
          given: Mapping[str, Any], actor: Actor) -> int | None:
    """The record of `type_name` whose `key` holds the submitted value, if any."""
    if not key or given.get(key) is None:
        return None
    rt = records.schema.workspace.type(type_name)
    values, errs = parse_values(rt, {key: given[key]}, creating=False, actor=actor)
    if errs or values.get(key) is None:
        return None
    f, t = rt.fields[key], records.schema.table(type_name)
    return conn.execute(sa.select(t.c.id).where(t.c[key] == f.kind.to_db(f, values[key]))
                        .order_by(t.c.id).limit(1)).scalar()


def _comment(conn: sa.Connection, records: Records, form: PublicForm, link: str,
             type_name: str, record_id: int, given: Mapping[str, Any], actor: Actor, *,
             made: tuple[RecordType, int] | None = None) -> None:
    """Tell a known record what the visitor sent again, in the workspace's language, with
    what some readers may not see masked and the key (which it already holds) left out."""
    ws = records.schema.workspace
    locale = ws.default_locale
    rt = ws.type(type_name)
    typed = {ff.name for ff in form.fields if (ff.link or "") == link} - {form.match[link]}
    parsed, _ = parse_values(rt, {k: v for k, v in given.items() if k in typed},
                             creating=False, actor=actor)
    shown = mask_record(ws, type_name, parsed)
    lines = [tr(msg("%(field)s: %(value)s", field=rt.fields[n].label,
                    value=_text(rt, n, v, locale)), locale)
             for n, v in shown.items() if v not in (None, "", [])]
    title = form.heading().get(locale, ws.default_locale)
    head = (msg("Sent again through the public form “%(form)s”; %(type)s #%(id)s was opened "
                "for it.", form=title, type=made[0].label, id=made[1]) if made else
            msg("Sent again through the public form “%(form)s”.", form=title))
    body = "\n".join([tr(head, locale), *lines])
    c = records.schema.system["lr_comments"]
    conn.execute(c.insert().values(record_type=type_name, record_id=record_id, body=body,
                                   author=None, author_name=actor.name, rule=None,
                                   created_at=actor.now()))


def _text(rt: RecordType, name: str, value: Any, locale: str) -> str:
    from lowrise.access import Masked

    if isinstance(value, Masked):
        return str(value)
    f = rt.fields[name]
    return f.kind.display(f, value, locale)
