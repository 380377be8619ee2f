"""Inputs that used to answer 500: a NUL in quick search, ids past 64 bits in filters, filters
nested thousands deep, text that is not Unicode in JSON, a tampered record version, a body
over the size limit; and any API error is a problem document. Nothing here is a 500 and
nothing is written. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import http.client
import json
import threading
from urllib.parse import quote

from werkzeug.serving import make_server

from test_web_support import make_record

pytest_plugins = ["test_web_support"]

PROBLEM = "application/problem+json"
HUGE = 1180591620717411303424  # 2**70


def _token(client, signed_in) -> str:
    import re

    resp = signed_in.post("/account/tokens", data={"name": "tests"})
    page = resp.text if resp.status_code == 200 else client.get(resp.headers["Location"]).text
    return re.search(r'id="new-token">([^<]+)<', page).group(1)


def _seed(run):
    c = make_record(run, "client", name="张三丰", phone="13800000001")
    make_record(run, "deal", title="First", client=c["id"])
    return c


def test_nul_and_control_characters_in_quick_search(client, signed_in, run):
    _seed(run)
    for q in ("x\x00y", "张三\x00丰", "\x00", "a\x01b\x7f"):
        enc = quote(q)
        for url in (f"/api/v1/client?q={enc}", f"/r/client/?q={enc}", f"/search?q={enc}",
                    f"/r/client/pick?q={enc}", f"/r/client/count?q={enc}",
                    f"/r/client/export.csv?q={enc}"):
            resp = client.get(url)
            assert resp.status_code == 200, (url, resp.status_code)
    # a NUL separates words like a space: both halves must match
    found = client.get(f"/api/v1/client?q={quote('张三' + chr(0) + '丰')}").get_json()
    assert [r["name"] for r in found["data"]] == ["张三丰"]


def test_ids_past_64_bits_in_filters_are_refused_clearly(client, signed_in, run):
    _seed(run)
    for flt in ({"field": "id", "op": "gt", "value": HUGE},
                {"field": "consultant", "op": "eq", "value": HUGE},
                {"field": "visits", "op": "lt", "value": -HUGE},
                {"field": "id", "op": "in", "value": [1, HUGE]}):
        resp = client.get(f"/api/v1/client?filter={quote(json.dumps(flt))}")
        assert resp.status_code == 400 and resp.mimetype == PROBLEM, flt
        assert str(HUGE) in resp.get_json()["detail"]
    page = client.get(f"/r/client/?f0=consultant&o0=eq&v0={HUGE}")
    assert page.status_code < 500
    resp = client.get(f"/r/deal/?f0=client&o0=eq&v0={HUGE}")
    assert resp.status_code < 500


def test_deeply_nested_filters_are_refused(client, signed_in):
    for depth in (40, 3000):
        flt = '{"not":' * depth + '{"field":"name","op":"eq","value":"x"}' + "}" * depth
        resp = client.get(f"/api/v1/client?filter={quote(flt)}")
        assert resp.status_code == 400 and resp.mimetype == PROBLEM, depth
        assert "nest" in resp.get_json()["detail"]


def test_text_that_is_not_unicode_in_json_is_refused(client, signed_in, run):
    token = _token(client, signed_in)
    api = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = '{"name": "\\ud800", "phone": "13900000002"}'
    resp = client.post("/api/v1/client", data=body, headers=api)
    assert resp.status_code == 400 and resp.mimetype == PROBLEM
    assert "Unicode" in resp.get_json()["detail"]
    flt = '{"field": "name", "op": "eq", "value": "\\udfff"}'
    resp = client.get(f"/api/v1/client?filter={quote(flt)}", headers=api)
    assert resp.status_code == 400 and resp.mimetype == PROBLEM
    assert client.get("/api/v1/client", headers=api).get_json()["total"] == 0


def test_an_unexpected_api_error_is_a_problem_document(app, client, signed_in, monkeypatch):
    from lowrise.web.api import records as api_records

    def broken(*a, **kw):
        raise RuntimeError("a bug")

    monkeypatch.setattr(api_records.query, "list_records", broken)
    resp = client.get("/api/v1/client")
    assert resp.status_code == 500 and resp.mimetype == PROBLEM
    assert resp.get_json()["type"].endswith("#problem-server-error")
    assert "a bug" not in resp.text  # the log has it, not the caller
    for url in ("/api/v1/nope/1", "/api/v1/client/abc"):
        assert client.get(url).mimetype == PROBLEM
    assert client.open("/api/v1/client", method="PUT").mimetype == PROBLEM


def test_a_tampered_version_is_a_conflict_with_a_message(client, signed_in, run):
    c = _seed(run)
    deal = make_record(run, "deal", title="Keep", client=c["id"])
    client.get("/locale/zh?next=/")
    for bad in ("abc", "", "1e3", "-1", "１"):
        form = {"title": "Changed", "client": c["id"], "stage": "lead", "_version": bad}
        resp = signed_in.post(f"/r/deal/{deal['id']}/edit", data=form)
        assert resp.status_code == 409, (bad, resp.status_code)
        assert "版本号" in resp.text and "没有任何内容被修改" in resp.text
        cell = signed_in.hx("POST", f"/r/deal/{deal['id']}/cell/title",
                            data={"title": "Changed", "_version": bad})
        assert cell.status_code == 409, bad
        gone = signed_in.post(f"/r/deal/{deal['id']}/delete", data={"_version": bad})
        assert gone.status_code == 302
        assert "版本号" in client.get(gone.headers["Location"]).text  # said on the record
        moved = signed_in.post("/r/deal/kanban/board/move", data={
            "id": deal["id"], "to": "won", "version": bad}, headers={"Accept": "application/json"})
        assert moved.status_code == 409 and "版本号" in moved.get_json()["message"]
    after = run.records.get("deal", deal["id"])
    assert after["title"] == "Keep" and after["version"] == deal["version"]
    ok = signed_in.post(f"/r/deal/{deal['id']}/edit", data={
        "title": "Changed", "client": c["id"], "stage": "lead", "_version": deal["version"]})
    assert ok.status_code == 302


def _raw_post(server, path, length, headers):
    """Send only the headers of a request with a huge body, then read the answer."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    conn.putrequest("POST", path)
    conn.putheader("Content-Length", str(length))
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def test_a_body_over_the_limit_is_413_before_it_is_read(app, client, signed_in, run):
    c = _seed(run)
    token = _token(client, signed_in)
    cookie = client.get_cookie("session").value
    client.get("/locale/zh?next=/")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    big = 200 * 1024 * 1024
    try:
        resp, body = _raw_post(server, f"/api/v1/client/{c['id']}/files/photo", big, {
            "Authorization": f"Bearer {token}",
            "Content-Type": "multipart/form-data; boundary=x"})
        assert resp.status == 413 and resp.getheader("Content-Type") == PROBLEM
        assert json.loads(body)["type"].endswith("#problem-too-large")
        resp, body = _raw_post(server, "/r/client/import", big, {
            "Cookie": f"session={cookie}", "Content-Type": "multipart/form-data; boundary=x"})
        text = body.decode()
        assert resp.status == 413 and "文件太大" in text and "64 MB" in text
    finally:
        server.shutdown()
        thread.join(5)
