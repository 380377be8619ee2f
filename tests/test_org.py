"""The org chart (lowrise.org) and department row scopes, on SQLite and PostgreSQL: the
declaration's problems, `department` and `department_and_below` with the other scopes,
counts, aggregates and search, widening refused, and who leads whom. A small workspace of
its own: the flagship's departments are tested in tests/test_org_web.py."""

from __future__ import annotations

import pytest

from lowrise import access, org
from lowrise.actor import SYSTEM, Actor
from lowrise.errors import NotFound, ValidationError
from lowrise.storage import migrate
from lowrise.storage import query as Q
from lowrise.storage.records import Records
from lowrise.storage.search import global_search
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts
from lowrise.workspace.loader import WorkspaceError

WORKSPACE = """
label: Org
default_locale: en
locales: [en]
users: person
org:
  departments: dept
  parent: parent
  head: head
  members: [dept, second_dept]
roles:
  member:
    permissions:
      deal: {can: [read, update], rows: department}
      person: {can: [read, update], write_rows: own}
      dept: {can: [read, update]}
  chief:
    permissions:
      deal: {can: [read], rows: department_and_below}
      person: {can: [read, update], rows: department_and_below, fields: {dept: visible}}
      dept: {can: [read, create, update], write_rows: department_and_below}
  mixed:
    permissions:
      deal:
        can: [read, update]
        rows: [own, {department: [desk]}, {filter: {field: amount, op: gt, value: 900}}]
        write_rows: {department_and_below: [seller]}
        fields: {subject: {access: masked, unless: department}}
      dept: {can: [read], rows: department_and_below}
  admin: {admin: true}
"""

FILES = {
    "workspace.yaml": WORKSPACE,
    "schemas/person.yaml": """
title: name
fields:
  name: {type: text}
  dept: {type: link, target: dept, related_label: Members}
  second_dept: {type: link, target: dept, related_label: Second members}
""",
    "schemas/dept.yaml": """
title: name
fields:
  name: {type: text}
  parent: {type: link, target: dept, related_label: Below}
  head: {type: user}
""",
    "schemas/deal.yaml": """
title: subject
search: [subject]
fields:
  subject: {type: text}
  amount: {type: integer}
  seller: {type: user}
  desk: {type: link, target: dept, related_label: Deals}
""",
}


@pytest.fixture(scope="module")
def ws():
    return load_workspace_from_texts(FILES)


class World:
    """销售中心 (head Hua) over 一组 (head Ann; Amy) and 二组 (head Ben; Bob); Flo works in
    一组 and 二组; Lee in 法务 (a sibling of 销售中心, no head)."""

    def __init__(self, engine, ws):
        self.ws = ws
        self.schema = build_schema(ws)
        with engine.connect() as conn:
            steps = migrate.plan(conn, self.schema)
        migrate.apply(engine, steps)
        self.engine = engine
        self.records = Records(engine, self.schema)
        mk = lambda t, **v: self.records.create(t, v, SYSTEM)["id"]  # noqa: E731
        self.centre = mk("dept", name="销售中心")
        self.one = mk("dept", name="一组", parent=self.centre)
        self.two = mk("dept", name="二组", parent=self.centre)
        self.legal = mk("dept", name="法务")
        p = {}
        p["hua"] = mk("person", name="Hua", dept=self.centre)
        p["ann"] = mk("person", name="Ann")  # heads 一组 without being a member
        p["amy"] = mk("person", name="Amy", dept=self.one)
        p["ben"] = mk("person", name="Ben", dept=self.two)
        p["bob"] = mk("person", name="Bob", dept=self.two)
        p["flo"] = mk("person", name="Flo", dept=self.one, second_dept=self.two)
        p["lee"] = mk("person", name="Lee", dept=self.legal)
        self.p = p
        for d, who in ((self.centre, "hua"), (self.one, "ann"), (self.two, "ben")):
            self.records.update("dept", d, {"head": p[who]}, SYSTEM)
        self.deals = {who: mk("deal", subject=f"{who} deal", amount=100, seller=p[who])
                      for who in ("hua", "amy", "ann", "bob", "flo", "lee")}
        self.deals["desk"] = mk("deal", subject="desk deal", amount=100, desk=self.two)
        self.deals["big"] = mk("deal", subject="big deal", amount=1000, seller=p["lee"])

    def actor(self, who, role):
        return Actor(user=self.p[who], name=who, roles=frozenset({role}))

    def ids(self, type_name, actor):
        with self.engine.connect() as c:
            page = Q.list_records(c, self.schema, type_name, ctx=actor, limit=100)
        return {r["id"] for r in page.rows}

    def deal(self, *who):
        return {self.deals[w] for w in who}

    def people(self, *who):
        return {self.p[w] for w in who}


