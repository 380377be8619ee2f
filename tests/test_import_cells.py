"""What Excel, WPS and LibreOffice write, read by an import: ISO and Chinese dates and times,
amounts in 万 and 亿 and with currency signs; title rows above the header (skipped, or the
header row chosen); formula cells whose result the file does not hold (refused with the
reason, never read as 0); OpenDocument spreadsheets (.ods)."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from click.testing import CliRunner

from lowrise import importer, sheets
from lowrise.i18n import tr
from test_import import ACTOR, csv_bytes, records  # noqa: F401 - the fixture
from test_web_support import SMALL


def _check(recs, rows):
    sheet = importer.read_csv(csv_bytes(rows))
    rt = recs.schema.workspace.type("client")
    mapping = importer.check_mapping(rt, importer.guess_mapping(rt, sheet.headers))
    prepared = importer.prepare(recs, "client", sheet, mapping, ACTOR)
    return importer.check(recs, "client", prepared, ACTOR)


@pytest.mark.parametrize(("cell", "utc"), [
    ("2026-12-11T09:00", (1, 0)),                # ISO 8601 with T (Beijing time)
    ("2026-12-11T09:00:00+08:00", (1, 0)),
    ("2026-12-11T01:00:00Z", (1, 0)),
    ("2026/12/11 9:00", (1, 0)),                 # Excel zh-CN's yyyy/m/d h:mm
    ("2026/12/11 9:00:30", (1, 0)),
    ("2026年12月11日 下午3点", (7, 0)),
    ("2026年12月11日 下午3:30", (7, 30)),
    ("2026年12月11日 15时30分", (7, 30)),
    ("2026年12月11日 上午9点", (1, 0)),
])
def test_datetimes_as_spreadsheets_write_them(records, cell, utc):  # noqa: F811
    checked = _check(records, [["姓名", "next_call"], ["张三", cell]])
    assert not checked.errors, checked.errors
    got = checked.stored[0]["next_call"].astimezone(UTC)
    assert (got.date(), got.hour, got.minute) == (datetime(2026, 12, 11).date(), *utc)


def test_a_date_field_takes_the_day_of_a_date_and_time(records):  # noqa: F811
    checked = _check(records, [["姓名", "born_on"], ["张三", "2026/12/11 9:00"],
                               ["李四", "2026年12月11日 下午3点"]])
    assert [str(s["born_on"]) for s in checked.stored] == ["2026-12-11", "2026-12-11"]


@pytest.mark.parametrize(("cell", "amount"), [
    ("300万", "3000000.00"), ("1.2亿", "120000000.00"), ("3,250,000", "3250000.00"),
    ("￥3,250,000.00", "3250000.00"), ("¥3,250,000.00", "3250000.00"),
    ("3,200,000.50元", "3200000.50"), ("RMB 1,000", "1000.00"), ("２５万", "250000.00"),
])
def test_amounts_as_chinese_sheets_write_them(records, cell, amount):  # noqa: F811
    checked = _check(records, [["姓名", "Budget"], ["张三", cell]])
    assert not checked.errors, checked.errors
    assert checked.stored[0]["budget"] == Decimal(amount)


def test_a_bad_amount_is_still_refused(records):  # noqa: F811
    checked = _check(records, [["姓名", "Budget"], ["张三", "三百万"], ["李四", "-5万"]])
    assert "not a number" in str(checked.errors[0]["budget"])
    assert "at least" in str(checked.errors[1]["budget"])  # min: 0


# -- title rows and the header row -------------------------------------------------------------

def _xlsx(rows, *, merge: str | None = None) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    if merge:
        ws.merge_cells(merge)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_a_merged_title_row_above_the_header_is_skipped():
    data = _xlsx([["2026年12月 新客户登记表"], ["姓名", "手机"], ["张三", "13800000001"]],
                 merge="A1:B1")
    sheet = sheets.read_xlsx(data)
    assert sheet.headers == ["姓名", "手机"] and sheet.header_row == 2
    assert sheet.rows == [["张三", "13800000001"]]
    csv_sheet = importer.read_csv(csv_bytes([["客户登记表", ""], ["制表：王芳"], [],
                                             ["姓名", "手机"], ["张三", "1"]]))
    assert csv_sheet.headers == ["姓名", "手机"] and csv_sheet.header_row == 4


def test_a_sheet_of_one_column_keeps_its_first_row_as_header():
    sheet = importer.read_csv(b"name\nA\nB\n")
    assert sheet.headers == ["name"] and sheet.rows == [["A"], ["B"]]


def test_the_header_row_can_be_chosen(tmp_path):
    path = tmp_path / "two-headers.csv"
    path.write_bytes(csv_bytes([["Report", "of", "clients"], ["姓名", "手机", "来源"],
                                ["张三", "13800000001", "转介绍"]]))
    assert importer.read_file(path).headers == ["Report", "of", "clients"]
    chosen = importer.read_file(path, header_row=2)
    assert chosen.headers == ["姓名", "手机", "来源"] and chosen.header_row == 2
    assert chosen.rows == [["张三", "13800000001", "转介绍"]]


# -- formulas ----------------------------------------------------------------------------------

def _with_cached_value(data: bytes, value: str) -> bytes:
    """The workbook with a saved result for its formula (as Excel or LibreOffice save)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename.startswith("xl/worksheets/sheet"):
                body = re.sub(rb"(<f>[^<]*</f>)(<v\s*/>|<v></v>)?", rb"\1<v>" + value.encode()
                              + b"</v>", body)
            if info.filename == "xl/workbook.xml":  # Excel keeps its results: no recalculation
                body = body.replace(b' fullCalcOnLoad="1"', b"")
            dst.writestr(info, body)
    return out.getvalue()


