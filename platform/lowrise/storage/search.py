"""Quick search over a record type's `search` fields, and across all types.

SQLite: an FTS5 external-content table `lr_fts_<type>` with the trigram tokenizer (so a
Chinese substring such as 三丰 is found inside 张三丰), kept in step by triggers.
PostgreSQL: pg_trgm and a GIN trigram index on each searched column, queried with ILIKE.
A query is split on spaces and every word must match some searched field; a word shorter
than three characters has no trigram, so it falls back to LIKE on both databases.

`search_ddl` / `search_drop_ddl` return the statements as data: the migration runs them
when it creates or changes a table.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

from lowrise.filters import like_escape
from lowrise.workspace.model import RecordType, Workspace

from .tables import Schema, index_name

MIN_TRIGRAM = 3
#: control characters (NUL among them) separate words: FTS5 ends a phrase at a NUL and
#: PostgreSQL refuses one in text, and nobody types them into a search box
_CONTROL = {c: " " for c in [*range(0x20), 0x7F]}
_DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}


@dataclass(frozen=True)
class SearchHit:
    """One record found by global search."""

    type: str
    id: int
    title: str


def search_columns(rt: RecordType) -> list[str]:
    """The searched fields that hold text (the title field when none is declared)."""
    names = list(rt.search_fields) or [rt.title_field]
    out = []
    for name in names:
        f = rt.fields.get(name)
        if f is None or f.kind.stores_files:
            continue
        try:
            if f.kind.column_type(f).python_type is str:
                out.append(name)
        except NotImplementedError:
            continue
    return out


def fts_name(type_name: str) -> str:
    return f"lr_fts_{type_name}"


def fts_columns(rt: RecordType) -> list[str]:
    """The searched columns SQLite's FTS table holds (FTS5 reserves `rank` and `rowid`;
    fields so named are searched with LIKE)."""
    return [c for c in search_columns(rt) if c not in ("rank", "rowid")]


def _quote(dialect_name: str, name: str) -> str:
    return _DIALECTS[dialect_name].identifier_preparer.quote(name)


def search_ddl(schema: Schema, rt: RecordType, dialect_name: str) -> list[str]:
    """Statements that (re)create the search structures of one record type; safe to rerun."""
    cols = search_columns(rt)
    if dialect_name == "postgresql":
        out = ["CREATE EXTENSION IF NOT EXISTS pg_trgm"] if cols else []
        table = _quote("postgresql", rt.name)
        for c in cols:
            ix = _quote("postgresql", index_name("lr_trgm", rt.name, [c]))
            out.append(f"CREATE INDEX IF NOT EXISTS {ix} ON {table} "
                       f"USING gin ({_quote('postgresql', c)} gin_trgm_ops)")
        return out
    if dialect_name != "sqlite":
        raise ValueError(f"no search for the {dialect_name} database")
    # The FTS table's columns follow the search fields, so it is rebuilt whole each time.
    out = search_drop_ddl(schema, rt, "sqlite")
    cols = fts_columns(rt)
    if not cols:
        return out
    q = lambda name: _quote("sqlite", name)  # noqa: E731
    fts, table = q(fts_name(rt.name)), q(rt.name)
    names = ", ".join(q(c) for c in cols)
    new = ", ".join(f"new.{q(c)}" for c in cols)
    old = ", ".join(f"old.{q(c)}" for c in cols)
    # identifiers only, each a checked YAML name, quoted by the dialect: no value is inlined
    delete = f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old});"  # nosec B608
    insert = f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new});"  # nosec B608
    trig = lambda suffix: q(f"{fts_name(rt.name)}_{suffix}")  # noqa: E731
    out += [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content={table}, "
        f"content_rowid='id', tokenize='trigram')",
        f"CREATE TRIGGER {trig('ai')} AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER {trig('ad')} AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER {trig('au')} AFTER UPDATE OF {names} ON {table} "
        f"BEGIN {delete} {insert} END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",  # nosec B608 - quoted identifiers
    ]
    return out


def search_drop_ddl(schema: Schema, rt: RecordType, dialect_name: str) -> list[str]:
    """Statements that remove the search structures of one record type."""
    if dialect_name == "postgresql":
        return [f"DROP INDEX IF EXISTS {_quote('postgresql', index_name('lr_trgm', rt.name, [c]))}"
                for c in search_columns(rt)]
    name = fts_name(rt.name)
    return [*(f"DROP TRIGGER IF EXISTS {_quote('sqlite', f'{name}_{s}')}"
              for s in ("ai", "ad", "au")),
            f"DROP TABLE IF EXISTS {_quote('sqlite', name)}"]


BATCH_FILL_FROM = 50  # rows: from this many on, a bulk insert fills SQLite's index once


@contextmanager
def batch_index(conn: sa.Connection, rt: RecordType, rows: int
                ) -> Iterator[t.Callable[[int, int], None] | None]:
    """Around a bulk insert into `rt`'s table: yields `fill(first_id, last_id)`, which puts
    the rows with those ids into SQLite's full-text index in one statement, or None when the
    insert trigger keeps the index (PostgreSQL, small batches, no searched fields).

    The trigger that indexes one row at a time is dropped for the insert and created again
    (the SQL it was created with) before leaving, inside the caller's transaction: a
    rollback brings it back too, and no other connection ever sees it missing.
    """
    cols = fts_columns(rt)
    if conn.dialect.name != "sqlite" or rows < BATCH_FILL_FROM or not cols:
        yield None
        return
    trigger = f"{fts_name(rt.name)}_ai"
    find = "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?"
    made = conn.exec_driver_sql(find, (trigger,)).scalar()
    if made is None:  # a database whose search structures are not there: nothing to keep
        yield None
        return
    q = lambda name: _quote("sqlite", name)  # noqa: E731
    names = ", ".join(q(c) for c in cols)
    # identifiers only, each a checked YAML name, quoted by the dialect: no value is inlined
    fill_sql = (f"INSERT INTO {q(fts_name(rt.name))}(rowid, {names}) "  # nosec B608
                f"SELECT id, {names} FROM {q(rt.name)} WHERE id BETWEEN ? AND ?")

    def fill(first: int, last: int) -> None:
        conn.exec_driver_sql(fill_sql, (first, last))

    def restore() -> None:
        if conn.exec_driver_sql(find, (trigger,)).scalar() is None:
            conn.exec_driver_sql(made)

    conn.exec_driver_sql(f"DROP TRIGGER {q(trigger)}")
    try:
        yield fill
    except BaseException:
        try:
            restore()
        except sa.exc.DBAPIError:  # the failed transaction is rolled back: the trigger with it
            pass
        raise
    restore()


class _SearchMatch(ColumnElement):
    """Every word of `text` in some searched column; compiled for the database at hand."""

    type = sa.Boolean()
    inherit_cache = False

    def __init__(self, table: sa.Table, rt: RecordType, words: list[str],
                 columns: list[str] | None = None):
        self.table, self.words = table, words
        self.columns = search_columns(rt) if columns is None else columns
        every = fts_columns(rt)
        self.fts_columns = [c for c in every if c in self.columns]
        #: FTS5 column filter when only some of the indexed columns may be searched
        self.only = None if self.fts_columns == every else self.fts_columns


def _like_any(table: sa.Table, columns: list[str], word: str, ilike: bool) -> ColumnElement:
    pattern = f"%{like_escape(word)}%"
    return sa.or_(*(table.c[c].ilike(pattern, escape="\\") if ilike
                    else table.c[c].like(pattern, escape="\\") for c in columns))


@compiles(_SearchMatch)
def _search_sqlite(el: _SearchMatch, compiler, **kw) -> str:
    name = fts_name(el.table.name)
    fts = sa.table(name, sa.column("rowid"))
    rest = [c for c in el.columns if c not in el.fts_columns]
    parts = []
    for word in el.words:
        if len(word) < MIN_TRIGRAM or not el.fts_columns:
            parts.append(_like_any(el.table, el.columns, word, False))
            continue
        phrase = '"' + word.replace('"', '""') + '"'  # a quoted phrase: no FTS syntax inside
        if el.only is not None:  # names are checked YAML names: safe inside the query
            phrase = "{" + " ".join(el.only) + "} : " + phrase
        matches = sa.literal_column(compiler.preparer.quote(name)).op("MATCH")(
            sa.bindparam(None, phrase, type_=sa.String()))
        hit = el.table.c.id.in_(sa.select(fts.c.rowid).where(matches))
        parts.append(sa.or_(hit, _like_any(el.table, rest, word, False)) if rest else hit)
    return "(" + compiler.process(sa.and_(*parts), **kw) + ")"


@compiles(_SearchMatch, "postgresql")
def _search_pg(el: _SearchMatch, compiler, **kw) -> str:
    expr = sa.and_(*(_like_any(el.table, el.columns, w, True) for w in el.words))
    return "(" + compiler.process(expr, **kw) + ")"


def search_words(text: str | None) -> list[str]:
    """The words of a quick search, each once (control characters separate words too)."""
    return list(dict.fromkeys((text or "").translate(_CONTROL).split()))


def search_condition(schema: Schema, type_name: str, text: str, *,
                     policy: Any = None) -> ColumnElement:
    """A WHERE condition: records where every word of `text` is in some searched field.

    With an access `policy`, fields the actor sees masked or hidden are not searched (a
    search would tell what the mask hides), except on the rows where the actor sees them.
    """
    rt = schema.workspace.type(type_name)
    words = search_words(text)
    if not words:
        return sa.true()
    columns, guarded = search_columns(rt), {}
    if policy is not None:
        columns, guarded = policy.search_columns(type_name, columns)
    if not columns and not guarded:
        return sa.false()
    table = schema.table(type_name)
    if not guarded:
        return _SearchMatch(table, rt, words, columns)
    from lowrise import filters

    ctx = policy.context()
    guards = {c: filters.to_sql(node, schema, ctx) for c, node in guarded.items()}
    parts = []
    for word in words:
        pattern = f"%{like_escape(word)}%"
        alts = [_SearchMatch(table, rt, [word], columns)] if columns else []
        alts += [sa.and_(table.c[c].ilike(pattern, escape="\\"), g) for c, g in guards.items()]
        parts.append(sa.or_(*alts))
    return sa.and_(*parts)


def global_search(conn: sa.Connection, schema: Schema, ws: Workspace, text: str,
                  limit_per_type: int = 5, *, ctx: Any = None) -> list[SearchHit]:
    """Records of every type matching `text`, at most `limit_per_type` of each, newest first.
    With an Actor as `ctx`, only what it may read: its types, its rows, its fields."""
    from lowrise import access

    from .query import where_clause

    hits: list[SearchHit] = []
    if not search_words(text):
        return hits
    pol = access.policy(ws, ctx)
    for rt in ws.record_types.values():
        if not search_columns(rt) or (pol is not None and not pol.may("read", rt.name)):
            continue
        table = schema.table(rt.name)
        title = rt.fields.get(rt.title_field)
        cols = [table.c.id] + ([table.c[title.name]] if title is not None else [])
        if pol is not None:
            cols += pol.flag_columns(schema, rt.name)
        stmt = (sa.select(*cols).where(where_clause(schema, rt.name, None, ctx, q=text))
                .order_by(table.c.id.desc()).limit(limit_per_type))
        for row in conn.execute(stmt).mappings():
            value = row[title.name] if title is not None else None
            shown = _title(title, value) if title is not None else ""
            if pol is not None and title is not None:
                seen = pol.finish(rt.name, {**row, title.name: shown})
                shown = seen.get(title.name) or ""
            hits.append(SearchHit(rt.name, row["id"], shown or f"#{row['id']}"))
    return hits


def _title(f, value: t.Any) -> str:
    if value is None:
        return ""
    return f.kind.display(f, f.kind.from_db(f, value))
