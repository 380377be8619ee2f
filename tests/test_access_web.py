"""Permissions through the whole app, on the flagship: every route of the app (pages, htmx
partials, the API with a token) for every role, with records inside and outside each role's
rows, on SQLite and PostgreSQL.

The people: Boss (manager, team A), Amy (consultant in Boss's team), Ben (consultant, team
B), Lea (legal) and Ada (admin). Amy's client, Ben's client, and a client of Ben's that one
of Amy's cases is about (she sees it, its phone masked). Legal sees Ben's client through a
contract, masked. Strings a role must never see are looked for in every response.
"""

from __future__ import annotations

import ast
import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lowrise import templates as gallery_engine
from lowrise.actor import Actor
from lowrise.storage import query as Q
from test_web_support import PASSWORD, SYSTEM_ACTOR, AuthActions, build_app, csrf_of

pytest_plugins = ["test_web_support"]

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "platform" / "lowrise" / "web"

AMY_PHONE, BEN_PHONE, SHARED_PHONE = "13811110001", "13922220002", "13733330003"
AMY_ID, BEN_ID, SHARED_ID = "11010119900101123X", "220101199202022345", "330101199303033456"
BOSS_NOTE, AMY_NOTE, LEA_NOTE = "NOTE-BOSS-7781", "NOTE-AMY-1234", "NOTE-LEA-5555"
AMY_COMMENT, BEN_COMMENT = "COMMENT-AMY-7070", "COMMENT-BEN-6060"  # on their cases


class World:
    def __init__(self, app):
        self.app = app
        self.run = run = app.extensions["lowrise"]
        mk = lambda t, **v: run.records.create(t, v, SYSTEM_ACTOR)  # noqa: E731
        self.boss = mk("staff", name="Boss Bai", role="manager", team="team_a",
                       notes=BOSS_NOTE, last_assessment_score=77)
        self.amy = mk("staff", name="Amy An", role="consultant", team="team_a",
                      manager=self.boss["id"], notes=AMY_NOTE)
        self.ben = mk("staff", name="Ben Bo", role="consultant", team="team_b")
        self.lea = mk("staff", name="Lea Lu", role="legal", team="back_office", notes=LEA_NOTE)
        self.unit = mk("property", project="Riverside", building="1", unit_no="101",
                       layout="2br", gross_area="88", list_price="3000000", status="available")
        self.c_amy = mk("client", name="Client-Amy-Own", phone=AMY_PHONE, id_number=AMY_ID,
                        consultant=self.amy["id"], source="walk_in")
        self.c_ben = mk("client", name="Client-Ben-Only", phone=BEN_PHONE, id_number=BEN_ID,
                        consultant=self.ben["id"], source="referral")
        self.c_shared = mk("client", name="Client-Shared", phone=SHARED_PHONE,
                           id_number=SHARED_ID, consultant=self.ben["id"], source="online")
        today = date(2026, 3, 2)
        self.k_amy = mk("case", client=self.c_amy["id"], consultant=self.amy["id"],
                        opened_on=today, stage="negotiation", amount="100")
        self.k_amy2 = mk("case", client=self.c_shared["id"], consultant=self.amy["id"],
                         opened_on=today, stage="lead", amount="200")
        self.k_ben = mk("case", client=self.c_ben["id"], consultant=self.ben["id"],
                        opened_on=today, stage="deposit", amount="400",
                        deposit_amount="20", deposit_paid_on=today)
        self.contract = mk("contract", kind=_first_option(run, "contract", "kind"),
                           case=self.k_ben["id"], client=self.c_ben["id"],
                           unit=self.unit["id"], amount="400",
                           payment_method="full", status="draft")
        self.follow = mk("follow_up", client=self.c_ben["id"], staff=self.ben["id"],
                         at=datetime(2026, 3, 1, 2, tzinfo=UTC),
                         channel=_first_option(run, "follow_up", "channel"),
                         summary="Called Ben's client")
        accounts = run.accounts
        self.users = {}
        for key, staff, role in (("consultant", self.amy, "consultant"),
                                 ("manager", self.boss, "manager"),
                                 ("legal", self.lea, "legal")):
            email = f"{key}@example.com"
            u = accounts.add(email, PASSWORD, name=staff["name"], staff_id=staff["id"],
                             roles=[role])
            self.users[key] = (email, u)
        ada = accounts.by_email("ada@example.com")
        self.users["admin"] = ("ada@example.com", ada)
        self.tokens = {k: accounts.create_token(u.id)[0] for k, (_, u) in self.users.items()}
        comments = app.extensions["lowrise_comments"]
        comments.add("case", self.k_amy["id"], AMY_COMMENT, SYSTEM_ACTOR)
        comments.add("case", self.k_ben["id"], BEN_COMMENT, SYSTEM_ACTOR)

    def actor(self, role: str) -> Actor:
        _, u = self.users[role]
        return Actor(user=u.staff_id, name=u.name, roles=frozenset(u.roles))

    def client(self, role: str):
        c = self.app.test_client()
        auth = AuthActions(c)
        assert auth.login(email=self.users[role][0]).status_code == 302
        c.get("/locale/en")
        return c, auth


def _first_option(run, type_name, field):
    return run.workspace.type(type_name).fields[field].options[0].value


