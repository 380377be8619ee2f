"""Exporting confidential fields is a permission of its own (per field and per role), every
export is logged, a reveal may need a reason, and the log of reveals and exports is read by
the roles flagged `audit: true`; engine level, on SQLite and PostgreSQL. A small workspace:
nothing here is the flagship."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from lowrise import access, exporter, trail
from lowrise.access.reveal import ReasonRequired
from lowrise.actor import SYSTEM, Actor
from lowrise.errors import Forbidden
from lowrise.storage import migrate
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts
from lowrise.workspace.loader import WorkspaceError

WORKSPACE = """
label: Agency
default_locale: en
locales: [en, zh]
users: person
roles:
  agent:                       # reads own buyers' phones in full; exports them masked
    permissions:
      buyer:
        can: [read, create, update, export]
        rows: own
        fields:
          phone: {access: masked, unless: own, export: masked}
          passport: {access: masked, unless: own, export: none}
          budget: {access: hidden, unless: own}
      deal: {can: [read, export], rows: own}
      person: {can: [read]}
  broker:                      # exports phones as read, passports and budgets not declared
    audit: true
    permissions:
      buyer:
        can: [read, export, reveal]
        fields:
          phone: {export: full}
      deal: {can: [read, export], fields: {buyer_phone: {export: full}}}
      person: {can: [read]}
  clerk:                       # may reveal, with a reason for the passport only
    permissions:
      buyer:
        can: [read, reveal]
        fields:
          phone: masked
          passport: {access: masked, reveal_reason: true}
          budget: hidden
      person: {can: [read]}
  desk:                        # may reveal the passport without a reason
    permissions:
      buyer: {can: [read, reveal], fields: {passport: masked, budget: hidden}}
  admin: {admin: true}
"""

FILES = {
    "workspace.yaml": WORKSPACE,
    "schemas/person.yaml": "title: name\nfields:\n  name: {type: text}\n",
    "schemas/buyer.yaml": """
title: name
fields:
  name: {type: text}
  phone: {type: phone}
  passport: {type: text}
  budget: {type: currency}
  agent: {type: user}
""",
    "schemas/deal.yaml": """
title: title
fields:
  title: {type: text}
  buyer: {type: link, target: buyer}
  buyer_phone: {type: lookup, through: buyer, field: phone}
  buyer_budget: {type: lookup, through: buyer, field: budget}
  agent: {type: user}
