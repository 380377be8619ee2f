"""A rule's messages read in each reader's language: written once per locale ({en, zh}) as
labels are (a plain string still works), a notification is kept in every locale and shown in
the reader's, naming linked records and people as that reader may read them, options in the
reader's words and dates in the reader's locale; an e-mail is written in the language its
recipient chose (else the workspace's). A comment is in the workspace's language, a refusal
in the language of whoever made the change. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from lowrise.accounts import Accounts
from lowrise.actor import Actor
from lowrise.i18n import STORED, from_text
from lowrise.rules.actions import kept
from lowrise.rules.context import Blocked
from lowrise.rules.outbox import email_text
from lowrise.workspace import WorkspaceError
from test_rules_support import BASE, T0, make_env, workspace

PASSWORD = "correct horse battery 42"

BILINGUAL = {
    "workspace.yaml": """label: Desk
default_locale: zh
locales: [zh, en]
timezone: Asia/Shanghai
users: person
roles:
  agent:
    label: {en: Agent, zh: 顾问}
    permissions:
      ticket: {can: [read, update]}
      person: {can: [read]}
  boss:
    label: {en: Boss, zh: 经理}
    permissions:
      ticket: {can: [read, create, update]}
      person: {can: [read, create]}
      item: {can: [read, create]}
""",
    "schemas/ticket.yaml": BASE["schemas/ticket.yaml"].replace(
        "    options: [low, high]\n",
        "    options:\n      - {value: low, label: {en: Low, zh: 低}}\n"
        "      - {value: high, label: {en: High, zh: 高}}\n"),
}

TELL = """
record_type: ticket
trigger: {kind: created}
actions:
  - notify:
      to: [owner, owner.manager]
      title:
        en: "{{ title }} for {{ shown.owner }} ({{ shown.priority }}), {{ shown.item }}"
        zh: "{{ title }} 交给 {{ shown.owner }}（{{ shown.priority }}），{{ shown.item }}"
      body: "{{ shown.priority }} {{ shown.requested_at }} {{ type_label }}"
      email: true
"""


def _people(env, engine):
    boss = env.create("person", name="Boss Li", role="boss", email="boss@example.com")["id"]
    ann = env.create("person", name="Ann Wang", role="agent", manager=boss,
                     email="ann@example.com")["id"]
    accounts = Accounts(engine)
    chose = accounts.add("boss@example.com", PASSWORD, staff_id=boss, roles=["boss"])
    accounts.add("ann@example.com", PASSWORD, staff_id=ann, roles=["agent"])
    accounts.set_locale(chose.id, "en")  # the boss reads English; Ann never chose
    return boss, ann


def test_each_reader_reads_the_notice_in_their_language_with_names(engine):
    env = make_env(engine, {"tell": TELL}, extra=BILINGUAL)
    boss, ann = _people(env, engine)
    pump = env.create("item", name="Pump")["id"]
    t = env.create("ticket", title="Leak", owner=ann, priority="high", item=pump,
                   requested_at=T0)
    notes = {n["user_id"]: n for n in env.rows("lr_notifications")}
    assert set(notes) == {boss, ann}
    assert all(n["title"].startswith(STORED) for n in notes.values())  # kept as a message
    mine = notes[boss]
    assert from_text(mine["title"], "en") == "Leak for Ann Wang (High), Pump"
    assert from_text(mine["title"], "zh") == "Leak 交给 Ann Wang（高），Pump"
    # a plain string still works, each locale with its own words for options and dates
    assert from_text(mine["body"], "en") == "High 3/3/25, 5:00\u202fPM Ticket"
    assert from_text(mine["body"], "zh").startswith("高 2025/3/3 17:00")
    # Ann's role may not read items: the item is #id to her, never its name
    assert from_text(notes[ann]["title"], "zh") == f"Leak 交给 Ann Wang（高），#{pump}"
    mails = {m["target"]: m["payload"] for m in env.rows("lr_outbox")}
    assert mails["boss@example.com"]["subject"] == "Leak for Ann Wang (High), Pump"
    assert mails["boss@example.com"]["locale"] == "en"
    assert mails["ann@example.com"]["subject"] == f"Leak 交给 Ann Wang（高），#{pump}"
    assert mails["ann@example.com"]["path"] == f"/r/ticket/{t['id']}"
    assert email_text(mails["ann@example.com"], "https://crm.example.com").endswith(
        f"\n\n打开：https://crm.example.com/r/ticket/{t['id']}")  # in her language


def test_comment_in_the_workspace_language_refusal_in_the_changers(engine):
    env = make_env(engine, {"note": """
