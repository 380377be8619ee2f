"""The records service: create, read, update, delete (to a trash), restore; audit in the same
transaction as every change; optimistic concurrency on `version`. No Flask here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from lowrise import access
from lowrise.access import widen
from lowrise.access.clashes import ClashLimit
from lowrise.access.clashes import record as record_clash
from lowrise.actor import Actor
from lowrise.errors import (
    BulkValidationError,
    ConflictError,
    NotFound,
    Undisclosed,
    ValidationError,
)
from lowrise.fields.base import FieldType
from lowrise.fields.computed import autonumber_format, autonumber_period
from lowrise.fields.file import FileUpload
from lowrise.fields.types import UTCDateTime
from lowrise.i18n import msg
from lowrise.live import feed as live_feed
from lowrise.workspace.model import RecordType

from . import checks, derived, locks, ondelete
from .db import write_transaction
from .files import FileStore
from .search import batch_index
from .tables import Schema
from .values import (
    compute_formulas,
    compute_formulas_many,
    formula_order,
    from_db_row,
    from_json_values,
    parse_many,
    parse_values,
    to_db_row,
    to_json_values,
)

Action = Literal["create", "update", "delete", "restore"]

#: conn.info key: a list set there receives the audit entries of updates, deletes and
#: restores, as (audit table, rows), instead of their being inserted at once; whoever set it
#: inserts them, in order, before the transaction commits (a rules worker's batch: one
#: statement for the whole batch, a failed timer's entries dropped with its savepoint)
AUDIT_LATER = "lowrise_audit_later"
#: conn.info key: the access.widen.ScopeGuard of a batch of updates by one restricted actor,
#: checked once when the batch is done instead of after each update
SCOPE_GUARD = "lowrise_scope_guard"


@dataclass(frozen=True)
class Change:
    """One committed-to-be change of one record, as hooks (the rules engine) see it."""

    record_type: str
    record_id: int
    action: Action
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    changed: tuple[str, ...] = ()


class Hook(Protocol):
    """Called inside the write's transaction; may write more through `records` with `conn`,
    or raise to refuse the whole change."""

    def __call__(self, conn: sa.Connection, change: Change, actor: Actor,
                 records: Records) -> None: ...


@dataclass(frozen=True)
class _RowWriter:
    """How a record of one type becomes a row of database values for one kind of database
    (the field type's `to_db`, then the column type's own conversion, as SQLAlchemy would
    apply it): worked out once, applied per row without building a dict."""

    rt: RecordType
    columns: tuple[str, ...]
    steps: tuple[tuple[str, Callable[[Any], Any] | None], ...]

    @classmethod
    def make(cls, rt: RecordType, t: sa.Table, dialect) -> _RowWriter:
        steps = []
        for name in rt.fields:
            if name == "id":
                continue
            f = rt.fields[name]
            to_db = (None if type(f.kind).to_db is FieldType.to_db
                     else (lambda v, f=f, to_db=f.kind.to_db: to_db(f, v)))
            bind = _sqlite_text(t.c[name].type, dialect) or \
                t.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            if to_db is not None and bind is not None:
                step = lambda v, a=to_db, b=bind: b(a(v))  # noqa: E731
            else:
                step = to_db or bind
            steps.append((name, step))
        return cls(rt, tuple(n for n, _ in steps), tuple(steps))

    def rows(self, records: Sequence[Mapping[str, Any]]) -> list[tuple]:
        """The rows of `records`, made column by column. A value met again in a column
        (dates, amounts, the creation stamp) is converted once."""
        columns = []
        for name, step in self.steps:
            values = [r.get(name) for r in records]
            if step is not None:
                values = _convert(values, step)
            columns.append(values)
        return list(zip(*columns, strict=True))


_SQLITE_DATETIME = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d" \
    ".%(microsecond)06d"
_SQLITE_DATE = "%(year)04d-%(month)02d-%(day)02d"


def _sqlite_text(type_: sa.types.TypeEngine, dialect) -> Callable[[Any], Any] | None:
    """SQLite's text of a datetime or date column made by `isoformat`: the same text as
    SQLAlchemy's default storage format (checked), several times quicker."""
    if dialect.name != "sqlite":
        return None
    impl = type_.dialect_impl(dialect)
    if isinstance(type_, UTCDateTime) and \
            getattr(impl.impl, "_storage_format", None) == _SQLITE_DATETIME:
        bind = impl.bind_processor(dialect)

        def to_text(v):
            if type(v) is not datetime:
                return bind(v)
            if v.tzinfo is not None:
                v = v.astimezone(UTC).replace(tzinfo=None)
            return v.isoformat(" ", "microseconds")
        return to_text
    if type(type_) is sa.Date and getattr(impl, "_storage_format", None) == _SQLITE_DATE:
        bind = impl.bind_processor(dialect)
        return lambda v: v.isoformat() if type(v) is date else bind(v)
    return None


def _read_only(rt: RecordType, given: Mapping[str, Any], parsed: Mapping[str, Any],
               actor: Actor, before: Mapping[str, Any] | None = None) -> dict[str, str]:
    """{field: why} for each `read_only` field of the schema a person gives a value (only
    the system sets those: rules, migrations, imports run as the system). On an update, a
    value sent back unchanged is not a change."""
    if actor.system:
        return {}
    out = {}
    for name in given:
        f = rt.fields.get(name)
        if f is None or f.system or not f.read_only:
            continue
        if before is None and given[name] in (None, ""):
            continue  # no value given
        if before is not None and parsed.get(name, before.get(name)) == before.get(name):
            continue
        out[name] = access.READ_ONLY
    return out