""",
}

AMY_PHONE, BEN_PHONE = "13811112222", "13933334444"


@pytest.fixture(scope="module")
def ws():
    return load_workspace_from_texts(FILES)


class World:
    def __init__(self, engine, ws):
        self.schema = build_schema(ws)
        with engine.connect() as conn:
            steps = migrate.plan(conn, self.schema)
        migrate.apply(engine, steps)
        self.engine, self.ws = engine, ws
        self.records = Records(engine, self.schema)
        mk = lambda t, **v: self.records.create(t, v, SYSTEM)  # noqa: E731
        self.amy = mk("person", name="Amy")
        self.bob = mk("person", name="Bob")
        self.cid = mk("person", name="Cid")
        self.b_amy = mk("buyer", name="Buyer-Amy", phone=AMY_PHONE, passport="E12345678",
                        budget="900000", agent=self.amy["id"])
        self.b_ben = mk("buyer", name="Buyer-Ben", phone=BEN_PHONE, passport="G87654321",
                        budget="500000", agent=self.bob["id"])
        self.deal = mk("deal", title="Deal-Amy", buyer=self.b_amy["id"], agent=self.amy["id"])
        at = lambda: datetime(2026, 12, 7, 10, tzinfo=UTC)  # noqa: E731
        self.agent = Actor(user=self.amy["id"], name="Amy", roles=frozenset({"agent"}),
                           clock=at)
        self.broker = Actor(user=self.bob["id"], name="Bob", roles=frozenset({"broker"}),
                            clock=at)
        self.clerk = Actor(user=self.cid["id"], name="Cid", roles=frozenset({"clerk"}),
                           clock=at)
        self.both = Actor(user=self.cid["id"], name="Cid", roles=frozenset({"clerk", "desk"}),
                          clock=at)
        self.admin = Actor(user=self.cid["id"], name="Root", roles=frozenset({"admin"}),
                           clock=at)

    def export(self, type_name: str, actor: Actor, names=None, *, via="csv", **kw):
        rt = self.ws.type(type_name)
        pol = access.Policy.for_actor(actor, self.ws)
        fields = [rt.fields[n] for n in (names or [f.name for f in rt.user_fields])
                  if n not in pol.hidden_fields(type_name)]
        lines = exporter.rows(self.engine, self.schema, type_name, fields, actor=actor, via=via,
                              sort=["id"], **kw)
        text = "".join(exporter.csv_text(lines))
        return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))

    def exports(self) -> list[dict]:
        t = self.schema.system["lr_exports"]
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(t).order_by(t.c.id)).mappings()]


@pytest.fixture
def world(engine, ws):
    return World(engine, ws)


# -- declaring -------------------------------------------------------------------------------

def test_export_and_reveal_reason_are_parsed_per_field_and_role(ws):
    model = access.model_of(ws)
    agent = model.roles["agent"].grant("buyer")
    assert agent.exports == {"phone": "masked", "passport": "none"}
    broker = model.roles["broker"].grant("buyer")
    # `export:` alone leaves how the field shows alone: the broker reads the phone in full
    assert broker.exports == {"phone": "full"} and "phone" not in broker.fields
    assert "phone" not in broker.writable  # ...and does not make it a writable scope field
    assert model.roles["clerk"].grant("buyer").reveal_reasons == {"passport"}
    assert model.roles["broker"].audit and not model.roles["agent"].audit


def test_bad_export_settings_point_at_the_yaml():
    bad = dict(FILES)
    bad["workspace.yaml"] = """
users: person
roles:
  agent:
    permissions:
      buyer:
        can: [read, export]
        fields:
          phone: {export: everything}
          budget: {access: hidden, export: masked}
          passport: {access: masked, reveal_reason: maybe}
