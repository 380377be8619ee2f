"""What each action does, one function per kind (the registry ACTIONS). Every function runs
inside the write's transaction and notes its result on the Run; a failure raises and the
whole write rolls back. External effects only go to the outbox."""

from __future__ import annotations

import json
import uuid
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from lowrise import access, filters
from lowrise.actor import Actor
from lowrise.errors import BulkValidationError, ValidationError
from lowrise.exporter import title_text
from lowrise.expr import ExpressionError
from lowrise.i18n import Lazy, Texts, msg, to_text
from lowrise.live import feed as live_feed
from lowrise.storage.values import to_json_values

from .context import SHARED, Blocked, Run, insert
from .model import (
    Assign,
    Block,
    CallWebhook,
    ChatBot,
    Comment,
    CreateRecord,
    Notify,
    SetFields,
    UpdateLinked,
    Values,
)
from .templates import Localized, Template


def expr_names(run: Run, record: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**(record or {}), "actor": run.actor.user, "record_id": run.record_id}


def follow(run: Run, steps: tuple[str, ...] | list[str]) -> Any:
    """The value at the end of a path through links from the run's record (`client.vip_rate`,
    `consultant.manager`): None when a link on the way is empty or points at nothing. Linked
    records are read as the system (rules run as the system), once per run."""
    ws = run.records.schema.workspace
    value: Any = run.record or {}
    rt = run.rt
    for i, step in enumerate(steps):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
        if value is None or i == len(steps) - 1:
            return value
        target = filters.link_target(rt.fields[step], ws)
        value = run.resolver(target, value)
        rt = ws.record_types[target]
    return value


def compute(run: Run, values: Values) -> dict[str, Any]:
    """The values to write: literals as written, expressions evaluated on the run's record
    (paths through links read the linked records)."""
    names = expr_names(run, run.record)
    # today() is the day in the workspace's time zone, as in formulas and relative dates
    tz = run.records.schema.workspace.config.get("timezone")
    out = {}
    for name, v in values.items():
        if v.expr is None:
            out[name] = v.literal
            continue
        for alias, steps in v.paths.items():
            names[alias] = follow(run, steps)
        try:
            out[name] = v.expr.evaluate(names, now=run.now, tz=tz)
        except ExpressionError as exc:
            raise ExpressionError(f"{name}: {str(exc).replace(v.expr.source, v.describe()[2:])}"
                                  ) from None
    return out


def _shown(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} = {_short(v)}" for k, v in values.items())


def _ids(ids: list[int]) -> str:
    return ", ".join(f"#{i}" for i in ids)


def _short(v: Any) -> str:
    text = v.isoformat() if hasattr(v, "isoformat") else str(v)
    return text if len(text) <= 60 else text[:57] + "..."


class _Shown(Mapping):
    """The record's values as people read them in `locale`, computed only for the fields a
    template uses: options by their labels, dates in the locale's words and the workspace's
    time zone, linked records and people by their names (as `names` gives them)."""

    def __init__(self, run: Run, record: Mapping[str, Any] | None = None,
                 locale: str | None = None, names: Names | None = None):
        self.rt, self.locale = run.rt, locale or run.actor.locale
        self.ws = run.records.schema.workspace
        self.record = run.record or {} if record is None else record
        self.names = names
        self.cache: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        if name not in self.cache:
            f = self.rt.fields[name]
            v = self.record.get(name)
            target = filters.link_target(f, self.ws) if self.names else None
            try:
                if target and isinstance(v, int) and not isinstance(v, bool):
                    self.cache[name] = self.names.title(target, v, self.locale)
                else:
                    self.cache[name] = "" if v is None else f.kind.display(f, v, self.locale)
            except (TypeError, ValueError, AttributeError, KeyError):
                self.cache[name] = str(v)
        return self.cache[name]

    def __iter__(self):
        return iter(self.rt.fields)

    def __len__(self) -> int:
        return len(self.rt.fields)


