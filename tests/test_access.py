"""Permissions in the engine: roles → may, row scopes, field masks, writes; on SQLite and
PostgreSQL. A small service-desk workspace: nothing here is the flagship."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lowrise import access
from lowrise.actor import SYSTEM, Actor
from lowrise.errors import FilterError, Forbidden, NotFound, ValidationError
from lowrise.storage import migrate
from lowrise.storage import query as Q
from lowrise.storage.records import Records
from lowrise.storage.search import global_search
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts
from lowrise.workspace.loader import WorkspaceError

WORKSPACE = """
label: Desk
default_locale: en
locales: [en]
users: person
teams: {manager: boss, field: squad}
roles:
  agent:
    permissions:
      ticket:
        can: [read, create, update]
        rows: own
        fields:
          phone: {access: masked, unless: own}
          cost: hidden
          code: read_only
      project: {can: [read], rows: {linked_from: [ticket.project]}}
      person: {can: [read]}
  lead:
    permissions:
      ticket: {can: [read, create, update, delete], rows: team}
      project: {can: [read]}
      person: {can: [read]}
  auditor:
    permissions:
      ticket:
        can: [read, reveal]
        rows: {filter: {field: priority, op: eq, value: high}}
        fields: {phone: masked, secret_note: hidden}
      project: {can: [read]}
  support:
    permissions:
      ticket: {can: [read, update], fields: {phone: masked}}
  admin: {admin: true}
"""

FILES = {
    "workspace.yaml": WORKSPACE,
    "schemas/person.yaml": """
title: name
fields:
  name: {type: text}
  boss: {type: link, target: person}
  squad: {type: select, options: [red, blue]}
""",
    "schemas/project.yaml": """
title: name
fields:
  name: {type: text}
  budget: {type: currency}
""",
    "schemas/ticket.yaml": """
title: subject
search: [subject, phone]
fields:
  subject: {type: text}
  phone: {type: phone}
  code: {type: text}
  cost: {type: currency}
  secret_note: {type: long_text}
  priority: {type: select, options: [low, high]}
  assignee: {type: user}
  project: {type: link, target: project, related_label: Tickets}
""",
}


@pytest.fixture(scope="module")
def ws():
    return load_workspace_from_texts(FILES)


class World:
    """People in a hierarchy, tickets of each, and the actors."""

    def __init__(self, engine, ws):
        self.schema = build_schema(ws)
        with engine.connect() as conn:
            steps = migrate.plan(conn, self.schema)
        migrate.apply(engine, steps)
        self.records = Records(engine, self.schema)
        self.engine = engine
        mk = lambda t, **v: self.records.create(t, v, SYSTEM)  # noqa: E731
        self.boss = mk("person", name="Boss", squad="red")
        self.amy = mk("person", name="Amy", boss=self.boss["id"], squad="red")
        self.bob = mk("person", name="Bob", boss=self.amy["id"], squad="blue")
        self.cat = mk("person", name="Cat", squad="red")  # no boss: red squad only
        self.dan = mk("person", name="Dan", squad="blue")  # nobody's
        self.p1 = mk("project", name="Alpha", budget="100")
        self.p2 = mk("project", name="Beta", budget="200")
        self.tickets = {}
        for who, prio, project in (("amy", "low", self.p1), ("bob", "high", self.p1),
                                   ("cat", "high", self.p2), ("dan", "low", self.p2)):
            person = getattr(self, who)
            self.tickets[who] = mk("ticket", subject=f"{who} printer", phone="13812345678",
                                   code=f"C-{who}", cost="9.50", secret_note="s3cret",
                                   priority=prio, assignee=person["id"], project=project["id"])
        self.lead = Actor(user=self.boss["id"], name="Boss", roles=frozenset({"lead"}))
        self.amy_agent = Actor(user=self.amy["id"], name="Amy", roles=frozenset({"agent"}))
        self.bob_agent = Actor(user=self.bob["id"], name="Bob", roles=frozenset({"agent"}))
        self.auditor = Actor(user=self.dan["id"], name="Dan", roles=frozenset({"auditor"}))
        self.admin = Actor(user=self.dan["id"], name="Root", roles=frozenset({"admin"}))

    def ids(self, type_name, actor, **kw):
        with self.engine.connect() as c:
            page = Q.list_records(c, self.schema, type_name, ctx=actor, limit=100, **kw)
        return {r["id"] for r in page.rows}

    def rows(self, type_name, actor, **kw):
        with self.engine.connect() as c:
            return Q.list_records(c, self.schema, type_name, ctx=actor, limit=100, **kw).rows

    def tid(self, *who):
        return {self.tickets[w]["id"] for w in who}


@pytest.fixture
def world(engine, ws):
    return World(engine, ws)


# -- the model -------------------------------------------------------------------------------

def test_problems_point_at_the_yaml():
    bad = dict(FILES)
    bad["workspace.yaml"] = """
