"""The write side of permissions, in the engine, on SQLite and PostgreSQL: a unique check
never tells what the writer may not read, fields that decide who sees what are not
self-service, a write never widens its writer's own access, and schema `read_only` fields are
set by the system only. A small workspace of its own: customers with unique phone and badge
numbers, tickets, contracts seen through their ticket's owner, people in teams."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lowrise import access, importer, openapi
from lowrise.access.clashes import ClashLimit
from lowrise.access.widen import UNMASKS, WIDENS
from lowrise.actor import SYSTEM, Actor
from lowrise.errors import BulkValidationError, Undisclosed, ValidationError
from lowrise.i18n import tr
from lowrise.storage import migrate
from lowrise.storage import query as Q
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts
from test_access import FILES as DESK

FILES = {
    "workspace.yaml": """
label: Desk
default_locale: zh
locales: [zh, en]
users: person
teams: {manager: boss, field: squad}
roles:
  agent:
    permissions:
      customer:
        can: [read, create, update]
        rows: [own, {linked_from: [ticket.customer]}]
        write_rows: own
        fields:
          phone: {access: masked, unless: own}
          badge: hidden
      ticket: {can: [read, create, update], rows: own}
      contract: {can: [read], rows: {filter: {field: ticket.owner, op: eq, value: me}}}
      person: {can: [read]}
  lead:
    permissions:
      customer: {can: [read, create, update], rows: team}
      ticket: {can: [read, create, update], rows: team, fields: {owner: visible}}
      contract: {can: [read], rows: {filter: {field: ticket.owner, op: eq, value: me}}}
      person: {can: [read, update], write_rows: team}
  hr:
    permissions:
      customer: {can: [read], rows: team}
      person: {can: [read, update], fields: {squad: visible, boss: visible}}
  clerk:
    permissions:
      customer: {can: [read, create, update]}
  support:
    permissions:
      customer:
        can: [read, update]
        fields: {phone: {access: masked, unless: own}}
      person: {can: [read]}
  admin: {admin: true}
""",
    "schemas/person.yaml": DESK["schemas/person.yaml"],  # boss link, red or blue squad
    "schemas/customer.yaml": """
label: {en: Customer, zh: 客户}
title: name
fields:
  name: {type: text}
  phone: {type: phone, unique: true}
  badge: {type: text, unique: true}
  owner: {type: user}
""",
    "schemas/ticket.yaml": """
title: subject
fields:
  subject: {type: text}
  customer: {type: link, target: customer}
  owner: {type: user}
  stamped_at: {type: datetime, read_only: true}
  closed: {type: boolean, default: false, read_only: true}
""",
    "schemas/contract.yaml": """
title: code
fields:
  code: {type: text}
  ticket: {type: link, target: ticket}
