"""Department scopes through a real server (`lowrise serve` on the seeded flagship), in
Chinese and in English, on SQLite and PostgreSQL: a consultant of 案场一组 does not see 案场二组's
clients anywhere (list, record, search, export); 一组's head sees his department's clients,
including a colleague's outside his team, and not 二组's, on a phone too; the org chart
reads in Chinese."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from e2e_support import (  # noqa: F401 (fixtures)
    Http,
    instance,
    locale,
    records,
    server,
    server_stays_clean,
    visitor,
)
from lowrise.actor import SYSTEM
from test_browser_flows import browser  # noqa: F401 (a fixture)


def _staff_of(recs, email: str) -> int:
    u = sa.table("lr_users", sa.column("email"), sa.column("staff_id"))
    with recs.engine.connect() as c:
        return c.execute(sa.select(u.c.staff_id).where(u.c.email == email)).scalar_one()


@pytest.fixture(scope="module")
def office(records):  # noqa: F811
    """一组: the demo consultant, a colleague in another team, and the demo manager as the
    head; 二组: a consultant of its own. A client of each consultant, named by a tag."""
    tag = uuid.uuid4().hex[:6]
    r = records
    d = r.schema.table("department")
    with r.engine.connect() as c:
        depts = {n: i for i, n in c.execute(sa.select(d.c.id, d.c.name))}
    one, two = depts["案场一组"], depts["案场二组"]
    me, boss = _staff_of(r, "consultant@example.com"), _staff_of(r, "manager@example.com")
    r.update("staff", me, {"department": one, "team": "team_a", "manager": None}, SYSTEM)
    r.update("staff", boss, {"department": one, "team": "team_a", "manager": None}, SYSTEM)
    r.update("department", one, {"head": boss}, SYSTEM)
    mate = r.create("staff", {"name": f"一组同事{tag}", "role": "consultant", "team": "team_c",
                              "department": one}, SYSTEM)["id"]
    other = r.create("staff", {"name": f"二组顾问{tag}", "role": "consultant", "team": "team_b",
                               "department": two}, SYSTEM)["id"]
    clients = {}
    for key, who, phone in (("mine", me, "13900001111"), ("mate", mate, "13900002222"),
                            ("other", other, "13900003333")):
        clients[key] = r.create("client", {"name": f"客户{key}{tag}", "phone": phone,
                                           "consultant": who, "source": "walk_in"},
                                SYSTEM)
    return tag, clients


def _sees(http: Http, tag: str, client: dict) -> bool:
    """Whether the person finds this client: its page, the list, search and the export."""
    page = http.send("GET", f"/r/client/{client['id']}", htmx=False)
    listed = http.send("GET", f"/r/client/?q={tag}", htmx=False).body
    found = http.send("GET", f"/search?q={tag}", htmx=False).body
    csv = http.send("GET", f"/r/client/export.csv?q={tag}", htmx=False).body
    name = client["name"]
    shown = [page.status == 200, name in listed, name in found, name in csv]
    assert len(set(shown)) == 1, (name, shown)  # every way agrees
    if not shown[0]:
        assert page.status == 404 and name not in page.body
    return shown[0]


def test_a_consultant_of_one_group_does_not_see_the_other_groups_clients(  # noqa: F811
        server, office, locale):  # noqa: F811
    tag, clients = office
    http = Http(server, role="consultant", locale=locale)
    assert _sees(http, tag, clients["mine"])
    assert not _sees(http, tag, clients["mate"])   # a colleague's: own clients only
    assert not _sees(http, tag, clients["other"])  # 二组's


def test_a_group_head_sees_his_department_and_not_the_other_group(  # noqa: F811
        server, office, locale):  # noqa: F811
    tag, clients = office
    http = Http(server, role="manager", locale=locale)
    assert _sees(http, tag, clients["mine"])
    assert _sees(http, tag, clients["mate"])       # by the department, not by the team
    assert not _sees(http, tag, clients["other"])
    chart = http.send("GET", "/r/department/", htmx=False).body
    assert "案场一组" in chart and "销售中心" in chart
    if locale == "zh":
        assert "组织架构" in chart or "部门" in chart


def test_on_a_phone_the_head_lists_his_departments_clients(visitor, office):  # noqa: F811
    tag, clients = office
    page, errors = visitor.open(f"/r/client/?q={tag}", role="manager", locale="zh", width=390)
    text = page.locator("main").inner_text()
    assert clients["mine"]["name"] in text and clients["mate"]["name"] in text
    assert clients["other"]["name"] not in text
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    assert not errors
    page.context.close()
