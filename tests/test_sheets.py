"""Reading an import's file within limits: an XLSX's declared size is not believed, rows are
streamed and reading stops at the row and column limits, a workbook's parts are measured
before they are parsed, a CSV is read a line at a time with the same limits."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from lowrise import sheets
from lowrise.sheets import ImportFileError, read_csv, read_file

NS = "http://schemas.openxmlformats.org"
PARTS = {
    "[Content_Types].xml": (
        f'<Types xmlns="{NS}/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
        'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.worksheet+xml"/></Types>'),
    "_rels/.rels": (
        f'<Relationships xmlns="{NS}/package/2006/relationships"><Relationship Id="rId1" '
        f'Type="{NS}/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        f'<workbook xmlns="{NS}/spreadsheetml/2006/main" xmlns:r="{NS}/officeDocument/2006/'
        'relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets>'
        '</workbook>'),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{NS}/package/2006/relationships"><Relationship Id="rId1" '
        f'Type="{NS}/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>'),
}


def workbook(path: Path, rows, *, dimension: str = "A1:XFD1048576") -> Path:
    """An .xlsx written by hand: `rows` is (row number, [(cell, text)...]) pairs, streamed
    into the sheet's XML (a million rows never sit in memory here either)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, text in PARTS.items():
            zf.writestr(name, text)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(f'<worksheet xmlns="{NS}/spreadsheetml/2006/main"><dimension ref="'
                     f'{dimension}"/><sheetData>'.encode())
            for r, cells in rows:
                fh.write((f'<row r="{r}">' + "".join(
                    f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>' for ref, text in cells)
                    + "</row>").encode())
            fh.write(b"</sheetData></worksheet>")
    return path


def _in_a_capped_process(code: str, cap_mb: int = 1024) -> subprocess.CompletedProcess:
    """Run `code` in a Python whose address space is capped: a reader that believed the
    sheet's declared size would need about 137 GB and dies of MemoryError here, instead of
    taking the machine's memory."""
    prelude = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(Path(sheets.__file__).parents[1])!r})
        resource.setrlimit(resource.RLIMIT_AS, ({cap_mb} << 20, {cap_mb} << 20))
    """)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)


def test_a_small_workbook_declaring_the_largest_sheet_is_read_as_what_it_holds(tmp_path):
    """1.5 KB, `<dimension ref="A1:XFD1048576"/>`, cells in rows 1, 2 and 1,048,576."""
    bomb = workbook(tmp_path / "bomb.xlsx", [(1, [("A1", "Name"), ("B1", "Mobile")]),
                                            (2, [("A2", "Zhang"), ("B2", "13800000001")]),
                                            (1048576, [("A1048576", "Li")])])
    assert bomb.stat().st_size < 2000
    done = _in_a_capped_process(f"""
        from lowrise.sheets import read_file
        sheet = read_file({str(bomb)!r})
        print(sheet.headers, sheet.rows)
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['Name', 'Mobile'] [['Zhang', '13800000001'], ['Li', None]]"