""",
}

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
REGISTERED = "is already registered; ask your manager"


@pytest.fixture(scope="module")
def ws():
    return load_workspace_from_texts(FILES)


class World:
    """Boss leads Amy (red squad); Bob is blue; each has customers and a ticket."""

    def __init__(self, engine, ws, limit: ClashLimit | None = None):
        self.schema = build_schema(ws)
        with engine.connect() as conn:
            steps = migrate.plan(conn, self.schema)
        migrate.apply(engine, steps)
        self.engine = engine
        self.records = Records(engine, self.schema, clash_limit=limit or ClashLimit())
        self.now = T0
        mk = lambda t, **v: self.records.create(t, v, SYSTEM)  # noqa: E731
        self.boss = mk("person", name="Boss", squad="red")
        self.amy = mk("person", name="Amy", boss=self.boss["id"], squad="red")
        self.bob = mk("person", name="Bob", squad="blue")
        self.c_amy = mk("customer", name="Amy's", phone="13811110001", badge="B-1",
                        owner=self.amy["id"])
        self.c_bob = mk("customer", name="Bob's", phone="13922220002", badge="B-2",
                        owner=self.bob["id"])
        self.c_shared = mk("customer", name="Shared", phone="13733330003", badge="B-3",
                           owner=self.bob["id"])
        self.t_amy = mk("ticket", subject="Amy's", customer=self.c_shared["id"],
                        owner=self.amy["id"])
        self.t_bob = mk("ticket", subject="Bob's", customer=self.c_bob["id"],
                        owner=self.bob["id"])
        self.k_bob = mk("contract", code="K-BOB", ticket=self.t_bob["id"])

    def actor(self, who: dict, role: str) -> Actor:
        return Actor(user=who["id"], name=who["name"], roles=frozenset({role}),
                     clock=lambda: self.now)

    def ids(self, type_name, actor):
        with self.engine.connect() as c:
            return {r["id"] for r in Q.list_records(c, self.schema, type_name, ctx=actor,
                                                   limit=100).rows}

    def rows(self, table: str, **where):
        t = self.schema.system[table]
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(sa.select(t).where(
                *(t.c[k] == v for k, v in where.items())).order_by(t.c.id)).mappings()]

    def count(self, type_name: str) -> int:
        with self.engine.connect() as c:
            return c.execute(sa.select(sa.func.count()).select_from(
                self.schema.table(type_name))).scalar_one()


@pytest.fixture
def world(engine, ws):
    return World(engine, ws)


# -- unique values ---------------------------------------------------------------------------

def test_a_value_held_out_of_sight_is_refused_without_saying_whose(world):
    """Bob's customer is out of Amy's rows; the shared one she reads with the phone masked;
    the badge is hidden from her everywhere. Each answer is the same: no value, no record."""
    w = world
    amy = w.actor(w.amy, "agent")
    for given, clashing in (({"phone": "139-2222-0002"}, w.c_bob),  # out of her rows
                            ({"phone": "13733330003"}, w.c_shared),  # in them, masked
                            ({"badge": "B-1"}, w.c_amy)):  # her own, but hidden from her
        with pytest.raises(Undisclosed) as exc:
            w.records.create("customer", {"name": "probe", **given}, amy)
        [field] = given
        assert exc.value.errors == {field: REGISTERED}
        text = str(exc.value) + tr(exc.value.errors[field], "zh")
        assert str(clashing["id"]) not in text and clashing["name"] not in text
        assert given[field] not in text
        assert tr(exc.value.errors[field], "zh") == "已被登记，请联系经理"
    assert w.count("customer") == 3
    # each is audited on the record it hit, like a reveal, and counted for Amy
    audit = w.rows("lr_audit", action="clash")
    assert [(a["record_id"], a["actor"], a["note"]) for a in audit] == [
        (w.c_bob["id"], w.amy["id"], "phone"), (w.c_shared["id"], w.amy["id"], "phone"),
        (w.c_amy["id"], w.amy["id"], "badge")]
    assert len(w.rows("lr_value_clashes")) == 3


def test_a_value_the_writer_reads_in_full_is_told_with_the_records_title(world):
    w = world
    amy = w.actor(w.amy, "agent")
    with pytest.raises(ValidationError) as exc:
        w.records.create("customer", {"name": "again", "phone": "13811110001"}, amy)
    assert type(exc.value) is ValidationError
    assert exc.value.errors["phone"] == ("'13811110001' is already used by Customer 'Amy's'; "
                                         "it must be unique")
    assert tr(exc.value.errors["phone"], "zh") == "：“13811110001”已被客户“Amy's”使用，不能重复"
    # a clerk reads every customer in full; an admin reads everything
    for actor in (Actor(user=w.bob["id"], roles=frozenset({"clerk"})),
                  Actor(user=w.bob["id"], roles=frozenset({"admin"}))):
        with pytest.raises(ValidationError) as exc:
            w.records.create("customer", {"name": "x", "phone": "13922220002"}, actor)
        assert type(exc.value) is ValidationError and "Bob's" in exc.value.errors["phone"]
    assert w.rows("lr_audit", action="clash") == []


def test_a_batch_is_refused_whole_at_the_first_undisclosed_clash(world):
    """Bulk create, the import preview's check and bulk update: no row index, nothing
    written, whatever other rows are wrong (that is how the rows used to be listed)."""
    w = world
    amy = w.actor(w.amy, "agent")
    rows = [{"name": f"p{i}", "phone": f"1390000{i:04d}"} for i in range(200)]
    rows[120]["phone"] = "13922220002"
    rows[7]["phone"] = "not a phone"
    rows[9]["phone"] = "13811110001"  # her own: would be told precisely
    with pytest.raises(Undisclosed) as exc:
        w.records.bulk_create("customer", rows, amy)
    assert exc.value.errors == {"phone": REGISTERED}
    with pytest.raises(Undisclosed):
        w.records.check_create("customer", rows, amy)
    prepared = importer.Prepared(rows, {})
    with pytest.raises(Undisclosed):
        importer.check(w.records, "customer", prepared, amy)
    mine = w.records.create("customer", {"name": "second", "phone": "13600000000"}, amy)
    with pytest.raises(Undisclosed):
        w.records.bulk_update("customer", [(mine["id"], {"name": "x"}),
                                           (w.c_amy["id"], {"phone": "13733330003"})], amy)
    assert w.records.get("customer", mine["id"])["name"] == "second"
    assert w.count("customer") == 4
    assert len(w.rows("lr_value_clashes")) == 4


def test_after_a_few_clashes_such_checks_are_paused(engine, ws):
    """LOWRISE_CLASH_LIMIT / LOWRISE_CLASH_WINDOW (here 2 in 60 s): then every write of a
    value that could clash out of sight is refused before looking, even a free one."""
    w = World(engine, ws, ClashLimit(limit=2, window=60))
    amy = w.actor(w.amy, "agent")
    for phone in ("13922220002", "13733330003"):
        with pytest.raises(Undisclosed):
            w.records.create("customer", {"name": "probe", "phone": phone}, amy)
    with pytest.raises(Undisclosed) as exc:
        w.records.create("customer", {"name": "free", "phone": "13500000000"}, amy)
    assert set(exc.value.errors) == {""} and "paused for 1 minute." in exc.value.errors[""]
    assert "暂停 1 分钟" in tr(exc.value.errors[""], "zh")
    assert len(w.rows("lr_audit", action="clash")) == 2  # the pause is not another clash
    # other people, and writes without such values, go on (a number a record keeps is its own)
    w.records.create("customer", {"name": "no phone"}, amy)
    w.records.update("customer", w.c_amy["id"], {"name": "Amy's 2", "phone": "13811110001"},
                     amy)
    w.records.create("customer", {"name": "Bob's new", "phone": "13500000000"},
                     w.actor(w.bob, "agent"))
    w.now += timedelta(seconds=61)
    w.records.create("customer", {"name": "free", "phone": "13500000001"}, amy)


# -- fields that decide who sees what --------------------------------------------------------

def test_scope_fields_are_read_only_unless_a_grant_names_them(world):
    w = world
    model = access.model_of(w.schema.workspace)
    assert model.scope_fields == {("person", "boss"), ("person", "squad"), ("ticket", "owner")}
    lead, amy = w.actor(w.boss, "lead"), w.actor(w.amy, "agent")
    for who, values in ((w.boss, {"squad": "blue"}), (w.amy, {"boss": None})):
        with pytest.raises(ValidationError) as exc:
            w.records.update("person", who["id"], values, lead)
        [field] = values
        assert exc.value.errors[field] == ("you may not set this field: it decides who sees "
                                           "which records; ask an administrator")
    # sent back as read: not a change
    w.records.update("person", w.amy["id"], {"name": "Amy A", "squad": "red"}, lead)
    pol = access.Policy.for_actor(lead, w.schema.workspace)
    assert pol.field_access("person", "squad") == "read_only"
    assert pol.field_access("ticket", "owner") == "visible"  # the lead's grant names it
    with pytest.raises(ValidationError) as exc:
        w.records.create("ticket", {"subject": "mine", "owner": w.amy["id"]}, amy)
    assert "decides who sees" in exc.value.errors["owner"]
    assert w.ids("customer", lead) == {w.c_amy["id"]}


def test_a_write_that_would_widen_the_writers_rows_is_refused(world):
    """hr may change squads (named visible) but not into more rows for itself; the lead may
    (re)assign tickets, but not take one whose contract it would then read."""
    w = world
    hr = w.actor(w.boss, "hr")
    before = w.ids("customer", hr)
    for who, squad in ((w.boss, "blue"), (w.bob, "red")):  # joining Bob / Bob joining
        with pytest.raises(ValidationError) as exc:
            w.records.update("person", who["id"], {"squad": squad}, hr)
        assert exc.value.errors == {"": WIDENS}
    with pytest.raises(ValidationError):
        w.records.bulk_update("person", [(w.amy["id"], {"squad": "blue"}),
                                         (w.bob["id"], {"squad": "red"})], hr)
    assert w.ids("customer", hr) == before
    assert w.records.get("person", w.bob["id"])["squad"] == "blue"
    w.records.update("person", w.amy["id"], {"squad": "blue", "boss": None}, hr)  # narrows
    assert w.ids("customer", hr) == before - {w.c_amy["id"]}
    # the lead reads the contracts of tickets it owns: taking Bob's ticket would add one
    lead = w.actor(w.boss, "lead")
    w.records.update("person", w.bob["id"], {"boss": w.boss["id"]}, SYSTEM)
    with pytest.raises(ValidationError) as exc:
        w.records.update("ticket", w.t_bob["id"], {"owner": w.boss["id"]}, lead)
    assert exc.value.errors == {"": WIDENS}
    w.records.update("ticket", w.t_bob["id"], {"owner": w.amy["id"]}, lead)  # reassigning
    assert w.ids("contract", lead) == set()


def test_a_write_that_would_unmask_a_field_for_its_writer_is_refused(world):
    w = world
    support = w.actor(w.boss, "support")
    assert w.records.get("customer", w.c_bob["id"], actor=support)["phone"] == "139****0002"
    with pytest.raises(ValidationError) as exc:
        w.records.update("customer", w.c_bob["id"], {"owner": w.boss["id"]}, support)
    assert exc.value.errors == {"": UNMASKS}
    assert w.records.get("customer", w.c_bob["id"])["owner"] == w.bob["id"]
    w.records.update("customer", w.c_bob["id"], {"name": "Bob's (renamed)"}, support)


# -- schema read_only ------------------------------------------------------------------------

def test_schema_read_only_fields_are_set_by_the_system_only(world):
    w = world
    amy, admin = w.actor(w.amy, "agent"), Actor(user=w.boss["id"], roles=frozenset({"admin"}))
    tid = w.t_amy["id"]
    for actor in (amy, admin):
        for values in ({"stamped_at": "2020-01-01T00:00:00Z"}, {"closed": True}):
            with pytest.raises(ValidationError) as exc:
                w.records.update("ticket", tid, values, actor)
            [field] = values
            assert exc.value.errors == {field: access.READ_ONLY}
        with pytest.raises(ValidationError):
            w.records.create("ticket", {"subject": "s", "closed": True}, actor)
    with pytest.raises(BulkValidationError) as bulk:
        w.records.bulk_create("ticket", [{"subject": "a"}, {"subject": "b", "closed": True}],
                              admin)
    assert bulk.value.rows == {1: {"closed": access.READ_ONLY}}
    with pytest.raises(BulkValidationError) as bulk:  # an admin's bulk update: one statement
        w.records.update_many("ticket", [(tid, {"closed": True})], admin)
    assert bulk.value.rows == {0: {"closed": access.READ_ONLY}}
    # sent back unchanged: allowed; the system (rules, imports run as it) sets it
    w.records.update("ticket", tid, {"subject": "again", "closed": False}, amy)
    w.records.update("ticket", tid, {"closed": True, "stamped_at": T0}, SYSTEM)
    assert w.records.get("ticket", tid)["closed"] is True
    rt = w.schema.workspace.type("ticket")
    assert {f.name for f in importer.importable(rt)} == {"subject", "customer", "owner"}
    doc = openapi.document(w.schema.workspace)
    props = doc["components"]["schemas"]["TicketInput"]["properties"]
    assert props["closed"]["readOnly"] is True and "readOnly" not in props["subject"]
    assert doc["components"]["schemas"]["Ticket"]["properties"]["stamped_at"]["readOnly"]