@pytest.fixture
def world(engine, ws):
    return World(engine, ws)


def _problems(yaml_text):
    files = dict(FILES, **{"workspace.yaml": yaml_text})
    with pytest.raises(WorkspaceError) as exc:
        load_workspace_from_texts(files)
    return str(exc.value)


def test_declaration_problems_point_at_the_yaml():
    text = _problems(WORKSPACE.replace("  head: head\n", "  head: heed\n  parnet: x\n")
                     .replace("members: [dept, second_dept]", "members: [dept, nme]")
                     .replace("rows: department}", "rows: {departement: [seller]}}"))
    assert "'heed' is not a field of dept that names a person" in text
    assert "(did you mean 'head'?)" in text
    assert "org.parnet: 'parnet' is not a setting of this; did you mean 'parent'?" in text
    assert "'nme' is not a field of person that links to dept (did you mean 'name'?)" in text
    assert "roles.member.permissions.deal.rows: must be one of" in text
    assert "'department', 'department_and_below'" in text
    assert "workspace.yaml:9" in text                          # file and line: head: heed
    text = _problems(WORKSPACE.replace("  departments: dept\n", "  departments: depts\n"))
    assert "'depts' is not a record type (did you mean 'dept'?)" in text
    assert "a department scope needs `org:`" in text
    text = _problems(WORKSPACE.replace("rows: department}", "rows: {department: [subject]}}"))
    assert "'subject' is not a user field of deal nor a link to departments" in text


def test_department_scope(world):
    w = world
    # Amy (一组) sees the deals of 一组's people: herself, Flo, and Ann who heads 一组
    assert w.ids("deal", w.actor("amy", "member")) == w.deal("amy", "ann", "flo")
    # Bob (二组): Ben who heads it and is a member, Flo; not the desk deal (by seller only)
    assert w.ids("deal", w.actor("bob", "member")) == w.deal("bob", "flo")
    # Flo is in both groups
    assert w.ids("deal", w.actor("flo", "member")) == w.deal("amy", "ann", "bob", "flo")
    # the head of 销售中心 sees only 销售中心's people with `department`
    assert w.ids("deal", w.actor("hua", "member")) == w.deal("hua")
    # somebody in no department sees nothing of others; nobody at all sees nothing
    assert w.ids("deal", Actor(user=None, roles=frozenset({"member"}))) == set()


def test_department_and_below(world):
    w = world
    everyone = w.deal("hua", "amy", "ann", "bob", "flo")
    assert w.ids("deal", w.actor("hua", "chief")) == everyone          # not 法务's Lee
    assert w.ids("deal", w.actor("ann", "chief")) == w.deal("amy", "ann", "flo")
    # on the people and departments types: the records that are them
    assert w.ids("person", w.actor("ann", "chief")) == w.people("ann", "amy", "flo")
    assert w.ids("dept", w.actor("hua", "mixed")) == {w.centre, w.one, w.two}
    assert w.ids("dept", w.actor("ann", "mixed")) == {w.one}


def test_department_by_a_declared_field_with_own_and_filter(world):
    w = world
    # Bob: his own deal; the deal whose desk is 二组; and big deals (a filter)
    assert w.ids("deal", w.actor("bob", "mixed")) == w.deal("bob", "desk", "big")
    assert w.ids("deal", w.actor("amy", "mixed")) == w.deal("amy", "big")


def test_counts_aggregates_and_search_follow_department_scopes(world):
    w = world
    amy = w.actor("amy", "member")
    with w.engine.connect() as c:
        assert Q.count(c, w.schema, "deal", None, amy) == 3
        agg = Q.aggregate(c, w.schema, "deal", group_by=[], measures=["count"], ctx=amy)
        assert agg[0]["count"] == 3
        hits = global_search(c, w.schema, w.ws, "deal", limit_per_type=50, ctx=amy)
    assert {h.id for h in hits if h.type == "deal"} == w.deal("amy", "ann", "flo")


def test_department_fields_are_read_only_unless_granted(world):
    w = world
    amy = w.actor("amy", "member")
    with pytest.raises(ValidationError, match="decides who sees which records"):
        w.records.update("person", w.p["amy"], {"dept": w.two}, amy)
    with pytest.raises(ValidationError, match="decides who sees which records"):
        w.records.update("dept", w.one, {"parent": None}, amy)
    with pytest.raises(ValidationError, match="decides who sees which records"):
        w.records.update("dept", w.two, {"head": w.p["amy"]}, amy)
    assert w.records.get("person", w.p["amy"])["dept"] == w.one
    model = access.model_of(w.ws)
    assert {("person", "dept"), ("person", "second_dept"), ("dept", "parent"),
            ("dept", "head")} <= model.scope_fields