def test_a_formula_without_a_saved_result_is_refused_not_read_as_zero(records):  # noqa: F811
    data = _xlsx([["姓名", "Budget"], ["张三", "=1500000*2"], ["李四", 800000]])
    sheet = sheets.read_xlsx(data)
    assert type(sheet.rows[0][1]) is sheets.Formula and sheet.rows[1][1] == 800000
    rt = records.schema.workspace.type("client")
    mapping = importer.check_mapping(rt, importer.guess_mapping(rt, sheet.headers))
    prepared = importer.prepare(records, "client", sheet, mapping, ACTOR)
    checked = importer.check(records, "client", prepared, ACTOR)
    assert set(checked.errors) == {0}
    why = checked.errors[0]["budget"]
    assert "=1500000*2" in tr(why, "en") and "Excel or WPS" in tr(why, "en")
    assert "计算结果" in tr(why, "zh")
    saved = sheets.read_xlsx(_with_cached_value(data, "3000000"))
    assert saved.rows[0][1] == 3000000  # a saved result is read as the value


def test_a_workbook_to_be_recalculated_on_opening_has_no_results_to_trust():
    data = _with_cached_value(_xlsx([["姓名", "Budget"], ["张三", "=1500000*2"]]), "0")
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:  # as xlsxwriter writes it: 0 and fullCalcOnLoad
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/workbook.xml":
                body = re.sub(rb"<calcPr[^>]*/>", b'<calcPr calcId="124519" fullCalcOnLoad="1"/>',
                              body)
                assert b"fullCalcOnLoad" in body
            dst.writestr(info, body)
    sheet = sheets.read_xlsx(out.getvalue())
    assert type(sheet.rows[0][1]) is sheets.Formula


# -- OpenDocument ------------------------------------------------------------------------------

def ods_bytes(rows) -> bytes:
    """A minimal OpenDocument spreadsheet, as LibreOffice's parts name it."""
    def cell(v):
        if isinstance(v, (int, float)):
            return (f'<table:table-cell office:value-type="float" office:value="{v}">'
                    f"<text:p>{v}</text:p></table:table-cell>")
        if isinstance(v, str) and v.startswith("date:"):
            d = v[5:]
            return (f'<table:table-cell office:value-type="date" office:date-value="{d}">'
                    f"<text:p>{d}</text:p></table:table-cell>")
        return f'<table:table-cell office:value-type="string"><text:p>{v}</text:p></table:table-cell>'
    body = "".join("<table:table-row>" + "".join(cell(v) for v in r) + "</table:table-row>"
                   for r in rows)
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="Sheet1">'
        f"{body}</table:table></office:spreadsheet></office:body></office:document-content>")
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type='
        '"application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", content)
        z.writestr("META-INF/manifest.xml", manifest)
    return out.getvalue()


ODS_ROWS = [["新客户登记表"], ["姓名", "手机", "Budget", "born_on"],
            ["张三", "13800000001", 3200000.5, "date:1980-03-05"]]


def test_an_ods_file_is_read(tmp_path, records):  # noqa: F811
    path = tmp_path / "clients.ods"
    path.write_bytes(ods_bytes(ODS_ROWS))
    sheets.probe(path)
    sheet = importer.read_file(path)
    assert sheet.headers == ["姓名", "手机", "Budget", "born_on"] and sheet.header_row == 2
    rt = records.schema.workspace.type("client")
    mapping = importer.check_mapping(rt, importer.guess_mapping(rt, sheet.headers))
    prepared = importer.prepare(records, "client", sheet, mapping, ACTOR)
    result = importer.run(records, "client", prepared, ACTOR)
    assert result.created == 1 and not result.errors
    stored = records.get("client", 1)
    assert stored["phone"] == "13800000001" and stored["budget"] == Decimal("3200000.50")
    assert str(stored["born_on"]) == "1980-03-05"


def test_a_damaged_ods_is_told(tmp_path):
    src = zipfile.ZipFile(io.BytesIO(ods_bytes(ODS_ROWS)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:  # a sound zip whose sheet's XML is cut short
        for info in src.infolist():
            body = src.read(info.filename)
            dst.writestr(info, body[:200] if info.filename == "content.xml" else body)
    path = tmp_path / "broken.ods"
    path.write_bytes(out.getvalue())
    with pytest.raises(sheets.ImportFileError) as exc:
        importer.read_file(path)
    assert "OpenDocument" in str(exc.value)


def test_cli_header_row_and_ods(tmp_path, db_url):
    root = tmp_path / "ws"
    for name, text in SMALL.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    from lowrise.cli import main

    runner = CliRunner()
    base = ["-w", str(root), "--database", db_url, "--instance", str(tmp_path / "inst")]
    assert runner.invoke(main, [*base, "migrate", "--yes"]).exit_code == 0
    path = tmp_path / "report.csv"
    path.write_bytes(csv_bytes([["Report", "of", "clients"], ["姓名", "手机", "来源"],
                                ["张三", "13800000001", "转介绍"]]))
    wrong = runner.invoke(main, [*base, "import", "client", str(path), "--dry-run"])
    assert wrong.exit_code == 1 and "no column matches" in wrong.output
    ok = runner.invoke(main, [*base, "import", "client", str(path), "--header-row", "2"])
    assert ok.exit_code == 0, ok.output
    assert "the header in row 2" in ok.output and "Imported 1 Clients" in ok.output
    ods = tmp_path / "clients.ods"
    ods.write_bytes(ods_bytes([["姓名", "手机"], ["李四", "13800000002"]]))
    again = runner.invoke(main, [*base, "import", "client", str(ods)])
    assert again.exit_code == 0 and "Imported 1 Clients" in again.output, again.output
