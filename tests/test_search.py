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


def _trigger_sql(conn) -> str | None:
    return conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                                "AND name = 'lr_fts_client_ai'").scalar()


def test_bulk_create_is_searchable_at_once_and_keeps_the_trigger(db, engine):
    from lowrise.actor import Actor
    from lowrise.storage.records import Records
    from lowrise.storage.search import BATCH_FILL_FROM

    conn, schema = db
    records = Records(engine, schema)
    actor = Actor(name="bulk", system=True)
    before = _trigger_sql(conn) if conn.dialect.name == "sqlite" else None
    rows = [{"name": f"客户{i:04d}", "notes": "普通"} for i in range(3 * BATCH_FILL_FROM)]
    rows[73] = {"name": "赵钱孙李", "notes": "想要复式"}
    made = records.bulk_create("client", rows, actor, batch_size=BATCH_FILL_FROM)
    conn.commit()  # a new snapshot for the fixture's connection
    assert names(conn, schema, "赵钱孙") == ["赵钱孙李"]
    assert names(conn, schema, "复式") == ["赵钱孙李"]
    assert Q.count(conn, schema, "client", q="普通") == 3 * BATCH_FILL_FROM - 1
    assert names(conn, schema, f"客户{3 * BATCH_FILL_FROM - 1:04d}") == [
        f"客户{3 * BATCH_FILL_FROM - 1:04d}"]
    if conn.dialect.name == "sqlite":
        assert _trigger_sql(conn) == before  # the per-row trigger is back, as it was
    # Records made in bulk follow updates and deletes, and single creates are indexed.
    records.update("client", made[73]["id"], {"name": "周吴郑王"}, actor)
    records.delete("client", made[74]["id"], actor)
    records.create("client", {"name": "冯陈褚卫"}, actor)
    conn.commit()
    assert names(conn, schema, "赵钱孙") == []
    assert names(conn, schema, "周吴郑") == ["周吴郑王"]
    assert names(conn, schema, "客户0074") == []
    assert names(conn, schema, "冯陈褚") == ["冯陈褚卫"]
    records.restore("client", made[74]["id"], actor)
    conn.commit()
    assert names(conn, schema, "客户0074") == ["客户0074"]


def test_a_failed_bulk_create_leaves_search_as_it_was(db, engine):
    from lowrise.actor import Actor
    from lowrise.errors import ValidationError
    from lowrise.storage.records import Records

    conn, schema = db
    records = Records(engine, schema)
    actor = Actor(name="bulk", system=True)

    def refuse(c, change, who, recs):
        if change.after["name"] == "no":
            raise ValidationError({"name": "refused"})

    records.hooks.append(refuse)
    rows = [{"name": f"甲乙丙{i}"} for i in range(200)]
    rows[150]["name"] = "no"
    with pytest.raises(ValidationError):
        records.bulk_create("client", rows, actor, batch_size=100)
    # In a transaction of the caller's that goes on and commits after the refusal, the
    # index trigger is there again too.
    with engine.begin() as c:
        with pytest.raises(ValidationError):
            records.bulk_create("client", rows, actor, conn=c, batch_size=100)
        if c.dialect.name == "sqlite":
            assert _trigger_sql(c) is not None
    conn.commit()
    records.create("client", {"name": "丁戊己"}, actor)
    conn.commit()
    assert names(conn, schema, "丁戊己") == ["丁戊己"]
    # The caller's committed transaction kept the batches it wrote (the hook refused a
    # record of the second, after its insert): the index holds every one of them.
    clients = schema.table("client")
    stored = conn.execute(sa.select(sa.func.count()).select_from(clients).where(
        clients.c.name.like("甲乙丙%"))).scalar_one()
    assert stored == 199
    assert Q.count(conn, schema, "client", q="甲乙丙") == stored


def test_control_characters_separate_words(db):
    """A NUL (or another control character) in a search is a space: FTS5 would end the
    phrase at it and PostgreSQL refuses it in text; nobody types one on purpose."""
    conn, schema = db
    assert names(conn, schema, "张三\x00丰") == names(conn, schema, "张三 丰") == ["张三丰"]
    assert names(conn, schema, "x\x00y") == []
    assert names(conn, schema, "\x00\x01\x7f") == names(conn, schema, "   ")
    assert Q.count(conn, schema, "client", q="zhang\x00sanfeng") == 1
    assert [h.title for h in global_search(conn, schema, schema.workspace, "张三\x00丰")]