def test_nobody_widens_their_own_department_scope(world):
    w = world
    ann = w.actor("ann", "chief")  # may change `dept` of the people she reads
    # moving Amy (of her department) to 二组 shows Ann nothing new: allowed
    w.records.update("person", w.p["amy"], {"dept": w.two}, ann)
    assert w.records.get("person", w.p["amy"])["dept"] == w.two
    # a head who makes herself a member of 销售中心 would see everyone below it: refused
    w.records.update("person", w.p["amy"], {"dept": w.one}, SYSTEM)
    with pytest.raises(ValidationError, match="would let you see records"):
        w.records.update("person", w.p["ann"], {"dept": w.centre}, ann)
    assert w.records.get("person", w.p["ann"])["dept"] is None
    # the tree is the administrators': she may not place a new department in it
    with pytest.raises(ValidationError, match="decides who sees which records"):
        w.records.create("dept", {"name": "一组 A", "parent": w.one}, ann)
    # nor move the department she heads: parent and head are read-only for her
    for change in ({"parent": w.two}, {"head": w.p["amy"]}):
        with pytest.raises(ValidationError, match="decides who sees which records"):
            w.records.update("dept", w.one, change, ann)
    w.records.update("dept", w.one, {"name": "一组（新）"}, ann)  # the rest she may


def test_heads_and_chain(world):
    w = world
    with w.engine.connect() as c:
        def heads(who):
            return org.heads_of(c, w.schema, w.ws, w.p[who])
        assert heads("amy") == [w.p["ann"]]
        assert heads("flo") == [w.p["ann"], w.p["ben"]]
        # Ben heads 二组 himself: his head is the one above
        assert heads("ben") == [w.p["hua"]]
        assert heads("hua") == []          # the top has nobody above
        # Ann heads 一组 without being a member of any: her head is the one above it
        assert heads("ann") == [w.p["hua"]]
        assert heads("lee") == []          # 法务 has no head
        chain = org.chain(c, w.schema, w.ws, w.p["amy"])
        assert chain == [[org.Level(w.one, w.p["ann"]), org.Level(w.centre, w.p["hua"])]]
        assert org.chain(c, w.schema, w.ws, w.p["amy"], levels=1) == \
            [[org.Level(w.one, w.p["ann"])]]
        assert org.departments_of(c, w.schema, w.ws, w.p["flo"]) == [w.one, w.two]


def test_a_loop_in_the_tree_ends(world):
    w = world
    w.records.update("dept", w.centre, {"parent": w.one}, SYSTEM)
    with w.engine.connect() as c:
        chain = org.chain(c, w.schema, w.ws, w.p["amy"])
    assert [lvl.department for lvl in chain[0]] == [w.one, w.centre]
    assert w.ids("deal", w.actor("ann", "chief")) == \
        w.deal("hua", "amy", "ann", "bob", "flo")


def test_department_in_write_rows_and_unless(world):
    w = world
    bob = w.actor("bob", "mixed")
    # Bob reads the desk deal and the big deal, but writes only rows of 二组's sellers
    w.records.update("deal", w.deals["bob"], {"amount": 5}, bob)
    with pytest.raises(NotFound):
        w.records.update("deal", w.deals["big"], {"amount": 5}, bob)
    with w.engine.connect() as c:
        rows = {r["id"]: r for r in Q.list_records(c, w.schema, "deal", ctx=bob,
                                                   limit=100).rows}
    # the subject shows plainly on rows of his department (his own), masked on the others
    assert rows[w.deals["bob"]]["subject"] == "bob deal"
    assert isinstance(rows[w.deals["big"]]["subject"], access.Masked)
    assert rows[w.deals["big"]]["subject"] != "big deal"


def test_a_department_scope_takes_the_creator_but_not_the_last_editor():
    """created_by and updated_by have types of their own: the creator is a person a scope
    may name (as any user field), the last editor changes on every write and is refused."""
    ws = load_workspace_from_texts(dict(FILES, **{"workspace.yaml": WORKSPACE.replace(
        "rows: department}", "rows: {department: [created_by]}}")}))
    assert ws.type("deal").fields["created_by"].kind.person
    text = _problems(WORKSPACE.replace("rows: department}", "rows: {department: [updated_by]}}"))
    assert "'updated_by' is not a user field of deal nor a link to departments" in text