@pytest.fixture
def world(tmp_path, db_url):
    from lowrise.workspace import load_workspace

    app = build_app(tmp_path, db_url, load_workspace(ROOT), LOWRISE_RULES=False)
    yield World(app)
    app.extensions["lowrise"].engine.dispose()


# -- who sees what ---------------------------------------------------------------------------

#: the clients and cases each role sees (by the World's attribute names)
SEES = {
    "consultant": {"client": {"c_amy", "c_shared"}, "case": {"k_amy", "k_amy2"}},
    "manager": {"client": {"c_amy"}, "case": {"k_amy", "k_amy2"}},
    "legal": {"client": {"c_ben"}, "case": {"k_ben"}},
    "admin": {"client": {"c_amy", "c_ben", "c_shared"}, "case": {"k_amy", "k_amy2", "k_ben"}},
}

#: text a role must never receive, in any page, partial, file or JSON
NEVER = {
    "consultant": [BEN_PHONE, BEN_ID, SHARED_PHONE, SHARED_ID, "Client-Ben-Only", BOSS_NOTE,
                   LEA_NOTE, BEN_COMMENT],
    "manager": [BEN_PHONE, BEN_ID, SHARED_PHONE, SHARED_ID, "Client-Ben-Only",
                "Client-Shared", BEN_COMMENT],
    "legal": [BEN_PHONE, BEN_ID, AMY_PHONE, AMY_ID, "Client-Amy-Own", "Client-Shared",
              BOSS_NOTE, AMY_NOTE, LEA_NOTE, AMY_COMMENT],
    "admin": [],
}

ROLES = list(SEES)


def _ids(w, names):
    return {getattr(w, n)["id"] for n in names}


@pytest.mark.parametrize("role", ROLES)
def test_scoped_lists_counts_and_records(world, role):
    w = world
    c, _ = w.client(role)
    for type_name, names in SEES[role].items():
        expected = _ids(w, names)
        api = c.get(f"/api/v1/{type_name}?limit=100",
                    headers={"Authorization": f"Bearer {w.tokens[role]}"}).json
        assert {r["id"] for r in api["data"]} == expected and api["total"] == len(expected)
        with w.run.engine.connect() as conn:
            assert Q.count(conn, w.run.schema, type_name, None, w.actor(role)) == len(expected)
        page = c.get(f"/r/{type_name}/").text
        assert re.search(r'id="total">\D*(\d+)', page).group(1) == str(len(expected))
        every = {getattr(w, n)["id"] for n in SEES["admin"][type_name]}
        for rid in every:
            shown = c.get(f"/r/{type_name}/{rid}")
            assert shown.status_code == (200 if rid in expected else 404), (type_name, rid)
            api_one = c.get(f"/api/v1/{type_name}/{rid}",
                            headers={"Authorization": f"Bearer {w.tokens[role]}"})
            assert api_one.status_code == (200 if rid in expected else 404)
        # guessing an id past the last is the same 404 as one out of scope
        assert c.get(f"/r/{type_name}/{max(every) + 1000}").status_code == 404


def test_masks_follow_the_row_and_the_role(world):
    w = world
    c, _ = w.client("consultant")
    own = c.get(f"/r/client/{w.c_amy['id']}").text
    assert AMY_PHONE in own and AMY_ID in own
    shared = c.get(f"/r/client/{w.c_shared['id']}").text
    assert "137****0003" in shared and "330***********3456" in shared
    assert "tel:137" not in shared  # a masked phone is no link
    assert "Reveal" not in shared  # consultants may not reveal
    api = c.get(f"/api/v1/client/{w.c_shared['id']}",
                headers={"Authorization": f"Bearer {w.tokens['consultant']}"}).json
    assert api["phone"] == "137****0003"
    boss, _ = w.client("manager")
    assert AMY_PHONE in boss.get(f"/r/client/{w.c_amy['id']}").text
    lea, _ = w.client("legal")
    page = lea.get(f"/r/client/{w.c_ben['id']}").text
    assert "139****0002" in page and "220***********2345" in page
    # hidden fields never show: a colleague's notes and scores
    staff = c.get(f"/r/staff/{w.boss['id']}").text
    assert BOSS_NOTE not in staff and "Last assessment score" not in staff
    assert AMY_NOTE in c.get(f"/r/staff/{w.amy['id']}").text  # her own record: unless own
    staff_json = c.get(f"/api/v1/staff/{w.boss['id']}",
                       headers={"Authorization": f"Bearer {w.tokens['consultant']}"}).json
    assert "notes" not in staff_json and "last_assessment_score" not in staff_json