def _convert(values: list[Any], step: Callable[[Any], Any]) -> list[Any]:
    """`step` of each value but None, each distinct value converted once (a value equal to
    one met before gets that one's result, as a memo by value would give it)."""
    try:
        distinct = dict.fromkeys(values)
    except TypeError:  # an unhashable value (a list of options): value by value
        return [None if v is None else step(v) for v in values]
    if len(distinct) * 2 > len(values):  # mostly distinct: the lookups would cost more
        return [None if v is None else step(v) for v in values]
    for v in distinct:
        distinct[v] = None if v is None else step(v)
    return [distinct[v] for v in values]


def expected_version_of(given: Any, rt: RecordType, record_id: int) -> int | None:
    """The version a change was made against (None: not given). Anything but a whole number
    is refused as a conflict (a form whose hidden version was tampered with, or lost)."""
    if given is None or (isinstance(given, int) and not isinstance(given, bool)):
        return given
    text = str(given).strip()
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    raise ConflictError(msg("%(type)s #%(id)s: the change came without a valid version "
                            "('%(given)s'); reload the record and make the change again. "
                            "Nothing was changed.", type=rt.label, id=record_id,
                            given=str(given)[:40]))


@dataclass
class Records:
    """Every write to records goes through here."""

    engine: sa.Engine
    schema: Schema
    files: FileStore | None = None
    hooks: list[Hook] = field(default_factory=list)
    #: how many unique values a person may meet on records they cannot read in full
    clash_limit: ClashLimit = field(default_factory=ClashLimit)
    _writers: dict[tuple[str, str], _RowWriter] = field(default_factory=dict, init=False,
                                                         repr=False, compare=False)
    _updates: dict[tuple[str, tuple[str, ...]], tuple[sa.Table, sa.Update]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    # -- plumbing -----------------------------------------------------------------------
    @contextmanager
    def transaction(self, conn: sa.Connection | None = None) -> Iterator[sa.Connection]:
        """Use the caller's transaction if given, else open a write transaction. A unique
        value refused undisclosed is audited and counted once that one is rolled back."""
        if conn is not None:
            yield conn
            return
        try:
            with write_transaction(self.engine) as c:
                yield c
        except Undisclosed as exc:
            self._note(exc)
            raise

    def _note(self, exc: Undisclosed) -> None:
        """Audit and count a refused clash, in a transaction of its own (the write's was
        rolled back, and SQLite takes one writer at a time)."""
        if exc.clash is None or exc.noted:
            return
        exc.noted = True
        with write_transaction(self.engine) as c:
            record_clash(c, self.schema, exc.clash, self.clash_limit)

    def _rt(self, type_name: str) -> RecordType:
        try:
            return self.schema.workspace.record_types[type_name]
        except KeyError:
            raise NotFound(msg("there is no record type '%(name)s'", name=type_name)) from None

    def _table(self, type_name: str) -> sa.Table:
        return self.schema.table(type_name)

    def _fire(self, conn, change: Change, actor: Actor) -> None:
        after = change.after or change.before or {}
        live_feed.note(conn, change.record_type, change.record_id, change.action, actor,
                       version=after.get("version"))  # an event for live pages, at commit
        for hook in self.hooks:
            hook(conn, change, actor, self)

    def policy(self, actor: Actor | None) -> access.Policy | None:
        """The access policy that restricts `actor` (None: nothing restricts it, as for the
        system actor, admins, open workspaces and the engine's own reads without an actor)."""
        return access.policy(self.schema.workspace, actor)

    def _missing(self, rt: RecordType, record_id: int) -> NotFound:
        # Out of the actor's rows reads exactly like no such record: ids cannot be probed.
        return NotFound(msg("%(type)s #%(id)s does not exist (or is in the trash)",
                            type=rt.label, id=record_id))

    def _in_scope(self, conn, pol: access.Policy | None, rt: RecordType, record_id: int,
                  action: str) -> None:
        if pol is not None and record_id not in pol.ids_in_scope(conn, self.schema, rt.name,
                                                                 [record_id], action):
            raise self._missing(rt, record_id)

    # -- reads --------------------------------------------------------------------------
    def get(self, type_name: str, record_id: int, *, conn: sa.Connection | None = None,
            for_update: bool = False, actor: Actor | None = None) -> dict[str, Any]:
        """One record as Python values, or NotFound. With an `actor`, as that actor may see
        it: Forbidden for a type it may not read, NotFound for a row out of its scope,
        hidden fields left out and masked ones masked."""
        rt, t = self._rt(type_name), self._table(type_name)
        pol = self.policy(actor)
        if pol is not None:
            pol.require("read", type_name)
        stmt = sa.select(t).where(t.c.id == record_id)
        if pol is not None:
            scope = pol.scope_sql(self.schema, type_name)
            if scope is not None:
                stmt = stmt.where(scope)
            stmt = stmt.add_columns(*pol.flag_columns(self.schema, type_name))
        if for_update:
            stmt = stmt.with_for_update()
        if conn is None:
            with self.engine.connect() as c:
                row = c.execute(stmt).mappings().first()
        else:
            row = conn.execute(stmt).mappings().first()
        if row is None:
            raise self._missing(rt, record_id)
        if pol is None:
            return from_db_row(rt, row)
        flags = {k: v for k, v in row.items() if k.startswith(access.FLAG)}
        return pol.finish(type_name, {**from_db_row(rt, row), **flags})

    def history(self, type_name: str, record_id: int, *, limit: int | None = 200,
                before: int | None = None, actor: Actor | None = None
                ) -> list[dict[str, Any]]:
        """The audit entries of one record, newest first; `before` (an entry id) pages back.
        With an `actor`, only of a record it may read, and its changes as it may see them
        (hidden fields left out, masked values masked, before and after alike)."""
        a = self.schema.audit
        stmt = (sa.select(a).where(a.c.record_type == type_name, a.c.record_id == record_id)
                .order_by(a.c.id.desc()))
        if before is not None:
            stmt = stmt.where(a.c.id < before)
        if limit is not None:
            stmt = stmt.limit(limit)
        pol = self.policy(actor)
        with self.engine.connect() as c:
            shown = self.get(type_name, record_id, conn=c, actor=actor) if pol else None
            rows = [dict(r) for r in c.execute(stmt).mappings()]
        if pol is None:
            return rows
        rt = self._rt(type_name)
        for row in rows:
            changes = row.get("changes")
            if isinstance(changes, dict):
                row["changes"] = {k: pair for k, pair in changes.items()
                                  if pol.field_access(type_name, k, shown) != "hidden"}
                for k, pair in row["changes"].items():
                    if pol.field_access(type_name, k, shown) == "masked" and \
                            isinstance(pair, (list, tuple)) and k in rt.fields:
                        row["changes"][k] = [access.mask_value(rt.fields[k], v, None)
                                             for v in pair]
        return rows

    # -- checks shared by single and bulk writes ----------------------------------------
    def _check_links(self, conn, rt: RecordType, rows: Sequence[Mapping[str, Any]],
                     errors: dict[int, dict[str, str]], *, actor: Actor | None = None) -> None:
        checks.check_links(self, conn, rt, rows, errors, actor=actor)

    def _check_unique(self, conn, rt: RecordType, rows: Sequence[Mapping[str, Any]],
                      errors: dict[int, dict[str, str]], *, exclude_ids: Sequence[int | None],
                      actor: Actor | None = None) -> None:
        checks.check_unique(self, conn, rt, rows, errors, exclude_ids=exclude_ids, actor=actor)

    def _store_files(self, rt: RecordType, values: dict[str, Any]) -> None:
        for f in rt.user_fields:
            items = values.get(f.name)
            if not f.kind.stores_files or not items:
                continue
            if any(isinstance(x, FileUpload) for x in items) and self.files is None:
                raise ValidationError({f.name: msg("file uploads are not configured")})
            values[f.name] = [self.files.put(x) if isinstance(x, FileUpload) else x for x in items]

    def _next_numbers(self, conn, rt: RecordType, count: int, now) -> dict[str, list[str]]:
        """Allocate `count` autonumbers per autonumber field, atomically on both databases."""
        out: dict[str, list[str]] = {}
        c = self.schema.counters
        ins = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(c)
        for f in rt.user_fields:
            if not f.kind.numbered:
                continue
            pattern = f.config.get("pattern") or "{0000}"
            period = autonumber_period(pattern, now)
            stmt = ins.values(record_type=rt.name, field=f.name, period=period, value=count)
            stmt = stmt.on_conflict_do_update(
                index_elements=[c.c.record_type, c.c.field, c.c.period],
                set_={"value": c.c.value + count},
            ).returning(c.c.value)
            last = conn.execute(stmt).scalar_one()
            out[f.name] = [autonumber_format(pattern, now, n)
                           for n in range(last - count + 1, last + 1)]
        return out

    def _compute(self, conn, rt: RecordType, records: list[dict[str, Any]], now) -> None:
        """Lookups (lowrise.storage.derived) then formulas, on records about to be written."""
        linked = derived.fills(self.schema.workspace, rt)
        if linked:
            derived.fill(conn, self.schema, rt, records)
        for record in records:
            compute_formulas(rt, record, now)
        if linked:
            derived.strip(records)

    def _writer(self, rt: RecordType, dialect) -> _RowWriter:
        key = (rt.name, dialect.name)
        hit = self._writers.get(key)
        if hit is None or hit.rt is not rt:
            hit = self._writers[key] = _RowWriter.make(rt, self._table(rt.name), dialect)
        return hit

    def _insert(self, conn: sa.Connection, t: sa.Table, columns: Sequence[str],
                rows: list[tuple]) -> list[int]:
        """Insert rows (tuples of database values in the order of `columns`, as
        `_RowWriter.row` makes them) and return their ids, in order.

        `INSERT ... RETURNING` with many rows falls back to a statement per row on SQLite and
        sends one huge statement on PostgreSQL; both are slow for imports. On PostgreSQL the
        ids are drawn from the table's sequence first and the rows sent with COPY; on SQLite,
        which gives a new row max(id) + 1, one executemany, the ids read off the table around
        the insert and checked.
        """
        n = len(rows)
        prep = conn.dialect.identifier_preparer
        table = prep.format_table(t)
        names = ", ".join(prep.quote(c) for c in columns)
        if conn.dialect.name == "postgresql":
            seq = sa.select(sa.func.nextval(sa.func.pg_get_serial_sequence(
                table, "id"))).select_from(sa.func.generate_series(1, n))
            ids = list(conn.execute(seq).scalars())
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                # identifiers only, quoted by the dialect; the values travel as COPY data
                with cursor.copy(f"COPY {table} (id, {names}) FROM STDIN") as copy:  # nosec B608
                    for rid, row in zip(ids, rows, strict=True):
                        copy.write_row((rid, *row))
            finally:
                cursor.close()
            return ids
        if conn.dialect.name == "sqlite":
            top = f"SELECT max(id) FROM {table}"  # nosec B608 - a quoted identifier
            # With AUTOINCREMENT the next id follows the highest ever given, kept here.
            given = "SELECT seq FROM sqlite_sequence WHERE name = ?"
            try:
                seq = conn.exec_driver_sql(given, (t.name,)).scalar() or 0
            except sa.exc.OperationalError:  # a database with no AUTOINCREMENT table yet
                seq = 0
            start = max(conn.exec_driver_sql(top).scalar() or 0, seq)
            marks = ", ".join("?" * len(columns))
            conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})",  # nosec B608
                                 rows)
            end = conn.exec_driver_sql(top).scalar() or 0
            if end - start == n:
                return list(range(start + 1, end + 1))
            raise RuntimeError(f"ids of {t.name} were not contiguous after a bulk insert")
        result = conn.execute(t.insert().returning(t.c.id, sort_by_parameter_order=True),
                              [dict(zip(columns, r, strict=True)) for r in rows])
        return list(result.scalars())

    def _audit_created(self, conn, rt: RecordType, ids: list[int], actor: Actor, now) -> None:
        """The `create` audit entries of new records: one INSERT ... SELECT over their ids."""
        a, t = self.schema.audit, self._table(rt.name)
        which = (t.c.id.between(ids[0], ids[-1]) if ids[-1] - ids[0] == len(ids) - 1
                 else t.c.id.in_(ids))
        src = sa.select(sa.literal(rt.name, a.c.record_type.type), t.c.id,
                        sa.literal("create", a.c.action.type),
                        sa.literal(actor.user, a.c.actor.type),
                        sa.literal(actor.name, a.c.actor_name.type),
                        sa.literal(now, a.c.at.type), sa.literal(1, a.c.version.type)
                        ).where(which).order_by(t.c.id)
        conn.execute(a.insert().from_select(
            ["record_type", "record_id", "action", "actor", "actor_name", "at", "version"],
            src))

    def _audit(self, conn, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        later = conn.info.get(AUDIT_LATER)
        if later is not None:
            later.append((self.schema.audit, rows))
        else:
            conn.execute(self.schema.audit.insert(), rows)

    def _parse_new(self, rt: RecordType, rows: Sequence[Mapping[str, Any]], actor: Actor
                   ) -> tuple[list[dict[str, Any]], dict[int, dict[str, str]]]:
        return parse_many(rt, rows, actor=actor)

    def check_create(self, type_name: str, rows: Sequence[Mapping[str, Any]], actor: Actor, *,
                     conn: sa.Connection | None = None
                     ) -> tuple[list[dict[str, Any]], dict[int, dict[str, str]]]:
        """What bulk_create would store and refuse, without writing: (parsed rows, errors by
        row index). Import previews use it; bulk_create checks again when it writes."""
        rt = self._rt(type_name)
        parsed, errors = self._parse_new(rt, rows, actor)
        if conn is None:
            try:
                with self.engine.connect() as c:
                    self._check_new(c, rt, parsed, errors, actor, rows)
            except Undisclosed as exc:
                self._note(exc)
                raise
        else:
            self._check_new(conn, rt, parsed, errors, actor, rows)
        return parsed, errors

    def _check_new(self, conn, rt: RecordType, parsed: list[dict[str, Any]],
                   errors: dict[int, dict[str, str]], actor: Actor,
                   given: Sequence[Mapping[str, Any]]) -> None:
        """The database checks of new rows (links as the actor sees them, unique values):
        one piece, so that an import preview refuses exactly what the write refuses. A
        `same_as` field the row does not give takes its value from the link's record."""
        self._check_links(conn, rt, parsed, errors, actor=actor)
        checks.fill_same_as(conn, self.schema, rt, parsed, errors, given)
        checks.check_same_as(conn, self.schema, rt, parsed, errors)
        self._check_unique(conn, rt, parsed, errors, exclude_ids=[None] * len(parsed),
                           actor=actor)

    # -- writes -------------------------------------------------------------------------
    def create(self, type_name: str, values: Mapping[str, Any], actor: Actor, *,
               conn: sa.Connection | None = None) -> dict[str, Any]:
        """Create one record; returns it as stored. ValidationError names each bad field."""
        return self.bulk_create(type_name, [values], actor, conn=conn, _single=True)[0]

    def bulk_create(self, type_name: str, rows: Sequence[Mapping[str, Any]], actor: Actor, *,
                    conn: sa.Connection | None = None, batch_size: int = 1000,
                    run_hooks: bool = True, progress: Callable[[int], None] | None = None,
                    _single: bool = False) -> list[dict[str, Any]]:
        """Create many records, all or nothing: every row is checked before any is written."""
        rt, t = self._rt(type_name), self._table(type_name)
        pol = self.policy(actor)
        if pol is not None:
            pol.require("create", type_name)
        parsed, errors = self._parse_new(rt, rows, actor)
        for i, raw in enumerate(rows):
            if refused := _read_only(rt, raw, parsed[i], actor):
                errors.setdefault(i, {}).update(refused)
        if pol is not None:
            for i, raw in enumerate(rows):
                if refused := pol.write_errors(type_name, raw, creating=True):
                    errors.setdefault(i, {}).update(refused)
        with self.transaction(conn) as c:
            self._check_new(c, rt, parsed, errors, actor, rows)
            if errors:
                if _single:
                    raise ValidationError(errors[0])
                raise BulkValidationError(errors)
            if pol is not None:  # what the creator reads before, where new values could widen it
                guard, mine = self._scope_guard(c, pol)
                guard.watch(rt.name, {k for values in parsed for k, v in values.items()
                                      if v is not None})
            now = actor.now()
            numbers = self._next_numbers(c, rt, len(parsed), now)
            created: list[dict[str, Any]] = []
            writer = self._writer(rt, c.dialect)
            stamps = dict(created_at=now, updated_at=now, created_by=actor.user,
                          updated_by=actor.user, version=1)
            files = any(f.kind.stores_files for f in rt.user_fields)
            formulas = bool(formula_order(rt))
            linked = derived.fills(self.schema.workspace, rt)
            memo: dict[Any, Any] = {}
            blank = dict.fromkeys(rt.fields)
            with batch_index(c, rt, len(parsed)) as fill:
                for start in range(0, len(parsed), batch_size):
                    batch = parsed[start:start + batch_size]
                    for j, values in enumerate(batch):
                        if files:
                            self._store_files(rt, values)
                        for name, seq in numbers.items():
                            values[name] = seq[start + j]
                        values.update(stamps)
                    if linked:  # lookups, and what formulas read across links
                        derived.fill(c, self.schema, rt, batch)
                    if formulas:
                        compute_formulas_many(rt, batch, now, memo=None if linked else memo)
                    if linked:
                        derived.strip(batch)
                    db_rows = writer.rows(batch)
                    ids = self._insert(c, t, writer.columns, db_rows)
                    if fill is not None:
                        fill(ids[0], ids[-1])
                    for rid, values in zip(ids, batch, strict=True):
                        values["id"] = rid
                        record = blank.copy()  # every field, in the type's order
                        record.update(values)
                        created.append(record)
                    self._audit_created(c, rt, ids, actor, now)
                    derived.after_write(c, self.schema, rt,
                                        [(None, r) for r in created[start:]], now)
                    if not (run_hooks and self.hooks):  # else _fire notes each one
                        for rid in ids[:live_feed.MANY + 1]:
                            live_feed.note(c, rt.name, rid, "create", actor, version=1)
                    if run_hooks and self.hooks:
                        for record in created[start:]:
                            self._fire(c, Change(rt.name, record["id"], "create", None, record,
                                                 tuple(k for k, v in record.items()
                                                       if v is not None)), actor)
                    if progress:
                        progress(len(created))
            if pol is not None:
                if mine:
                    guard.check({rt.name: [r["id"] for r in created]})
                created = self._finish_created(c, pol, rt, rows, created, _single)
            return created

    def _finish_created(self, conn, pol: access.Policy, rt: RecordType,
                        rows: Sequence[Mapping[str, Any]], created: list[dict[str, Any]],
                        single: bool) -> list[dict[str, Any]]:
        """New records as their creator sees them; a field given that a mask's `unless`
        does not open on the new record is refused (and the whole write rolled back)."""
        flags = pol.row_flags(conn, self.schema, rt.name, [r["id"] for r in created])
        out, errors = [], {}
        for i, (raw, record) in enumerate(zip(rows, created, strict=True)):
            shown = pol.finish(rt.name, {**record, **flags.get(record["id"], {})})
            if refused := pol.write_errors(rt.name, raw, shown):
                errors[i] = refused
            out.append(shown)
        if errors:
            raise ValidationError(errors[0]) if single else BulkValidationError(errors)
        return out

    def update(self, type_name: str, record_id: int, values: Mapping[str, Any], actor: Actor, *,
               expected_version: int | None = None,
               conn: sa.Connection | None = None) -> dict[str, Any]:
        """Change some fields of one record. A stale `expected_version` raises ConflictError."""
        rt, t = self._rt(type_name), self._table(type_name)
        expected_version = expected_version_of(expected_version, rt, record_id)
        pol = self.policy(actor)
        if pol is not None:
            pol.require("update", type_name)
        parsed, errs = parse_values(rt, values, creating=False, actor=actor)
        with self.transaction(conn) as c:
            before = self.get(type_name, record_id, conn=c, for_update=True)
            if pol is not None:
                self._in_scope(c, pol, rt, record_id, "update")
                shown = pol.finish_stored(c, self.schema, type_name, before)
                refused = pol.write_errors(type_name, values, shown)
                for k in list(refused):
                    # A record sent back as it was read (GET, change, PATCH) keeps its
                    # read-only and masked values: those are not changes. Masked values are
                    # compared as shown, never with the real one (that would be an oracle).
                    access_word = shown.access.get(k)
                    same = (shown.get(k) == values[k] if access_word == "masked" else
                            access_word == "read_only" and parsed.get(k) == before.get(k))
                    if same:
                        del refused[k]
                        parsed.pop(k, None)
                        errs.pop(k, None)
                if refused:
                    raise ValidationError(refused)
            if refused := _read_only(rt, values, parsed, actor, before):
                raise ValidationError(refused)
            if expected_version is not None and expected_version != before["version"]:
                raise ConflictError(msg(
                    "%(type)s #%(id)s was changed by someone else (version %(version)s, you "
                    "had %(yours)s); reload to see the changes, nothing was overwritten",
                    type=rt.label, id=record_id, version=before["version"],
                    yours=expected_version), current_version=before["version"])
            errors = {0: errs} if errs else {}
            # only what changes is checked: a value the record keeps is its own
            changes = {k: v for k, v in parsed.items() if before.get(k) != v}
            if refused := locks.refused(self.schema.workspace, rt, before, changes, actor):
                raise ValidationError(refused)
            self._check_links(c, rt, [changes], errors, actor=actor)
            checks.check_same_as(c, self.schema, rt, [changes], errors, [before])
            self._check_unique(c, rt, [changes], errors, exclude_ids=[record_id], actor=actor)
            if errors:
                raise ValidationError(errors[0])
            self._store_files(rt, parsed)
            after = dict(before)
            after.update(parsed)
            now = actor.now()
            self._compute(c, rt, [after], now)
            changed = tuple(k for k in rt.fields if after.get(k) != before.get(k))
            if not changed:
                return before if pol is None else shown
            if pol is not None:  # what the writer reads before, where this write could widen it
                guard, mine = self._scope_guard(c, pol)
                guard.watch(rt.name, changed)
            after.update(updated_at=now, updated_by=actor.user, version=before["version"] + 1)
            row = to_db_row(rt, {k: after[k] for k in (*changed, "updated_at", "updated_by",
                                                       "version")})
            res = c.execute(t.update().where(t.c.id == record_id,
                                             t.c.version == before["version"]).values(row))
            if res.rowcount != 1:  # pragma: no cover - guarded by the row lock above
                raise ConflictError(msg("%(type)s #%(id)s changed during the update",
                                        type=rt.label, id=record_id))
            if pol is not None:
                if mine:
                    guard.check()
                widen.check_unmasked(shown, pol.finish_stored(c, self.schema, type_name, after))
            diff = to_json_values(rt, {k: before.get(k) for k in changed})
            new = to_json_values(rt, {k: after.get(k) for k in changed})
            self._audit(c, [dict(record_type=rt.name, record_id=record_id, action="update",
                                 actor=actor.user, actor_name=actor.name, at=now,
                                 version=after["version"],
                                 changes={k: [diff.get(k), new.get(k)] for k in changed})])
            derived.after_write(c, self.schema, rt, [(before, after)], now)
            self._fire(c, Change(rt.name, record_id, "update", before, after, changed), actor)
            if pol is not None:
                return pol.finish_stored(c, self.schema, type_name, after)
            return after

    def update_many(self, type_name: str, updates: Sequence[tuple[int, Mapping[str, Any]]],
                    actor: Actor, *, conn: sa.Connection | None = None,
                    current: Mapping[int, Mapping[str, Any]] | None = None
                    ) -> list[dict[str, Any]]:
        """Change some fields of several records of one type, all or nothing; returns them as
        stored, in order. Each is checked as `update` checks it and refusals are kept per
        record (BulkValidationError by index; a missing record is refused under ""). The
        rows are read in one query, the changed ones written with one version-checked
        statement per set of changed fields and audited in one statement (entries as
        `update` writes them), formulas recomputed, then the hooks called per change, in
        order. `current`: records by id that the caller read in this same transaction
        (locked, on PostgreSQL) and that nothing changed since: those are not read again;
        the version check still refuses one that did change (ConflictError). A restricted
        actor's updates go one by one through `update`, with its access checks."""
        rt, t = self._rt(type_name), self._table(type_name)
        if self.policy(actor) is not None:
            return self._update_each(type_name, updates, actor, conn)
        errors: dict[int, dict[str, str]] = {}
        parsed: list[dict[str, Any]] = []
        memo: dict[str, dict[Any, Any]] = {}
        seen: dict[int, int] = {}
        for i, (rid, values) in enumerate(updates):
            p, errs = parse_values(rt, values, creating=False, actor=actor, memo=memo)
            parsed.append(p)
            if errs:
                errors[i] = errs
            if rid in seen:
                errors.setdefault(i, {})[""] = msg(
                    "%(type)s #%(id)s is also given in row %(row)s; give each record once",
                    type=rt.label, id=rid, row=seen[rid] + 1)
            seen.setdefault(rid, i)
        with self.transaction(conn) as c:
            befores = self._current(c, rt, [rid for rid, _ in updates], current or {})
            for i, (rid, values) in enumerate(updates):
                if befores.get(rid) is None:
                    errors.setdefault(i, {})[""] = self._missing(rt, rid).message
                elif refused := _read_only(rt, values, parsed[i], actor, befores[rid]):
                    errors.setdefault(i, {}).update(refused)
            changes = [{k: v for k, v in p.items() if (befores.get(rid) or {}).get(k) != v}
                       for (rid, _), p in zip(updates, parsed, strict=True)]
            for i, ((rid, _), ch) in enumerate(zip(updates, changes, strict=True)):
                if refused := locks.refused(self.schema.workspace, rt, befores.get(rid), ch,
                                            actor):
                    errors.setdefault(i, {}).update(refused)
            self._check_links(c, rt, changes, errors)
            checks.check_same_as(c, self.schema, rt, changes, errors,
                                 [befores.get(rid) for rid, _ in updates])
            self._check_unique(c, rt, changes, errors,
                               exclude_ids=[rid for rid, _ in updates], actor=actor)
            if errors:
                raise BulkValidationError(errors)
            now = actor.now()
            stamps = dict(updated_at=now, updated_by=actor.user)
            out: list[dict[str, Any]] = []
            changes: list[Change] = []
            writes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            audit: list[dict[str, Any]] = []
            for (rid, _), p in zip(updates, parsed, strict=True):
                before = befores[rid]
                self._store_files(rt, p)
                after = dict(before)
                after.update(p)
                self._compute(c, rt, [after], now)
                changed = tuple(k for k in rt.fields if after.get(k) != before.get(k))
                if not changed:
                    out.append(before)
                    continue
                after.update(stamps, version=before["version"] + 1)
                row = to_db_row(rt, {k: after[k] for k in (*changed, *stamps, "version")})
                writes.setdefault(tuple(row), []).append(
                    {"w_id": rid, "w_version": before["version"],
                     **{f"v_{k}": v for k, v in row.items()}})
                diff = to_json_values(rt, {k: before.get(k) for k in changed})
                new = to_json_values(rt, {k: after.get(k) for k in changed})
                audit.append(dict(record_type=rt.name, record_id=rid, action="update",
                                  actor=actor.user, actor_name=actor.name, at=now,
                                  version=after["version"],
                                  changes={k: [diff.get(k), new.get(k)] for k in changed}))
                changes.append(Change(rt.name, rid, "update", before, after, changed))
                out.append(after)
            for columns, rows in writes.items():
                self._write_updates(c, rt, t, columns, rows)
            self._audit(c, audit)
            derived.after_write(c, self.schema, rt, [(ch.before, ch.after) for ch in changes],
                                now)
            for change in changes:
                self._fire(c, change, actor)
            return out

    def _update_each(self, type_name: str, updates: Sequence[tuple[int, Mapping[str, Any]]],
                     actor: Actor, conn: sa.Connection | None) -> list[dict[str, Any]]:
        out, errors = [], {}
        pol = self.policy(actor)
        with self.transaction(conn) as c:
            guard, mine = self._scope_guard(c, pol) if pol is not None else (None, False)
            if mine:
                c.info[SCOPE_GUARD] = guard
            try:
                for i, (rid, values) in enumerate(updates):
                    try:
                        out.append(self.update(type_name, rid, values, actor, conn=c))
                    except Undisclosed:
                        raise  # refuses the whole batch, never told row by row
                    except ValidationError as exc:
                        errors[i] = exc.errors
                    except NotFound as exc:
                        errors[i] = {"": exc.message}
                if errors:  # raising here rolls the whole transaction back
                    raise BulkValidationError(errors)
                if mine:
                    guard.check()
            finally:
                if mine:
                    c.info.pop(SCOPE_GUARD, None)
        return out

    def _scope_guard(self, conn, pol: access.Policy) -> tuple[widen.ScopeGuard, bool]:
        """The guard of the batch this write is part of, else a new one (True: the caller
        checks it)."""
        held = conn.info.get(SCOPE_GUARD)
        if held is not None and held.pol.actor == pol.actor:
            return held, False
        return widen.ScopeGuard(conn, self.schema, pol), True

    def _current(self, conn, rt: RecordType, ids: Sequence[int],
                 current: Mapping[int, Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
        """The records with these ids: those `current` holds as given, the others read in one
        query per 900 ids (locked for update on PostgreSQL, in the order of their ids)."""
        out = {rid: dict(current[rid]) for rid in ids if current.get(rid) is not None}
        t = self._table(rt.name)
        wanted = sorted({rid for rid in ids if rid not in out and isinstance(rid, int)})
        for start in range(0, len(wanted), 900):
            stmt = sa.select(t).where(t.c.id.in_(wanted[start:start + 900])).order_by(t.c.id)
            for row in conn.execute(stmt.with_for_update()).mappings():
                out[row["id"]] = from_db_row(rt, row)
        return out

    def _write_updates(self, conn, rt: RecordType, t: sa.Table, columns: tuple[str, ...],
                       rows: list[dict[str, Any]]) -> None:
        """UPDATE rows (parameters `w_id`, `w_version` and `v_<column>`), each only if its
        version is still the one read; ConflictError when one was changed meanwhile."""
        key = (rt.name, columns)
        stmt = self._updates.get(key)
        if stmt is None or stmt[0] is not t:
            stmt = self._updates[key] = (t, t.update().where(
                t.c.id == sa.bindparam("w_id"), t.c.version == sa.bindparam("w_version")
            ).values({t.c[k]: sa.bindparam(f"v_{k}", type_=t.c[k].type) for k in columns}))
        if len(rows) > 1 and not conn.dialect.supports_sane_multi_rowcount:
            done = sum(conn.execute(stmt[1], r).rowcount for r in rows)
        else:
            done = conn.execute(stmt[1], rows if len(rows) > 1 else rows[0]).rowcount
        if done != len(rows):
            raise ConflictError(msg("%(type)s records were changed during the update (%(n)s "
                                    "of %(total)s); nothing was written", type=rt.label_plural,
                                    n=len(rows) - done, total=len(rows)))

    def delete(self, type_name: str, record_id: int, actor: Actor, *,
               expected_version: int | None = None, conn: sa.Connection | None = None,
               _going: Collection[int] = ()) -> None:
        """Move a record to the trash (restorable). What happens to the records that link to
        it is each link field's `on_delete` (see lowrise.storage.ondelete): a refusal raises
        ValidationError and nothing changes."""
        rt, t = self._rt(type_name), self._table(type_name)
        expected_version = expected_version_of(expected_version, rt, record_id)
        pol = self.policy(actor)
        if pol is not None:
            pol.require("delete", type_name)
        with self.transaction(conn) as c:
            before = self.get(type_name, record_id, conn=c, for_update=True)
            self._in_scope(c, pol, rt, record_id, "delete")
            if why := locks.refused_delete(self.schema.workspace, rt, before, actor):
                raise ValidationError({"": why})
            if expected_version is not None and expected_version != before["version"]:
                raise ConflictError(msg("%(type)s #%(id)s was changed by someone else; reload "
                                        "before deleting", type=rt.label, id=record_id),
                                    current_version=before["version"])
            cleared = ondelete.before_delete(self, c, rt, record_id, actor, going=_going)
            self._fire(c, Change(rt.name, record_id, "delete", before, None), actor)
            now = actor.now()
            title = before.get(rt.title_field)
            entry = dict(record_type=rt.name, record_id=record_id,
                         data=to_json_values(rt, before),
                         title=None if title is None else str(title)[:255], deleted_at=now,
                         deleted_by=actor.user)
            if cleared:  # only then: a database not yet migrated to it still deletes
                entry["cleared"] = cleared
            c.execute(self.schema.trash.insert().values(entry))
            c.execute(t.delete().where(t.c.id == record_id))
            derived.after_write(c, self.schema, rt, [(before, None)], now)
            self._audit(c, [dict(record_type=rt.name, record_id=record_id, action="delete",
                                 actor=actor.user, actor_name=actor.name, at=now,
                                 version=before["version"], changes=None)])

    def bulk_delete(self, type_name: str, ids: Sequence[int], actor: Actor, *,
                    conn: sa.Connection | None = None) -> int:
        """Delete several records in one transaction; all or nothing. Records deleted
        together do not hold each other back (their order does not matter); every refusal
        is reported (BulkValidationError by index) and nothing is deleted."""
        going = set(ids)
        errors: dict[int, dict[str, str]] = {}
        with self.transaction(conn) as c:
            for i, rid in enumerate(ids):
                try:
                    self.delete(type_name, rid, actor, conn=c, _going=going)
                except ValidationError as exc:
                    errors[i] = exc.errors
            if errors:  # raising here rolls the whole transaction back
                raise BulkValidationError(errors)
        return len(ids)

    def trash(self, type_name: str | None = None, *, limit: int = 100,
              actor: Actor | None = None) -> list[dict[str, Any]]:
        """What is in the trash, newest first; with an `actor` that is restricted, only what
        it deleted itself, of types it may still delete."""
        tr = self.schema.trash
        stmt = sa.select(tr).order_by(tr.c.deleted_at.desc(), tr.c.id.desc()).limit(limit)
        if type_name:
            stmt = stmt.where(tr.c.record_type == type_name)
        pol = self.policy(actor)
        if pol is not None:
            types = [n for n in self.schema.workspace.record_types if pol.may("delete", n)]
            stmt = stmt.where(tr.c.deleted_by == actor.user, tr.c.deleted_by.is_not(None),
                              tr.c.record_type.in_(types))
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(stmt).mappings()]

    def restore(self, type_name: str, record_id: int, actor: Actor, *,
                conn: sa.Connection | None = None) -> dict[str, Any]:
        """Bring a record back from the trash with its id, values and version."""
        rt, t, tr = self._rt(type_name), self._table(type_name), self.schema.trash
        pol = self.policy(actor)
        if pol is not None:
            pol.require("delete", type_name)
        with self.transaction(conn) as c:
            item = c.execute(sa.select(tr).where(tr.c.record_type == type_name,
                                                 tr.c.record_id == record_id)).mappings().first()
            if item is None or (pol is not None and (
                    actor.user is None or item["deleted_by"] != actor.user)):
                raise NotFound(msg("%(type)s #%(id)s is not in the trash", type=rt.label,
                                   id=record_id))
            values, errors = from_json_values(rt, item["data"])
            errs: dict[int, dict[str, str]] = {0: errors} if errors else {}
            self._check_unique(c, rt, [values], errs, exclude_ids=[None], actor=actor)
            if errs:
                raise ValidationError(errs[0])
            emptied = ondelete.before_restore(self, c, rt, record_id, values)
            now = actor.now()
            self._compute(c, rt, [values], now)
            values["id"] = record_id
            values.update(updated_at=now, updated_by=actor.user,
                          version=int(values.get("version") or 1) + 1)
            c.execute(t.insert().values(to_db_row(rt, {k: v for k, v in values.items()
                                                       if k in rt.fields})))
            c.execute(tr.delete().where(tr.c.id == item["id"]))
            self._audit(c, [dict(record_type=rt.name, record_id=record_id, action="restore",
                                 actor=actor.user, actor_name=actor.name, at=now,
                                 version=values["version"], changes=emptied or None)])
            derived.after_write(c, self.schema, rt, [(None, values)], now, restoring=True)
            after = self.get(type_name, record_id, conn=c)
            self._fire(c, Change(rt.name, record_id, "restore", None, after), actor)
            ondelete.after_restore(self, c, rt, record_id, item.get("cleared"), actor)
            if pol is not None:
                return pol.finish_stored(c, self.schema, type_name, after)
            return after

    def bulk_update(self, type_name: str, updates: Sequence[tuple[int, Mapping[str, Any]]],
                    actor: Actor) -> list[dict[str, Any]]:
        """Apply several updates in one transaction, one by one through `update` (a stale
        version, an access refusal: as for one); the first refusal undoes them all."""
        return self._update_each(type_name, updates, actor, None)