class Names:
    """The names of linked records and people as one reader may read them: a record outside
    their rows, or of a type they may not read, is #id; a title field they see masked is
    masked. `policy` None reads every name; `strict` masks what some role sees masked."""

    def __init__(self, run: Run, policy: access.Policy | None, strict: bool = False):
        self.run, self.policy, self.strict = run, policy, strict
        self.cache: dict[tuple[str, int, str], str] = {}

    def title(self, target: str, rid: int, locale: str) -> str:
        key = (target, rid, locale)
        if key not in self.cache:
            self.cache[key] = self._title(target, rid, locale)
        return self.cache[key]

    def _title(self, target: str, rid: int, locale: str) -> str:
        run = self.run
        schema = run.records.schema
        trt = schema.workspace.record_types.get(target)
        record = run.resolver(target, rid) if trt is not None else None
        if record is None:
            return f"#{rid}"
        pol = self.policy
        if pol is not None:
            if not pol.may("read", target) or not pol.ids_in_scope(run.conn, schema, target,
                                                                   [rid]):
                return f"#{rid}"
            flags = pol.row_flags(run.conn, schema, target, [rid]).get(rid, {})
            shown = pol.finish(target, {**record, **flags})
            if shown.access.get(trt.title_field) in ("masked", "hidden"):
                return str(shown.get(trt.title_field) or f"#{rid}")
        elif self.strict:
            record = access.mask_record(schema.workspace, target, record)
        return title_text(trt, record, locale)


def template_context(run: Run, reader: Reader | None = None,
                     locale: str | None = None) -> dict[str, Any]:
    """What a message template sees, in `locale` (the triggering person's by default): the
    record as `reader` sees it (masked and hidden fields masked, linked records named as
    they may read them), or, without a reader, with every field some role sees masked or
    hidden masked and linked records as #id (comments and webhook bodies cannot tell who
    will read them)."""
    return in_locale(run, seen(run, reader), reader, locale)


