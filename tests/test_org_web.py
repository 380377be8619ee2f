"""Department scopes on the flagship through the whole app, on SQLite and PostgreSQL: the
client and case lists, counts, records, the API, search, link pickers, exports, the kanban
board and the dashboard, for each role; the org chart's fields refused to everyone but
administrators; and the demo data's departments.

The sales office: 销售中心 (headed by Dora, the sales director) over 案场一组 (headed by the
manager Boss) and 案场二组 (headed by Mo). Amy and Cal sell in 一组 — Cal is in no team
of Boss's (another team field, no manager link), so only the department shows him to
Boss — and Ben in 二组.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from lowrise.storage import query as Q
from test_web_support import PASSWORD, SYSTEM_ACTOR, AuthActions, build_app

pytest_plugins = ["test_web_support"]

ROOT = Path(__file__).resolve().parents[1]
TODAY = datetime.now(UTC).date()


class World:
    def __init__(self, app):
        self.app = app
        self.run = run = app.extensions["lowrise"]
        mk = lambda t, **v: run.records.create(t, v, SYSTEM_ACTOR)  # noqa: E731
        self.centre = mk("department", name="销售中心")
        self.one = mk("department", name="案场一组", parent=self.centre["id"])
        self.two = mk("department", name="案场二组", parent=self.centre["id"])
        self.dora = mk("staff", name="Dora-Director", role="manager", team="back_office")
        self.boss = mk("staff", name="Boss-一组", role="manager", team="team_a",
                       department=self.one["id"])
        self.mo = mk("staff", name="Mo-二组", role="manager", team="team_b",
                     department=self.two["id"])
        self.amy = mk("staff", name="Amy-一组", role="consultant", team="team_a",
                      department=self.one["id"])
        self.cal = mk("staff", name="Cal-一组", role="consultant", team="team_c",
                      department=self.one["id"])
        self.ben = mk("staff", name="Ben-二组", role="consultant", team="team_b",
                      department=self.two["id"])
        for dept, head in ((self.centre, self.dora), (self.one, self.boss), (self.two, self.mo)):
            run.records.update("department", dept["id"], {"head": head["id"]}, SYSTEM_ACTOR)
        self.clients, self.cases = {}, {}
        for i, who in enumerate(("amy", "cal", "ben")):
            person = getattr(self, who)
            c = mk("client", name=f"Client-of-{person['name']}", phone=f"1380000000{i}",
                   consultant=person["id"], source="walk_in")
            self.clients[who] = c["id"]
            self.cases[who] = mk("case", client=c["id"], consultant=person["id"],
                                 opened_on=TODAY, stage="contracted", contracted_on=TODAY,
                                 amount="100")["id"]
        accounts = run.accounts
        self.users = {}
        for key, staff, role in (("amy", self.amy, "consultant"), ("boss", self.boss, "manager"),
                                 ("dora", self.dora, "manager"), ("mo", self.mo, "manager")):
            u = accounts.add(f"{key}@example.com", PASSWORD, name=staff["name"],
                             staff_id=staff["id"], roles=[role])
            self.users[key] = u
        self.tokens = {k: accounts.create_token(u.id)[0] for k, u in self.users.items()}

    def client(self, who: str):
        c = self.app.test_client()
        auth = AuthActions(c)
        assert auth.login(email=f"{who}@example.com").status_code == 302
        return c, auth


@pytest.fixture
def world(tmp_path, db_url):
    from lowrise.workspace import load_workspace

    app = build_app(tmp_path, db_url, load_workspace(ROOT), LOWRISE_RULES=False)
    yield World(app)
    app.extensions["lowrise"].engine.dispose()


#: whose clients and cases each person sees
SEES = {
    "amy": {"amy"},                      # a consultant: her own
    "boss": {"amy", "cal"},              # 一组's head: his department (Cal only by it)
    "mo": {"ben"},                       # 二组's head
    "dora": {"amy", "cal", "ben"},       # 销售中心's head: every department below
}


@pytest.mark.parametrize("who", list(SEES))
def test_department_scopes_on_every_route(world, who):
    w = world
    c, _ = w.client(who)
    c.get("/locale/zh")
    token = {"Authorization": f"Bearer {w.tokens[who]}"}
    seen = SEES[who]
    hidden = {"amy", "cal", "ben"} - seen
    for type_name, ids in (("client", w.clients), ("case", w.cases)):
        expected = {ids[p] for p in seen}
        api = c.get(f"/api/v1/{type_name}?limit=100", headers=token).json
        assert {r["id"] for r in api["data"]} == expected and api["total"] == len(expected)
        page = c.get(f"/r/{type_name}/").text
        assert re.search(r'id="total">\D*(\d+)', page).group(1) == str(len(expected))
        for p, rid in ids.items():
            ok = 200 if p in seen else 404
            assert c.get(f"/r/{type_name}/{rid}").status_code == ok, (type_name, p)
            assert c.get(f"/api/v1/{type_name}/{rid}", headers=token).status_code == ok
        u = w.users[who]
        from lowrise.actor import Actor

        actor = Actor(user=u.staff_id, name=u.name, roles=frozenset(u.roles))
        with w.run.engine.connect() as conn:
            assert Q.count(conn, w.run.schema, type_name, None, actor) == len(expected)
    found = c.get("/search?q=Client-of").text
    picked = c.get("/r/client/pick?q=Client-of").text
    board = c.get("/r/case/kanban/cases_board").text
    csv = c.get("/r/client/export.csv").data.decode("utf-8-sig")
    # the dashboard, but for its consultant picker (staff are everyone's to read)
    dash = re.sub(r"<option[^>]*>.*?</option>", "", c.get("/d/dashboard?range=all").text)
    for p in seen:
        assert f'/r/client/{w.clients[p]}"' in found
        assert f'data-id="{w.clients[p]}"' in picked
        assert f'data-id="{w.cases[p]}"' in board
        assert f"Client-of-{getattr(w, p)['name']}" in csv
        assert getattr(w, p)["name"] in dash  # the consultants' leaderboard
    for p in hidden:
        name = getattr(w, p)["name"]
        for text in (found, picked, csv, dash):
            assert f"Client-of-{name}" not in text
        assert f'data-id="{w.cases[p]}"' not in board
        assert name not in dash


#: whose contracts in review wait for each person: Amy, Cal and Ben have no manager of
#: their own, so their department's head approves (Cal asks for a discount above his limit:
#: the head above, Dora, after Boss)
WAITS = {"amy": set(), "boss": {"amy", "cal"}, "mo": {"ben"}, "dora": set()}


def _send_to_review(w) -> dict[str, dict]:
    from lowrise.actor import Actor
    from lowrise.approvals.engine import install

    install(w.run.records)  # the app's rules are off here; the approvals run
    unit = w.run.records.create("property", dict(
        project="锦绣花园", building="1栋", unit_no="101", layout="2br", gross_area="88",
        list_price="3000000", status="available"), SYSTEM_ACTOR)
    out = {}
    for who in ("amy", "cal", "ben"):
        person = getattr(w, who)
        me = Actor(user=person["id"], name=person["name"], roles=frozenset({"consultant"}))
        contract = w.run.records.create("contract", dict(
            kind="sale", case=w.cases[who], client=w.clients[who], unit=unit["id"],
            amount="100", payment_method="full", discount=8 if who == "cal" else None), me)
        out[who] = w.run.records.update("contract", contract["id"], {"status": "in_review"}, me)
    return out


@pytest.mark.parametrize("who", list(SEES))
def test_approvals_wait_for_the_department_head(world, who):
    """The queue page, the navigation's count and the API's queue of each person: a
    contract waits for its consultant's department head (部门负责人), and for nobody else."""
    w = world
    contracts = _send_to_review(w)
    c, _ = w.client(who)
    c.get("/locale/zh")
    page = c.get("/approvals").text
    assert "我的审批" in page
    badge = re.search(r'id="approvals-badge">(\d+)<', page)
    assert (int(badge.group(1)) if badge else 0) == len(WAITS[who])
    for p, contract in contracts.items():
        assert (contract["contract_no"] in page) == (p in WAITS[who]), (who, p)
    api = c.get("/api/v1/approvals", headers={"Authorization": f"Bearer {w.tokens[who]}"}).json
    assert {t["record_id"] for t in api["tasks"]} == {contracts[p]["id"] for p in WAITS[who]}
    assert api["waiting"] == len(WAITS[who])
    if who == "boss":  # he approves Cal's discount: it goes on to the head above
        task = next(t["task"] for t in api["tasks"] if t["record_id"] == contracts["cal"]["id"])
        done = c.post(f"/api/v1/approvals/tasks/{task}", json={"decision": "approve"},
                      headers={"Authorization": f"Bearer {w.tokens[who]}"})
        assert done.status_code == 200 and done.json["step"] == 2
        dora, _ = w.client("dora")
        assert contracts["cal"]["contract_no"] in dora.get("/approvals").text