def test_reveal_is_audited_and_shown_in_history(world):
    w = world
    c, auth = w.client("legal")
    rid = w.c_ben["id"]
    page = c.get(f"/r/client/{rid}").text
    assert "Reveal masked fields" in page and 'name="reason"' in page  # legal says why
    a = w.run.schema.audit

    def reveals():
        with w.run.engine.connect() as conn:
            return conn.execute(sa.select(a).where(a.c.action == "reveal")).mappings().all()

    refused = auth.post(f"/r/client/{rid}/reveal", data={"reason": "  "})
    assert refused.status_code == 422 and BEN_PHONE not in refused.text
    assert "say why you need to see these values" in refused.text and reveals() == []
    shown = auth.post(f"/r/client/{rid}/reveal", data={"reason": "合同 CT-1 needs the ID"})
    assert shown.status_code == 200 and BEN_PHONE in shown.text and BEN_ID in shown.text
    assert "Shown in full: Mobile, ID card no." in shown.text  # labels, not field names
    assert [(r["record_id"], r["actor"], r["note"], r["reason"]) for r in reveals()] == [
        (rid, w.lea["id"], "phone, id_number", "合同 CT-1 needs the ID")]
    history = c.get(f"/r/client/{rid}").text
    assert "revealed" in history and "(reason: 合同 CT-1 needs the ID)" in history
    # a consultant may not reveal; nobody reveals out of their rows
    cc, cauth = w.client("consultant")
    assert cauth.post(f"/r/client/{w.c_shared['id']}/reveal").status_code == 403
    assert auth.post(f"/r/client/{w.c_amy['id']}/reveal",
                     data={"reason": "x"}).status_code == 404


def test_writes_follow_the_scope(world):
    w = world
    c, auth = w.client("consultant")
    token = {"Authorization": f"Bearer {w.tokens['consultant']}"}
    # her own client: edit page, save
    assert c.get(f"/r/client/{w.c_amy['id']}/edit").status_code == 200
    # the shared client: she reads it but may not change it
    assert c.get(f"/r/client/{w.c_shared['id']}/edit").status_code == 403
    resp = c.patch(f"/api/v1/client/{w.c_shared['id']}", json={"name": "x"}, headers=token)
    assert resp.status_code == 404
    # Ben's client: as if it did not exist, whatever the verb
    for resp in (c.patch(f"/api/v1/client/{w.c_ben['id']}", json={"name": "x"}, headers=token),
                 c.delete(f"/api/v1/client/{w.c_ben['id']}", headers=token),
                 auth.post(f"/r/client/{w.c_ben['id']}/edit", data={"name": "x"}),
                 auth.post(f"/r/client/{w.c_ben['id']}/delete")):
        assert resp.status_code in (403, 404), resp.status_code
    assert w.run.records.get("client", w.c_ben["id"])["name"] == "Client-Ben-Only"
    # a consultant may not delete clients at all; legal may not create them
    assert auth.post(f"/r/client/{w.c_amy['id']}/delete").status_code == 403
    lea, lauth = w.client("legal")
    assert lea.get("/r/client/new").status_code == 403
    assert lea.post("/api/v1/client", json={"name": "n", "phone": "13800000000"},
                    headers={"Authorization": f"Bearer {w.tokens['legal']}"}).status_code == 403
    # linking a new case to a client out of her rows reads as a missing client
    resp = c.post("/api/v1/case", json={"client": w.c_ben["id"], "opened_on": "2026-03-02"},
                  headers=token)
    assert resp.status_code == 422
    assert resp.json["errors"][0]["detail"] == f"there is no Client #{w.c_ben['id']}"
    # a read-only field (a contract's reviewer) cannot be set by a consultant
    contract = {"kind": _first_option(w.run, "contract", "kind"), "case": w.k_amy["id"],
                "client": w.c_amy["id"], "unit": w.unit["id"], "amount": "100",
                "payment_method": "full", "status": "draft"}
    resp = c.post("/api/v1/contract", json={**contract, "reviewer": w.boss["id"]},
                  headers=token)
    assert resp.status_code == 422
    assert resp.json["errors"][0]["detail"] == \
        "you may not set this field: it is read-only for you"
    made = c.post("/api/v1/contract", json=contract, headers=token)
    assert made.status_code == 201, made.json
    form = c.get(f"/r/contract/{w.contract['id']}/edit")
    assert form.status_code == 404  # Ben's contract
    own = c.get(f"/r/client/{w.c_amy['id']}/edit").text
    assert 'name="phone"' in own and 'name="id_number"' in own


def test_search_pickers_kanban_and_exports_are_scoped(world):
    w = world
    for role in ROLES:
        c, _ = w.client(role)
        found = c.get("/search?q=Client").text
        for n in ("c_amy", "c_ben", "c_shared"):
            rid = getattr(w, n)["id"]
            assert (f'/r/client/{rid}"' in found) == (n in SEES[role]["client"]), (role, n)
        picked = c.get("/r/client/pick?q=Client").text
        assert {int(i) for i in re.findall(r'data-id="(\d+)"', picked)} == \
            _ids(w, SEES[role]["client"])
        board = c.get("/r/case/kanban/cases_board").text
        cards = {int(i) for i in re.findall(r'data-id="(\d+)"', board)}
        assert cards == _ids(w, SEES[role]["case"]), role
        csv = c.get("/r/client/export.csv")
        if role == "legal":
            assert csv.status_code == 403  # legal may not export clients
            continue
        text = csv.data.decode("utf-8-sig")
        assert text.count("\n") == len(SEES[role]["client"]) + 1
    # search does not look into masked fields
    c, _ = w.client("consultant")
    assert f'/r/client/{w.c_shared["id"]}"' not in c.get(f"/search?q={SHARED_PHONE[-4:]}").text
    assert f'/r/client/{w.c_amy["id"]}"' in c.get(f"/search?q={AMY_PHONE[-4:]}").text


