"""Importing records: CSV in UTF-8, GBK and UTF-16 and XLSX; columns matched by name or label
in either locale and re-mapped; select values by label, links by title; the check of every
row; all or nothing, or only the valid rows with the refused ones as CSV; the background job
with progress; automations run or skipped; the `lowrise import` command."""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner

from lowrise import import_preview, importer
from lowrise.actor import Actor
from lowrise.importjobs import ImportJobs
from lowrise.storage import migrate
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from test_web_support import SMALL, make_workspace

ACTOR = Actor(name="importer", system=True)  # the engine under test, not permissions


@pytest.fixture
def records(engine):
    ws = make_workspace()
    schema = build_schema(ws)
    with engine.connect() as conn:
        migrate.apply(engine, migrate.plan(conn, schema))
    recs = Records(engine, schema)
    recs.create("staff", {"name": "王芳"}, ACTOR)
    recs.create("staff", {"name": "Li Lei"}, ACTOR)
    return recs


def csv_bytes(rows, encoding="utf-8"):
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode(encoding)


CLIENTS = [
    ["姓名", "手机", "来源", "Tags", "顾问", "Budget", "born_on"],
    ["张三", "138 0000 0001", "转介绍", "VIP、Cash buyer", "王芳", "￥1,200,000", "1980年3月5日"],
    ["李四", "13800000002", "Walk-in", "", "Li Lei", "800000", "1990/12/1"],
    ["王五", "13800000003", "walk_in", "vip", "", "", ""],
]


def load(records, rows, *, encoding="utf-8", type_name="client", mapping=None):
    sheet = importer.read_csv(csv_bytes(rows, encoding))
    rt = records.schema.workspace.type(type_name)
    mapping = importer.check_mapping(rt, mapping or importer.guess_mapping(rt, sheet.headers))
    return sheet, importer.prepare(records, type_name, sheet, mapping, ACTOR)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_csv_in_common_encodings(encoding):
    data = csv_bytes(CLIENTS, encoding)
    sheet = importer.read_csv(data)
    assert sheet.headers[:3] == ["姓名", "手机", "来源"]
    assert sheet.rows[0][0] == "张三" and sheet.rows[0][3] == "VIP、Cash buyer"


def test_semicolon_separated_csv_is_read():
    sheet = importer.read_csv(b"name;phone\nA;1\nB;2\n")
    assert sheet.headers == ["name", "phone"] and sheet.rows == [["A", "1"], ["B", "2"]]


def test_columns_match_names_and_labels_in_either_locale():
    rt = make_workspace().type("client")
    assert importer.guess_mapping(rt, ["姓名", " Mobile ", "SOURCE", "tags", "顾问", "x", "name"]) \
        == ["name", "phone", "source", "tags", "consultant", None, None]


def test_a_missing_required_column_is_refused():
    rt = make_workspace().type("client")
    with pytest.raises(importer.ImportFileError, match="Name"):
        importer.check_mapping(rt, [None, "phone"])


def test_values_become_what_is_stored(records):
    _sheet, prepared = load(records, CLIENTS, encoding="gbk")
    checked = importer.check(records, "client", prepared, ACTOR)
    assert checked.errors == {}
    first = checked.stored[0]
    assert first["phone"] == "13800000001" and first["source"] == "referral"
    assert first["tags"] == ["vip", "cash"] and str(first["budget"]) == "1200000.00"
    assert first["consultant"] == 1 and str(first["born_on"]) == "1980-03-05"
    assert checked.stored[1]["consultant"] == 2 and str(checked.stored[1]["born_on"]) == "1990-12-01"


def test_every_failing_row_is_reported_with_its_reason(records):
    records.create("client", {"name": "Existing", "phone": "13900000000"}, ACTOR)
    rows = [CLIENTS[0],
            ["A", "13900000000", "", "", "", "", ""],        # phone taken
            ["B", "13900000001", "walk in?", "", "", "", ""],  # no such option
            ["", "13900000002", "", "", "", "", ""],         # name required
            ["D", "13900000003", "", "", "Nobody", "", ""],  # no such consultant
            ["E", "13900000003", "", "", "", "-5", ""],      # same phone as row 4; budget < 0
            ["F", "13900000009", "", "", "", "", "yesterday-ish"]]
    _sheet, prepared = load(records, rows)
    checked = importer.check(records, "client", prepared, ACTOR)
    assert set(checked.errors) == {0, 1, 2, 3, 4, 5}
    assert "already used" in checked.errors[0]["phone"]
    assert "not one of the options" in checked.errors[1]["source"]
    assert checked.errors[2]["name"] == "is required"
    assert checked.errors[3]["consultant"] == "'Nobody' names no Person"
    assert "row 4" in checked.errors[4]["phone"] and "at least" in checked.errors[4]["budget"]
    assert "not a date" in checked.errors[5]["born_on"]
    assert checked.valid == 0


