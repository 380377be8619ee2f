"""A link field's `on_delete` (keep, clear, refuse, and the default) on SQLite and PostgreSQL:
through Records, bulk delete, restore from the trash, rules, the web delete and bulk routes
and the API, as an admin and as a consultant who sees only some of the records."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from lowrise.actor import SYSTEM, Actor
from lowrise.errors import BulkValidationError, ValidationError
from lowrise.i18n import tr
from lowrise.rules.engine import install
from lowrise.storage import migrate
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts
from test_web_support import PASSWORD, build_app, csrf_of

pytest_plugins = ["test_web_support"]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

FILES = {
    "workspace.yaml": """
label: {en: Office, zh: 售楼处}
default_locale: zh
locales: [zh, en]
timezone: Asia/Shanghai
users: staff
roles:
  consultant:
    label: {en: Consultant, zh: 置业顾问}
    permissions:
      client: {can: [read, create, update, delete], rows: {filter: {field: owner, op: eq, value: me}}}
      case: {can: [read, create, update], rows: {filter: {field: owner, op: eq, value: me}}}
      visit: {can: [read], rows: {filter: {field: owner, op: eq, value: me}}}
      contract: {can: [read]}
      staff: {can: [read]}
  admin: {admin: true}
""",
    "schemas/staff.yaml": """
label: {en: Person, zh: 员工}
title: name
fields:
  name: {type: text, required: true}
  manager: {type: link, target: staff}
""",
    "schemas/client.yaml": """
label: {en: Client, zh: 客户}
label_plural: {en: Clients, zh: 客户}
title: name
fields:
  name: {type: text, required: true, label: {en: Name, zh: 姓名}}
  owner: {type: user}
  referrer: {type: link, target: client, on_delete: clear, label: {en: Referrer, zh: 介绍人}}
""",
    "schemas/case.yaml": """
label: {en: Sales case, zh: 销售案件}
label_plural: {en: Sales cases, zh: 销售案件}
title: title
fields:
  title: {type: text, required: true}
  client:
    type: link
    target: client
    required: true
    on_delete: refuse
    label: {en: Client, zh: 客户}
  backup: {type: link, target: client, label: {en: Backup buyer, zh: 备选买方}}
  owner: {type: user}
""",
    "schemas/visit.yaml": """
label: {en: Visit, zh: 到访}
label_plural: {en: Visits, zh: 到访}
fields:
  client: {type: link, target: client, required: true, on_delete: clear,
           label: {en: Client, zh: 客户}}
  owner: {type: user}
""",
    "schemas/contract.yaml": """
label: {en: Contract, zh: 合同}
label_plural: {en: Contracts, zh: 合同}
fields:
  case: {type: link, target: case, required: true, on_delete: refuse,
         label: {en: Case, zh: 案件}}
""",
    "schemas/note.yaml": """
label: {en: Note, zh: 备注}
title: text
fields:
  text: {type: text}
  client: {type: link, target: client, on_delete: keep, label: {en: Client, zh: 客户}}