def _xlsx_text(data: bytes) -> str:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return " ".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml"))


def test_confidential_fields_leave_in_files_only_as_each_role_may_export_them(world):
    """The consultant reads her own client's phone and ID number in full, but every file she
    takes away (CSV, Excel, the API's export, her share link's download) carries them masked
    (`export: masked`); a manager's carries them in full; each export is logged."""
    w = world
    c, auth = w.client("consultant")
    assert AMY_PHONE in c.get(f"/r/client/{w.c_amy['id']}").text
    token = {"Authorization": f"Bearer {w.tokens['consultant']}"}
    link = _new_url(auth.post("/r/client/share/clients",
                              data={"days": "1", "export": "1"}).text, "new-link")
    files = {"csv": c.get("/r/client/export.csv").data.decode("utf-8-sig"),
             "xlsx": _xlsx_text(c.get("/r/client/export.xlsx").data),
             "api-csv": c.get("/api/v1/client/export", headers=token).data.decode("utf-8-sig"),
             "api-xlsx": _xlsx_text(c.get("/api/v1/client/export?format=xlsx",
                                          headers=token).data),
             "share": w.app.test_client().get(link + "/export.csv").data.decode("utf-8-sig")}
    for via, text in files.items():
        assert "Client-Amy-Own" in text, via
        assert "138****0001" in text and AMY_PHONE not in text and AMY_ID not in text, via
        if via.startswith("api"):  # every field (the clients view has no ID column)
            assert "110***********123X" in text, via
    m, _ = w.client("manager")
    text = m.get("/r/client/export.csv").data.decode("utf-8-sig")
    assert AMY_PHONE in text
    t = w.run.schema.system["lr_exports"]
    with w.run.engine.connect() as conn:
        logged = conn.execute(sa.select(t).order_by(t.c.id)).mappings().all()
    assert [(e["via"], e["actor"], e["record_type"], e["rows"]) for e in logged] == [
        *[(via, w.amy["id"], "client", 2) for via in files],
        ("csv", w.boss["id"], "client", 1)]
    assert logged[0]["confidential"] == {"phone": "masked"}
    assert logged[2]["confidential"] == {"phone": "masked", "id_number": "masked"}
    assert logged[-1]["confidential"] == {"phone": "full"}
    # the API export takes the list's filter and refuses what it does not know
    one = c.get("/api/v1/client/export?filter=" + '{"field": "name", "op": "eq", "value": '
                '"Client-Amy-Own"}', headers=token).data.decode("utf-8-sig")
    assert one.count("\n") == 2
    assert c.get("/api/v1/client/export?format=pdf", headers=token).status_code == 400
    assert c.get("/api/v1/client/export?sort=phone", headers=token).status_code == 400
    assert w.client("legal")[0].get("/api/v1/client/export", headers={
        "Authorization": f"Bearer {w.tokens['legal']}"}).status_code == 403


def test_reveals_and_exports_page_for_managers_and_admins(world):
    w = world
    _, lauth = w.client("legal")
    assert lauth.post(f"/r/client/{w.c_ben['id']}/reveal",
                      data={"reason": "CT-7 needs the ID"}).status_code == 200
    c, _ = w.client("consultant")
    assert c.get("/r/client/export.csv").status_code == 200
    for role in ("consultant", "legal"):
        other, _ = w.client(role)
        assert other.get("/audit").status_code == 403, role
        assert "Reveals and exports" not in other.get("/trash").text, role
    a, _ = w.client("admin")
    page = a.get("/audit").text
    assert "Reveals and exports" in page
    assert "Reason: CT-7 needs the ID" in page and "Lea Lu" in page
    assert f'/r/client/{w.c_ben["id"]}"' in page  # the record revealed
    assert "Amy An" in page and "2 rows" in page
    assert "Confidential: Mobile (masked)" in page
    assert "CT-7" not in a.get(f"/audit?person={w.amy['id']}").text
    assert "Amy An" not in a.get("/audit?kind=reveal").text.split("<tbody>")[1]
    assert "No reveal or export matches." in a.get("/audit?from=2000-01-01&to=2000-01-02").text
    assert "A date reads like" in a.get("/audit?from=yesterday").text
    # a manager reads every export, and the reveals of the records they may read only
    m, _ = w.client("manager")
    page = m.get("/audit").text
    assert "Amy An" in page and "CT-7" not in page and "Lea Lu" not in page.split("<tbody>")[1]
    assert "Reveals and exports" in m.get("/trash").text  # in the sidebar


def test_dashboard_figures_equal_the_scoped_counts(world):
    from lowrise import dashboards as dash

    w = world
    ws, schema = w.run.workspace, w.run.schema
    view = next(v for v in ws.views.values() if v.type == "dashboard")
    board = dash.load(view, ws)
    sel = dash.select(board, {"range": "all"}, date(2026, 3, 2), ws)
    for role in ROLES:
        actor = w.actor(role)
        datas = dash.compute(w.run.engine, schema, board, sel, actor=actor)
        for data in datas:
            wd = data.widget
            if data.error or data.figure is None or wd.record_type != "case":
                continue
            if getattr(wd, "filter", None) is None and getattr(wd, "date_field", None) \
                    == "opened_on" and "count" in str(getattr(wd, "measures", "count")):
                with w.run.engine.connect() as conn:
                    n = Q.count(conn, schema, "case", None, actor)
                assert data.figure.value == n, (role, wd.name)
        c, _ = w.client(role)
        assert c.get(f"/d/{view.name}?range=all").status_code == 200