def seen(run: Run, reader: Reader | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record and its state before the change as `reader` sees them (see
    template_context): worked out once for a reader, whatever the locales."""
    ws = run.records.schema.workspace
    rt = run.rt
    view = reader.view if reader is not None else (
        lambda r: access.mask_record(ws, rt.name, r))
    return view(run.record), (view(run.change.before) if run.change and run.change.before
                              else {})


def in_locale(run: Run, records: tuple[dict[str, Any], dict[str, Any]],
              reader: Reader | None, locale: str | None) -> dict[str, Any]:
    """The template context of a record as seen (`seen`), in `locale`."""
    rt = run.rt
    locale = locale or run.actor.locale
    record, before = records
    shown = _Shown(run, record, locale, reader.names if reader is not None else None)
    title = (shown[rt.title_field] if rt.title_field in rt.fields else "") or \
        f"#{record.get('id')}"
    return {"record": record, "before": before, "shown": shown, "title": title,
            "type_label": rt.label.get(locale), "rule": run.rule.label.get(locale),
            "actor": run.actor.name, "now": run.now, "payload": dict(run.payload or {})}


def render(run: Run, t: Template | Localized | None, reader: Reader | None = None,
           locale: str | None = None) -> str:
    """A message in `locale` (the triggering person's by default)."""
    if t is None:
        return ""
    locale = locale or run.actor.locale
    if isinstance(t, Localized):
        t = t.pick(locale)
    return t.render(template_context(run, reader, locale))


class Reader:
    """Someone a message is for, as the access rules see them: `view(record)` is the record
    with what they see masked or hidden masked; `key` is the same for readers who see the
    record alike (their message is rendered once)."""

    def __init__(self, run: Run, policy: access.Policy | None, strict: bool = False,
                 scope: access.Policy | None = None):
        self.run, self.policy, self.strict = run, policy, strict
        self.flags: dict[str, Any] | None = None
        self.key: Any = "strict" if strict else "all" if policy is None else None
        #: linked records' names as they may read them (`scope`: all their access rules)
        self.names = Names(run, scope, strict)
        if scope is not None:  # names depend on their rows: rendered for them alone
            self.key = ("reader", id(self))

    def view(self, record: Mapping[str, Any] | None) -> dict[str, Any]:
        run = self.run
        ws, name = run.records.schema.workspace, run.rt.name
        if self.strict:
            return access.mask_record(ws, name, record)
        if self.policy is None or not record:
            return dict(record or {})
        if self.flags is None:
            self.flags = self.policy.row_flags(run.conn, run.records.schema, name,
                                               [run.record_id]).get(run.record_id, {}) \
                if run.record_id is not None else {}
        shown = self.policy.finish(name, {**record, **self.flags})
        out = dict(record)
        changed = []
        for field_name, word in shown.access.items():
            if word in ("masked", "hidden") and field_name in out:
                # a hidden field is masked rather than left out: the template still renders
                out[field_name] = shown[field_name] if field_name in shown else \
                    access.mask_value(run.rt.fields[field_name], record[field_name], None)
                changed.append((field_name, str(out[field_name])))
        if self.key is None:
            self.key = tuple(sorted(changed))
        return out


def readers(run: Run, ids: list[int]) -> dict[int, Reader]:
    """The recipients of a notification who may read its record, as the access rules see
    them: by the roles of their active account, the record in their rows. The others (no
    active account, a role that may not read the type, the record outside their rows) are
    left out: nothing of a record reaches someone who may not read it. In an open workspace
    (no permissions declared) everyone reads everything; on a database nobody signs in to
    (no accounts at all: rule fixtures and tests) there are no roles to ask, and everyone
    reads the strictest view."""
    ws, schema = run.records.schema.workspace, run.records.schema
    masks = bool(access.confidential_fields(ws, run.rt.name))
    if not access.model_of(ws).enforced or not _has_accounts(run.conn):
        return {uid: Reader(run, None, strict=masks) for uid in ids}
    roles = account_roles(run.conn, ids)
    out: dict[int, Reader] = {}
    for uid in ids:
        if uid not in roles:
            continue
        # a policy names its user: `own` rows and `unless: own` are theirs only
        pol = access.policy(ws, Actor(user=uid, name="reader", roles=roles[uid],
                                      locale=run.actor.locale, clock=run.actor.clock))
        if pol is not None and (not pol.may("read", run.rt.name) or (
                run.record_id is not None and not pol.ids_in_scope(
                    run.conn, schema, run.rt.name, [run.record_id]))):
            continue
        out[uid] = Reader(run, pol if masks else None, scope=pol)
    return out


def account_roles(conn: sa.Connection, ids: list[int]) -> dict[int, frozenset[str]]:
    """{user id: the roles of their active sign-in accounts}; users without one are left
    out. In a worker's batch every account is read once for the whole batch."""
    shared = conn.info.get(SHARED)
    if shared is not None and ("lr_users", 0) in shared:
        every = shared[("lr_users", 0)] or {}
        return {i: every[i] for i in ids if i in every}
    if not _has_accounts(conn):
        found: dict[int, frozenset[str]] = {}
    else:
        u = sa.table("lr_users", sa.column("staff_id"), sa.column("roles", sa.JSON),
                     sa.column("active"))
        stmt = sa.select(u.c.staff_id, u.c.roles).where(u.c.active.is_(True),
                                                        u.c.staff_id.is_not(None))
        if shared is None:
            stmt = stmt.where(u.c.staff_id.in_(ids))
        found = {}
        for staff_id, roles in conn.execute(stmt).all():
            found[staff_id] = found.get(staff_id, frozenset()) | frozenset(roles or ())
    if shared is not None:
        shared[("lr_users", 0)] = found
    return {i: found[i] for i in ids if i in found}


_ACCOUNTS: weakref.WeakSet[sa.Engine] = weakref.WeakSet()  # databases known to have them


def _has_accounts(conn: sa.Connection) -> bool:
    """Whether the database has sign-in accounts (lr_users, made by `lowrise user`)."""
    if conn.engine in _ACCOUNTS:
        return True
    if sa.inspect(conn).has_table("lr_users"):
        _ACCOUNTS.add(conn.engine)
        return True
    return False


# -- the actions ----------------------------------------------------------------------------


def set_fields(run: Run, spec: SetFields, index: int) -> None:
    values = compute(run, spec.values)
    _refresh(run, _update_own(run, values))
    run.note("set_fields", msg("set %(values)s", values=_shown(values)), index)


def _update_own(run: Run, values: Mapping[str, Any]) -> dict[str, Any]:
    """Update the run's record. In a worker's batch, a timer's record the batch read (and
    locked, on PostgreSQL) that nothing changed since is handed to `update_many` rather than
    read again (the write is still version-checked); otherwise `update` reads it."""
    shared = run.conn.info.get(SHARED)
    held = shared.get((run.rt.name, run.record_id)) if shared else None
    if held is None:
        return run.records.update(run.rt.name, run.record_id, values, run.writer,
                                  conn=run.conn)
    try:
        return run.records.update_many(run.rt.name, [(run.record_id, values)], run.writer,
                                       conn=run.conn, current={run.record_id: held})[0]
    except BulkValidationError as exc:
        raise ValidationError(exc.rows[0]) from None


def _refresh(run: Run, after: Mapping[str, Any]) -> None:
    """The run's record (and the caller's `after`, in place) now hold the latest values."""
    run.record = dict(after)
    if run.change is not None and isinstance(run.change.after, dict) and \
            run.change.record_id == after.get("id") and run.change.record_type == run.rt.name:
        run.change.after.update(after)


def create_record(run: Run, spec: CreateRecord, index: int) -> None:
    values = compute(run, spec.values)
    made = run.records.create(spec.type, values, run.writer, conn=run.conn)
    run.note("create_record", msg("created %(type)s #%(id)s (%(values)s)", type=spec.type,
                                  id=made["id"], values=_shown(values)), index)


def update_linked(run: Run, spec: UpdateLinked, index: int) -> None:
    values = compute(run, spec.values)
    ws = run.records.schema.workspace
    if spec.link:
        target = filters.link_target(run.rt.fields[spec.link], ws)
        rid = (run.record or {}).get(spec.link)
        if rid is None:
            run.note("update_linked", msg("%(link)s is empty; nothing to update", link=spec.link),
                     index)
            return
        run.records.update(target, rid, values, run.writer, conn=run.conn)
        run.note("update_linked", msg("%(type)s #%(id)s: set %(values)s", type=target, id=rid,
                                      values=_shown(values)), index)
        return
    t = run.records.schema.table(spec.related_type)
    cond = t.c[spec.related_field] == run.record_id
    if spec.where is not None:
        cond = sa.and_(cond, filters.to_sql(spec.where, run.records.schema, run.actor))
    ids = list(run.conn.execute(sa.select(t.c.id).where(cond).order_by(t.c.id)).scalars())
    for rid in ids:
        run.records.update(spec.related_type, rid, values, run.writer, conn=run.conn)
    run.note("update_linked", msg("%(type)s %(ids)s: set %(values)s", type=spec.related_type,
                                  ids=_ids(ids) or msg("none"), values=_shown(values)), index)


def _state_row(run: Run, key: str) -> Any:
    """Lock (creating if need be) one row of lr_rule_state; returns its value."""
    st = run.tables.state
    ins = (postgresql.insert if run.conn.dialect.name == "postgresql" else sqlite.insert)(st)
    run.conn.execute(ins.values(key=key, value=None, updated_at=run.now)
                     .on_conflict_do_nothing(index_elements=[st.c.key]))
    stmt = sa.select(st.c.value).where(st.c.key == key)
    if run.conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return run.conn.execute(stmt).scalar_one_or_none()


def _set_state(run: Run, key: str, value: Any) -> None:
    st = run.tables.state
    run.conn.execute(st.update().where(st.c.key == sa.bindparam("k"))
                     .values(value=sa.bindparam("v"), updated_at=sa.bindparam("at")),
                     {"k": key, "v": value, "at": run.now})


def assign(run: Run, spec: Assign, index: int) -> None:
    record = run.record or {}
    if record.get(spec.field) is not None and not spec.overwrite:
        run.note("assign", msg("%(field)s is already set (#%(id)s)", field=spec.field,
                               id=record[spec.field]), index)
        return
    schema = run.records.schema
    users = schema.table(schema.workspace.users_type)
    cond = filters.to_sql(spec.among, schema, run.actor)
    candidates = list(run.conn.execute(sa.select(users.c.id).where(cond)
                                       .order_by(users.c.id)).scalars())
    if not candidates:
        run.note("assign", msg("nobody matches; left unassigned"), index)
        return
    key = f"assign:{run.rule.name}:{index}"
    last = _state_row(run, key)
    if spec.strategy == "least_loaded":
        t = schema.table(run.rt.name)
        col = t.c[spec.field]
        where = [col.in_(candidates), t.c.id != run.record_id]
        if spec.load is not None:
            where.append(filters.to_sql(spec.load, schema, run.actor))
        counts = dict(run.conn.execute(sa.select(col, sa.func.count()).where(*where)
                                       .group_by(col)).all())
        fewest = min(counts.get(c, 0) for c in candidates)
        tied = [c for c in candidates if counts.get(c, 0) == fewest]
        chosen = next((c for c in tied if last is None or c > last), tied[0])
        why = msg("least loaded (%(n)s open)", n=fewest)
    else:
        chosen = next((c for c in candidates if last is None or c > last), candidates[0])
        why = msg("round robin among %(n)s", n=len(candidates))
    _set_state(run, key, chosen)
    _refresh(run, _update_own(run, {spec.field: chosen}))
    run.note("assign", msg("%(field)s = #%(id)s (%(why)s)", field=spec.field, id=chosen, why=why),
             index)


def recipients(run: Run, spec: Notify) -> list[int]:
    """The user ids a notification goes to, in order, without repeats."""
    ws = run.records.schema.workspace
    out: list[int] = []
    for path in spec.to.paths:
        value = follow(run, path.split("."))
        if isinstance(value, int) and value not in out:
            out.append(value)
    if spec.to.users is not None:
        schema = run.records.schema
        users = schema.table(ws.users_type)
        for uid in run.conn.execute(sa.select(users.c.id).where(
                filters.to_sql(spec.to.users, schema, run.actor)).order_by(users.c.id)).scalars():
            if uid not in out:
                out.append(uid)
    return out


def _emails(run: Run, ids: list[int]) -> dict[int, str]:
    """Addresses of users: the users type's first e-mail field, else their sign-in account."""
    ws = run.records.schema.workspace
    rt = ws.record_types[ws.users_type]
    field = next((f.name for f in rt.user_fields if f.kind.email_address), None)
    found: dict[int, str] = {}
    if field:
        t = run.records.schema.table(rt.name)
        found = {i: e for i, e in run.conn.execute(
            sa.select(t.c.id, t.c[field]).where(t.c.id.in_(ids))).all() if e}
    missing = [i for i in ids if i not in found]
    if missing and _has_accounts(run.conn):
        u = sa.table("lr_users", sa.column("staff_id"), sa.column("email"))
        found.update({i: e for i, e in run.conn.execute(
            sa.select(u.c.staff_id, u.c.email).where(u.c.staff_id.in_(missing))).all() if e})
    return found


def queue(run: Run, kind: str, target: str, payload: dict[str, Any], *,
          max_attempts: int = 5) -> str:
    """Put one message in the outbox (inside the write's transaction); returns its key."""
    key = uuid.uuid4().hex
    # parameters, not .values(): a JSON literal in .values() defeats the statement cache
    insert(run.conn, run.tables.outbox, [dict(
        key=key, kind=kind, rule=run.rule.name, record_type=run.rt.name,
        record_id=run.record_id, target=target, payload=payload, status="pending",
        attempts=0, max_attempts=max_attempts, next_attempt_at=run.now, created_at=run.now)])
    return key


def _locales(run: Run, ids: list[int]) -> dict[int, str]:
    """Each person's language: the one they chose (their sign-in account's), else the
    workspace's."""
    ws = run.records.schema.workspace
    found: dict[int, str] = {}
    if ids and _has_accounts(run.conn) and _chosen_locales(run.conn):
        u = sa.table("lr_users", sa.column("staff_id"), sa.column("locale"))
        found = {i: loc for i, loc in run.conn.execute(sa.select(u.c.staff_id, u.c.locale)
                                                       .where(u.c.staff_id.in_(ids))).all()
                 if loc in ws.locales}
    return {i: found.get(i, ws.default_locale) for i in ids}


_LOCALES: weakref.WeakSet[sa.Engine] = weakref.WeakSet()  # databases whose accounts have it


def _chosen_locales(conn: sa.Connection) -> bool:
    """Whether the accounts keep the language each person chose (an older lr_users does
    not until the app adds the column)."""
    if conn.engine not in _LOCALES and "locale" in {
            c["name"] for c in sa.inspect(conn).get_columns("lr_users")}:
        _LOCALES.add(conn.engine)
    return conn.engine in _LOCALES


def kept(texts: Mapping[str, str], default: str, limit: int | None = None) -> str:
    """A text in each locale as one column's value: the words themselves when every locale
    reads the same, else kept as a message (i18n.to_text) that each reader reads in their
    own locale. Within `limit` characters, each locale's words cut alike if need be."""
    if len(set(texts.values())) <= 1:
        return next(iter(texts.values()), "")[:limit]
    longest = max(len(t) for t in texts.values())
    while longest > 0:
        cut = {k: v[:longest] for k, v in texts.items()}
        stored = to_text(Lazy(lambda loc, cut=cut: cut.get(loc, cut[default])), list(cut))
        if limit is None or len(stored) <= limit:
            return stored
        longest -= max(1, (len(stored) - limit + len(cut) - 1) // len(cut))
    return texts[default][:limit]


def notify(run: Run, spec: Notify, index: int) -> None:
    ids = recipients(run, spec)
    if not ids:
        run.note("notify", msg("nobody to notify (the recipient fields are empty)"), index)
        return
    allowed = readers(run, ids)
    left_out = [i for i in ids if i not in allowed]
    ids = [i for i in ids if i in allowed]
    unread = msg("not notified, as they may not read this record: %(ids)s",
                 ids=_ids(left_out)) if left_out else ""
    if not ids:
        run.note("notify", msg("nobody to notify; %(why)s", why=unread), index)
        return
    ws = run.records.schema.workspace
    locales = list(dict.fromkeys([ws.default_locale, *ws.locales]))
    # each recipient's text masks what their roles see masked and names the records they
    # may read, in every locale (the inbox shows theirs): rendered once per way of seeing
    texts: dict[Any, tuple[dict[str, str], dict[str, str]]] = {}
    mine: dict[int, tuple[dict[str, str], dict[str, str]]] = {}
    for uid, reader in allowed.items():
        # a reader whose key depends on what they see gets it from seeing the record
        looked = seen(run, reader) if reader.key is None else None
        if reader.key not in texts:
            looked = looked or seen(run, reader)
            contexts = {loc: in_locale(run, looked, reader, loc) for loc in locales}
            texts[reader.key] = (
                {loc: spec.title.pick(loc).render(c)[:255] for loc, c in contexts.items()},
                {loc: spec.body.pick(loc).render(c) if spec.body else ""
                 for loc, c in contexts.items()})
        mine[uid] = texts[reader.key]
    default = ws.default_locale
    live_feed.note_notices(run.conn, ids)  # their inbox badges, live
    insert(run.conn, run.tables.notifications, [
        dict(user_id=uid, rule=run.rule.name, record_type=run.rt.name, record_id=run.record_id,
             title=kept(mine[uid][0], default, 255), body=kept(mine[uid][1], default),
             created_at=run.now) for uid in ids])
    text = msg("notified %(ids)s: %(title)s", ids=_ids(ids), title=mine[ids[0]][0][default])
    if spec.email:
        addresses = _emails(run, ids)
        languages = _locales(run, [i for i in ids if i in addresses])
        for uid in ids:
            if uid in addresses:
                loc = languages[uid]
                queue(run, "email", addresses[uid], {
                    "subject": mine[uid][0][loc], "body": mine[uid][1][loc], "user_id": uid,
                    "locale": loc, "path": f"/r/{run.rt.name}/{run.record_id}"
                    if run.record_id is not None else None})
        text = msg("%(done)s; e-mail queued to %(to)s", done=text, to=", ".join(
            addresses.values()) or msg("nobody (no address)"))
    run.note("notify", msg("%(done)s; %(why)s", done=text, why=unread) if unread else text,
             index)


def webhook(run: Run, spec: CallWebhook, index: int) -> None:
    reader = None
    if spec.as_role:  # configured: the receiver sees what this role sees
        pol = access.policy(run.records.schema.workspace, Actor(
            name=f"webhook as {spec.as_role}", roles=frozenset([spec.as_role]),
            locale=run.actor.locale, clock=run.actor.clock))
        reader = Reader(run, pol, scope=pol)
    if spec.body is not None:
        body = render(run, spec.body, reader)
        json.loads(body)  # a body template must render JSON; fails the run otherwise
    else:
        rt = run.rt
        record = reader.view(run.record) if reader else access.mask_record(
            run.records.schema.workspace, rt.name, run.record)
        body = json.dumps({"rule": run.rule.name, "trigger": run.trigger,
                           "record_type": rt.name, "record_id": run.record_id,
                           "record": to_json_values(rt, record),
                           "at": run.now.isoformat()}, ensure_ascii=False, default=str)
    key = queue(run, "webhook", spec.url, {"body": body, "secret_env": spec.secret_env,
                                           "timeout": spec.timeout},
                max_attempts=spec.retries + 1)
    run.note("webhook", msg("queued POST %(url)s (key %(key)s)", url=spec.url, key=key[:8]),
             index)


def chat(run: Run, spec: ChatBot, index: int) -> None:
    """Queue a text for a group chat's robot (sent and signed by the worker: bots.py), in
    the workspace's language, masking what some role sees masked."""
    ws = run.records.schema.workspace
    text = render(run, spec.text, locale=ws.default_locale)
    target = spec.url or f"${spec.url_env}"
    key = queue(run, "chat", target, {"bot": spec.bot, "text": text, "url_env": spec.url_env,
                                      "secret_env": spec.secret_env, "timeout": spec.timeout},
                max_attempts=spec.retries + 1)
    run.note("chat", f"queued for the {spec.bot} robot (key {key[:8]}): {_short(text)}", index)


def comment(run: Run, spec: Comment, index: int) -> None:
    # one text for everyone who reads the record: the workspace's language
    text = render(run, spec.text, locale=run.records.schema.workspace.default_locale)
    insert(run.conn, run.tables.comments, [dict(
        record_type=run.rt.name, record_id=run.record_id, body=text, author=None,
        author_name=run.writer.name, rule=run.rule.name, created_at=run.now)])
    live_feed.note(run.conn, run.rt.name, run.record_id, "comment", run.writer)
    run.note("comment", msg("commented: %(text)s", text=_short(text)), index)


def block(run: Run, spec: Block, index: int) -> None:
    by_locale = spec.message.by_locale
    if set(by_locale) - {""}:  # one per locale: each reader reads the one of their language
        message = Texts({k: render(run, t, locale=k or None) for k, t in by_locale.items()},
                        locale=run.actor.locale)  # as a plain string: the changer's
    else:
        message = render(run, spec.message)
    run.note("block", msg("refused: %(message)s", message=message), index)
    raise Blocked({spec.field: message}, rule=run.rule.name)


ACTIONS: dict[str, Callable[[Run, Any, int], None]] = {
    "set_fields": set_fields, "create_record": create_record, "update_linked": update_linked,
    "assign": assign, "notify": notify, "webhook": webhook, "chat": chat, "comment": comment,
    "block": block,
}