""",
}


def _records(engine, files=FILES) -> Records:
    schema = build_schema(load_workspace_from_texts(files))
    with engine.connect() as conn:
        plan = migrate.plan(conn, schema)
    migrate.apply(engine, plan)
    return Records(engine, schema)


class Office:
    """Two consultants, clients of each, and what links to them."""

    def __init__(self, records: Records):
        self.records = records
        mk = lambda t, **v: records.create(t, v, SYSTEM)  # noqa: E731
        self.li = mk("staff", name="Li")
        self.wang = mk("staff", name="Wang")
        self.admin = Actor(user=None, name="Ada", roles=frozenset({"admin"}), clock=lambda: NOW)
        self.li_actor = Actor(user=self.li["id"], name="Li", roles=frozenset({"consultant"}),
                              clock=lambda: NOW)
        self.zhao = mk("client", name="Zhao", owner=self.li["id"])
        self.qian = mk("client", name="Qian", owner=self.li["id"], referrer=self.zhao["id"])

    def count(self, type_name: str) -> int:
        t = self.records.schema.table(type_name)
        with self.records.engine.connect() as c:
            return c.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()


@pytest.fixture
def office(engine):
    return Office(_records(engine))


def _words(exc: ValidationError, locale: str = "en") -> str:
    return " ".join(tr(m, locale) for m in exc.errors.values())


# -- refuse ------------------------------------------------------------------------------------


def test_refuse_names_how_many_of_which_type_and_deletes_nothing(office):
    r = office.records
    cases = [r.create("case", {"title": f"C{i}", "client": office.zhao["id"]}, SYSTEM)
             for i in range(3)]
    with pytest.raises(ValidationError) as err:
        r.delete("client", office.zhao["id"], office.admin)
    ids = ", ".join(f"#{c['id']}" for c in cases)
    assert _words(err.value) == (
        f"Client #{office.zhao['id']} cannot be deleted: 3 Sales cases link to it through "
        f"Client ({ids}); delete them or change their Client first")
    assert _words(err.value, "zh") == (
        f"客户 #{office.zhao['id']} 无法删除：有 3 条销售案件通过「客户」关联到它（{ids}），"
        "请先删除它们或修改其「客户」")
    assert r.get("client", office.zhao["id"])["name"] == "Zhao"  # still there
    assert r.get("client", office.qian["id"])["referrer"] == office.zhao["id"]  # not cleared
    assert r.trash() == []


def test_refuse_counts_only_what_the_actor_may_see(office):
    r = office.records
    mine = r.create("case", {"title": "mine", "client": office.zhao["id"],
                             "owner": office.li["id"]}, SYSTEM)
    theirs = r.create("case", {"title": "theirs", "client": office.zhao["id"],
                               "owner": office.wang["id"]}, SYSTEM)
    with pytest.raises(ValidationError) as err:
        r.delete("client", office.zhao["id"], office.li_actor)
    words = _words(err.value)
    assert f"1 Sales case links to it through Client (#{mine['id']})" in words
    assert "Sales cases you cannot see link to it through Client" in words
    assert f"#{theirs['id']}" not in words and "2 " not in words
    r.delete("case", mine["id"], SYSTEM)
    with pytest.raises(ValidationError) as err:
        r.delete("client", office.zhao["id"], office.li_actor)
    assert _words(err.value) == (
        f"Client #{office.zhao['id']} cannot be deleted: Sales cases you cannot see link to "
        "it through Client; ask someone who can see them to change them")
    assert "#" not in _words(err.value, "zh").split("：", 1)[1]


def test_clear_on_a_required_field_refuses_with_its_own_words(office):
    r = office.records
    v = r.create("visit", {"client": office.qian["id"]}, SYSTEM)
    with pytest.raises(ValidationError) as err:
        r.delete("client", office.qian["id"], office.admin)
    assert _words(err.value) == (
        f"Client #{office.qian['id']} cannot be deleted: 1 Visit links to it through Client "
        f"(#{v['id']}), which is required and cannot be emptied; delete it or link it to "
        "another Client first")
    assert "必填" in _words(err.value, "zh")


# -- clear, keep, the default, and restore -----------------------------------------------------


def test_clear_empties_the_links_audited_and_restore_links_them_again(office):
    r = office.records
    case = r.create("case", {"title": "C", "client": office.qian["id"],
                             "backup": office.zhao["id"]}, SYSTEM)  # backup: no on_delete
    note = r.create("note", {"text": "n", "client": office.zhao["id"]}, SYSTEM)
    r.delete("client", office.zhao["id"], office.admin)
    qian = r.get("client", office.qian["id"])
    assert qian["referrer"] is None and qian["version"] == 2  # clear
    assert r.get("case", case["id"])["backup"] is None  # the default: clear
    assert r.get("note", note["id"])["client"] == office.zhao["id"]  # keep
    entry = r.history("client", office.qian["id"])[0]
    assert entry["action"] == "update" and entry["actor_name"] == "Ada"
    assert entry["changes"] == {"referrer": [office.zhao["id"], None]}
    (trashed,) = r.trash()
    assert sorted(trashed["cleared"], key=lambda e: e["type"]) == [
        {"type": "case", "field": "backup", "ids": [case["id"]]},
        {"type": "client", "field": "referrer", "ids": [office.qian["id"]]}]
    # someone links the case to another client meanwhile: restore leaves that one alone
    other = r.create("client", {"name": "Sun"}, SYSTEM)
    r.update("case", case["id"], {"backup": other["id"]}, SYSTEM)
    r.restore("client", office.zhao["id"], office.admin)
    qian = r.get("client", office.qian["id"])
    assert qian["referrer"] == office.zhao["id"] and qian["version"] == 3
    assert r.get("case", case["id"])["backup"] == other["id"]
    assert r.history("client", office.qian["id"])[0]["changes"] == {
        "referrer": [None, office.zhao["id"]]}


def test_restore_skips_records_deleted_meanwhile(office):
    r = office.records
    r.delete("client", office.zhao["id"], office.admin)  # clears Qian's referrer
    r.delete("client", office.qian["id"], office.admin)
    r.restore("client", office.zhao["id"], office.admin)  # Qian is in the trash: skipped
    r.restore("client", office.qian["id"], office.admin)
    assert r.get("client", office.qian["id"])["referrer"] is None


def test_a_required_field_without_on_delete_refuses(engine):
    files = {**FILES, "schemas/visit.yaml": """
