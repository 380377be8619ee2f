"""Public forms, as a manager publishes one and a visitor fills it in without signing in:
the flagship's viewing request (a client found by mobile number or made, a case at the lead
stage assigned by the workspace's rules), a known number merged without telling, refusals
in the visitor's language, bots, floods, CSRF, revoking and renewing the link; on SQLite and
PostgreSQL. The loader's checks of `public:` are in test_sharing_yaml.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlalchemy as sa

from lowrise.sharing.spec import public_form
from lowrise.sharing.submit import Refused, submit
from test_sharing_support import VIEWING, fill, hidden, office_app
from test_web_support import SMALL, SYSTEM_ACTOR, build_app, make_workspace

pytest_plugins = ["test_web_support"]

FORM = "/forms/viewing_request"


def publish(office) -> str:
    c, auth = office.client("manager")
    assert auth.post(FORM, data={"action": "publish"}).status_code == 303
    return re.search(r'id="form-url">([^<]+)<', c.get(FORM).text)[1].replace(
        "http://localhost", "")


def rows(run, table: str, **where) -> list[dict]:
    t = run.schema.table(table) if table in run.schema.tables else run.schema.system[table]
    with run.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t).where(
            *(t.c[k] == v for k, v in where.items())).order_by(t.c.id)).mappings()]


def test_a_manager_publishes_and_a_visitor_books_a_viewing(tmp_path, db_url):
    office = office_app(tmp_path, db_url)
    run = office.run
    anonymous = office.app.test_client()
    assert anonymous.get(FORM).status_code == 302  # managing needs signing in
    c, _ = office.client("consultant")
    assert c.get(FORM).status_code == 403 and c.get("/forms").status_code == 403
    m, _ = office.client("manager")
    assert "此表单尚未发布" in m.get(FORM).text
    url = publish(office)
    assert url.startswith("/f/") and len(url) > 40
    page = anonymous.get(url)
    assert page.status_code == 200 and page.headers["X-Robots-Tag"] == "noindex, nofollow"
    text = page.text
    for words in ("预约看房", "请留下您的姓名和手机号", "姓名", "手机号", "意向户型",
                  "您希望何时看房？", "仅用于联系您安排看房", "提交"):
        assert words in text, words
    assert "保密信息" not in text  # a field's own help is for staff
    assert "next_action" not in text and "f_stage" not in text  # only the form's fields
    hrefs = set(re.findall(r'(?:href|action)="([^"]+)"', text))
    assert {h for h in hrefs if not h.startswith(("/static/", url))} == set()
    sent = fill(office.app, anonymous, url, VIEWING)
    assert sent.status_code == 303 and sent.headers["Location"] == url + "/thanks"
    assert "置业顾问将在 24 小时内与您联系" in anonymous.get(sent.headers["Location"]).text
    [client] = rows(run, "client", phone="13912345678")
    [case] = rows(run, "case", client=client["id"])
    assert client["name"] == "王五" and client["source"] == "online"
    assert client["desired_layout"] == "3br" and client["registered_on"] is not None
    assert case["stage"] == "lead" and case["notes"] == "周末带家人来"
    assert case["viewing_preferred_at"] == datetime(2026, 12, 20, 2, 0, tzinfo=UTC)
    assert abs((datetime.now(UTC) - case["viewing_requested_at"]).total_seconds()) < 120
    # the rules ran as on any lead: assigned, the client theirs too, the 24-hour timer set
    assert case["consultant"] in (office.amy["id"], office.ben["id"])
    assert client["consultant"] == case["consultant"]
    assert rows(run, "lr_timers", record_id=case["id"], rule="viewing_arranged_within_24h")
    audit = rows(run, "lr_audit", record_type="case", record_id=case["id"], action="create")
    assert audit[0]["actor_name"] == "public form viewing_request"
    # the consultant it went to sees the client in full; the manager sees Amy's on the board
    who = "consultant" if case["consultant"] == office.amy["id"] else "other"
    mine, _ = office.client(who)
    assert "13912345678" in mine.get(f"/r/client/{client['id']}").text
    if who == "consultant":
        assert f'data-id="{case["id"]}"' in m.get("/r/case/kanban/cases_board").text
    figures = m.get(FORM).text
    assert re.search(r'id="fig-created">1<', figures)


def test_a_known_number_is_merged_without_telling_the_visitor(tmp_path, db_url):
    office = office_app(tmp_path, db_url)
    run = office.run
    known = run.records.create("client", {
        "name": "老客户", "phone": "13800001111", "source": "walk_in",
        "consultant": office.ben["id"], "notes": "NOTE-KNOWN"}, SYSTEM_ACTOR)
    url = publish(office)
    visitor = office.app.test_client()
    fresh = fill(office.app, visitor, url, {**VIEWING, "client.phone": "13900002222"})
    again = fill(office.app, visitor, url, {**VIEWING, "client.phone": "138 0000 1111",
                                            "client.name": "王小五"})
    assert (fresh.status_code, fresh.headers["Location"]) == \
        (again.status_code, again.headers["Location"])
    assert fresh.get_data() == again.get_data()
    # the known client is not overwritten: it is told, without its number in the comment
    assert run.records.get("client", known["id"])["name"] == "老客户"
    assert len(rows(run, "client", phone="13800001111")) == 1
    [note] = rows(run, "lr_comments", record_type="client", record_id=known["id"])
    assert note["author_name"] == "public form viewing_request" and note["author"] is None
    assert "王小五" in note["body"] and "三居室" in note["body"]
    assert "13800001111" not in note["body"] and "预约看房" in note["body"]
    [case] = rows(run, "case", client=known["id"])
    assert case["consultant"] == office.ben["id"]  # the client's consultant keeps them
    assert f"销售案件 #{case['id']}" in note["body"]
    # refusals are the same whether the number is known or not
    errors = []
    for phone in ("13800001111", "13700003333"):
        resp = fill(office.app, visitor, url, {**VIEWING, "client.phone": phone,
                                               "client.name": "", "client.desired_layout": "x"})
        assert resp.status_code == 422
        errors.append(re.findall(r'class="error"[^>]*>([^<]+)', resp.text))
    assert errors[0] == errors[1] and "姓名为必填项" in errors[0]
    assert not rows(run, "client", phone="13700003333")


def test_refusals_are_in_the_visitors_language(tmp_path, db_url):
    office = office_app(tmp_path, db_url)
    url = publish(office)
    visitor = office.app.test_client()
    bad = {**VIEWING, "client.phone": "abc"}
    zh = fill(office.app, visitor, url, bad)
    assert zh.status_code == 422
    assert "请修改标出的字段。" in zh.text
    assert "手机号：“abc”不是有效的电话号码" in zh.text
    assert 'value="王五"' in zh.text  # what was typed is kept
    en = fill(office.app, visitor, url + "?lang=en", bad)
    assert en.status_code == 422 and "Book a viewing" in en.text
    assert "Mobile &#39;abc&#39; is not a phone number" in en.text
    assert 'lang="en"' in en.text and "Send" in en.text
    assert not rows(office.run, "client", name="王五")
    thanks = fill(office.app, visitor, url + "?lang=en", VIEWING)
    assert thanks.headers["Location"].endswith("/thanks?lang=en")
    assert "A sales consultant will call you" in visitor.get(thanks.headers["Location"]).text


def test_bots_floods_and_forged_posts_write_nothing(tmp_path, db_url):
    office = office_app(tmp_path, db_url)
    run = office.run
    url = publish(office)
    visitor = office.app.test_client()
    # the bait field filled: thanked like anyone, nothing written
    bot = fill(office.app, visitor, url, VIEWING, website="http://spam.example")
    assert bot.status_code == 303 and bot.headers["Location"].endswith("/thanks")
    # sent sooner than min_seconds (3) after opening the page, or with no opening time
    quick = fill(office.app, visitor, url, VIEWING, after=None)
    assert quick.status_code == 422 and "请检查填写的内容" in quick.text
    page = visitor.get(url)
    forged = visitor.post(url, data={"csrf_token": hidden(page.text, "csrf_token"),
                                     "opened": "forged", "f_client__name": "x",
                                     "f_client__phone": "13911112222"})
    assert forged.status_code == 422
    # a post longer than 64 KiB is not read
    huge = visitor.post(url, data={"f_notes": "长" * 30000, "f_client__name": "王五"})
    assert huge.status_code == 413 and "填写的内容过长" in huge.text
    # no CSRF token, or another session's: refused, and said in the visitor's language
    other = office.app.test_client()
    for token in ("", hidden(other.get(url).text, "csrf_token")):
        resp = fill(office.app, visitor, url, VIEWING, csrf_token=token)
        assert resp.status_code == 400 and "表单已过期" in resp.text
    assert not rows(run, "client", name="王五") and not rows(run, "case")
    # five posts an hour from one address (the form's limits; the five above counted),
    # then 429 with Retry-After; another address is still served
    flood = fill(office.app, visitor, url, VIEWING)
    assert flood.status_code == 429 and int(flood.headers["Retry-After"]) > 0
    assert "提交的表单过多" in flood.text
    assert fill(office.app, visitor, url, VIEWING, addr="10.9.9.9").status_code == 303
    outcomes = [r["outcome"] for r in rows(run, "lr_form_posts")]
    assert outcomes.count("bot") == 1 and outcomes.count("created") == 1
    assert outcomes.count("refused") == 4
    m, _ = office.client("manager")
    page = m.get(FORM).text
    assert re.search(r'id="fig-bot">1<', page) and re.search(r'id="fig-refused">4<', page)


def test_revoking_and_renewing_the_link(tmp_path, db_url):
    office = office_app(tmp_path, db_url)
    visitor = office.app.test_client()
    first = publish(office)
    assert publish(office) == first  # publishing again keeps the link
    _, auth = office.client("manager")
    assert auth.post(FORM, data={"action": "renew"}).status_code == 303
    gone = visitor.get(first)
    assert gone.status_code == 404 and "此链接无效或已失效" in gone.text
    c, _ = office.client("manager")
    second = re.search(r'id="form-url">([^<]+)<', c.get(FORM).text)[1].replace(
        "http://localhost", "")
    assert second != first and visitor.get(second).status_code == 200
    assert auth.post(FORM, data={"action": "revoke"}).status_code == 303
    assert visitor.get(second).status_code == 404
    assert visitor.post(second, data={}).status_code == 404
    assert "此表单尚未发布" in c.get(FORM).text
    assert auth.post(FORM, data={"action": "explode"}).status_code == 400
    # an admin manages it too; a guessed token opens nothing
    a, _ = office.client("admin")
    assert a.get(FORM).status_code == 200 and a.get("/forms").status_code == 200
    assert visitor.get("/f/" + "A" * 43).status_code == 404
    assert visitor.get("/f/short").status_code == 404


OWN_FORM = """
type: form
record_type: client
label: {en: Enquiry, zh: 咨询}
public:
  title: {en: Ask us, zh: 咨询我们}
  intro: {en: We answer within a day., zh: 我们一天内答复。}
  thanks: {en: Got it!, zh: 已收到！}
  fields:
    - name
    - {field: phone, label: {en: Your mobile, zh: 您的手机}, help: {en: We call back, zh: 我们会回电}}
    - {field: email, required: true}
    - notes
  set: {source: referral, vip: true}
  match: [phone]
  limits: {per_client: 50, per_form: 3, window: 60, min_seconds: 0}