def test_history_and_trash_are_scoped(world):
    w = world
    w.run.records.update("client", w.c_shared["id"], {"phone": "13733330009"}, SYSTEM_ACTOR)
    c, _ = w.client("consultant")
    page = c.get(f"/r/client/{w.c_shared['id']}").text
    assert "137****0009" in page and "13733330009" not in page
    boss, bauth = w.client("manager")
    assert bauth.post(f"/r/case/{w.k_amy2['id']}/delete").status_code == 302
    assert "#" + str(w.k_amy2["id"]) in boss.get("/trash").text
    assert "#" + str(w.k_amy2["id"]) not in c.get("/trash").text  # not hers: she did not
    lea, lauth = w.client("legal")
    assert lauth.post(f"/trash/case/{w.k_amy2['id']}/restore").status_code in (403, 404)


def test_comments_follow_the_record(world):
    """Reading, posting, deleting and the mention autocomplete of comments: 200 on a case
    the role reads, 404 on one it does not (a guessed id), 403 on a type it may not read;
    a mention notifies only people who may read the case."""
    w = world
    cases = {n: getattr(w, n)["id"] for n in SEES["admin"]["case"]}
    for role in ROLES:
        c, auth = w.client(role)
        for name, rid in cases.items():
            ok = name in SEES[role]["case"]
            base = f"/r/case/{rid}/comments"
            part = auth.hx("GET", base)
            assert part.status_code == (200 if ok else 404), (role, name)
            assert (BEN_COMMENT in part.text) == (ok and name == "k_ben")
            assert c.get(f"{base}/mentions?q=Amy").status_code == (200 if ok else 404)
            posted = auth.hx("POST", base, data={"body": f"{role} was here"})
            assert posted.status_code == (200 if ok else 404), (role, name)
            me = w.actor(role).user
            for x in w.app.extensions["lowrise_comments"]._list("case", rid):
                resp = auth.post(f"{base}/delete", data={"comment": x.id})
                mine = x.author is not None and x.author == me
                want = 404 if not ok else 302 if mine or role == "admin" else 403
                assert resp.status_code == want, (role, name, x.body)
    lea, lauth = w.client("legal")
    assert lauth.hx("GET", f"/r/follow_up/{w.follow['id']}/comments").status_code == 403
    assert lauth.post(f"/r/follow_up/{w.follow['id']}/comments",
                      data={"body": "x"}).status_code == 403
    # legal mentions the consultant (who may not read Ben's case) and the manager
    resp = lauth.post(f"/r/case/{w.k_ben['id']}/comments", data={"body": "@Amy An @Boss Bai"})
    assert resp.status_code == 302
    page = lea.get(f"/r/case/{w.k_ben['id']}").text
    assert "Amy An, Boss Bai may not see this record and were not notified." in page
    for role in ("consultant", "manager"):
        c, _ = w.client(role)
        assert BEN_COMMENT not in c.get("/inbox").text and "@Amy An" not in c.get("/inbox").text
    comments = [dict(r) for r in w.app.extensions["lowrise_comments"]._list(
        "case", w.k_amy["id"])]
    assert not any(BEN_COMMENT in str(x) for x in comments)


# -- every route, every role -----------------------------------------------------------------

def _urls(w, rule) -> list[str]:
    """Concrete URLs for one GET rule of the app, with records inside and outside scopes."""
    ws = w.run.workspace
    args = set(rule.arguments)
    if "filename" in args:
        return []
    types = list(ws.record_types)
    if "type_name" in args:
        out = []
        for t in types:
            kind = {"kanban.board": "kanban", "kanban.column": "kanban",
                    "calendar.month": "calendar"}.get(rule.endpoint,
                                                      "table" if "view_name" in args else None)
            views = [v.name for v in ws.views.values() if v.record_type == t and v.type == kind]
            if "view_name" in args and not views:
                continue
            ids: list = []
            if "record_id" in args:
                with w.run.engine.connect() as conn:
                    ids = [r["id"] for r in Q.list_records(conn, w.run.schema, t, limit=3,
                                                           fields=[]).rows] + [999_999]
            for rid in ids or [None]:
                values = {"type_name": t, "record_id": rid, "view_name": views[0] if views
                          else None, "key": "lead", "fmt": "csv",
                          "field": ws.type(t).title_field, "name": ws.type(t).title_field}
                out.append(rule.build({k: v for k, v in values.items() if k in args},
                                      append_unknown=False)[1])
        return out
    fill = {"name": next(iter(ws.rules), "x"), "key": "0" * 64, "code": "en",
            "record_id": 1, "job_id": 1, "token_id": 1, "user_id": 1, "token": "A" * 43,
            "link_id": 1, "feed_id": 1, "view_name": "viewing_request"}
    if rule.endpoint.startswith("dashboards."):
        fill["name"] = next(v.name for v in ws.views.values() if v.type == "dashboard")
    if rule.endpoint.startswith("gallery."):
        fill["name"] = next(iter(gallery_engine.gallery()))
    return [rule.build({k: fill[k] for k in args}, append_unknown=False)[1]]