"""
    with pytest.raises(WorkspaceError) as exc:
        load_workspace_from_texts(bad)
    text = str(exc.value)
    # each at its line: the editor's schema refuses the unknown words, the loader the mask
    assert "workspace.yaml:9:18: roles.agent.permissions.buyer.fields.phone" in text
    assert "workspace.yaml:10:44: roles.agent.permissions.buyer.fields.budget.export: budget " \
        "is a currency field; only text fields can be exported masked" in text
    assert "workspace.yaml:11:21: roles.agent.permissions.buyer.fields.passport" in text


# -- exporting -------------------------------------------------------------------------------

def test_a_role_exports_confidential_fields_only_as_its_grant_says(world):
    w = world
    # the agent reads their own buyer's phone and passport in full on the page...
    shown = w.records.get("buyer", w.b_amy["id"], actor=w.agent)
    assert shown["phone"] == AMY_PHONE and shown["passport"] == "E12345678"
    # ...but the file carries the phone masked and no passport column; the budget, which
    # the grant names no export for, is exported as a money field can be: not at all
    rows = w.export("buyer", w.agent)
    assert list(rows[0]) == ["Name", "Phone", "Agent"]
    assert rows == [{"Name": "Buyer-Amy", "Phone": "138****2222", "Agent": "Amy"}]
    # the broker exports phones in full; the passport (text, undeclared) masked; the
    # budget (money, undeclared) not at all
    rows = w.export("buyer", w.broker)
    assert list(rows[0]) == ["Name", "Phone", "Passport", "Agent"]
    assert [(r["Phone"], r["Passport"]) for r in rows] == [
        (AMY_PHONE, "E12**5678"), (BEN_PHONE, "G87**4321")]
    # administrators export everything
    rows = w.export("buyer", w.admin)
    assert rows[1]["Passport"] == "G87654321" and rows[1]["Budget"].startswith("CN¥500,000")


def test_a_lookup_of_a_confidential_field_is_exported_as_its_source(world):
    w = world
    # the agent's grant on deal names nothing: the phone looked up from the buyer goes out
    # masked, as the buyer's phone would; the budget looked up not at all
    rows = w.export("deal", w.agent, ["title", "buyer_phone", "buyer_budget"])
    assert rows == [{"Title": "Deal-Amy", "Buyer phone": "138****2222"}]
    rows = w.export("deal", w.broker, ["title", "buyer_phone"])
    assert rows == [{"Title": "Deal-Amy", "Buyer phone": AMY_PHONE}]


def test_xlsx_cells_are_masked_too(world):
    from openpyxl import load_workbook

    w = world
    rt = w.ws.type("buyer")
    cols = exporter.exported_columns(w.schema, "buyer", [rt.fields["name"], rt.fields["phone"],
                                                         rt.fields["passport"]], w.agent)
    out = io.BytesIO()
    exporter.write_xlsx(exporter.rows(w.engine, w.schema, "buyer", cols, actor=w.agent,
                                      via="xlsx", style="typed"), out, columns=cols)
    cells = list(load_workbook(io.BytesIO(out.getvalue())).active.iter_rows(values_only=True))
    assert cells == [("Name", "Phone"), ("Buyer-Amy", "138****2222")]


def test_every_export_is_logged_with_who_what_and_how_many_rows(world):
    w = world
    w.export("buyer", w.broker, via="xlsx")
    w.export("buyer", w.agent)
    logged = w.exports()
    assert [(e["actor"], e["actor_name"], e["record_type"], e["via"], e["rows"])
            for e in logged] == [(w.bob["id"], "Bob", "buyer", "xlsx", 2),
                                 (w.amy["id"], "Amy", "buyer", "csv", 1)]
    assert logged[0]["fields"] == ["name", "phone", "passport", "agent"]
    assert logged[0]["confidential"] == {"phone": "full", "passport": "masked",
                                         "budget": "none"}
    assert logged[1]["confidential"] == {"phone": "masked", "passport": "none",
                                         "budget": "none"}
    assert logged[0]["at"].replace(tzinfo=UTC) == datetime(2026, 12, 7, 10, tzinfo=UTC)


def test_an_export_is_logged_before_its_first_row_and_counts_what_it_wrote(world):
    w = world
    rt = w.ws.type("buyer")
    lines = exporter.rows(w.engine, w.schema, "buyer", [rt.fields["name"]], actor=w.admin,
                          via="csv", sort=["id"], page_size=1)
    assert next(lines) == ["Name"]
    assert [e["rows"] for e in w.exports()] == [None]  # logged, still running
    assert next(lines) == ["Buyer-Amy"]
    lines.close()  # the download was cut short after one row
    assert [e["rows"] for e in w.exports()] == [1]


def test_a_refused_sort_fails_before_anything_is_logged(world):
    from lowrise.errors import FilterError

    w = world
    rt = w.ws.type("buyer")
    lines = exporter.rows(w.engine, w.schema, "buyer", [rt.fields["name"]], actor=w.agent,
                          via="csv", sort=["phone"])
    with pytest.raises(FilterError):
        exporter.started(lines)
    assert w.exports() == []


# -- reveals ---------------------------------------------------------------------------------

def test_a_reveal_needs_the_reason_the_grant_asks_for(world):
    w = world
    rid = w.b_ben["id"]
    with pytest.raises(ReasonRequired) as exc:
        access.reveal(w.records, "buyer", rid, w.clerk, reason="   ")
    assert "say why" in str(exc.value) and w.records.history("buyer", rid)[0]["action"] \
        == "create"  # nothing was written
    # the phone alone needs no reason
    assert access.reveal(w.records, "buyer", rid, w.clerk, ["phone"]) == {"phone": BEN_PHONE}
    got = access.reveal(w.records, "buyer", rid, w.clerk, reason="  contract\n CT-9 ")
    assert got == {"phone": BEN_PHONE, "passport": "G87654321"}
    entries = [e for e in w.records.history("buyer", rid) if e["action"] == "reveal"]
    assert [(e["note"], e["reason"]) for e in entries] == [
        ("phone, passport", "contract CT-9"), ("phone", None)]
    with pytest.raises(ReasonRequired):
        access.reveal(w.records, "buyer", rid, w.clerk, reason="x" * 501)


def test_a_reason_is_needed_only_where_every_role_that_may_reveal_asks_for_it(world):
    w = world
    got = access.reveal(w.records, "buyer", w.b_ben["id"], w.both)  # desk asks for none
    assert got["passport"] == "G87654321"
    assert access.reason_fields(access.Policy.for_actor(w.clerk, w.ws), "buyer") == {"passport"}
    assert access.reason_fields(access.Policy.for_actor(w.both, w.ws), "buyer") == set()


# -- the log of reveals and exports ----------------------------------------------------------

def test_the_log_lists_reveals_and_exports_filtered_by_person_time_and_kind(world):
    w = world
    early = Actor(user=w.cid["id"], name="Cid", roles=frozenset({"clerk"}),
                  clock=lambda: datetime(2026, 12, 7, 9, tzinfo=UTC))
    access.reveal(w.records, "buyer", w.b_ben["id"], early, reason="contract CT-9")
    w.export("buyer", w.agent)
    later = Actor(user=w.bob["id"], name="Bob", roles=frozenset({"broker"}),
                  clock=lambda: datetime(2026, 12, 9, 10, tzinfo=UTC))
    w.export("buyer", later, via="xlsx")
    pol = access.Policy.for_actor(w.broker, w.ws)
    assert trail.may_read(pol) and trail.may_read(access.Policy.for_actor(w.admin, w.ws))
    assert not trail.may_read(access.Policy.for_actor(w.agent, w.ws))
    got = trail.entries(w.engine, w.schema, pol)
    assert [(e.kind, e.actor_name) for e in got] == [("export", "Bob"), ("export", "Amy"),
                                                     ("reveal", "Cid")]
    reveal = next(e for e in got if e.kind == "reveal")
    assert (reveal.record_id, reveal.fields, reveal.reason) == (
        w.b_ben["id"], ("phone", "passport"), "contract CT-9")
    mine = trail.entries(w.engine, w.schema, pol, person=w.amy["id"])
    assert [(e.kind, e.rows, e.confidential["phone"]) for e in mine] == [("export", 1, "masked")]
    day = datetime(2026, 12, 9, tzinfo=UTC)
    assert [e.actor_name for e in trail.entries(w.engine, w.schema, pol, since=day)] == ["Bob"]
    assert {e.actor_name for e in trail.entries(w.engine, w.schema, pol, until=day)} == \
        {"Cid", "Amy"}
    assert [e.kind for e in trail.entries(w.engine, w.schema, pol, kind="reveal")] == ["reveal"]
    assert [n for _, n in trail.people(w.engine, w.schema)] == ["Amy", "Bob", "Cid"]


def test_a_reader_who_is_not_an_admin_sees_reveals_of_records_they_read_only(engine):
    files = dict(FILES)
    files["workspace.yaml"] = WORKSPACE.replace(
        "  broker:                      # exports phones",
        "  boss:\n    audit: true\n    permissions:\n      buyer: {can: [read], rows: own}\n"
        "  broker:                      # exports phones")
    ws = load_workspace_from_texts(files)
    w = World(engine, ws)
    access.reveal(w.records, "buyer", w.b_ben["id"], w.clerk, reason="why")
    access.reveal(w.records, "buyer", w.b_amy["id"], w.clerk, reason="why")
    boss = Actor(user=w.amy["id"], name="Amy", roles=frozenset({"boss"}))
    seen = trail.entries(w.engine, w.schema, access.Policy.for_actor(boss, ws))
    assert [e.record_id for e in seen] == [w.b_amy["id"]]
    assert len(trail.entries(w.engine, w.schema, access.Policy.for_actor(w.admin, ws))) == 2


def test_exporting_needs_the_export_permission(world):
    w = world
    rt = w.ws.type("buyer")
    with pytest.raises(Forbidden):
        next(exporter.rows(w.engine, w.schema, "buyer", [rt.fields["name"]], actor=w.clerk,
                           via="csv"))
    assert w.exports() == []