def test_the_org_chart_is_the_administrators(world):
    w = world
    c, auth = w.client("boss")
    token = {"Authorization": f"Bearer {w.tokens['boss']}"}
    # a head cannot move himself into 销售中心 (and see 二组), nor change the tree
    resp = c.patch(f"/api/v1/staff/{w.boss['id']}", json={"department": w.centre["id"]},
                   headers=token)
    assert resp.status_code == 422 and "decides who sees which records" in resp.text
    resp = c.post("/api/v1/department", json={"name": "新组"}, headers=token)
    assert resp.status_code == 403
    resp = c.patch(f"/api/v1/department/{w.two['id']}", json={"parent": w.one["id"]},
                   headers=token)
    assert resp.status_code == 403
    with w.run.engine.connect() as conn:
        t = w.run.schema.table("staff")
        assert conn.execute(sa.select(t.c.department).where(t.c.id == w.boss["id"])
                            ).scalar() == w.one["id"]
    # in Chinese on the page too
    c.get("/locale/zh")
    form = c.get(f"/r/staff/{w.boss['id']}/edit")
    assert form.status_code in (200, 404)
    # everyone reads the org chart
    for who in SEES:
        cl, _ = w.client(who)
        listed = cl.get("/api/v1/department", headers={
            "Authorization": f"Bearer {w.tokens[who]}"}).json
        assert {r["name"] for r in listed["data"]} == {"销售中心", "案场一组", "案场二组"}