def send_to_review(w) -> dict:
    """Approvals waiting (the approvals installed if the app's rules are off): Ben's
    contract, with no manager nor department head, for the administrators; a refund of its
    deposit asked by Lea for her department's head, Boss. The payment is returned."""
    from lowrise.approvals.engine import install

    records = w.run.records
    install(records)
    ben = Actor(user=w.ben["id"], name=w.ben["name"], roles=frozenset({"consultant"}))
    records.update("contract", w.contract["id"], {"status": "in_review"}, ben)
    deposit = records.create("payment", dict(
        contract=w.contract["id"], label="Deposit", kind="deposit", amount="20",
        due_on=date(2026, 3, 2), status="paid"), SYSTEM_ACTOR)
    lea = Actor(user=w.lea["id"], name=w.lea["name"], roles=frozenset({"legal"}))
    return records.update("payment", deposit["id"], {"status": "refund_requested"}, lea)


def organise(w) -> None:
    """The world's people in departments: 销售中心 over 案场一组 (headed by Boss; Amy, and
    Lea who handles its contracts) and 案场二组 (Ben; no head), so that the managers'
    department scopes take part in every read (each role still sees what SEES says)."""
    mk = lambda t, **v: w.run.records.create(t, v, SYSTEM_ACTOR)["id"]  # noqa: E731
    centre = mk("department", name="销售中心")
    one = mk("department", name="案场一组", parent=centre, head=w.boss["id"])
    two = mk("department", name="案场二组", parent=centre)
    for person, dept in ((w.amy, one), (w.lea, one), (w.ben, two)):
        w.run.records.update("staff", person["id"], {"department": dept}, SYSTEM_ACTOR)


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_every_role(world, role):
    """Every GET route of the app, with every id the world has, for one role (a test a role,
    so that test workers share them out), with the people in departments and contracts
    waiting for approval: no error, no text the role may not see."""
    w = world
    app = w.app
    organise(w)
    review = send_to_review(w)
    rules = [r for r in app.url_map.iter_rules() if "GET" in r.methods
             and r.endpoint not in ("static", "auth.login", "locale")]
    urls = sorted({u for r in rules for u in _urls(w, r)})
    assert len(urls) > 150
    covered = {r.endpoint for r in rules if _urls(w, r)}
    for endpoint in ("settings.type_settings", "settings.field_settings",
                     "settings.view_settings", "settings.log", "gallery.index",
                     "gallery.preview", "gallery.use", "gallery.import_archive",
                     "comments.section", "comments.mentions", "sharing.account",
                     "sharing.share", "sharing.link_visits", "public_forms.index",
                     "public_forms.manage", "shared.page", "shared.feed",
                     "approvals.queue_page", "api.approval_queue", "trail.index",
                     "api.export"):
        assert endpoint in covered, endpoint
    c, _ = w.client(role)
    token = {"Authorization": f"Bearer {w.tokens[role]}"}
    for url in urls:
        resp = c.get(url, headers=token if url.startswith("/api/") else {})
        if url == "/readyz":  # no worker runs here: "not ready" is this page's true answer
            assert resp.status_code == 503 and resp.is_json, (role, url)
            continue
        if url == "/live/events":  # a stream needs a threaded server (tests/test_live_web.py)
            assert resp.status_code in (200, 503), (role, url)
            resp.close()
            continue
        assert resp.status_code < 500, (role, url, resp.status_code)
        body = resp.get_data(as_text=True)
        for secret in NEVER[role]:
            assert secret not in body, (role, url, secret)
        if resp.status_code == 200 and resp.mimetype == "text/html":
            assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
    # the approval queues: the refund waits for Boss, Ben's contract for the administrators
    queue = c.get("/approvals").get_data(as_text=True)
    api = c.get("/api/v1/approvals", headers=token).get_json()["tasks"]
    for type_name, rid, whose in (("payment", review["id"], "manager"),
                                  ("contract", w.contract["id"], "admin")):
        assert (f'href="/r/{type_name}/{rid}#approvals"' in queue) == (role == whose), role
        assert ((type_name, rid) in {(t["record_type"], t["record_id"]) for t in api}) == \
            (role == whose), (role, type_name)
    # the log of reveals and exports: for managers (audit: true) and admins
    assert c.get("/audit").status_code == (200 if role in ("manager", "admin") else 403), role
    # the types a role may not read are 403, in pages and in the API
    if role == "legal":
        assert c.get("/r/follow_up/").status_code == 403
        assert c.get("/api/v1/follow_up", headers=token).status_code == 403
        assert c.get(f"/r/follow_up/{w.follow['id']}").status_code == 403