def test_all_or_nothing_writes_nothing_when_a_row_fails(records):
    rows = [*CLIENTS, ["Bad", "not a phone", "", "", "", "", ""]]
    _sheet, prepared = load(records, rows)
    result = importer.run(records, "client", prepared, ACTOR, mode="all")
    assert not result.written and result.created == 0 and list(result.errors) == [3]
    assert _count(records, "client") == 0


def test_only_valid_rows_and_the_refused_ones_as_csv(records):
    rows = [*CLIENTS, ["Bad", "not a phone", "", "", "", "", ""]]
    sheet, prepared = load(records, rows)
    result = importer.run(records, "client", prepared, ACTOR, mode="valid")
    assert result.written and result.created == 3 and list(result.errors) == [3]
    assert _count(records, "client") == 3
    text = "".join(importer.error_rows_csv(sheet, result.errors, records.schema.workspace
                                           .type("client")))
    out = list(csv.reader(io.StringIO(text)))
    assert out[0] == [*CLIENTS[0], "error"]
    assert out[1][:2] == ["Bad", "not a phone"] and out[1][-1].startswith("Mobile 'not a phone'")


def test_links_by_title_and_by_id_and_ambiguous_titles(records):
    a = records.create("client", {"name": "Acme"}, ACTOR)
    records.create("client", {"name": "Twin"}, ACTOR)
    records.create("client", {"name": "Twin"}, ACTOR)
    rows = [["Title", "Client", "Stage", "Amount"],
            ["One", "Acme", "Won", "10"],
            ["Two", f"#{a['id']}", "赢单", "20"],
            ["Three", "Twin", "", ""],
            ["Four", "#99999", "", ""]]
    _sheet, prepared = load(records, rows, type_name="deal")
    checked = importer.check(records, "deal", prepared, ACTOR)
    assert checked.stored[0]["client"] == a["id"] and checked.stored[0]["stage"] == "won"
    assert checked.stored[1]["client"] == a["id"] and checked.stored[1]["stage"] == "won"
    assert checked.errors[2]["client"].startswith("'Twin' names 2 Clients; write the one you "
                                                  "mean as #id")
    assert "no Client #99999" in checked.errors[3]["client"]
    result = importer.run(records, "deal", prepared, ACTOR, mode="valid")
    assert result.created == 2
    assert [d["number"] for d in _all(records, "deal")] == ["D-0001", "D-0002"]


def test_xlsx_with_typed_cells(records, tmp_path):
    from datetime import datetime

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Name", "Mobile", "Source", "born_on", "visits", "VIP client"])
    ws.append(["Excel Wang", 13800000009, "到访", datetime(1985, 6, 1), 3.0, "是"])
    path = tmp_path / "clients.xlsx"
    wb.save(path)
    sheet = importer.read_file(path)
    rt = records.schema.workspace.type("client")
    prepared = importer.prepare(records, "client", sheet, importer.guess_mapping(rt, sheet.headers),
                                ACTOR)
    result = importer.run(records, "client", prepared, ACTOR)
    assert result.created == 1, result.errors
    (rec,) = _all(records, "client")
    assert rec["phone"] == "13800000009" and rec["source"] == "walk_in"
    assert str(rec["born_on"]) == "1985-06-01" and rec["visits"] == 3 and rec["vip"] is True


def test_automations_run_or_are_skipped(records):
    seen = []
    records.hooks.append(lambda conn, change, actor, recs: seen.append(change.record_id))
    _sheet, prepared = load(records, CLIENTS)
    importer.run(records, "client", prepared, ACTOR, run_hooks=False)
    assert seen == []
    _sheet, prepared = load(records, [CLIENTS[0], ["New", "13700000000", "", "", "", "", ""]])
    importer.run(records, "client", prepared, ACTOR, run_hooks=True)
    assert len(seen) == 1