label: {en: Visit, zh: 到访}
fields:
  client: {type: link, target: client, required: true}
  owner: {type: user}
"""}
    r = _records(engine, files)
    c = r.create("client", {"name": "A"}, SYSTEM)
    r.create("visit", {"client": c["id"]}, SYSTEM)
    with pytest.raises(ValidationError, match="which is required and cannot be emptied"):
        r.delete("client", c["id"], SYSTEM)


def test_a_deleted_persons_user_fields_are_cleared_and_system_ones_kept(office):
    r = office.records
    r.update("staff", office.wang["id"], {"manager": office.li["id"]}, SYSTEM)
    made = r.create("client", {"name": "Z"}, office.li_actor)
    r.delete("staff", office.li["id"], SYSTEM)
    assert r.get("client", office.zhao["id"])["owner"] is None
    assert r.get("staff", office.wang["id"])["manager"] is None
    assert r.get("client", made["id"])["created_by"] == office.li["id"]  # history stays


def test_restoring_a_record_whose_link_points_into_the_trash(office):
    r = office.records
    case = r.create("case", {"title": "C", "client": office.qian["id"]}, SYSTEM)
    r.delete("case", case["id"], SYSTEM)
    r.delete("client", office.qian["id"], SYSTEM)  # nothing links to it now
    with pytest.raises(ValidationError) as err:  # refuse: restore the client first
        r.restore("case", case["id"], SYSTEM)
    assert tr(err.value.errors["client"], "en") == (
        f"points at Client #{office.qian['id']}, which is in the trash; restore it first")
    r.restore("client", office.qian["id"], SYSTEM)
    r.restore("case", case["id"], SYSTEM)
    # clear: restored empty, and linked again when its target comes back
    r.update("case", case["id"], {"backup": office.zhao["id"]}, SYSTEM)
    r.delete("case", case["id"], SYSTEM)
    r.delete("client", office.zhao["id"], SYSTEM)  # clears Qian's referrer only
    restored = r.restore("case", case["id"], SYSTEM)
    assert restored["backup"] is None
    assert r.history("case", case["id"])[0]["changes"] == {"backup": [office.zhao["id"], None]}
    r.restore("client", office.zhao["id"], SYSTEM)
    assert r.get("case", case["id"])["backup"] == office.zhao["id"]
    assert r.get("client", office.qian["id"])["referrer"] == office.zhao["id"]


# -- several at once ---------------------------------------------------------------------------


@pytest.mark.parametrize("order", [1, -1])
def test_records_deleted_together_do_not_hold_each_other_back(office, order):
    r = office.records
    ids = [office.zhao["id"], office.qian["id"]][::order]  # Qian's referrer is Zhao
    r.bulk_delete("client", ids, office.admin)
    assert office.count("client") == 0
    r.restore("client", office.qian["id"], office.admin)
    r.restore("client", office.zhao["id"], office.admin)
    assert r.get("client", office.qian["id"])["referrer"] == office.zhao["id"]


@pytest.mark.parametrize("order", [1, -1])
def test_a_case_refused_for_its_contracts_refuses_the_whole_bulk_delete(office, order):
    r = office.records
    free = r.create("case", {"title": "free", "client": office.zhao["id"]}, SYSTEM)
    tied = r.create("case", {"title": "tied", "client": office.zhao["id"]}, SYSTEM)
    contract = r.create("contract", {"case": tied["id"]}, SYSTEM)
    ids = [free["id"], tied["id"]][::order]
    with pytest.raises(BulkValidationError) as err:
        r.bulk_delete("case", ids, office.admin)
    (index,) = err.value.rows
    assert ids[index] == tied["id"]
    assert tr(err.value.rows[index][""], "en") == (
        f"Sales case #{tied['id']} cannot be deleted: 1 Contract links to it through Case "
        f"(#{contract['id']}); delete it or change its Case first")
    assert office.count("case") == 2 and r.trash() == []
    # and the client still refuses, whichever case would have gone first
    with pytest.raises(ValidationError, match="2 Sales cases link to it"):
        r.delete("client", office.zhao["id"], office.admin)


# -- rules ----------------------------------------------------------------------------------------

RULES = {
    "automations/log_backup.yaml": """