def test_settings_pages_only_for_admins(world):
    """The record type settings pages (the `manage` permission): every page and both POSTs
    are 200 (or a checked 4xx for an empty form) for the admin, 403 for every other role of
    the flagship, and none of their responses shows what the role may not see."""
    w = world
    app = w.app
    gets = sorted({u for r in app.url_map.iter_rules()
                   if r.endpoint.startswith("settings.") and "GET" in r.methods
                   for u in _urls(w, r)})
    posts = [r for r in app.url_map.iter_rules()
             if r.endpoint.startswith("settings.") and "POST" in r.methods]
    assert len(gets) > 10 and {r.endpoint for r in posts} == {"settings.preview",
                                                              "settings.apply"}
    posts = [f"/r/{t}/settings/{kind}" for t in w.run.workspace.record_types
             for kind in ("preview", "apply")]
    for role in ROLES:
        c, auth = w.client(role)
        for url in gets:
            resp = c.get(url)
            assert resp.status_code == (200 if role == "admin" else 403), (role, url)
            body = resp.get_data(as_text=True)
            for secret in NEVER[role]:
                assert secret not in body, (role, url, secret)
        for url in posts:
            form = {"op": "add_field", "name": "lr_probe", "type": "text",
                    "label_en": "Probe"}
            if role == "admin" and url.endswith("/apply"):
                continue  # the admin's apply is the settings tests' (it writes YAML files)
            for resp in (auth.post(url, data=form), auth.hx("POST", url, data=form)):
                if role == "admin":
                    assert resp.status_code < 500 and resp.status_code != 403, (url, resp)
                else:
                    assert resp.status_code == 403, (role, url, resp.status_code)
                    assert "lr_probe" not in resp.get_data(as_text=True)
    # nothing a refused role sent was written: the workspace has no probe field
    assert all("lr_probe" not in t.fields for t in w.run.workspace.record_types.values())


def test_web_layer_never_reads_without_the_actor():
    """Every read of the query layer in web/ passes the request's actor (ctx=...), and every
    Records.get / history / trash names it: an unscoped read there would leak rows."""
    reads = {"list_records", "count", "aggregate", "get_many", "related", "global_search"}
    missing = []
    for path in WEB.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            name = node.func.attr
            owner = ast.unparse(node.func.value)
            keywords = {k.arg for k in node.keywords}
            if name in reads and owner in ("query", "Q") or name == "global_search":
                positional_ctx = name == "count" and len(node.args) >= 5
                if "ctx" not in keywords and not positional_ctx:
                    missing.append(f"{path.name}:{node.lineno} {ast.unparse(node)[:80]}")
            if owner.endswith("records") and name in ("get", "history", "trash"):
                if "actor" not in keywords:
                    missing.append(f"{path.name}:{node.lineno} {ast.unparse(node)[:80]}")
    assert missing == []


def test_demo_accounts_one_per_role(tmp_path, db_url):
    from lowrise import demo_accounts
    from lowrise.workspace import load_workspace

    app = build_app(tmp_path, db_url, load_workspace(ROOT), LOWRISE_RULES=False)
    run = app.extensions["lowrise"]
    try:
        mk = lambda **v: run.records.create("staff", v, SYSTEM_ACTOR)  # noqa: E731
        lonely = mk(name="Lonely Manager", role="manager", team="team_c")
        boss = mk(name="Boss", role="manager", team="team_a")
        amy = mk(name="Amy", role="consultant", team="team_a", manager=boss["id"])
        lea = mk(name="Lea", role="legal")
        root = mk(name="Root", role="admin")
        made = demo_accounts.make(run.records, run.accounts, instance=tmp_path / "inst")
        by_role = {a.role: a for a in made}
        assert {r: a.staff_id for r, a in by_role.items()} == {
            "consultant": amy["id"], "manager": boss["id"], "legal": lea["id"],
            "admin": root["id"]}  # the manager whose team the consultant is in
        assert lonely["id"] not in {a.staff_id for a in made}
        assert demo_accounts.make(run.records, run.accounts) == []  # kept, not made twice
        saved = demo_accounts.saved_lines(tmp_path / "inst")
        assert len(saved) == 4 and by_role["legal"].password in saved[2]
        assert (tmp_path / "inst" / demo_accounts.FILE_NAME).stat().st_mode & 0o777 == 0o600
        c = app.test_client()
        resp = c.post("/auth/login", data={
            "email": "legal@example.com", "password": by_role["legal"].password,
            "csrf_token": csrf_of(c.get("/auth/login").text)})
        assert resp.status_code == 302
        assert c.get("/r/follow_up/").status_code == 403 and c.get("/r/contract/").status_code == 200
    finally:
        run.engine.dispose()


# -- outside the app: public forms, calendar feeds, share links -----------------------------

def _new_url(html: str, box: str) -> str:
    return re.search(rf'id="{box}">([^<]+)<', html)[1].replace("http://localhost", "")


@pytest.mark.parametrize("role", ROLES)
def test_feeds_and_share_links_show_each_roles_rows(world, role):
    """A role's calendar feed and its share link of the cases table hold exactly the cases it
    sees (read as that person, anonymously), and none of what it may never see."""
    w = world
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    for name in SEES["admin"]["case"]:
        w.run.records.update("case", getattr(w, name)["id"], {"viewing_arranged_at": soon},
                             SYSTEM_ACTOR)
    _, auth = w.client(role)
    feed = _new_url(auth.post("/r/case/calendar/viewings_calendar/feed").text, "new-feed")
    link = _new_url(auth.post("/r/case/share/cases", data={"days": "1"}).text, "new-link")
    anonymous = w.app.test_client()
    expected = _ids(w, SEES[role]["case"])
    ics = anonymous.get(feed)
    assert {int(i) for i in re.findall(r"UID:case-(\d+)\.", ics.text)} == expected, role
    page = anonymous.get(link)
    assert {int(i) for i in re.findall(r'data-id="(\d+)"', page.text)} == expected, role
    for body in (ics.text, page.text):
        for secret in NEVER[role]:
            assert secret not in body, (role, secret)


