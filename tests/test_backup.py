"""`lowrise backup` / `restore` in the engine: every table carried row for row, ids and
counters kept, restored on the same and on the other kind of database; one consistent
snapshot while people keep working; tables and columns nobody declares carried too."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from lowrise.backup import backup, restore
from lowrise.backup.links import dangling_links
from lowrise.backup.tables import registry
from lowrise.comments import Comments
from lowrise.rules.worker import Worker
from lowrise.storage.migrate import plan
from lowrise.storage.tables import build_schema
from test_backup_support import (
    all_tables,
    assert_same_tables,
    flagship_instance,
    new_case,
    new_follow_up,
    open_instance,
    rows,
)

pytest_plugins = ["test_backup_support"]  # other_url, same_kind_url

#: the engine's tables the flagship instance fills: each must come back with its rows
FILLED = ("lr_audit", "lr_trash", "lr_counters", "lr_schema_log", "lr_timers", "lr_outbox",
          "lr_rule_runs", "lr_notifications", "lr_comments", "lr_comment_mentions",
          "lr_comment_trail", "lr_rule_state", "lr_users", "lr_api_tokens",
          "lr_login_attempts", "lr_imports", "lr_meta")


def test_every_table_comes_back_row_for_row_on_either_database(db_url, other_url, same_kind_url,
                                                               tmp_path):
    src = flagship_instance(tmp_path / "src", db_url)
    start_web_app(src)  # whatever tables the web layer makes when it starts exist now
    before = all_tables(src.engine, src.ws)
    out = tmp_path / "backup.zip"
    manifest = backup(out, engine=src.engine, workspace_dir=src.root, instance=src.instance)
    # every table of the engine's metadata, and every table the database has, is in it
    assert set(registry(src.ws)) <= set(manifest.tables)
    with src.engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
    assert {n for n in names if not n.startswith(("lr_fts_", "sqlite_"))} <= set(manifest.tables)
    assert set(before) <= set(manifest.tables)
    assert all(manifest.tables[n].rows > 0 for n in FILLED), \
        {n: manifest.tables[n].rows for n in FILLED}
    assert "secret_key" not in manifest.files  # only when asked for
    for n, url in enumerate((other_url, same_kind_url)):
        dest = tmp_path / f"copy{n}"
        result = restore(out, instance=dest / "instance", workspace_dir=dest, database_url=url)
        assert not result.warnings and result.workspace_written and result.files == 1
        copy = open_instance(dest, url, migrate=False)
        try:
            with copy.engine.connect() as conn:  # exactly what a migration would make
                assert plan(conn, build_schema(copy.ws)).is_empty
            assert_same_tables(before, all_tables(copy.engine, copy.ws))
            signed = copy.records.get("contract", rows(copy.engine, "contract")[0]["id"]
                                      )["attachment"]
            assert copy.records.files.path(signed[0]["key"]).read_bytes() == b"%PDF-1.4 signed"
            assert not (dest / "instance" / "secret_key").exists()
        finally:
            copy.engine.dispose()
    src.engine.dispose()


def start_web_app(inst) -> None:
    from lowrise.web import create_app

    app = create_app({"TESTING": True, "LOWRISE_WORKSPACE": str(inst.root),
                      "LOWRISE_INSTANCE": str(inst.instance), "DATABASE_URL": inst.url,
                      "LOWRISE_NULL_POOL": True})
    app.test_client().get("/auth/login")
    app.extensions["lowrise"].engine.dispose()


def test_ids_counters_and_timers_go_on_after_a_restore(db_url, other_url, tmp_path):
    src = flagship_instance(tmp_path / "src", db_url)
    trashed = src.records.trash("follow_up")[0]
    cases = rows(src.engine, "case")
    pending = rows(src.engine, "lr_timers", status="pending")
    assert pending
    backup(tmp_path / "b.zip", engine=src.engine, workspace_dir=src.root, instance=src.instance)
    src.engine.dispose()
    dest = tmp_path / "copy"
    restore(tmp_path / "b.zip", instance=dest / "instance", workspace_dir=dest,
            database_url=other_url)
    copy = open_instance(dest, other_url)
    try:
        # the newest follow-up is in the trash: its id is never handed out again
        made = new_follow_up(copy.records, cases[0]["client"], copy.boss.user, copy.boss)
        assert made["id"] == trashed["record_id"] + 1
        back = copy.records.restore("follow_up", trashed["record_id"], copy.boss)
        assert back["id"] == trashed["record_id"]
        case = new_case(copy.records, cases[0]["client"], copy.boss)
        assert case["id"] == max(c["id"] for c in cases) + 1
        numbers = sorted(int(c["case_no"].rsplit("-", 1)[1]) for c in cases)
        assert int(case["case_no"].rsplit("-", 1)[1]) == numbers[-1] + 1
        audit = rows(copy.engine, "lr_audit")
        assert audit[-1]["record_id"] == case["id"] and audit[-1]["id"] == len(audit)
        # the pending timers were kept: they fire when they come due
        later = max(t["due_at"] for t in pending) + timedelta(days=30)
        worker = Worker(copy.records, clock=lambda: later)
        done = worker.run_once()  # rules' timers, and approval steps that timed out
        assert done["timers"] + done.get("approvals", 0) >= len(pending)
        fired = {t["id"] for t in rows(copy.engine, "lr_timers", status="fired")}
        assert {t["id"] for t in pending} <= fired
    finally:
        copy.engine.dispose()


def test_a_backup_taken_while_people_work_is_one_moment(db_url, other_url, tmp_path):
    src = flagship_instance(tmp_path / "src", db_url, scale=0.03)
    stop, errors, made = threading.Event(), [], []

    def work(n: int) -> None:
        comments = Comments(src.records, src.accounts)
        try:
            for i in range(1, 10_000):
                if stop.is_set():
                    return
                c = src.records.create("client", {"name": f"客户{n}-{i}",
                                                  "phone": f"139{n}{i:07d}"}, src.boss)
                k = new_case(src.records, c["id"], src.boss)
                comments.add("case", k["id"], f"第{i}次来电", src.boss)
                src.records.update("client", c["id"], {"occupation": "教师"}, src.boss)
                made.append(c["id"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writers = [threading.Thread(target=work, args=(n,)) for n in (1, 2)]
    for w in writers:
        w.start()
    while len(made) < 4 and not errors:
        time.sleep(0.05)
    out = tmp_path / "b.zip"
    # a pause after each table, so that the writers get in between the tables
    manifest = backup(out, engine=src.engine, workspace_dir=src.root, instance=src.instance,
                      progress=lambda *_: time.sleep(0.03))
    stop.set()
    for w in writers:
        w.join()
    assert not errors
    in_backup = manifest.tables["client"].rows
    assert len(rows(src.engine, "client")) > in_backup  # people kept working meanwhile
    dest = tmp_path / "copy"
    result = restore(out, instance=dest / "instance", workspace_dir=dest,
                     database_url=other_url)
    assert not result.warnings
    copy = open_instance(dest, other_url, migrate=False)
    try:
        with copy.engine.connect() as conn:
            assert dangling_links(conn, copy.ws) == []
        records = {(t, r["id"]): r["version"] for t in ("client", "case")
                   for r in rows(copy.engine, t)}
        assert len([k for k in records if k[0] == "client"]) == in_backup
        # a comment, and every audit entry, is about a record in the backup; each record's
        # version is its newest audit entry's: they were written together, read together
        for c in rows(copy.engine, "lr_comments"):
            assert (c["record_type"], c["record_id"]) in records or c["record_type"] not in (
                "client", "case")
        newest: dict[tuple[str, int], int] = {}
        for a in rows(copy.engine, "lr_audit"):
            if a["record_type"] in ("client", "case"):
                key = (a["record_type"], a["record_id"])
                assert key in records, a
                newest[key] = max(newest.get(key, 0), a["version"] or 0)
        assert newest == records
    finally:
        copy.engine.dispose()
        src.engine.dispose()


def test_a_table_and_a_column_nobody_declares_come_back(db_url, other_url, tmp_path):
    src = flagship_instance(tmp_path / "src", db_url, scale=0.02)
    when = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
    extra = sa.Table("plugin_notes", sa.MetaData(),
                     sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("note", sa.Text), sa.Column("at", sa.DateTime),
                     sa.Column("amount", sa.Numeric(12, 3)), sa.Column("big", sa.BigInteger))
    with src.engine.begin() as conn:
        extra.create(conn)
        conn.execute(extra.insert(), [
            {"id": 7, "note": "第一条", "at": when.replace(tzinfo=None), "amount": "12.345",
             "big": 2**40}])
        # a field deleted from the YAML keeps its column (and values) until migrate --prune
        conn.exec_driver_sql("ALTER TABLE client ADD COLUMN legacy_code VARCHAR(20)")
        conn.exec_driver_sql("UPDATE client SET legacy_code = 'L-' || CAST(id AS VARCHAR(10))")
    before = all_tables(src.engine, src.ws)
    out = tmp_path / "b.zip"
    manifest = backup(out, engine=src.engine, workspace_dir=src.root, instance=src.instance)
    assert manifest.tables["plugin_notes"].rows == 1
    src.engine.dispose()
    dest = tmp_path / "copy"
    restore(out, instance=dest / "instance", workspace_dir=dest, database_url=other_url)
    copy = open_instance(dest, other_url, migrate=False)
    try:
        assert_same_tables(before, all_tables(copy.engine, copy.ws))
        note = rows(copy.engine, "plugin_notes")[0]
        assert (note["note"], str(note["amount"]), note["big"]) == ("第一条", "12.345", 2**40)
        with copy.engine.connect() as conn:
            the_plan = plan(conn, build_schema(copy.ws))
        # the kept column is reported as before, never dropped
        assert the_plan.is_empty and {(s.table, getattr(s, "column", None))
                                      for s in the_plan.unused} == {
            ("client", "legacy_code"), ("plugin_notes", None)}
        assert rows(copy.engine, "client")[0]["legacy_code"].startswith("L-")
    finally:
        copy.engine.dispose()
