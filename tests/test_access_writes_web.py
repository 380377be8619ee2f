"""The write side of permissions through the app, on the flagship, on SQLite and PostgreSQL:
the record form, the API (single and bulk) and the import preview never tell a consultant
whose phone or ID number she typed; a manager cannot move people between teams to see more
clients; `read_only` fields (set by rules) are not writable by anyone. In Chinese, as the
sales office works, and through a real server where it matters.

The people and records are test_access_web's World: Amy (consultant), Boss (her manager),
Ben (consultant, another team), Lea (legal), Ada (admin).
"""

from __future__ import annotations

import csv
import http.cookiejar
import io
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from test_access_web import AMY_PHONE, BEN_ID, BEN_PHONE, SHARED_PHONE, World
from test_browser_flows import serving
from test_web_support import PASSWORD, build_app, csrf_of

pytest_plugins = ["test_web_support"]

ROOT = Path(__file__).resolve().parents[1]
REGISTERED_ZH = "已被登记，请联系经理"
REGISTERED_EN = "is already registered; ask your manager"
SCOPE_EN = "you may not set this field: it decides who sees which records; ask an administrator"
READ_ONLY_EN = "you may not set this field: it is read-only for you"


@pytest.fixture
def world(tmp_path, db_url):
    from lowrise.workspace import load_workspace

    # LOWRISE_CLASH_LIMIT: four clashes in the window, then such checks pause
    app = build_app(tmp_path, db_url, load_workspace(ROOT), LOWRISE_RULES=False,
                    LOWRISE_CLASH_LIMIT=4, LOWRISE_CLASH_WINDOW=600)
    yield World(app)
    app.extensions["lowrise"].engine.dispose()


def _zh(client):
    client.get("/locale/zh?next=/")