record_type: ticket
trigger: {kind: created}
actions:
  - comment: {text: {en: "Opened at {{ shown.priority }}", zh: "已创建，优先级{{ shown.priority }}"}}
""", "guard": """
record_type: ticket
trigger: {kind: field_changed, field: status, to: done}
actions:
  - block:
      field: status
      message: {en: "{{ title }} is {{ shown.priority }}", zh: "{{ title }} 优先级{{ shown.priority }}"}
"""}, extra=BILINGUAL)
    t = env.create("ticket", title="Leak", priority="high")
    assert [c["body"] for c in env.rows("lr_comments")] == ["已创建，优先级高"]
    english = Actor(user=None, name="tester", roles=frozenset({"boss"}), locale="en",
                    clock=env.clock)
    with pytest.raises(Blocked) as info:
        env.records.update("ticket", t["id"], {"status": "done"}, english)
    assert info.value.errors == {"status": "Leak is High"}
    chinese = Actor(user=None, name="tester", roles=frozenset({"boss"}), locale="zh",
                    clock=env.clock)
    with pytest.raises(Blocked) as info:
        env.records.update("ticket", t["id"], {"status": "done"}, chinese)
    assert info.value.errors == {"status": "Leak 优先级高"}


def test_a_message_for_a_locale_the_workspace_lacks_is_refused():
    with pytest.raises(WorkspaceError) as info:
        workspace({"tell": TELL.replace("        en:", "        fr:")}, BILINGUAL)
    assert "'fr' is not one of the workspace's locales (zh, en)" in str(info.value)


def test_a_long_title_fits_its_column_in_every_locale():
    texts = {"zh": "长" * 200, "en": "long " * 60}
    stored = kept(texts, "zh", 255)
    assert len(stored) <= 255
    assert from_text(stored, "zh").startswith("长" * 50)
    assert from_text(stored, "en").startswith("long long")
    assert kept({"zh": "same", "en": "same"}, "zh", 255) == "same"  # no message needed


def test_the_chosen_language_is_kept_and_the_inbox_reads_in_it(tmp_path, db_url):
    """Choosing a language while signed in keeps it on the account (the e-mails follow it);
    signing in again brings it back; the inbox shows each notice (a rule's, a mention) in the
    language of the page and names its record."""
    from lowrise.actor import SYSTEM
    from test_web_support import AuthActions, build_app

    ws = workspace({"tell": TELL}, BILINGUAL)
    app = build_app(tmp_path, db_url, ws)
    run = app.extensions["lowrise"]
    try:
        ann = run.records.create("person", {"name": "Ann Wang", "role": "agent"}, SYSTEM)
        account = run.accounts.add("ann@example.com", PASSWORD, name="Ann Wang",
                                   staff_id=ann["id"], roles=["agent"])
        t = run.records.create("ticket", {"title": "Leak", "owner": ann["id"],
                                          "priority": "high"}, SYSTEM)
        boss = run.records.create("person", {"name": "Boss Li", "role": "boss"}, SYSTEM)
        run.accounts.add("boss@example.com", PASSWORD, name="Boss Li", staff_id=boss["id"],
                         roles=["boss"])
        boss_auth = AuthActions(app.test_client())
        assert boss_auth.login(email="boss@example.com", password=PASSWORD).status_code == 302
        boss_auth.post(f"/r/ticket/{t['id']}/comments", data={"body": "@Ann Wang 请回电"})
        client = app.test_client()
        auth = AuthActions(client)
        assert auth.login(email="ann@example.com", password=PASSWORD).status_code == 302
        assert run.accounts.get(account.id).locale is None
        page = client.get("/inbox").text
        assert "Leak 交给 Ann Wang（高）" in page and "High" not in page
        assert "Boss Li 在Ticket Leak 的评论中提到了你" in page  # a mention, in her words too
        assert f'href="/r/ticket/{t["id"]}">Leak</a>' in page  # the record by its name
        client.get("/locale/en")
        assert run.accounts.get(account.id).locale == "en"
        page = client.get("/inbox").text
        assert "Leak for Ann Wang (High)" in page and "Boss Li mentioned you on Ticket Leak" \
            in page
        auth.logout()
        fresh = app.test_client()
        assert AuthActions(fresh).login(email="ann@example.com",
                                        password=PASSWORD).status_code == 302
        assert "Leak for Ann Wang (High)" in fresh.get("/inbox").text  # her choice, again
    finally:
        run.engine.dispose()