def test_demo_data_has_the_sales_offices_departments(tmp_path, db_url):
    from lowrise import org
    from lowrise.seed import seed
    from lowrise.workspace import load_workspace

    app = build_app(tmp_path, db_url, load_workspace(ROOT), LOWRISE_RULES=False)
    run = app.extensions["lowrise"]
    try:
        seed(run.records, scale=1)
        schema, ws = run.schema, run.workspace
        d, s = schema.table("department"), schema.table("staff")
        with run.engine.connect() as conn:
            depts = {r.name: r for r in conn.execute(sa.select(d))}
            assert set(depts) == {"销售中心", "案场一组", "案场二组", "渠道组", "法务", "财务"}
            for name in ("案场一组", "案场二组", "渠道组"):
                assert depts[name].parent == depts["销售中心"].id
            assert depts["法务"].parent is None and depts["财务"].parent is None
            people = list(conn.execute(sa.select(s)))
            assert all(p.department is not None for p in people)
            by_id = {p.id: p for p in people}
            assert {p.department for p in people if p.role == "legal"} == {depts["法务"].id}
            for name in ("销售中心", "案场一组", "案场二组", "渠道组"):
                head = depts[name].head
                assert head is not None and by_id[head].role == "manager", name
            assert by_id[depts["法务"].head].role == "legal"
            # a consultant of 一组 answers to 一组's head, who answers to the director
            amy = next(p for p in people if p.department == depts["案场一组"].id
                       and p.role == "consultant")
            chain = org.chain(conn, schema, ws, amy.id)
            assert [lvl.department for lvl in chain[0]] == [depts["案场一组"].id,
                                                            depts["销售中心"].id]
            assert org.heads_of(conn, schema, ws, amy.id) == [depts["案场一组"].head]
    finally:
        run.engine.dispose()
