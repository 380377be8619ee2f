"""The XLSX export as Excel shows it: the header frozen and bold, money with its sign and
two decimals, percent values as written, dates as dates, columns as wide as their text
(Chinese counting double); and the cells keep their values (an import reads them back)."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

from openpyxl import load_workbook

from lowrise import exporter
from test_export import deals  # noqa: F401 - fixture
from test_web_support import make_workspace

pytest_plugins = ["test_web_support"]


def test_the_header_is_frozen_and_money_and_dates_are_formatted(client, signed_in,
                                                                deals):  # noqa: F811
    resp = client.get("/r/deal/export.xlsx?sort=title")
    sheet = load_workbook(io.BytesIO(resp.get_data())).active
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.b
    header = [c.value for c in sheet[1]]
    amount = header.index("Amount") + 1
    closes = header.index("Closes on") + 1
    east = sheet.cell(row=2, column=amount)
    assert east.value == 1500 and east.number_format == '"¥"#,##0.00'
    day = sheet.cell(row=2, column=closes)
    assert day.value == datetime(2026, 4, 2) and day.number_format == "yyyy-mm-dd"
    widths = {sheet.cell(row=1, column=i).value: sheet.column_dimensions[
        sheet.cell(row=1, column=i).column_letter].width for i in range(1, len(header) + 1)}
    assert all(8 <= w <= 50 for w in widths.values())
    assert widths["Title"] >= len("Central unit")


def test_number_formats_of_each_kind_and_widths_of_chinese_text(tmp_path):
    rt = make_workspace().type("client")
    cols = [rt.fields[n] for n in ("name", "budget", "share", "area", "visits", "born_on",
                                   "next_call")]
    assert [exporter.number_format(f) for f in cols] == [
        None, '"¥"#,##0.00', '0.00"%"', "#,##0.0", "#,##0", "yyyy-mm-dd", "yyyy-mm-dd hh:mm"]
    lines = iter([["姓名", "预算", "占比", "面积", "到访", "生日", "回访"],
                  ["欧阳娜娜娜娜娜娜娜娜", Decimal("3200000.50"), Decimal("12.5"),
                   Decimal("88.5"), 3, date(1980, 3, 5), datetime(2026, 12, 11, 9)]])
    path = tmp_path / "x.xlsx"
    exporter.write_xlsx(lines, str(path), title="客户", columns=cols)
    sheet = load_workbook(path).active
    assert sheet.freeze_panes == "A2"
    share = sheet["C2"]
    assert share.value == 12.5 and share.number_format == '0.00"%"'  # the value as stored
    assert sheet["B2"].number_format == '"¥"#,##0.00' and sheet["B2"].value == 3200000.5
    assert sheet.column_dimensions["A"].width >= 20  # ten Chinese characters
    assert sheet.column_dimensions["E"].width == 8
