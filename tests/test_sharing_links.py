"""Share links: a table, board or calendar shared read-only until an expiry, showing what the
sharer sees when it is opened (or what one of their roles sees), masks kept, no edit controls
and no links into the app, CSV only when allowed; every visit logged for the sharer and
admins; revoked, expired or a sharer's lost access closes or narrows it. SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from test_sharing_support import new_url, office_app
from test_web_support import SYSTEM_ACTOR

pytest_plugins = ["test_web_support"]

AMY_PHONE, BEN_PHONE, SHARED_PHONE = "13811110001", "13922220002", "13733330003"


def world(office):
    mk = lambda t, **v: office.run.records.create(t, v, SYSTEM_ACTOR)  # noqa: E731
    w = {"c_amy": mk("client", name="Client-Amy-Own", phone=AMY_PHONE,
                     consultant=office.amy["id"]),
         "c_ben": mk("client", name="Client-Ben-Only", phone=BEN_PHONE,
                     consultant=office.ben["id"]),
         "c_shared": mk("client", name="Client-Shared", phone=SHARED_PHONE,
                        consultant=office.ben["id"])}
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    for key, client, who in (("k_amy", "c_amy", office.amy), ("k_amy2", "c_shared", office.amy),
                             ("k_ben", "c_ben", office.ben)):
        w[key] = mk("case", client=w[client]["id"], consultant=who["id"], stage="viewing",
                    opened_on=date(2026, 3, 2), viewing_arranged_at=soon)
    return {k: v["id"] for k, v in w.items()}


def share(office, who: str, path: str, **form) -> str:
    _, auth = office.client(who)
    resp = auth.post(path, data={"days": "7", **form})
    assert resp.status_code == 201, resp.status_code
    return new_url(resp.text, "new-link")


def ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'data-id="(\d+)"', html)}


def test_a_shared_table_shows_what_its_sharer_sees_and_nothing_more(tmp_path, db_url):
    office = office_app(tmp_path, db_url)
    w = world(office)
    c, auth = office.client("consultant")
    form = c.get("/r/client/share/clients").text
    assert "置业顾问" in form and "销售经理" not in form  # she narrows to her own roles only
    assert 'name="export"' in form  # she may export clients
    url = share(office, "consultant", "/r/client/share/clients", note="给中介")
    token = url.rsplit("/", 1)[1]
    visitor = office.app.test_client()
    page = visitor.get(url, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.text
    assert ids(html) == {w["c_amy"], w["c_shared"]}
    assert AMY_PHONE in html and "137****0003" in html and SHARED_PHONE not in html
    assert "Client-Ben-Only" not in html and BEN_PHONE not in html
    assert "<form" not in html and "hx-" not in html  # nothing to edit, nothing that loads
    links = set(re.findall(r'(?:href|src|action)="([^"]+)"', html))
    assert {h for h in links if not h.startswith(("/static/", f"/s/{token}"))} == set()
    assert visitor.get(url + "/export.csv").status_code == 404  # export was not allowed
    assert "客户列表" in html and "只读共享" in html
    assert "Clients" in visitor.get(url + "?lang=en").text
    # every visit logged; the sharer and admins see them, nobody else
    [link] = office.sharing.links.list(office.accounts["consultant"].id)
    assert link.visits == 2 and link.note == "给中介"
    visits = c.get(f"/shares/{link.id}")
    assert visits.status_code == 200 and "203.0.113.7" in visits.text and "打开了页面" in \
        visits.text
    a, _ = office.client("admin")
    assert a.get(f"/shares/{link.id}").status_code == 200
    assert f'data-link="{link.id}"' in a.get("/account/sharing").text  # everyone's links
    m, mauth = office.client("manager")
    assert m.get(f"/shares/{link.id}").status_code == 404
    assert mauth.post(f"/shares/{link.id}/revoke").status_code == 404
    assert visitor.get(url).status_code == 200
    # hidden fields stay hidden: a colleague's assessment score, not hers
    office.run.records.update("staff", office.boss["id"], {"last_assessment_score": 73},
                              SYSTEM_ACTOR)
    office.run.records.update("staff", office.amy["id"], {"last_assessment_score": 88},
                              SYSTEM_ACTOR)
    staff = visitor.get(share(office, "consultant", "/r/staff/share/staff")).text
    row = {int(i): r for i, r in re.findall(r'<tr data-id="(\d+)">(.*?)</tr>', staff, re.S)}
    assert ">88<" in row[office.amy["id"]] and ">73<" not in row[office.boss["id"]]
    # revoked by the sharer: 404, in the visitor's language
    assert auth.post(f"/shares/{link.id}/revoke").status_code == 302
    gone = visitor.get(url)
    assert gone.status_code == 404 and "此链接无效或已失效" in gone.text


def test_exports_boards_calendars_and_roles(tmp_path, db_url):
    office = office_app(tmp_path, db_url)
    w = world(office)
    visitor = office.app.test_client()
    # a CSV when the sharer allowed it (and may export): the same rows, masks kept
    url = share(office, "consultant", "/r/client/share/clients", export="1")
    assert 'download>' in visitor.get(url).text
    csv = visitor.get(url + "/export.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    text = csv.data.decode("utf-8-sig")
    assert text.count("\n") == 3 and "137****0003" in text and SHARED_PHONE not in text
    [link] = office.sharing.links.list(office.accounts["consultant"].id)
    assert [v.what for v in office.sharing.links.visits(link.id)] == ["export", "page"]
    # a sharer who may no longer export (legal reads no clients of hers, exports none)
    run = office.run
    run.accounts.set_roles(office.accounts["consultant"].id, ["legal"])
    assert visitor.get(url + "/export.csv").status_code == 404
    assert ids(visitor.get(url).text) == set() and "download>" not in visitor.get(url).text
    run.accounts.set_roles(office.accounts["consultant"].id, ["consultant"])
    # a view given `share: false` later: its links open nothing
    import dataclasses

    ws = run.workspace
    clients = dataclasses.replace(ws.views["clients"], config={**ws.views["clients"].config,
                                                               "share": False})
    quiet = dataclasses.replace(ws, views={**ws.views, "clients": clients})
    token = url.rsplit("/", 1)[1]
    assert office.sharing.links.open(ws, token, "zh") is not None
    assert office.sharing.links.open(quiet, token, "zh") is None
    # the manager's board: their team's cases; the calendar: the same, by day
    board = share(office, "manager", "/r/case/share/cases_board")
    assert ids(visitor.get(board).text) == {w["k_amy"], w["k_amy2"]}
    cal = share(office, "manager", "/r/case/share/viewings_calendar")
    month = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m")
    page = visitor.get(f"{cal}?month={month}").text
    # Ben's client of Amy's case is not the manager's to read: only its number shows
    assert page.count("Client-Amy-Own") == 1 and page.count(f"#{w['c_shared']}<") == 1
    assert "Client-Ben-Only" not in page and "Client-Shared" not in page
    # the admin sees everything, or what a role of theirs sees when they narrow the link
    everything = share(office, "admin", "/r/case/share/cases")
    narrowed = share(office, "admin", "/r/case/share/cases", role="consultant")
    assert ids(visitor.get(everything).text) == {w["k_amy"], w["k_amy2"], w["k_ben"]}
    assert ids(visitor.get(narrowed).text) == set()  # Ada is no consultant of any case
    # narrowing to a role one does not have is refused
    _, auth = office.client("consultant")
    refused = auth.post("/r/case/share/cases", data={"days": "7", "role": "manager"})
    assert refused.status_code == 422 and "只能把链接限定为您自己拥有的角色" in refused.text
    assert auth.post("/r/case/share/cases", data={"days": "999"}).status_code == 422
    # the sharer loses the manager role: the board narrows to what they see now
    run.accounts.set_roles(office.accounts["manager"].id, ["consultant"])
    assert ids(visitor.get(board).text) == set()
    run.accounts.set_roles(office.accounts["manager"].id, ["manager"])
    assert ids(visitor.get(board).text) == {w["k_amy"], w["k_amy2"]}
    run.accounts.set_active(office.accounts["manager"].id, False)
    assert visitor.get(board).status_code == 404
    # an admin revokes anyone's link; an expired link is gone
    a, aauth = office.client("admin")
    [amy_link] = office.sharing.links.list(office.accounts["consultant"].id)
    assert aauth.post(f"/shares/{amy_link.id}/revoke").status_code == 302
    assert visitor.get(url).status_code == 404
    t = run.schema.system["lr_share_links"]
    with run.engine.begin() as conn:
        conn.execute(sa.update(t).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert visitor.get(everything).status_code == 404
    # a type one may not read cannot be shared
    run.accounts.add("legal@example.com", "correct horse battery", roles=["legal"])
    office.accounts["legal"] = run.accounts.by_email("legal@example.com")
    lc, _ = office.client("legal")
    assert lc.get("/r/follow_up/share/follow_ups").status_code == 403
