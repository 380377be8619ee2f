"""Every response header the app sets is one a server can send (ASCII), in Chinese too: a
toast in HX-Trigger, a redirect with a Chinese query, the file name of an export or a
download. Flask's test client sends any header as it is, so the app's own check
(lowrise.web.headers) makes it fail here where a real server would (tests/test_e2e_*.py
drive a real one), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import unquote

import pytest
from flask import Response

from lowrise.web.headers import UnsendableHeader, attachment, unsendable
from test_web_support import make_record

pytest_plugins = ["test_web_support"]


@pytest.fixture
def zh(client, signed_in):
    client.get("/locale/zh")
    return signed_in


def sendable(resp) -> None:
    """Every header of `resp` encodes as a server sends it."""
    for value in resp.headers.values():
        value.encode("ascii")  # raises on anything a server cannot send


def toast_of(resp) -> dict:
    sendable(resp)
    return json.loads(resp.headers["HX-Trigger"])["lowrise:toast"]


def test_a_chinese_toast_is_sent_as_ascii_json(zh, run):
    c = make_record(run, "client", name="王芳")
    resp = zh.hx("POST", f"/r/client/{c['id']}/comments", data={"body": "明天回电"})
    assert resp.status_code == 200 and "明天回电" in resp.text
    assert "\\u" in resp.headers["HX-Trigger"]
    assert toast_of(resp) == {"message": "评论已发布。"}


def test_a_refused_inline_edit_in_chinese(zh, run):
    c = make_record(run, "client", name="王芳")
    deal = make_record(run, "deal", title="东区", client=c["id"], amount="10")
    resp = zh.hx("POST", f"/r/deal/{deal['id']}/cell/amount?view=deals",
                 data={"amount": "-5", "_version": "1"})
    assert resp.status_code == 422
    toast = toast_of(resp)
    assert toast["error"] is True and toast["message"].startswith("金额不能")
    assert toast["message"] in resp.text


def test_a_refused_bulk_edit_in_chinese(zh, run):
    two = [make_record(run, "client", name=n) for n in ("孙", "马")]
    resp = zh.hx("POST", "/r/client/bulk", data={
        "action": "update", "field": "phone", "bulk-phone": "139 0000 1111",
        "ids": [str(c["id"]) for c in two]})
    assert resp.status_code == 422
    assert toast_of(resp)["message"].startswith("未做任何修改：")


def test_an_htmx_redirect_to_a_chinese_query_is_percent_encoded(zh, run):
    c = make_record(run, "client", name="王芳")
    resp = zh.hx("POST", "/r/client/bulk", data={
        "action": "update", "field": "source", "bulk-source": "referral",
        "ids": [str(c["id"])], "next": "/r/client/?q=王芳"})
    sendable(resp)
    assert resp.headers["HX-Redirect"] == "/r/client/?q=%E7%8E%8B%E8%8A%B3"
    assert run.records.get("client", c["id"])["source"] == "referral"


def test_an_export_named_in_chinese(zh, client, run):
    resp = client.get("/r/deal/export.csv")
    assert resp.status_code == 200
    sendable(resp)
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="export.csv"; filename*=UTF-8\'\'')
    assert unquote(disposition.split("''", 1)[1]).startswith("全部交易 ")


def test_a_download_named_in_chinese(signed_in, client, run):
    made = signed_in.post("/r/client/new", data={
        "name": "王芳", "photo": (io.BytesIO(b"hello"), "合同.txt", "text/plain")},
        content_type="multipart/form-data")
    rec = run.records.get("client", int(made.headers["Location"].rsplit("/", 1)[1]))
    resp = client.get(f"/files/{rec['photo'][0]['key']}?name=合同.txt")
    assert resp.data == b"hello"
    sendable(resp)
    assert "filename*=UTF-8''%E5%90%88%E5%90%8C.txt" in resp.headers["Content-Disposition"]


@pytest.mark.parametrize("name,fallback,expect", [
    ("report.csv", "x.csv", "attachment; filename=\"report.csv\"; filename*=UTF-8''report.csv"),
    ("客户 2026.csv", "export.csv",
     "attachment; filename=\"export.csv\"; filename*=UTF-8''%E5%AE%A2%E6%88%B7%202026.csv"),
    ('a";b.csv', "x.csv", "attachment; filename=\"x.csv\"; filename*=UTF-8''a%22%3Bb.csv"),
    ("a/b.zip", "t.zip", "attachment; filename=\"t.zip\"; filename*=UTF-8''a%2Fb.zip"),
])
def test_attachment_names(name, fallback, expect):
    assert attachment(name, fallback) == expect


@pytest.fixture
def bad_route(app):
    """A page that sets a header in Chinese, added before the app's first request."""
    @app.get("/bad-header")
    def bad_header():
        return Response("body", headers={"X-Note": "评论已发布。", "X-Fine": "ok"})


def test_a_header_a_server_cannot_send_fails_in_testing(bad_route, app, client, signed_in):
    with pytest.raises(UnsendableHeader, match="X-Note of GET /bad-header"):
        client.get("/bad-header")


def test_without_testing_it_is_logged_and_left_out(bad_route, app, client, signed_in,
                                                   caplog):
    app.testing = False
    with caplog.at_level(logging.ERROR):
        resp = client.get("/bad-header")
    assert resp.status_code == 200 and resp.data == b"body"
    assert "X-Note" not in resp.headers and resp.headers["X-Fine"] == "ok"
    assert "X-Note of GET /bad-header are not ASCII" in caplog.text


def test_latin1_is_not_enough():
    resp = Response(headers={"X-A": "café", "Location": "/r/客户"})
    assert unsendable(resp) == ["X-A"]  # Location is percent-encoded by Werkzeug
