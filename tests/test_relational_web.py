"""Lookups, rollups and counts where people meet them: the record page and the table in
Chinese and English, the REST API (read, refused as input, readOnly in the OpenAPI
document), exports and a dashboard number, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lowrise import exporter
from lowrise.actor import SYSTEM
from lowrise.openapi import document
from test_relational import FILES
from test_web_support import build_app, make_workspace

pytest_plugins = ["test_web_support"]

VIEWS = {
    "views/cases.yaml": """
type: table
record_type: case
label: {en: Cases, zh: 案件}
default: true
columns: [title, client, client_source, client_budget, amount, headroom]
""",
    "views/clients.yaml": """
type: table
record_type: client
label: {en: Clients, zh: 客户}
default: true
columns: [name, open_cases, won_amount]
""",
    "views/board.yaml": """
type: dashboard
label: {en: Board, zh: 看板}
widgets:
  - {name: won, type: kpi, title: {en: Won, zh: 成交}, record_type: client, measure: "sum:won_amount"}
  - {name: by_source, type: bar, title: {en: By source, zh: 按来源}, record_type: case,
     group_by: client_source, measure: "sum:amount"}
""",
}


@pytest.fixture
def office(tmp_path, db_url):
    ws = make_workspace({**FILES, **VIEWS})
    app = build_app(tmp_path, db_url, ws)
    run = app.extensions["lowrise"]
    r = run.records
    zhao = r.create("client", {"name": "Zhao", "source": "walk_in", "budget": "2000000"},
                    SYSTEM)
    case = r.create("case", {"title": "Flat 12", "client": zhao["id"], "amount": "1500000",
                             "stage": "won"}, SYSTEM)
    yield app, run, zhao, case
    run.engine.dispose()


def _login(client):
    from test_web_support import AuthActions

    auth = AuthActions(client)
    assert auth.login().status_code == 302
    return auth


def test_record_page_and_table_show_lookups_in_each_language(office):
    app, run, zhao, case = office
    client = app.test_client()
    _login(client)
    page = client.get(f"/r/case/{case['id']}", headers={"Accept-Language": "zh"}).text
    assert "到访" in page and "Walk-in" not in page  # the option's label, in Chinese
    assert "500,000" in page  # headroom: budget - amount
    table = client.get("/r/case/table/cases", headers={"Accept-Language": "zh"}).text
    assert "到访" in table
    clients = client.get("/r/client/table/clients", headers={"Accept-Language": "zh"}).text
    assert "1,500,000" in clients
    form = client.get(f"/r/case/{case['id']}/edit").text
    assert 'name="client_source"' not in form and 'name="headroom"' not in form


def test_the_api_reads_lookups_refuses_them_as_input_and_documents_them_read_only(office):
    app, run, zhao, case = office
    user = run.accounts.by_email("ada@example.com")
    secret, _ = run.accounts.create_token(user.id, "tests")
    h = {"Authorization": f"Bearer {secret}"}
    c = app.test_client()
    got = c.get(f"/api/v1/case/{case['id']}", headers=h).json
    data = got.get("data", got)
    assert data["client_source"] == "walk_in"
    assert Decimal(data["client_budget"]) == Decimal("2000000")
    bad = c.post("/api/v1/case", json={"title": "x", "client": zhao["id"],
                                       "client_source": "web"}, headers=h)
    assert bad.status_code == 422
    assert "client_source" in bad.text
    listed = c.get("/api/v1/case?filter=" + '{"field":"client_source","op":"eq",'
                   '"value":"walk_in"}', headers=h).json["data"]
    assert [x["id"] for x in listed] == [case["id"]]
    doc = document(run.workspace)
    schemas = doc["components"]["schemas"]
    assert schemas["Case"]["properties"]["client_source"].get("readOnly") is True
    assert "client_source" not in schemas["CaseInput"]["properties"]


def test_export_and_dashboard_use_the_stored_values(office):
    app, run, zhao, case = office
    ws = run.workspace
    rt = ws.record_types["case"]
    cols = [rt.fields[n] for n in ("title", "client_source", "client_budget")]
    rows = list(exporter.rows(run.engine, run.records.schema, "case", cols, actor=SYSTEM, via="csv",
                              locale="zh", style="typed"))
    assert rows[1][1] == "到访"  # the option's label, as in the table
    assert rows[1][2] == Decimal("2000000.00")  # a number cell, as the budget's own
    client = app.test_client()
    _login(client)
    board = client.get("/d/board?range=all", headers={"Accept-Language": "zh"}).text
    assert "1,500,000" in board  # the rollup summed
    assert "到访" in board  # grouped by the lookup, labelled by its options