record_type: case
trigger: {kind: field_changed, field: backup}
actions:
  - create_record: {type: note, values: {text: {expr: "concat('backup changed on ', title)"}}}
""",
    "automations/keep_backup_of_vip.yaml": """
record_type: case
trigger: {kind: field_changed, field: backup}
conditions:
  all:
    - {field: title, op: eq, value: VIP}
    - {field: backup, op: is_empty}
actions:
  - block: {field: backup, message: "the backup buyer of a VIP case stays"}
""",
}


def test_rules_see_the_cleared_link_and_may_refuse_it(engine):
    r = _records(engine, {**FILES, **RULES})
    install(r)
    a = r.create("client", {"name": "A"}, SYSTEM)
    b = r.create("client", {"name": "B"}, SYSTEM)
    r.create("case", {"title": "plain", "client": a["id"], "backup": b["id"]}, SYSTEM)
    vip = r.create("case", {"title": "VIP", "client": a["id"]}, SYSTEM)
    before = len(_all(r, "note"))
    r.delete("client", b["id"], SYSTEM)
    assert [n["text"] for n in _all(r, "note")][before:] == ["backup changed on plain"]
    r.restore("client", b["id"], SYSTEM)
    assert [n["text"] for n in _all(r, "note")][before:] == ["backup changed on plain"] * 2
    r.update("case", vip["id"], {"backup": b["id"]}, SYSTEM)
    with pytest.raises(ValidationError) as err:
        r.delete("client", b["id"], SYSTEM)
    assert _words(err.value) == (
        f"Client #{b['id']} cannot be deleted: emptying Backup buyer of Sales case "
        f"#{vip['id']} was refused (the backup buyer of a VIP case stays)")
    assert r.get("client", b["id"])["name"] == "B"


def _all(r: Records, type_name: str) -> list[dict]:
    t = r.schema.table(type_name)
    with r.engine.connect() as c:
        return [dict(x) for x in c.execute(sa.select(t).order_by(t.c.id)).mappings()]


# -- the web and the API ------------------------------------------------------------------------


@pytest.fixture
def web(tmp_path, db_url):
    app = build_app(tmp_path, db_url, load_workspace_from_texts(FILES))
    yield app
    app.extensions["lowrise"].engine.dispose()


def _login(client):
    page = client.get("/auth/login")
    resp = client.post("/auth/login", data={"email": "ada@example.com", "password": PASSWORD,
                                            "csrf_token": csrf_of(page.text)})
    assert resp.status_code == 302
    return csrf_of(client.get("/trash").text)


def test_web_delete_and_bulk_delete_say_why_in_chinese(web):
    run = web.extensions["lowrise"]
    client_rec = run.records.create("client", {"name": "赵"}, SYSTEM)
    case = run.records.create("case", {"title": "C", "client": client_rec["id"]}, SYSTEM)
    http = web.test_client()
    token = _login(http)
    resp = http.post(f"/r/client/{client_rec['id']}/delete",
                     data={"csrf_token": token}, follow_redirects=True)
    assert f"客户 #{client_rec['id']} 无法删除：有 1 条销售案件通过「客户」关联到它（#{case['id']}）" \
        in resp.text
    resp = http.post("/r/client/bulk", data={"csrf_token": token, "action": "delete",
                                            "ids": [str(client_rec["id"])]},
                     follow_redirects=True)
    assert f"未做任何修改：#{client_rec['id']}: 客户 #{client_rec['id']} 无法删除：有 1 条销售案件" \
        in resp.text
    assert run.records.get("client", client_rec["id"])["name"] == "赵"


def test_a_kept_link_shows_its_record_in_the_trash(web):
    run = web.extensions["lowrise"]
    c = run.records.create("client", {"name": "钱多多"}, SYSTEM)
    note = run.records.create("note", {"text": "n1", "client": c["id"]}, SYSTEM)
    run.records.delete("client", c["id"], SYSTEM)
    http = web.test_client()
    _login(http)
    page = http.get(f"/r/note/{note['id']}").text
    assert re.search(r'<span class="chip c-link chip-trashed">钱多多（已在回收站）</span>', page)
    assert f'href="/r/client/{c["id"]}"' not in page
    http.get("/locale/en")
    assert "钱多多 (in the trash)" in http.get(f"/r/note/{note['id']}").text


@pytest.fixture
def served(web):
    import threading

    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, web, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield web, f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        thread.join(timeout=10)


def test_api_delete_is_refused_with_a_problem_and_works_once_unlinked(served):
    app, base = served
    run = app.extensions["lowrise"]
    user = run.accounts.by_email("ada@example.com")
    secret, _info = run.accounts.create_token(user.id, "tests")
    c = run.records.create("client", {"name": "A"}, SYSTEM)
    case = run.records.create("case", {"title": "C", "client": c["id"]}, SYSTEM)

    def delete(path):
        req = urllib.request.Request(base + path, method="DELETE",
                                     headers={"Authorization": f"Bearer {secret}"})
        try:
            with urllib.request.urlopen(req) as resp:  # noqa: S310 - a local test server
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    status, body = delete(f"/api/v1/client/{c['id']}")
    assert status == 422
    import json

    problem = json.loads(body)
    assert problem["errors"] == [{"field": "", "pointer": "", "detail": (
        f"Client #{c['id']} cannot be deleted: 1 Sales case links to it through Client "
        f"(#{case['id']}); delete it or change its Client first")}]
    assert delete(f"/api/v1/case/{case['id']}")[0] == 204
    assert delete(f"/api/v1/client/{c['id']}")[0] == 204
    # and the web page, signed in through the same server, shows the trash
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login = opener.open(base + "/auth/login").read().decode()
    data = urllib.parse.urlencode({"email": "ada@example.com", "password": PASSWORD,
                                   "csrf_token": csrf_of(login)}).encode()
    opener.open(base + "/auth/login", data)
    trash = opener.open(base + "/trash").read().decode()
    assert "销售案件" in trash and "客户" in trash