def test_anonymous_reaches_only_public_forms_and_valid_links(world):
    """Without signing in, every page of the app sends to the sign-in page (the API answers
    401), but for the health checks, and the public form, share links and feeds, which answer
    404 unless their token opens something."""
    w = world
    app = w.app
    anonymous = app.test_client()
    public = {"public_forms.fill", "public_forms.thanks", "shared.page", "shared.export",
              "shared.feed"}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in ("static", "auth.login", "locale"):
            continue
        for url in _urls(w, rule):
            resp = anonymous.get(url)
            if rule.endpoint in public:
                assert resp.status_code == 404, (url, resp.status_code)
            elif url in ("/healthz", "/readyz"):  # for load balancers: no session, no data
                assert resp.status_code in (200, 503) and resp.is_json, (url, resp.status_code)
                assert "Set-Cookie" not in resp.headers
            elif resp.status_code != 401 or not url.startswith("/api/"):
                assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"], \
                    (url, resp.status_code)
    _, auth = w.client("manager")
    auth.post("/forms/viewing_request", data={"action": "publish"})
    form = w.app.extensions["lowrise_sharing"].forms.current("viewing_request")
    link = _new_url(auth.post("/r/case/share/cases", data={"days": "1"}).text, "new-link")
    feed = _new_url(auth.post("/r/case/calendar/viewings_calendar/feed").text, "new-feed")
    for url in (f"/f/{form.token}", link, feed):
        resp = anonymous.get(url)
        assert resp.status_code == 200, url
        # no session, but for the form's CSRF token
        assert ("Set-Cookie" in resp.headers) == url.startswith("/f/"), url
    cal = _new_url(auth.post("/r/case/share/viewings_calendar", data={"days": "1"}).text,
                   "new-link")
    for month in ("9999-12", "0-1", "2026-13", "x", "2026-12"):
        assert anonymous.get(f"{cal}?month={month}").status_code == 200, month
    assert anonymous.get(f"/f/{form.token}/thanks").status_code == 200
    assert anonymous.get(link + "/export.csv").status_code == 404  # export not allowed


def test_duplicate_starts_a_form_with_what_the_person_may_copy(world):
    """Duplicate opens the new-record form with the record's values, links included; unique,
    masked and file fields start empty, so a copy never carries a value its maker may not
    read; a record outside the person's rows is not found."""
    w = world
    c, _ = w.client("consultant")
    case_page = c.get(f"/r/case/{w.k_amy['id']}").text
    assert f'/r/case/new?copy={w.k_amy["id"]}' in case_page
    form = c.get(f"/r/case/new?copy={w.k_amy['id']}").text
    assert f'name="client" value="{w.c_amy["id"]}"' in form and 'value="100' in form
    assert f"#{w.k_amy['id']}" in form
    # her colleague's client, which she reads masked: neither number comes along
    form = c.get(f"/r/client/new?copy={w.c_shared['id']}").text
    assert "Client-Shared" in form
    for secret in (SHARED_PHONE, SHARED_ID, "137****0003", "330***********3456"):
        assert secret not in form
    # her own client: the phone and ID number are unique, so they start empty
    form = c.get(f"/r/client/new?copy={w.c_amy['id']}").text
    assert AMY_PHONE not in form and AMY_ID not in form and "Client-Amy-Own" in form
    assert c.get(f"/r/client/new?copy={w.c_ben['id']}").status_code == 404
    assert c.get("/r/client/new?copy=x").status_code == 404
    zh = w.client("consultant")[0]
    zh.get("/locale/zh")
    assert "复制记录" in zh.get(f"/r/case/{w.k_amy['id']}").text
    assert "复制自" in zh.get(f"/r/case/new?copy={w.k_amy['id']}").text
    # the same Duplicate beside each row's record link in the table, for those who may create
    table = zh.get("/r/case/").text
    assert f'href="/r/case/new?copy={w.k_amy["id"]}"' in table
    assert f'aria-label="复制记录 #{w.k_amy["id"]}"' in table
    reader = w.client("legal")[0].get("/r/case/").text  # reads cases, creates none
    assert f'data-id="{w.k_ben["id"]}"' in reader and "?copy=" not in reader


def test_the_sidebar_leads_to_the_apps_own_screens(world):
    """Automations (for admins, whose page it is), the API reference and tokens are in the
    sidebar of every page, beside Trash, Templates and Sharing, in the reader's language."""
    w = world
    for role in ROLES:
        c, _ = w.client(role)
        c.get("/locale/zh")
        page = c.get(f"/r/case/{w.k_amy['id']}" if role != "legal" else "/trash").text
        nav = page.split('<section class="nav-type nav-foot">')[1].split("</section>")[0]
        assert 'href="/api/v1/docs"' in nav and "API 与令牌" in nav, role
        assert ('href="/rules"' in nav and "自动化" in nav) == (role == "admin"), role
        for href in ("/api/v1/docs", "/account/tokens") + (("/rules",) if role == "admin" else ()):
            assert c.get(href).status_code == 200, (role, href)
