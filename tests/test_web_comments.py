"""Comments on the record page over HTTP, on SQLite and PostgreSQL: posting with and without
htmx, CSRF, refusals with a message, markup rendered inert, 404/403 for people who may not
read the record, the @-mention autocomplete within the author's scope, the inbox badge, and
the automations that touched the record.

The office: Ada (admin, made by build_app), Sam and Tom (sellers in team A; each reads only
his own clients), Sue (a seller in team B, whom team A's sellers do not see), and Vic (a
viewer who may read people but no client).
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from test_web_support import (
    PASSWORD,
    SMALL,
    SYSTEM_ACTOR,
    AuthActions,
    build_app,
    make_workspace,
)

pytest_plugins = ["test_web_support"]

FILES = {
    **SMALL,
    "workspace.yaml": SMALL["workspace.yaml"].replace("  admin: {label: Admin}\n", """
  seller:
    permissions:
      staff: {can: [read], rows: {filter: {field: team, op: eq, value: a}}}
      client: {can: [read, create, update], rows: own}
  viewer:
    permissions:
      staff: {can: [read]}
  admin: {admin: true}
"""),
    "schemas/staff.yaml": SMALL["schemas/staff.yaml"] + "  team: {type: select, options: [a, b]}\n",
    "automations/welcome.yaml": """
label: {en: Welcome new clients, zh: 欢迎新客户}
record_type: client
trigger: {kind: created}
actions:
  - comment: "welcome {{ record.name }}"