def test_a_value_past_the_column_limit_is_refused(tmp_path):
    bomb = workbook(tmp_path / "bomb.xlsx", [(1, [("A1", "Name")]), (2, [("A2", "Zhang")]),
                                            (1048576, [("XFD1048576", "far")])])
    done = _in_a_capped_process(f"""
        from lowrise.sheets import ImportFileError, read_file
        try:
            read_file({str(bomb)!r})
        except ImportFileError as exc:
            print(exc)
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ("row 1048576 has a value in column 16,384; at most 1,000 "
                                   "columns can be imported")


@pytest.fixture(scope="module")
def million_and_a_half(tmp_path_factory) -> Path:
    """1.5 million one-cell rows: about 90 MB of XML in a zip of about 12 MB."""
    rows = ((n, [(f"A{n}", f"x{n}")]) for n in range(1, 1_500_001))
    return workbook(tmp_path_factory.mktemp("big") / "rows.xlsx", rows, dimension="A1")


def test_reading_stops_at_the_row_limit_with_bounded_memory(million_and_a_half, monkeypatch):
    with zipfile.ZipFile(million_and_a_half) as zf:
        xml = zf.getinfo("xl/worksheets/sheet1.xml")
    assert xml.file_size > 80 << 20 and million_and_a_half.stat().st_size < 16 << 20
    monkeypatch.setattr(sheets, "MAX_ROWS", 20_000)
    pulled = []
    rows = sheets._xlsx_rows

    def counted(ws):
        for row in rows(ws):
            pulled.append(1)
            yield row

    monkeypatch.setattr(sheets, "_xlsx_rows", counted)
    tracemalloc.start()
    try:
        with pytest.raises(ImportFileError, match="more than 20,000 rows; at most 20,000"):
            read_file(million_and_a_half)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(pulled) == 20_002  # the header, the rows allowed, and the one too many
    assert peak < 64 << 20, peak


def test_a_part_over_the_size_limit_is_refused_before_it_is_parsed(million_and_a_half,
                                                                   monkeypatch):
    monkeypatch.setattr(sheets, "MAX_PART_BYTES", 10 << 20)
    parsed = []
    monkeypatch.setattr(sheets, "_xlsx_rows", lambda ws: parsed.append(ws) or iter(()))
    with pytest.raises(ImportFileError, match=r"part xl/worksheets/sheet1\.xml is \d+ MB "
                                              r"uncompressed; at most 10 MB"):
        read_file(million_and_a_half)
    assert parsed == []
    monkeypatch.setattr(sheets, "MAX_PART_BYTES", 512 << 20)
    monkeypatch.setattr(sheets, "MAX_WORKBOOK_BYTES", 20 << 20)
    with pytest.raises(ImportFileError, match=r"the workbook is \d+ MB uncompressed"):
        read_file(million_and_a_half)


def test_trailing_empty_cells_and_blank_rows_are_dropped(tmp_path):
    path = workbook(tmp_path / "t.xlsx", [
        (1, [("A1", "Name"), ("B1", "Mobile"), ("Z1", "")]),
        (3, [("A3", "Zhang"), ("AZ3", " ")]),
        (5, [("B5", "13800000002")])])
    sheet = read_file(path)
    assert sheet.headers == ["Name", "Mobile"]
    assert sheet.rows == [["Zhang", None], [None, "13800000002"]]


def test_a_damaged_workbook_is_refused_plainly(tmp_path):
    for data in (b"PK\x03\x04garbage", _zip_of({"xl/workbook.xml": "<not xml"})):
        (tmp_path / "bad.xlsx").write_bytes(data)
        with pytest.raises(ImportFileError, match="not a readable Excel workbook"):
            read_file(tmp_path / "bad.xlsx")


def _zip_of(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in {**PARTS, **members}.items():
            zf.writestr(name, text)
    return buf.getvalue()


# -- CSV ---------------------------------------------------------------------------------------

def _csv(rows) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode()


def test_a_csv_over_the_row_limit_stops_being_read_at_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(sheets, "MAX_ROWS", 1000)
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8") as out:
        out.write("name,phone\n")
        for i in range(300_000):
            out.write(f"客户{i},1380000{i:04d}\n")
    tracemalloc.start()
    try:
        with pytest.raises(ImportFileError, match="more than 1,000 rows"):
            read_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak  # the file is 6 MB: it was not read whole


def test_csv_columns_cells_and_encodings_within_limits(monkeypatch):
    monkeypatch.setattr(sheets, "MAX_COLUMNS", 3)
    assert read_csv(_csv([["a", "b", "c", "", ""], ["1", "2", "3", "", ""]])).headers == \
        ["a", "b", "c"]
    with pytest.raises(ImportFileError, match="row 2 has a value in column 4; at most 3"):
        read_csv(_csv([["a", "b"], ["1", "2", "3", "4"]]))
    with pytest.raises(ImportFileError, match="line 2 cannot be read: a cell longer than"):
        read_csv(b"a,b\n\"" + b"x" * 200_000 + b"\n")
    with pytest.raises(ImportFileError, match="not readable as utf-8 text"):
        read_csv(b"a,b\n" + b"1,2\n" * 60_000 + b"\xff\xfe,3\n")
    with pytest.raises(ImportFileError, match="no text encoding called nonsense"):
        read_csv(b"a,b\n1,2\n", encoding="nonsense")
    with pytest.raises(ImportFileError, match="the file has no rows"):
        read_csv(b" , ,\n\n,,\n")


def test_a_first_look_reads_only_what_tells(tmp_path, monkeypatch):
    """The upload's quick check: a CSV's first rows, a workbook's zip directory."""
    monkeypatch.setattr(sheets, "MAX_ROWS", 10)
    path = tmp_path / "many.csv"
    path.write_bytes(_csv([["name"], *[[f"n{i}"] for i in range(50)]]))
    sheets.probe(path)  # the limit is for the whole read
    with pytest.raises(ImportFileError, match="more than 10 rows"):
        read_file(path)
    for data, why in ((b"", "no rows"), (b"PK\x03\x04garbage", "not a readable Excel"),
                      (_zip_of({}).replace(b"xl/workbook.xml", b"xl/notebook.xml"),
                       "not a readable Excel")):
        path.write_bytes(data)
        with pytest.raises(ImportFileError, match=why):
            sheets.probe(path)
