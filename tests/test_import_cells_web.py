"""The import page with what spreadsheets write: an .ods upload, a title row skipped, the
header row chosen on the preview, a formula without a result refused with the reason."""

from __future__ import annotations

from test_import_cells import ODS_ROWS, _xlsx, ods_bytes
from test_import_web import settled, upload

pytest_plugins = ["test_web_support"]


def test_an_ods_file_with_a_title_row_is_previewed(client, signed_in):
    resp = upload(signed_in, data=ods_bytes(ODS_ROWS), name="clients.ods")
    assert resp.status_code == 302, resp.text
    page = settled(client, resp.headers["Location"]).text
    assert "1 rows: 1 ready to import, 0 will be refused." in page
    assert 'name="header_row" min="1" max="1000" inputmode="numeric" value="2"' in page
    client.get("/locale/zh")
    form = client.get("/r/client/import").text
    assert "OpenDocument 表格" in form and 'accept=".csv,.txt,.tsv,.xlsx,.ods"' in form
    assert "只能导入 CSV、Excel（.xlsx）和 OpenDocument（.ods）文件。" in upload(
        signed_in, name="clients.numbers").text


def test_the_header_row_is_chosen_on_the_preview(client, signed_in):
    data = ("Report,of,clients\n姓名,手机,来源\n张三,13800000001,转介绍\n").encode()
    url = upload(signed_in, data=data).headers["Location"]
    assert "no column matches a field" in settled(client, url).text
    signed_in.hx("POST", url, data={"header_row": "2", "mode": "all"})
    page = settled(client, url).text
    assert "1 rows: 1 ready to import" in page and 'value="2"' in page
    assert '<option value="phone" selected>' in page


def test_a_formula_without_a_result_is_refused_on_the_preview(client, signed_in):
    data = _xlsx([["姓名", "Budget"], ["张三", "=1500000*2"], ["李四", 800000]])
    url = upload(signed_in, data=data, name="clients.xlsx").headers["Location"]
    page = settled(client, url).text
    assert "2 rows: 1 ready to import, 1 will be refused." in page
    assert "=1500000*2" in page and "Excel or WPS" in page
    client.get("/locale/zh")
    assert "没有保存它的计算结果" in client.get(url).text