"""


def test_a_form_of_its_own_type_with_every_option(tmp_path, db_url):
    ws = make_workspace({**SMALL,
                         "views/enquiry.yaml": OWN_FORM})
    app = build_app(tmp_path, db_url, ws)
    try:
        run = app.extensions["lowrise"]
        known = run.records.create("client", {"name": "Known", "phone": "13800009999",
                                              "notes": "keep"}, SYSTEM_ACTOR)
        sharing = app.extensions["lowrise_sharing"]
        url = "/f/" + sharing.forms.publish("enquiry", None).token
        visitor = app.test_client()
        page = visitor.get(url + "?lang=en").text
        for words in ("Ask us", "We answer within a day.", "Your mobile", "We call back"):
            assert words in page, words
        refused = fill(app, visitor, url + "?lang=en", {"name": "N", "phone": "13811112222"},
                       after=None)  # min_seconds: 0 takes it at once, but e-mail is required
        assert refused.status_code == 422 and "E-mail is required" in refused.text
        made = fill(app, visitor, url + "?lang=en", {"name": "New", "phone": "13811112222",
                                                      "email": "n@example.com"}, after=None)
        assert made.status_code == 303
        assert "Got it!" in visitor.get(made.headers["Location"]).text
        [new] = rows(run, "client", phone="13811112222")
        assert new["source"] == "referral" and new["vip"] is True
        # a known number: nothing made, nothing changed, a comment with what was sent
        fill(app, visitor, url, {"name": "Someone", "phone": "13800009999",
                                 "email": "s@example.com", "notes": "call me"}, after=None)
        assert len(rows(run, "client")) == 2
        assert run.records.get("client", known["id"])["notes"] == "keep"
        [note] = rows(run, "lr_comments", record_id=known["id"])
        assert "Someone" in note["body"] and "call me" in note["body"]
        assert "13800009999" not in note["body"]
        # three posts a minute to this form, from any address: the fourth waits
        other = app.test_client()
        resp = fill(app, other, url, {"name": "x"}, after=None)
        assert resp.status_code == 429
        # the engine refuses the same way without the web
        form = public_form(run.workspace, run.workspace.views["enquiry"])
        try:
            submit(run.records, form, {"name": "", "phone": "1"})
        except Refused as exc:
            assert set(exc.errors) == {"name", "phone", "email"}
        else:
            raise AssertionError("not refused")
        # a workspace where the view is no longer public opens nothing at its old link
        token = url.rsplit("/", 1)[1]
        assert sharing.forms.form_of(run.workspace, token) is not None
        private = make_workspace({**SMALL,
                                  "views/enquiry.yaml": OWN_FORM.split("public:")[0]})
        assert sharing.forms.form_of(private, token) is None
        # only admins (and who may manage clients) manage a form without managed_by
        assert app.test_client().get("/forms/enquiry").status_code == 302
    finally:
        app.extensions["lowrise"].engine.dispose()


def test_a_visitor_racing_another_with_the_same_number_is_merged(tmp_path, db_url,
                                                                 monkeypatch):
    """The other visitor's record came in after this one looked for it: the write is refused
    by the unique check, and the second try finds it and merges."""
    from lowrise.sharing import submit as submitting

    ws = make_workspace({**SMALL,
                         "views/enquiry.yaml": OWN_FORM})
    app = build_app(tmp_path, db_url, ws)
    try:
        run = app.extensions["lowrise"]
        run.records.create("client", {"name": "First", "phone": "13800007777"}, SYSTEM_ACTOR)
        real, calls = submitting._find, []

        def late(*args, **kw):
            calls.append(1)
            return None if len(calls) == 1 else real(*args, **kw)

        monkeypatch.setattr(submitting, "_find", late)
        form = public_form(run.workspace, run.workspace.views["enquiry"])
        done = submit(run.records, form, {"name": "Second", "phone": "13800007777",
                                          "email": "s@example.com"})
        assert done.outcome == "merged" and len(calls) == 2
        assert [c["name"] for c in rows(run, "client")] == ["First"]
    finally:
        app.extensions["lowrise"].engine.dispose()
