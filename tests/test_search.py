"""Quick search: FTS5 trigram on SQLite, pg_trgm on PostgreSQL; global search across types."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lowrise.storage import query as Q
from lowrise.storage.search import (
    global_search,
    search_columns,
    search_condition,
    search_ddl,
    search_drop_ddl,
)
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts

WS = {
    "workspace.yaml": "label: Test\ndefault_locale: zh\nlocales: [zh, en]\nusers: staff\n",
    "schemas/staff.yaml": "title: name\nsearch: [name]\nfields:\n  name: {type: text}\n",
    "schemas/client.yaml": """
title: name
search: [name, phone, notes, rank]
fields:
  name: {type: text}
  rank: {type: text}
  phone: {type: phone}
  notes: {type: long_text}
  budget: {type: currency}
""",
    # `case` is a reserved word in SQL: every statement must quote it.
    "schemas/case.yaml": """
title: name
fields:
  name: {type: text}
  client: {type: link, target: client}
""",
    "schemas/deal.yaml": "fields:\n  amount: {type: currency}\n",
}

CLIENTS = [
    {"name": "张三丰", "phone": "13800001111", "notes": "想要三居室"},
    {"name": "李四", "phone": "13900002222", "notes": None},
    {"name": "Zhang Sanfeng", "phone": None, "notes": "prefers VILLA"},
    {"name": 'O\'Brien "quote"', "phone": None, "notes": "100% real_deal"},
    {"name": "Anna", "phone": None, "notes": "1000 real-deal", "rank": "金牌顾问"},
]


@pytest.fixture(scope="module")
def ws():
    return load_workspace_from_texts(WS)


@pytest.fixture
def db(engine, ws):
    schema = build_schema(ws)
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
        for rt in ws.record_types.values():
            for stmt in search_ddl(schema, rt, conn.dialect.name):
                conn.exec_driver_sql(stmt)
    with engine.connect() as conn:
        clients = schema.table("client")
        for c in CLIENTS:
            conn.execute(sa.insert(clients).values(version=1, **c))
        conn.execute(sa.insert(schema.table("case")).values(version=1, name="张三丰 的案子"))
        conn.commit()
        yield conn, schema


def names(conn, schema, text, type_name="client"):
    page = Q.list_records(conn, schema, type_name, q=text, sort=["id"], limit=50)
    return [r["name"] for r in page.rows]


SEARCHES = [
    ("张三丰", ["张三丰"]),                       # three characters: the trigram index
    ("三丰", ["张三丰"]),                         # two: LIKE
    ("三居室", ["张三丰"]),                       # in another searched field
    ("zhang", ["Zhang Sanfeng"]),                # case does not matter
    ("ZHANG sAn", ["Zhang Sanfeng"]),            # every word must match
    ("villa", ["Zhang Sanfeng"]),
    ("0000", ["张三丰", "李四"]),                 # the phone number
    ("100%", ['O\'Brien "quote"']),              # % is a character, not a wildcard
    ("real_deal", ['O\'Brien "quote"']),         # and so is _
    ('"quote"', ['O\'Brien "quote"']),           # quotes cannot break the FTS query
    ("O'Brien", ['O\'Brien "quote"']),
    ("nobody", []),
    ("金牌顾问 anna", ["Anna"]),                 # `rank` is no FTS5 column: LIKE finds it
    ("   ", ["张三丰", "李四", "Zhang Sanfeng", 'O\'Brien "quote"', "Anna"]),
]


def test_search_finds_substrings_in_any_searched_field(db):
    conn, schema = db
    for text, expected in SEARCHES:
        assert names(conn, schema, text) == expected, text


def test_search_follows_updates_and_deletes(db):
    conn, schema = db
    clients = schema.table("client")
    conn.execute(sa.update(clients).where(clients.c.name == "李四").values(name="王五六"))
    conn.execute(sa.update(clients).where(clients.c.name == "Anna").values(budget=5))
    conn.execute(sa.delete(clients).where(clients.c.name == "张三丰"))
    conn.commit()
    assert names(conn, schema, "王五六") == ["王五六"]
    assert names(conn, schema, "李四") == []
    assert names(conn, schema, "张三丰") == []
    assert names(conn, schema, "Anna") == ["Anna"]
    assert Q.count(conn, schema, "client", q="real") == 2


def test_search_combines_with_a_filter(db):
    conn, schema = db
    page = Q.list_records(conn, schema, "client", q="real",
                          filter={"field": "name", "op": "starts_with", "value": "a"})
    assert [r["name"] for r in page.rows] == ["Anna"]


def test_reserved_word_type_and_global_search(db, ws):
    conn, schema = db
    assert names(conn, schema, "案子", "case") == ["张三丰 的案子"]
    hits = global_search(conn, schema, ws, "张三丰", limit_per_type=5)
    assert sorted((h.type, h.title) for h in hits) == [("case", "张三丰 的案子"),
                                                       ("client", "张三丰")]
    assert len(global_search(conn, schema, ws, "a", limit_per_type=2)) == 2
    assert global_search(conn, schema, ws, " ") == []


def test_types_without_text_to_search(db, ws):
    conn, schema = db
    assert search_columns(ws.type("deal")) == []
    assert Q.count(conn, schema, "deal", q="x") == 0
    assert str(search_condition(schema, "client", "")) == "true"


def test_ddl_is_data_reruns_and_drops(db, ws):
    conn, schema = db
    rt = ws.type("case")
    sqlite_ddl = search_ddl(schema, rt, "sqlite")
    assert any('fts5(name, content="case"' in s and "trigram" in s for s in sqlite_ddl)
    assert any('AFTER UPDATE OF name ON "case"' in s for s in sqlite_ddl)
    assert search_ddl(schema, rt, "postgresql")[1] == (
        'CREATE INDEX IF NOT EXISTS lr_trgm_case_name ON "case" USING gin (name gin_trgm_ops)')
    dialect = conn.dialect.name
    for stmt in search_ddl(schema, rt, dialect):  # a second run changes nothing
        conn.exec_driver_sql(stmt)
    conn.commit()
    assert names(conn, schema, "案子", "case") == ["张三丰 的案子"]
    for stmt in search_drop_ddl(schema, rt, dialect):
        conn.exec_driver_sql(stmt)
    conn.commit()
    inspector = sa.inspect(conn)
    if dialect == "sqlite":
        assert "lr_fts_case" not in inspector.get_table_names()
    else:
        assert "lr_trgm_case_name" not in [i["name"] for i in inspector.get_indexes("case")]


def test_postgresql_search_uses_the_trigram_index(db):
    conn, schema = db
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql("INSERT INTO client (name, version) "
                         "SELECT 'name ' || g, 1 FROM generate_series(1, 2000) g")
    conn.exec_driver_sql("ANALYZE client")
    conn.exec_driver_sql("SET enable_seqscan = off")  # a small table: ask whether it *can*
    table = schema.table("client")
    stmt = sa.select(table.c.id).where(search_condition(schema, "client", "张三丰"))
    compiled = stmt.compile(conn)
    plan = "\n".join(r[0] for r in conn.exec_driver_sql(
        "EXPLAIN " + str(compiled), compiled.params))
    assert "Bitmap Index Scan on lr_trgm_client_name" in plan, plan
    assert "Bitmap Index Scan on lr_trgm_client_notes" in plan, plan