users: person
roles:
  agent:
    permissions:
      tickets: {can: [read]}
      ticket:
        can: [read, fly]
        rows: team
        fields:
          cost: masked
          nope: hidden
          subject: {access: masked, mask: {keep_start: -1}}
      project: {rows: {linked_from: [ticket.subject]}}
"""
    with pytest.raises(WorkspaceError) as exc:
        load_workspace_from_texts(bad)
    text = str(exc.value)
    assert "'tickets' is not a record type (did you mean 'ticket'?)" in text
    assert "can[1]: must be one of 'read'" in text
    assert "a team scope needs `teams:`" in text
    assert "only text fields" in text and "cost" in text
    assert "'nope' is not a field of ticket" in text
    assert "ticket.subject" in text and "link to project" in text
    assert "workspace.yaml:" in text  # each with its line


def test_open_workspace_restricts_nobody():
    files = dict(FILES)
    files["workspace.yaml"] = "users: person\nroles:\n  agent: {label: Agent}\n"
    ws = load_workspace_from_texts(files)
    pol = access.Policy.for_actor(Actor(user=1, roles=frozenset({"agent"})), ws)
    assert pol.bypass and pol.may("delete", "ticket")
    assert access.policy(ws, Actor(user=1)) is None


def test_may(ws):
    agent = access.Policy.for_actor(Actor(user=1, roles=frozenset({"agent"})), ws)
    assert agent.may("read", "ticket") and agent.may("update", "ticket")
    assert not agent.may("delete", "ticket") and not agent.may("export", "ticket")
    assert not agent.may("create", "project")
    with pytest.raises(Forbidden, match="may not delete"):
        agent.require("delete", "ticket")
    nobody = access.Policy.for_actor(Actor(user=1), ws)
    assert not nobody.bypass and not nobody.may("read", "ticket")
    both = access.Policy.for_actor(Actor(user=1, roles=frozenset({"agent", "lead"})), ws)
    assert both.may("delete", "ticket")  # the union of the roles
    assert access.Policy.for_actor(Actor(roles=frozenset({"admin"})), ws).bypass
    assert access.Policy.for_actor(SYSTEM, ws).bypass


def test_masks():
    assert access.Mask().apply("13812345678") == "138****5678"
    assert access.Mask().apply("110101199003071234") == "110***********1234"
    assert access.Mask().apply("12345") == "*****"
    assert access.Mask(0, 2, "#").apply("abcdef") == "####ef"


# -- rows ------------------------------------------------------------------------------------

def test_row_scopes_own_team_filter_linked_from(world):
    w = world
    assert w.ids("ticket", w.amy_agent) == w.tid("amy")
    # the boss's team: Amy (below him), Bob (below Amy), Cat (same squad); not Dan
    assert w.ids("ticket", w.lead) == w.tid("amy", "bob", "cat")
    assert w.ids("ticket", w.auditor) == w.tid("bob", "cat")
    assert w.ids("ticket", w.admin) == w.tid("amy", "bob", "cat", "dan")
    assert w.ids("ticket", None) == w.tid("amy", "bob", "cat", "dan")  # engine's own read
    # projects an agent's tickets link to
    assert w.ids("project", w.amy_agent) == {w.p1["id"]}
    with pytest.raises(Forbidden):
        w.ids("project", Actor(user=w.amy["id"]))  # no role at all


def test_counts_aggregates_and_link_chips_follow_the_scope(world):
    w = world
    with w.engine.connect() as c:
        assert Q.count(c, w.schema, "ticket", None, w.lead) == 3
        agg = Q.aggregate(c, w.schema, "ticket", group_by=["priority"], measures=["count"],
                          ctx=w.auditor)
        assert [(r["priority"], r["count"]) for r in agg] == [("high", 2)]
        chips = Q.get_many(c, w.schema, "ticket", w.tid("amy", "bob", "dan"), ctx=w.amy_agent)
        assert set(chips) == w.tid("amy")
        assert Q.get_many(c, w.schema, "project", [w.p1["id"]], ctx=Actor(user=1)) == {}
        rel = Q.related(c, w.schema, w.schema.workspace, "project", w.p1["id"],
                        ctx=w.amy_agent)
        assert {r["id"] for r in rel[0].page.rows} == w.tid("amy")


def test_team_scope_needs_a_user(world):
    w = world
    nobody = Actor(user=None, roles=frozenset({"lead"}))
    assert w.ids("ticket", nobody) == set()


def test_guessing_another_id_reads_as_missing(world):
    w = world
    theirs = w.tickets["dan"]["id"]
    with pytest.raises(NotFound) as out_of_scope:
        w.records.get("ticket", theirs, actor=w.amy_agent)
    with pytest.raises(NotFound) as missing:
        w.records.get("ticket", 10_000, actor=w.amy_agent)
    assert str(out_of_scope.value).replace(str(theirs), "N") == \
        str(missing.value).replace("10000", "N")
    for write in (lambda: w.records.update("ticket", theirs, {"subject": "x"}, w.amy_agent),
                  lambda: w.records.delete("ticket", theirs, w.lead)):
        with pytest.raises(NotFound):
            write()
    assert w.records.get("ticket", theirs)["subject"] == "dan printer"
    with pytest.raises(NotFound):
        w.records.history("ticket", theirs, actor=w.amy_agent)


def test_forbidden_actions(world):
    w = world
    mine = w.tickets["amy"]["id"]
    with pytest.raises(Forbidden):
        w.records.delete("ticket", mine, w.amy_agent)
    with pytest.raises(Forbidden):
        w.records.create("project", {"name": "Mine"}, w.amy_agent)
    with pytest.raises(Forbidden):
        w.records.update("ticket", w.tickets["bob"]["id"], {"subject": "x"}, w.auditor)


# -- fields ----------------------------------------------------------------------------------

def test_masked_and_hidden_fields_on_reads(world):
    w = world
    (amy,) = w.rows("ticket", w.amy_agent)
    assert amy["phone"] == "13812345678"  # her own row: unless own
    assert "cost" not in amy and amy["code"] == "C-amy"
    rows = {r["id"]: r for r in w.rows("ticket", w.auditor)}
    bob = rows[w.tickets["bob"]["id"]]
    assert bob["phone"] == "138****5678" and isinstance(bob["phone"], access.Masked)
    assert "secret_note" not in bob and bob["cost"] is not None
    assert bob.access == {"phone": "masked", "secret_note": "hidden"}
    one = w.records.get("ticket", bob["id"], actor=w.auditor)
    assert one["phone"] == "138****5678" and "secret_note" not in one
    full = w.records.get("ticket", bob["id"], actor=w.admin)
    assert full["phone"] == "13812345678" and full["secret_note"] == "s3cret"
    assert "cost" not in w.rows("ticket", w.amy_agent, fields=["subject", "cost"])[0]


def test_conditional_mask_follows_each_row(world):
    """Lead and agent together: the agent's rule masks the phone on rows not her own, the
    lead's role shows everything on its team's rows."""
    w = world
    agent_only = Actor(user=w.amy["id"], roles=frozenset({"agent", "auditor"}))
    rows = {r["id"]: r for r in w.rows("ticket", agent_only)}
    assert rows[w.tickets["amy"]["id"]]["phone"] == "13812345678"
    assert rows[w.tickets["bob"]["id"]]["phone"] == "138****5678"


def test_filters_sorts_and_search_cannot_see_through_masks(world):
    w = world
    # the auditor sees the phone masked everywhere: filtering or sorting by it is refused
    with pytest.raises(FilterError, match="masked"):
        w.ids("ticket", w.auditor, filter={"field": "phone", "op": "eq",
                                           "value": "13812345678"})
    with pytest.raises(FilterError, match="sort"):
        w.ids("ticket", w.auditor, sort=["phone"])
    with pytest.raises(FilterError, match="hidden"):
        w.ids("ticket", w.auditor, filter={"field": "secret_note", "op": "contains",
                                           "value": "s"})
    with w.engine.connect() as c, pytest.raises(FilterError, match="group by"):
        Q.aggregate(c, w.schema, "ticket", group_by=["phone"], ctx=w.auditor)
    # a quick search does not look in masked fields...
    assert w.ids("ticket", w.auditor, q="12345678") == set()
    assert w.ids("ticket", w.auditor, q="printer") == w.tid("bob", "cat")
    # ...except on the rows where the actor sees them in full
    both = Actor(user=w.amy["id"], roles=frozenset({"agent", "auditor"}))
    assert w.ids("ticket", both, q="12345678") == w.tid("amy")
    assert w.ids("ticket", both, filter={"field": "phone", "op": "eq",
                                         "value": "13812345678"}) == w.tid("amy")
    with w.engine.connect() as c:
        hits = global_search(c, w.schema, w.schema.workspace, "12345678", ctx=w.auditor)
        assert hits == []
        hits = global_search(c, w.schema, w.schema.workspace, "printer", ctx=w.amy_agent)
        assert {(h.type, h.id) for h in hits} == {("ticket", i) for i in w.tid("amy")}


def test_paths_through_links_only_see_linked_rows_in_scope(world):
    w = world
    # Beta is out of Amy's project scope; a ticket path condition cannot test it
    t = w.records.create("ticket", {"subject": "mine on beta", "project": w.p1["id"]},
                         w.amy_agent)
    w.records.update("ticket", t["id"], {"project": w.p2["id"]}, SYSTEM)
    flt = {"field": "project.name", "op": "eq", "value": "Beta"}
    assert w.ids("ticket", w.amy_agent, filter=flt) == {t["id"]}  # Beta is now linked from hers
    w.records.update("ticket", t["id"], {"project": w.p1["id"]}, SYSTEM)
    assert w.ids("ticket", w.amy_agent, filter=flt) == set()


def test_history_hides_and_masks(world):
    w = world
    bob = w.tickets["bob"]["id"]
    w.records.update("ticket", bob, {"phone": "13900001111", "secret_note": "new"}, SYSTEM)
    entries = w.records.history("ticket", bob, actor=w.auditor)
    change = entries[0]["changes"]
    assert "secret_note" not in change
    assert change["phone"] == ["139****1111", "138****5678"][::-1] or \
        change["phone"] == ["138****5678", "139****1111"]


# -- writes ----------------------------------------------------------------------------------

def test_hidden_and_read_only_fields_are_refused_with_a_reason(world):
    w = world
    mine = w.tickets["amy"]["id"]
    with pytest.raises(ValidationError) as exc:
        w.records.update("ticket", mine, {"cost": "1", "code": "X"}, w.amy_agent)
    assert "hidden for you" in exc.value.errors["cost"]
    assert "read-only for you" in exc.value.errors["code"]
    with pytest.raises(ValidationError):
        w.records.create("ticket", {"subject": "s", "cost": "1"}, w.amy_agent)
    # sent back as read: the read-only value is not a change
    saved = w.records.update("ticket", mine, {"subject": "renamed", "code": "C-amy"},
                             w.amy_agent)
    assert saved["subject"] == "renamed" and "cost" not in saved


def test_masked_value_sent_back_is_kept_and_cannot_probe(world):
    w = world
    support = Actor(user=w.dan["id"], roles=frozenset({"support"}))
    bob = w.tickets["bob"]["id"]
    shown = w.records.get("ticket", bob, actor=support)
    assert shown["phone"] == "138****5678"
    saved = w.records.update("ticket", bob, {"subject": "read, changed, sent back",
                                             "phone": shown["phone"]}, support)
    assert saved["phone"] == "138****5678"
    assert w.records.get("ticket", bob)["phone"] == "13812345678"
    # the real value and a wrong guess are refused alike: no oracle
    for guess in ("13812345678", "13999999999"):
        with pytest.raises(ValidationError) as exc:
            w.records.update("ticket", bob, {"phone": guess}, support)
        assert exc.value.errors == {"phone": "you may not set this field: it is masked for you"}


def test_created_record_is_the_creators_and_shows_masked_fields(world):
    w = world
    made = w.records.create("ticket", {"subject": "new", "phone": "13700000000",
                                       "assignee": w.amy["id"]}, w.amy_agent)
    assert made["phone"] == "13700000000" and "cost" not in made
    # giving the ticket to someone else: it leaves her sight (created_by still counts)
    saved = w.records.update("ticket", made["id"], {"assignee": w.dan["id"]}, w.amy_agent)
    assert saved["id"] in w.ids("ticket", w.amy_agent)


def test_links_to_records_out_of_scope_read_as_missing(world):
    w = world
    # the agent may read project Alpha (her ticket links to it) but not Beta
    with pytest.raises(ValidationError) as exc:
        w.records.create("ticket", {"subject": "x", "project": w.p2["id"]}, w.amy_agent)
    assert exc.value.errors["project"] == f"there is no Project #{w.p2['id']}"


def test_trash_shows_what_one_deleted(world):
    w = world
    w.records.delete("ticket", w.tickets["amy"]["id"], w.lead)
    w.records.delete("ticket", w.tickets["dan"]["id"], SYSTEM)
    assert [t["record_id"] for t in w.records.trash(actor=w.lead)] == [w.tickets["amy"]["id"]]
    assert len(w.records.trash()) == 2
    with pytest.raises(NotFound):
        w.records.restore("ticket", w.tickets["dan"]["id"], w.lead)
    w.records.restore("ticket", w.tickets["amy"]["id"], w.lead)


def test_reveal_is_audited(world):
    w = world
    bob = w.tickets["bob"]["id"]
    assert access.reveal(w.records, "ticket", bob, w.auditor) == {"phone": "13812345678"}
    entry = w.records.history("ticket", bob)[0]
    assert entry["action"] == "reveal" and entry["note"] == "phone"
    assert entry["actor"] == w.dan["id"]
    with pytest.raises(Forbidden):
        access.reveal(w.records, "ticket", w.tickets["amy"]["id"], w.amy_agent)
    with pytest.raises(NotFound):  # out of the auditor's rows
        access.reveal(w.records, "ticket", w.tickets["amy"]["id"], w.auditor)
    with w.engine.connect() as c:
        n = c.execute(sa.select(sa.func.count()).select_from(w.schema.audit).where(
            w.schema.audit.c.action == "reveal")).scalar_one()
    assert n == 1


def test_messages_mask_what_some_role_sees_masked_or_hidden():
    """Notification and comment texts and webhook bodies cannot tell who reads them: the
    fields some role sees masked or hidden are masked there (the flagship's phones)."""
    from pathlib import Path

    from lowrise.workspace import load_workspace

    flagship = load_workspace(Path(__file__).resolve().parents[1])
    assert set(access.confidential_fields(flagship, "client")) == {"phone", "id_number"}
    assert access.mask_record(flagship, "client", {"name": "Liu", "phone": "13812345678"}) == \
        {"name": "Liu", "phone": "138****5678"}
    masked = access.mask_record(flagship, "staff", {"notes": "late twice",
                                                    "last_assessment_score": 61})
    assert masked["notes"] != "late twice" and masked["last_assessment_score"] != 61
    assert access.mask_record(flagship, "case", {"amount": 5}) == {"amount": 5}
    open_ws = load_workspace_from_texts({**FILES, "workspace.yaml": "users: person\n"})
    assert access.confidential_fields(open_ws, "ticket") == {}
