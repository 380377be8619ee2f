"""Comments on records with @mentions (lowrise.comments), on SQLite and PostgreSQL: parsing
mentions (Latin and Chinese names, e-mails, unknown names, repeats), who may read and add
comments, who gets notified (readers only), refusals, edits and deletes with their trail,
and the comments rules write showing in the same list."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lowrise.accounts import Accounts
from lowrise.actor import SYSTEM, Actor
from lowrise.comments import (
    MAX_LENGTH,
    CommentError,
    Comments,
    Person,
    parse_mentions,
    segments,
)
from lowrise.errors import Forbidden, NotFound
from lowrise.rules.engine import install
from lowrise.rules.inbox import Inbox
from lowrise.rules.tables import RuleTables
from lowrise.storage import migrate as mig
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts

FILES = {
    "workspace.yaml": """
label: Office
default_locale: en
locales: [en, zh]
timezone: UTC
users: staff
roles:
  seller:
    permissions:
      staff: {can: [read]}
      case: {can: [read, create, update], rows: own}
  boss:
    permissions:
      staff: {can: [read]}
      case: {can: [read, update]}
  clerk:
    permissions:
      staff: {can: [read]}
  admin: {admin: true}
""",
    "schemas/staff.yaml": """
title: name
fields:
  name: {type: text, required: true}
  email: {type: email}
""",
    "schemas/case.yaml": """
title: title
fields:
  title: {type: text, required: true}
  seller: {type: user}
  stage: {type: select, options: [open, won], default: open}
""",
    "automations/won.yaml": """
record_type: case
trigger: {kind: field_changed, field: stage, to: won}
actions:
  - comment: "won: {{ record.title }}"