def test_background_job_records_progress_and_the_refused_rows(records, tmp_path):
    path = tmp_path / "clients.csv"
    path.write_bytes(csv_bytes([*CLIENTS, ["Bad", "x", "", "", "", "", ""]], "gbk"))
    jobs = ImportJobs(records.engine)
    job = jobs.create("client", "clients.csv", path, account_id=None)
    jobs.update(job.id, mode="valid")
    job = jobs.get(job.id)
    seen = []
    jobs.start(job, records, ACTOR).join(timeout=60)
    done = jobs.get(job.id)
    seen.append(done.status)
    assert done.status == "done" and done.created == 3 and done.refused == 1
    assert done.percent == 100
    refused = "".join(import_preview.refused_csv(done.errors_path, records.schema.workspace
                                                 .type("client"), "zh"))
    assert refused.startswith("\ufeff") and "error" in refused.splitlines()[0]
    assert "Bad,x" in refused and "手机：“x”不是有效的电话号码" in refused


def test_a_failing_job_says_why(records, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"\n\n")
    jobs = ImportJobs(records.engine)
    job = jobs.create("client", "empty.csv", path, account_id=None)
    jobs.start(job, records, ACTOR).join(timeout=60)
    failed = jobs.get(job.id)
    assert failed.status == "failed" and "no rows" in failed.message


def test_cli_import(tmp_path, db_url):
    root = tmp_path / "ws"
    for name, text in SMALL.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    path = tmp_path / "clients.csv"
    rows = [["姓名", "手机", "来源", "Tags", "顾问"], ["张三", "13800000001", "转介绍", "", ""],
            ["Bad", "nope", "", "", ""]]
    path.write_bytes(csv_bytes(rows, "gbk"))
    from lowrise.cli import main

    runner = CliRunner()
    base = ["-w", str(root), "--database", db_url, "--instance", str(tmp_path / "inst")]
    assert runner.invoke(main, [*base, "migrate", "--yes"]).exit_code == 0
    refused = runner.invoke(main, [*base, "import", "client", str(path)])
    assert refused.exit_code == 1 and "nothing was imported" in refused.output
    dry = runner.invoke(main, [*base, "import", "client", str(path), "--dry-run"])
    assert "1 rows would be imported, 1 refused" in dry.output
    errors = tmp_path / "refused.csv"
    ok = runner.invoke(main, [*base, "import", "client", str(path), "--valid-only",
                              "--skip-automations", "--map", "Tags=", "--errors", str(errors)])
    assert ok.exit_code == 0, ok.output
    assert "Imported 1 Clients (without automations); 1 row(s) refused" in ok.output
    assert "gb18030" in ok.output and "Tags" in ok.output and "(skipped)" in ok.output
    assert "nope" in errors.read_text(encoding="utf-8-sig")


def _all(records, type_name):
    import sqlalchemy as sa

    t = records.schema.table(type_name)
    with records.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t).order_by(t.c.id)).mappings()]


def _count(records, type_name):
    return len(_all(records, type_name))


def test_cells_that_repeat_down_a_column_are_read_alike_in_every_row(records):
    """A value met again in a column is read once (a memo): each row still gets its own
    stored value or its own refusal."""
    rows = [CLIENTS[0]]
    for i in range(600):
        rows.append([f"客户{i}", f"139{i:08d}", ["转介绍", "Walk-in", "walk in?"][i % 3],
                     "VIP、Cash buyer" if i % 2 else "", ["王芳", "Li Lei"][i % 2],
                     "￥1,200,000" if i % 5 else "-5", "1980年3月5日"])
    _sheet, prepared = load(records, rows)
    checked = importer.check(records, "client", prepared, ACTOR)
    refused = {i for i in range(600) if i % 3 == 2 or i % 5 == 0}
    assert set(checked.errors) == refused
    assert all("not one of the options" in checked.errors[i]["source"]
               for i in refused if i % 3 == 2)
    assert all("at least" in checked.errors[i]["budget"] for i in refused if i % 5 == 0)
    good = [i for i in range(600) if i not in refused]
    assert {str(checked.stored[i]["born_on"]) for i in good} == {"1980-03-05"}
    assert {checked.stored[i]["source"] for i in good} == {"referral", "walk_in"}
    assert checked.stored[1]["tags"] == ["vip", "cash"] and "tags" not in checked.stored[4]
    checked.stored[1]["tags"].append("changed")  # every record has its own list
    assert checked.stored[7]["tags"] == ["vip", "cash"]
    assert [checked.stored[i]["consultant"] for i in (1, 4)] == [2, 1]
    result = importer.run(records, "client", prepared, ACTOR, mode="valid")
    assert result.written and result.created == len(good)
    stored = _all(records, "client")
    assert [r["name"] for r in stored] == [f"客户{i}" for i in good]