""",
}


class Shop:
    def __init__(self, app):
        self.app = app
        self.run = run = app.extensions["lowrise"]
        mk = lambda t, **v: run.records.create(t, v, SYSTEM_ACTOR)  # noqa: E731
        self.ada = run.accounts.by_email("ada@example.com").staff_id
        run.records.update("staff", self.ada, {"team": "a"}, SYSTEM_ACTOR)
        self.sam = mk("staff", name="Sam Song", team="a")["id"]
        self.tom = mk("staff", name="Tom Tang", team="a")["id"]
        self.sue = mk("staff", name="Sue Su", team="b")["id"]
        self.vic = mk("staff", name="王维", team="a")["id"]
        for key, staff, role in (("sam", self.sam, "seller"), ("tom", self.tom, "seller"),
                                 ("sue", self.sue, "seller"), ("vic", self.vic, "viewer")):
            run.accounts.add(f"{key}@example.com", PASSWORD, name=key.title(),
                             staff_id=staff, roles=[role])
        self.c_sam = mk("client", name="Sam's client", consultant=self.sam)["id"]
        self.c_sue = mk("client", name="Sue's client", consultant=self.sue)["id"]

    def client(self, who: str):
        c = self.app.test_client()
        auth = AuthActions(c)
        email = "ada@example.com" if who == "ada" else f"{who}@example.com"
        assert auth.login(email=email).status_code == 302
        c.get("/locale/en")
        return c, auth

    def comments(self):
        t = self.run.schema.system["lr_comments"]
        with self.run.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(t).where(t.c.rule.is_(None))
                                                  .order_by(t.c.id)).mappings()]


@pytest.fixture
def shop(tmp_path, db_url):
    app = build_app(tmp_path, db_url, make_workspace(FILES))
    yield Shop(app)
    app.extensions["lowrise"].engine.dispose()


def test_post_a_comment_without_javascript(shop):
    s = shop
    c, auth = s.client("sam")
    url = f"/r/client/{s.c_sam}"
    resp = auth.post(f"{url}/comments",
                     data={"body": "Call @Ada Admin and @Tom Tang, not @Sue Su\nsecond line"})
    assert resp.status_code == 302
    [stored] = s.comments()
    assert resp.headers["Location"].endswith(f"{url}#comment-{stored['id']}")
    assert stored["author"] == s.sam and stored["body"].endswith("second line")
    page = c.get(url).text
    assert "Comment added." in page and "Notified: Ada Admin." in page
    assert "Tom Tang may not see this record and were not notified." in page
    assert "Nobody you can see is called @Sue; nobody was notified for it." in page
    item = re.search(rf'<li class="comment" id="comment-{stored["id"]}">.*?</li>', page, re.S)
    assert f'<a class="chip mention" href="/r/staff/{s.ada}">@Ada Admin</a>' in item.group()
    assert f'href="/r/staff/{s.tom}">@Tom Tang</a>' in item.group()
    assert "not @Sue Su\nsecond line" in item.group()
    # the rule's comment is in the same list, its author the rule
    assert "welcome Sam&#39;s client" in page and "Welcome new clients" in page


def test_post_with_htmx_appends_the_comment(shop):
    s = shop
    c, auth = s.client("sam")
    resp = auth.hx("POST", f"/r/client/{s.c_sam}/comments", data={"body": "@Ada Admin hi"})
    assert resp.status_code == 200
    html = resp.text
    [stored] = s.comments()
    assert html.lstrip().startswith(f'<li class="comment" id="comment-{stored["id"]}">')
    assert '<div class="comment-compose" id="comment-compose" hx-swap-oob="true">' in html
    assert "Notified: Ada Admin." in html and "</textarea>" in html
    assert re.search(r'<textarea id="comment-body"[^>]*></textarea>', html, re.S)  # emptied
    assert '<span class="count" id="comment-count" hx-swap-oob="true">2</span>' in html
    assert "Comment added." in resp.headers["HX-Trigger"]
    # the partial of the section, as htmx would load it; a plain GET goes to the record page
    part = auth.hx("GET", f"/r/client/{s.c_sam}/comments")
    assert part.status_code == 200 and part.text.lstrip().startswith('<section class="card')
    assert c.get(f"/r/client/{s.c_sam}/comments").status_code == 302


def test_csrf_and_empty_or_long_comments_are_refused(shop):
    s = shop
    c, auth = s.client("sam")
    url = f"/r/client/{s.c_sam}/comments"
    assert c.post(url, data={"body": "no token"}).status_code == 400
    assert c.post(url, data={"body": "bad", "csrf_token": "x"}).status_code == 400
    resp = auth.post(url, data={"body": "   "})
    assert resp.status_code == 422
    assert "Write something before sending the comment." in resp.text
    assert 'aria-invalid="true"' in resp.text and "<h1>" in resp.text  # the record page
    long = "长" * 5001
    resp = auth.hx("POST", url, data={"body": long})
    assert resp.status_code == 422 and resp.headers["HX-Retarget"] == "#comment-compose"
    assert "A comment has at most 5000 characters." in resp.text
    assert long in resp.text  # the draft is kept, not lost
    assert s.comments() == []
    c.get("/locale/zh")
    resp = auth.post(url, data={"body": ""})
    assert "请先填写评论内容再发送。" in resp.text


PAYLOADS = ['<script>alert("x")</script>', '<img src=x onerror=alert(1)>',
            '"><svg onload=alert(1)>', "{{ 7*7 }}{% raw %}", "javascript:alert(1)"]


def test_markup_in_comments_is_inert(shop):
    s = shop
    c, auth = s.client("sam")
    body = "@Ada Admin " + " ".join(PAYLOADS)
    assert auth.post(f"/r/client/{s.c_sam}/comments", data={"body": body}).status_code == 302
    assert s.comments()[0]["body"] == body  # stored as typed
    ada, _ = s.client("ada")
    for page in (c.get(f"/r/client/{s.c_sam}").text, ada.get("/inbox").text,
                 auth.hx("POST", f"/r/client/{s.c_sam}/comments", data={"body": body}).text):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "<svg onload" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
        assert "{{ 7*7 }}" in page  # not evaluated


def test_comments_only_for_readers_of_the_record(shop):
    s = shop
    _, sam = s.client("sam")
    sam.post(f"/r/client/{s.c_sam}/comments", data={"body": "SECRET-PLAN-42"})
    [stored] = s.comments()
    sue_c, sue = s.client("sue")  # another seller guessing Sam's client id
    base = f"/r/client/{s.c_sam}/comments"
    assert sue_c.get(f"/r/client/{s.c_sam}").status_code == 404
    assert sue.hx("GET", base).status_code == 404
    assert sue_c.get(f"{base}/mentions?q=S").status_code == 404
    assert sue.post(base, data={"body": "let me in"}).status_code == 404
    assert sue.hx("POST", base, data={"body": "let me in"}).status_code == 404
    assert sue.post(f"{base}/delete", data={"comment": stored["id"]}).status_code == 404
    # a comment of Sam's record, reached through her own record's URL
    assert sue.post(f"/r/client/{s.c_sue}/comments/delete",
                    data={"comment": stored["id"]}).status_code == 404
    vic_c, vic = s.client("vic")  # a role that may not read clients at all
    assert vic.hx("GET", base).status_code == 403
    assert vic.post(base, data={"body": "x"}).status_code == 403
    assert vic_c.get(f"{base}/mentions?q=S").status_code == 403
    assert [c["body"] for c in s.comments()] == ["SECRET-PLAN-42"]
    for c in (sue_c, vic_c):
        assert "SECRET-PLAN-42" not in c.get("/inbox").text


def test_delete_own_comment_only(shop):
    s = shop
    sam_c, sam = s.client("sam")
    sam.post(f"/r/client/{s.c_sam}/comments", data={"body": "first"})
    sam.post(f"/r/client/{s.c_sam}/comments", data={"body": "second"})
    first, second = s.comments()
    base = f"/r/client/{s.c_sam}/comments"
    # Sam may delete his own two comments, not the one the rule wrote
    page = sam_c.get(f"/r/client/{s.c_sam}").text
    assert page.count('class="comment-delete"') == 2
    resp = sam.hx("POST", f"{base}/delete", data={"comment": first["id"]})
    assert resp.status_code == 200 and 'id="comment-count" hx-swap-oob="true">2<' in resp.text
    assert sam.post(f"{base}/delete", data={"comment": second["id"]}).status_code == 302
    assert s.comments() == []
    t = s.run.schema.system["lr_comments"]
    with s.run.engine.connect() as conn:
        rid = conn.execute(sa.select(t.c.id).where(t.c.record_id == s.c_sam)).scalar_one()
    assert sam.post(f"{base}/delete", data={"comment": rid}).status_code == 403  # the rule's
    assert sam.post(f"{base}/delete", data={"comment": "x"}).status_code == 404
    assert 'class="comment-delete"' not in sam_c.get(f"/r/client/{s.c_sam}").text


def test_mention_autocomplete_within_scope(shop):
    s = shop
    c, _ = s.client("sam")
    url = f"/r/client/{s.c_sam}/comments/mentions"
    found = c.get(f"{url}?q=S").text
    assert 'role="option"' in found and "Sam Song" in found
    assert "Sue Su" not in found  # team B: Sam does not see her
    tom = c.get(f"{url}?q=to").text
    assert f'data-id="{s.tom}"' in tom and "may not see this record" in tom
    assert "may not see" not in c.get(f"{url}?q=Ada").text  # an admin reads everything
    assert 'data-name="王维"' in c.get(f"{url}?q=王").text
    assert "No match" in c.get(f"{url}?q=zzz").text
    assert c.get(url).text == ""
    ada, _ = s.client("ada")
    assert "Sue Su" in ada.get(f"/r/client/{s.c_sue}/comments/mentions?q=s").text


def test_inbox_badge_counts_unread_mentions(shop):
    s = shop
    ada, ada_auth = s.client("ada")
    assert 'id="inbox-badge"' not in ada.get("/trash").text
    _, sam = s.client("sam")
    sam.post(f"/r/client/{s.c_sam}/comments", data={"body": "@Ada Admin one"})
    sam.post(f"/r/client/{s.c_sam}/comments", data={"body": "@Ada Admin two @Ada Admin"})
    for path in ("/trash", f"/r/client/{s.c_sam}", "/r/client/"):
        page = ada.get(path).text
        assert re.search(r'id="inbox-badge">2<span class="sr-only"> unread', page), path
    inbox = ada.get("/inbox").text
    assert f'href="/r/client/{s.c_sam}"' in inbox and "Sam mentioned you on Client" in inbox
    ada_auth.post("/inbox/read")
    assert 'id="inbox-badge"' not in ada.get("/trash").text


def test_record_page_shows_the_automations_that_ran(shop):
    s = shop
    ada, _ = s.client("ada")
    page = ada.get(f"/r/client/{s.c_sam}").text
    runs = re.search(r'<section class="card rule-runs".*?</section>', page, re.S).group()
    assert '<a href="/rules/welcome">Welcome new clients</a>' in runs
    assert "commented: welcome" in runs  # admins see what each action did
    sam, _ = s.client("sam")
    runs = re.search(r'<section class="card rule-runs".*?</section>', sam.get(
        f"/r/client/{s.c_sam}").text, re.S).group()
    assert "Welcome new clients" in runs and "/rules/welcome" not in runs
    assert "commented:" not in runs


def test_edit_own_comment_only(shop):
    s = shop
    sam_c, sam = s.client("sam")
    base = f"/r/client/{s.c_sam}/comments"
    sam.post(base, data={"body": "first draft"})
    [stored] = s.comments()
    assert f'id="comment-edit-{stored["id"]}"' in sam_c.get(f"/r/client/{s.c_sam}").text
    resp = sam.hx("POST", f"{base}/edit", data={"comment": stored["id"],
                                                "body": "better, @Ada Admin"})
    assert resp.status_code == 200
    assert resp.text.lstrip().startswith(f'<li class="comment" id="comment-{stored["id"]}">')
    assert "(edited)" in resp.text and f'href="/r/staff/{s.ada}">@Ada Admin</a>' in resp.text
    assert "Notified: Ada Admin." in resp.headers["HX-Trigger"]
    refused = sam.hx("POST", f"{base}/edit", data={"comment": stored["id"], "body": " "})
    assert refused.status_code == 422 and refused.headers["HX-Reswap"] == "none"
    assert "Write something" in refused.headers["HX-Trigger"]
    assert sam.post(f"{base}/edit", data={"comment": stored["id"], "body": "plain"}
                    ).status_code == 302
    assert s.comments()[0]["body"] == "plain"
    ada_c, ada = s.client("ada")  # an admin may delete it, not change its words
    assert ada.post(f"{base}/edit", data={"comment": stored["id"], "body": "x"}
                    ).status_code == 403
    assert f'id="comment-edit-{stored["id"]}"' not in ada_c.get(f"/r/client/{s.c_sam}").text
    _, tom = s.client("tom")  # may not read Sam's client
    assert tom.post(f"{base}/edit", data={"comment": stored["id"], "body": "x"}
                    ).status_code == 404
    assert s.comments()[0]["body"] == "plain"