""",
}

# -- parsing, without a database -------------------------------------------------------------

PEOPLE = [Person(1, "Amy An", "amy@example.com"), Person(2, "Amy"), Person(3, "王芳"),
          Person(4, "王芳芳"), Person(5, "Ben Bo", "ben@example.com")]


def lookup(prefix):
    return [p for p in PEOPLE if p.name.casefold().startswith(prefix.casefold())]


def by_email(address):
    return next((p for p in PEOPLE if p.email == address.lower()), None)


def parse(text):
    return parse_mentions(text, lookup, by_email)


def test_latin_names_longest_first_and_whole_words():
    m = parse("@Amy An and @amy, not @Amyra; @Amy Andrews")
    assert [(x.staff_id, x.name) for x in m.found] == [(1, "Amy An"), (2, "Amy"), (2, "Amy")]
    assert m.unknown == ("Amyra",)
    assert m.people == [1, 2]
    first = m.found[0]
    assert "@Amy An and"[first.start:first.end] == "@Amy An"


def test_chinese_names_run_on_without_spaces():
    m = parse("请@王芳跟进，@王芳芳也看看；@王五呢？")
    assert [(x.staff_id, x.name) for x in m.found] == [(3, "王芳"), (4, "王芳芳")]
    assert m.unknown == ("王五呢",)
    text = "@王芳你好"
    only = parse(text).found
    assert [x.staff_id for x in only] == [3] and text[only[0].start:only[0].end] == "@王芳"


def test_emails_mentions_and_plain_addresses():
    m = parse("@ben@example.com please; mail amy@example.com; @nobody@example.com")
    assert [x.staff_id for x in m.found] == [5]  # a plain address mentions nobody
    assert m.unknown == ("nobody@example.com",)
    assert parse("a lone @ sign, and @@Amy").found == ()


def test_repeats_count_once_and_segments_cut_the_text():
    text = "@Ben Bo see @Ben Bo, @Amy An!"
    m = parse(text)
    assert m.people == [5, 1] and len(m.found) == 3
    assert [(s, bool(x)) for s, x in segments(text, m.found)] == [
        ("@Ben Bo", True), (" see ", False), ("@Ben Bo", True), (", ", False),
        ("@Amy An", True), ("!", False)]
    # offsets that do not fit the text (it changed) show it plain
    assert segments("changed", m.found) == [("changed", None)]


# -- on a database -----------------------------------------------------------------------------


class Office:
    def __init__(self, engine):
        ws = load_workspace_from_texts(FILES)
        schema = build_schema(ws)
        with engine.connect() as conn:
            plan = mig.plan(conn, schema)
        mig.apply(engine, plan)
        self.engine = engine
        self.records = Records(engine, schema)
        install(self.records)
        self.accounts = Accounts(engine)
        self.comments = Comments(self.records, self.accounts)
        self.inbox = Inbox(engine, RuleTables(schema.system))
        mk = lambda **v: self.records.create("staff", v, SYSTEM)  # noqa: E731
        self.amy = mk(name="Amy An", email="amy@example.com")
        self.ben = mk(name="Ben Bo", email="ben@example.com")
        self.wang = mk(name="王芳", email="wang@example.com")
        self.zoe = mk(name="Zoe Zhu")  # no account
        self.cat = mk(name="Cat Cui")  # an account without access to cases
        self.actors = {}
        for who, roles in (("amy", ["seller"]), ("ben", ["seller"]), ("wang", ["boss"]),
                           ("cat", ["clerk"])):
            staff = getattr(self, who)
            self.accounts.add(f"{who}@example.org", "correct horse battery", name=staff["name"],
                              staff_id=staff["id"], roles=roles)
            self.actors[who] = Actor(user=staff["id"], name=staff["name"],
                                     roles=frozenset(roles))
        self.case = self.records.create("case", {"title": "Amy's deal",
                                                 "seller": self.amy["id"]}, SYSTEM)
        self.other = self.records.create("case", {"title": "Ben's deal",
                                                  "seller": self.ben["id"]}, SYSTEM)

    def rows(self, table):
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))
                    .mappings()]


@pytest.fixture
def office(engine):
    return Office(engine)


def test_a_comment_notifies_the_mentioned_readers_only(office):
    o = office
    amy = o.actors["amy"]
    posted = o.comments.add("case", o.case["id"],
                            "@王芳 please look; @Ben Bo too, @Zoe Zhu, @Cat Cui, @nobody, @Amy An",
                            amy, notice=lambda c: f"{c.author_name} mentioned you")
    assert [m.name for m in posted.notified] == ["王芳"]
    assert [m.name for m in posted.no_access] == ["Ben Bo", "Cat Cui"]  # not his case
    assert [m.name for m in posted.no_account] == ["Zoe Zhu"]
    assert posted.unknown == ("nobody",)
    assert o.inbox.unread_count(o.wang["id"]) == 1
    assert o.inbox.unread_count(o.ben["id"]) == 0 and o.inbox.unread_count(o.amy["id"]) == 0
    note = o.inbox.list(o.wang["id"])[0]
    assert (note["record_type"], note["record_id"], note["title"]) == (
        "case", o.case["id"], "Amy An mentioned you")
    listed = o.comments.list("case", o.case["id"], o.actors["wang"])
    assert [c.body for c in listed] == [posted.comment.body]
    assert [m.name for m in listed[0].mentions] == [
        "王芳", "Ben Bo", "Zoe Zhu", "Cat Cui", "Amy An"]
    assert listed[0].author == o.amy["id"] and listed[0].author_name == "Amy An"
    stored = {r["name"]: r["notified"] for r in o.rows("lr_comment_mentions")}
    assert stored == {"王芳": True, "Ben Bo": False, "Zoe Zhu": False, "Cat Cui": False,
                      "Amy An": False}


def test_reading_and_adding_need_read_access_to_the_record(office):
    o = office
    o.comments.add("case", o.case["id"], "only for Amy's readers", o.actors["amy"])
    with pytest.raises(NotFound):  # Ben guessing Amy's case id
        o.comments.list("case", o.case["id"], o.actors["ben"])
    with pytest.raises(NotFound):
        o.comments.add("case", o.case["id"], "let me in", o.actors["ben"])
    with pytest.raises(Forbidden):  # a role that may not read cases at all
        o.comments.list("case", o.case["id"], o.actors["cat"])
    cid = o.rows("lr_comments")[0]["id"]
    with pytest.raises(NotFound):
        o.comments.get(cid, o.actors["ben"])
    with pytest.raises(NotFound):
        o.comments.delete(cid, o.actors["ben"])
    assert [r["body"] for r in o.rows("lr_comments")] == ["only for Amy's readers"]
    # the boss reads every case, and may comment on it
    o.comments.add("case", o.case["id"], "noted", o.actors["wang"])
    assert len(o.comments.list("case", o.case["id"], o.actors["amy"])) == 2


def test_people_to_mention_are_those_the_author_may_see(office):
    o = office
    assert [p.name for p in o.comments.people("a", o.actors["amy"])] == ["Amy An"]
    assert [p.name for p in o.comments.people("王", o.actors["ben"])] == ["王芳"]
    assert o.comments.people("", o.actors["amy"]) == []


@pytest.mark.parametrize("body, code", [("", "empty"), ("  \n\t", "empty"),
                                        ("x" * (MAX_LENGTH + 1), "too_long"),
                                        ("a\x00b", "not_text")])
def test_bad_text_is_refused_and_nothing_written(office, body, code):
    o = office
    with pytest.raises(CommentError) as info:
        o.comments.add("case", o.case["id"], body, o.actors["amy"])
    assert info.value.code == code and str(info.value)
    assert o.rows("lr_comments") == []


def test_markup_is_stored_as_typed(office):
    o = office
    body = "<script>alert(1)</script> & <b>bold</b> {{ 7*7 }}"
    o.comments.add("case", o.case["id"], body, o.actors["amy"])
    assert o.comments.list("case", o.case["id"], o.actors["amy"])[0].body == body


def test_edit_and_delete_own_comments_with_a_trail(office):
    o = office
    amy, wang = o.actors["amy"], o.actors["wang"]
    first = o.comments.add("case", o.case["id"], "hello @王芳", amy).comment
    with pytest.raises(Forbidden):  # not his comment, though he reads the case
        o.comments.edit(first.id, "changed", wang)
    with pytest.raises(Forbidden):
        o.comments.delete(first.id, wang)
    edited = o.comments.edit(first.id, "hello again @王芳", amy)
    assert edited.notified == ()  # mentioned before: not notified twice
    assert o.inbox.unread_count(o.wang["id"]) == 1
    shown = o.comments.list("case", o.case["id"], amy)
    assert shown[0].body == "hello again @王芳" and shown[0].edited
    assert [(m.start, m.end) for m in shown[0].mentions] == [(12, 15)]
    o.comments.delete(first.id, amy)
    assert o.comments.list("case", o.case["id"], amy) == []
    assert o.rows("lr_comment_mentions") == []
    trail = o.comments.trail("case", o.case["id"], wang)
    assert [(t["action"], t["body"], t["actor"]) for t in trail] == [
        ("deleted", "hello again @王芳", o.amy["id"]), ("edited", "hello @王芳", o.amy["id"])]
    # an admin may delete anyone's comment, not put words in their mouth
    other = o.comments.add("case", o.case["id"], "mine", amy).comment
    root = Actor(name="Root", roles=frozenset({"admin"}))
    with pytest.raises(Forbidden):
        o.comments.edit(other.id, "yours", root)
    o.comments.delete(other.id, root)
    assert o.comments.list("case", o.case["id"], amy) == []


def test_comments_of_rules_are_in_the_same_list(office):
    o = office
    o.comments.add("case", o.case["id"], "before the win", o.actors["amy"])
    o.records.update("case", o.case["id"], {"stage": "won"}, o.actors["amy"])
    listed = o.comments.list("case", o.case["id"], o.actors["amy"])
    assert [(c.body, c.rule, c.author) for c in listed] == [
        ("before the win", None, o.amy["id"]), ("won: Amy's deal", "won", None)]
    with pytest.raises(Forbidden):  # nobody but an admin removes what a rule wrote
        o.comments.delete(listed[1].id, o.actors["amy"])


def test_migrate_creates_the_comment_tables(engine):
    """The mentions and the trail are system tables: a freshly migrated database has them
    (with their indexes) before any comment is written, and the plan is then empty."""
    schema = build_schema(load_workspace_from_texts(FILES))
    with engine.connect() as conn:
        plan = mig.plan(conn, schema)
    created = {s.table for s in plan.steps if isinstance(s, mig.CreateSystemTable)}
    assert {"lr_comments", "lr_comment_mentions", "lr_comment_trail"} <= created
    mig.apply(engine, plan)
    inspector = sa.inspect(engine)
    for table, index in (("lr_comment_mentions", "ix_lr_comment_mentions_comment"),
                         ("lr_comment_trail", "ix_lr_comment_trail_record")):
        assert index in {i["name"] for i in inspector.get_indexes(table)}
    with engine.connect() as conn:
        again = mig.plan(conn, schema)
    assert again.is_empty, again.steps
    # the comments use them as they are, without creating anything
    records = Records(engine, schema)
    comments = Comments(records, Accounts(engine))
    assert comments.mentions_table is schema.system["lr_comment_mentions"]
    assert comments.trail_table is schema.system["lr_comment_trail"]