def _token(w, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {w.tokens[role]}"}


def _clashes(w) -> list[dict]:
    a = w.run.schema.audit
    with w.run.engine.connect() as c:
        return [dict(r) for r in c.execute(sa.select(a).where(a.c.action == "clash")
                                           .order_by(a.c.id)).mappings()]


def _csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode("utf-8")


def test_a_consultant_learns_nothing_of_numbers_she_may_not_read(world):
    w = world
    c, auth = w.client("consultant")
    _zh(c)
    ben, shared = w.c_ben["id"], w.c_shared["id"]
    before = w.run.records.get("client", ben)
    # the record form: Ben's client (out of her rows), the shared one (hers to read, masked)
    for phone in (BEN_PHONE, SHARED_PHONE):
        page = auth.post("/r/client/new", data={"name": "探测", "phone": phone,
                                                  "source": "walk_in"})
        assert page.status_code == 422
        errors = page.text.split('id="form-errors"')[1].split("</div>")[0]
        assert REGISTERED_ZH in page.text
        assert "客户 #" not in page.text and "Client-Ben-Only" not in page.text
        assert "Client-Shared" not in errors
    # her own client's number: told precisely, by its name
    page = auth.post("/r/client/new", data={"name": "再来", "phone": AMY_PHONE,
                                              "source": "walk_in"})
    assert page.status_code == 422 and "已被客户“Client-Amy-Own”使用" in page.text
    # API bulk: one clash out of sight among a bad row and good ones: refused as a whole,
    # no index, no value (the bad row used to make sure nothing was written)
    records = [{"name": f"p{i}", "phone": f"1390000{i:04d}", "source": "walk_in"}
               for i in range(30)]
    records[17]["id_number"] = BEN_ID
    records[3]["referrer"] = 999_999
    resp = c.post("/api/v1/client/bulk", json={"records": records}, headers=_token(w, "consultant"))
    assert resp.status_code == 422 and resp.json["type"].endswith("#problem-validation")
    assert resp.json["errors"] == [{"field": "id_number", "pointer": "/id_number",
                                    "detail": REGISTERED_EN}]
    assert BEN_ID not in resp.text and not re.search(r"#\d|index", resp.text)
    # the import preview and its refused.csv: one line for the whole file, no row
    rows = [["name", "phone", "source"]] + [[f"探测{i}", f"1370000{i:04d}", "walk_in"]
                                            for i in range(50)]
    rows[31][1] = BEN_PHONE
    up = auth.post("/r/client/import", data={"file": (io.BytesIO(_csv(rows)), "probe.csv")},
                   content_type="multipart/form-data")
    preview = c.get(up.headers["Location"])
    assert REGISTERED_ZH in preview.text and "import-refused" not in preview.text
    assert BEN_PHONE not in preview.text and not re.search(r"客户 ?#\d", preview.text)
    job = up.headers["Location"].rsplit("/", 1)[1]
    assert c.get(f"/imports/{job}/refused.csv").status_code == 404
    # four such clashes: audited on the records they hit, like reveals
    assert [(a["record_id"], a["actor"], a["note"]) for a in _clashes(w)] == [
        (ben, w.amy["id"], "phone"), (shared, w.amy["id"], "phone"),
        (ben, w.amy["id"], "id_number"), (ben, w.amy["id"], "phone")]
    # ... and now her checks of such numbers pause, whatever the number
    page = auth.post("/r/client/new", data={"name": "新客户", "phone": "13600000000",
                                              "source": "walk_in"})
    assert page.status_code == 422 and "此类检查已暂停 10 分钟" in page.text
    resp = c.post("/api/v1/client", json={"name": "n", "phone": "13600000001"},
                  headers=_token(w, "consultant"))
    assert resp.status_code == 422 and "paused for 10 minutes" in resp.json["detail"]
    assert w.run.records.get("client", ben) == before
    # the admin reads who tried what on Ben's client's history
    a, _ = w.client("admin")
    _zh(a)
    history = a.get(f"/r/client/{ben}").text
    assert "填写了已登记在此记录上的值" in history and "Amy An" in history


def test_a_manager_cannot_move_people_between_teams(world):
    w = world
    m, _ = w.client("manager")
    token = _token(w, "manager")
    total = m.get("/api/v1/client?limit=1", headers=token).json["total"]
    for staff, values in ((w.boss, {"team": "team_b"}), (w.amy, {"manager": None})):
        resp = m.patch(f"/api/v1/staff/{staff['id']}", json=values, headers=token)
        assert resp.status_code == 422, resp.text
        assert resp.json["errors"][0]["detail"] == SCOPE_EN
    assert m.get("/api/v1/client?limit=1", headers=token).json["total"] == total
    # Ben is not in his team: as if he did not exist
    resp = m.patch(f"/api/v1/staff/{w.ben['id']}", json={"manager": w.boss["id"]},
                   headers=token)
    assert resp.status_code == 404
    # the staff form shows team and manager, not as inputs; targets stay his to set
    form = m.get(f"/r/staff/{w.amy['id']}/edit").text
    assert 'name="team"' not in form and 'name="manager"' not in form
    # managers (re)assign cases: the flagship names case.consultant for them
    resp = m.patch(f"/api/v1/case/{w.k_amy['id']}", json={"consultant": w.boss["id"]},
                   headers=token)
    assert resp.status_code == 200, resp.text
    # a consultant may not: it decides which contracts and disputes she reads
    c, _ = w.client("consultant")
    resp = c.patch(f"/api/v1/case/{w.k_amy2['id']}", json={"consultant": w.ben["id"]},
                   headers=_token(w, "consultant"))
    assert resp.status_code == 422 and resp.json["errors"][0]["detail"] == SCOPE_EN
    # an administrator does
    a, _ = w.client("admin")
    resp = a.patch(f"/api/v1/staff/{w.ben['id']}", json={"team": "team_a"},
                   headers=_token(w, "admin"))
    assert resp.status_code == 200


def test_read_only_fields_are_set_by_rules_only(world):
    w = world
    c, auth = w.client("consultant")
    token = _token(w, "consultant")
    case = w.k_amy["id"]
    stored = w.run.records.get("case", case)
    for values in ({"stage_entered_at": "2020-01-01T00:00:00Z"}, {"stale": True}):
        resp = c.patch(f"/api/v1/case/{case}", json=values, headers=token)
        assert resp.status_code == 422, resp.text
        assert resp.json["errors"][0]["detail"] == READ_ONLY_EN
    # sent back as read: no change, allowed
    resp = c.patch(f"/api/v1/case/{case}", json={"stale": stored["stale"], "next_action": "x"},
                   headers=token)
    assert resp.status_code == 200, resp.text
    a, _ = w.client("admin")  # an administrator is a person too: rules set these
    resp = a.patch(f"/api/v1/contract/{w.contract['id']}",
                   json={"approved_at": "2026-01-01T00:00:00Z"}, headers=_token(w, "admin"))
    assert resp.status_code == 422 and resp.json["errors"][0]["field"] == "approved_at"
    doc = c.get("/api/v1/openapi.json", headers=token).json["components"]["schemas"]
    assert doc["CasePatch"]["properties"]["stage_entered_at"]["readOnly"] is True
    assert doc["Contract"]["properties"]["approved_at"]["readOnly"] is True
    # an import does not offer them as columns
    data = _csv([["opened_on", "stage_entered_at", "stale"], ["2026-03-02", "2020-01-01", "0"]])
    up = auth.post("/r/case/import", data={"file": (io.BytesIO(data), "cases.csv")},
                   content_type="multipart/form-data")
    page = c.get(up.headers["Location"]).text
    assert 'value="opened_on"' in page
    assert 'value="stage_entered_at"' not in page and 'value="stale"' not in page


class _Browser:
    """Cookies and CSRF over urllib, as a browser's requests reach a real server."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def open(self, path: str, data: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status, resp.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8")

    def form(self, path: str, fields: dict[str, str], page: str):
        body = urllib.parse.urlencode({**fields, "csrf_token": csrf_of(page)}).encode()
        return self.open(path, body, {"Content-Type": "application/x-www-form-urlencoded"})


def test_through_a_real_server_in_chinese(tmp_path, db_url):
    """The record form and the API, served on 127.0.0.1: the consultant's refusal is the
    generic one in Chinese, and the number's owner is nowhere in what comes back."""
    from lowrise.workspace import load_workspace

    app = build_app(tmp_path, db_url, load_workspace(ROOT), LOWRISE_RULES=False)
    w = World(app)
    with serving(app) as base:
        b = _Browser(base)
        _, page = b.open("/auth/login")
        status, _ = b.form("/auth/login", {"email": "consultant@example.com",
                                           "password": PASSWORD}, page)
        assert status == 200
        b.open("/locale/zh?next=/")
        _, page = b.open("/r/client/new")
        status, page = b.form("/r/client/new", {"name": "探测", "phone": BEN_PHONE,
                                                "source": "walk_in"}, page)
        assert status == 422 and REGISTERED_ZH in page
        assert "Client-Ben-Only" not in page and not re.search(r"客户 ?#\d", page)
        status, body = b.open("/api/v1/client", json.dumps({"name": "n", "phone": BEN_PHONE})
                              .encode(), {"Content-Type": "application/json",
                                          **_token(w, "consultant")})
        assert status == 422 and REGISTERED_EN in body and not re.search(r"#\d", body)
