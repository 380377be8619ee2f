"""Shared fixtures for the web tests: a small workspace, the app, a client, and `auth`.

Imported by the tests/test_web_*.py modules (pytest registers fixtures imported into a
test module). Every app runs on the `db_url` fixture: SQLite, then PostgreSQL.
"""

from __future__ import annotations

import re

import pytest

from lowrise.actor import Actor

SMALL = {
    "workspace.yaml": """
label: {en: Small shop, zh: 小店}
default_locale: en
locales: [en, zh]
timezone: Asia/Shanghai
users: staff
roles:
  admin: {label: Admin}
""",
    "schemas/staff.yaml": """
label: {en: Person, zh: 员工}
label_plural: {en: People, zh: 员工}
title: name
fields:
  name: {type: text, required: true, label: {en: Name, zh: 姓名}}
  email: {type: email}
""",
    "schemas/client.yaml": """
label: {en: Client, zh: 客户}
label_plural: {en: Clients, zh: 客户}
title: name
search: [name, phone]
fields:
  name: {type: text, required: true, max_length: 40, label: {en: Name, zh: 姓名}}
  phone: {type: phone, unique: true, label: {en: Mobile, zh: 手机}}
  email: {type: email, label: E-mail}
  website: {type: url}
  source:
    type: select
    label: {en: Source, zh: 来源}
    options:
      - {value: walk_in, label: {en: Walk-in, zh: 到访}, color: blue}
      - {value: referral, label: {en: Referral, zh: 转介绍}, color: green}
  tags:
    type: multi_select
    options:
      - {value: vip, label: VIP, color: red}
      - {value: cash, label: Cash buyer, color: teal}
  budget: {type: currency, currency: CNY, min: 0}
  stars: {type: rating, max: 5}
  vip: {type: boolean, label: VIP client}
  born_on: {type: date}
  next_call: {type: datetime}
  call_length: {type: duration}
  notes: {type: long_text}
  visits: {type: integer, min: 0}
  share: {type: percent}
  area: {type: decimal, scale: 1}
  photo: {type: attachment, max_size: 2000, accept: [".png", ".txt"]}
  consultant: {type: user, label: {en: Consultant, zh: 顾问}}
""",
    "schemas/deal.yaml": """
label: {en: Deal, zh: 交易}
label_plural: {en: Deals, zh: 交易}
title: title
fields:
  title: {type: text, required: true, label: {en: Title, zh: 标题}}
  number: {type: autonumber, pattern: "D-{0000}"}
  client:
    type: link
    target: client
    required: true
    label: {en: Client, zh: 客户}
    related_label: {en: Deals of this client, zh: 客户的交易}
  stage:
    type: select
    required: true
    default: lead
    label: {en: Stage, zh: 阶段}
    options:
      - {value: lead, label: {en: Lead, zh: 线索}, color: gray}
      - {value: won, label: {en: Won, zh: 赢单}, color: green}
      - {value: lost, label: {en: Lost, zh: 输单}, color: red}
  amount: {type: currency, currency: CNY, min: 0, label: {en: Amount, zh: 金额}}
  closes_on: {type: date, label: {en: Closes on, zh: 预计成交}}
  owner: {type: user}
  double: {type: formula, expression: "amount * 2", result: decimal}
""",
    "views/deals.yaml": """
type: table
record_type: deal
label: {en: All deals, zh: 全部交易}
default: true
columns: [title, client, stage, amount, closes_on, owner]
sort: [-amount]
page_size: 3
""",
    "views/open_deals.yaml": """
type: table
record_type: deal
label: {en: Open deals, zh: 进行中}
columns: [title, stage, amount]
filter: {all: [{field: stage, op: eq, value: lead}]}
group_by: stage
""",
    "views/board.yaml": """
type: kanban
record_type: deal
label: {en: Pipeline, zh: 看板}
group_by: stage
card_fields: [client, amount]
sum: amount
sort: [-amount]
""",
    "views/closing.yaml": """
type: calendar
record_type: deal
label: {en: Closing, zh: 成交日历}
date_field: closes_on
title_field: client
""",
    "views/deal_form.yaml": """
type: form
record_type: deal
label: Deal
default: true
sections:
  - {label: {en: Basics, zh: 基本}, columns: 2, fields: [title, number, client, stage]}
  - {label: {en: Money, zh: 金额}, columns: 1, fields: [amount, double]}
""",
}

PASSWORD = "correct horse battery"
SYSTEM_ACTOR = Actor(name="system", system=True)  # set-up writes are the engine's own


def make_workspace(files=None):
    from lowrise.workspace import load_workspace_from_texts

    return load_workspace_from_texts(files or SMALL)


def build_app(tmp_path, db_url, workspace, **config):
    from lowrise.web import create_app

    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "LOWRISE_WORKSPACE": workspace,
        "DATABASE_URL": db_url,
        "LOWRISE_INSTANCE": str(tmp_path / "instance"),
        "LOWRISE_NULL_POOL": True,
        **config,
    })
    run = app.extensions["lowrise"]
    users = workspace.users_type
    staff = run.records.create(users, {workspace.type(users).title_field: "Ada Admin"},
                               SYSTEM_ACTOR) if users else None
    run.accounts.add("ada@example.com", PASSWORD, name="Ada Admin", roles=["admin"],
                     staff_id=staff["id"] if staff else None)
    return app


@pytest.fixture
def app(tmp_path, db_url):
    app = build_app(tmp_path, db_url, make_workspace())
    yield app
    app.extensions["lowrise"].engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def run(app):
    """The app's engine objects (workspace, records, accounts...)."""
    return app.extensions["lowrise"]


def csrf_of(html: str) -> str:
    m = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


class AuthActions:
    def __init__(self, client):
        self.client = client
        self.token = None

    def login(self, email="ada@example.com", password=PASSWORD):
        page = self.client.get("/auth/login")
        resp = self.client.post("/auth/login", data={
            "email": email, "password": password, "csrf_token": csrf_of(page.text)})
        if resp.status_code == 302:
            self.token = csrf_of(self.client.get("/trash").text)
        return resp

    def logout(self):
        return self.client.post("/auth/logout", data={"csrf_token": self.token})

    def post(self, url, data=None, **kw):
        """POST with the CSRF token, as a page's form would."""
        data = dict(data or {})
        data.setdefault("csrf_token", self.token)
        return self.client.post(url, data=data, **kw)

    def hx(self, method, url, **kw):
        """An htmx request (HX-Request header, CSRF header as base.html sends it)."""
        headers = {"HX-Request": "true", "X-CSRFToken": self.token, **kw.pop("headers", {})}
        return self.client.open(url, method=method, headers=headers, **kw)


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def signed_in(auth):
    assert auth.login().status_code == 302
    return auth


def make_record(run, type_name, **values):
    """A record created straight through the engine (test set-up, not under test)."""
    return run.records.create(type_name, values, SYSTEM_ACTOR)
