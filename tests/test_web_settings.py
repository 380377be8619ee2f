"""A record type's settings page and hot reload, through the Flask client over HTTP, on
SQLite and PostgreSQL: who may use it (`manage`), preview then apply, refusals worded as the
CLI words them, conflicts, bad input, YAML edited on disk while the app runs, and a broken
file that leaves the last good workspace in use.

Every app here runs on a workspace folder in tmp_path (never the repository's own files).
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from lowrise.storage.migrate import plan
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts
from test_web_support import PASSWORD, SMALL, SYSTEM_ACTOR, AuthActions

pytest_plugins = ["test_web_support"]

ROLES = """
roles:
  admin: {label: Admin, admin: true}
  clerk:
    label: Clerk
    permissions:
      client: {can: [read, create, update]}
      deal: {can: [read, create, update]}
      staff: {can: [read]}
  keeper:
    label: Keeper of clients
    permissions:
      client: {can: [read, create, update, manage]}
      deal: {can: [read]}
      staff: {can: [read]}
"""
FILES = {
    **SMALL,
    "workspace.yaml": SMALL["workspace.yaml"].split("roles:")[0] + ROLES,
    "schemas/client.yaml": "# Clients: people who may buy (a comment that must stay)\n"
                           + SMALL["schemas/client.yaml"].replace(
                               "  email: {type: email, label: E-mail}",
                               "  # how to write to them\n  email: {type: email, label: E-mail}"),
}
CLIENT = "schemas/client.yaml"


def write_folder(root, files=FILES):
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def touch(path, text):
    """Write a file with a new mtime even on file systems with coarse timestamps."""
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def make_app(tmp_path, db_url, folder, name="instance", **config):
    from lowrise.web import create_app

    return create_app({
        "TESTING": True, "SECRET_KEY": "test-secret", "LOWRISE_WORKSPACE": str(folder),
        "DATABASE_URL": db_url, "LOWRISE_INSTANCE": str(tmp_path / name),
        "LOWRISE_NULL_POOL": True, "LOWRISE_WATCH": True, "LOWRISE_WATCH_INTERVAL": 0,
        **config})


@pytest.fixture
def folder(tmp_path):
    return write_folder(tmp_path / "ws")


@pytest.fixture
def app(tmp_path, db_url, folder):
    app = make_app(tmp_path, db_url, folder)
    run = app.extensions["lowrise"]
    ada = run.records.create("staff", {"name": "Ada Admin"}, SYSTEM_ACTOR)
    run.accounts.add("ada@example.com", PASSWORD, name="Ada Admin", roles=["admin"],
                     staff_id=ada["id"])
    run.accounts.add("cleo@example.com", PASSWORD, name="Cleo Clerk", roles=["clerk"])
    run.accounts.add("kim@example.com", PASSWORD, name="Kim Keeper", roles=["keeper"])
    yield app
    run.engine.dispose()


def sign_in(app, email="ada@example.com") -> AuthActions:
    auth = AuthActions(app.test_client())
    assert auth.login(email).status_code == 302
    return auth


def hidden_inputs(page: str, form_id: str) -> dict[str, list[str]]:
    form = re.search(rf'<form[^>]*id="{form_id}".*?</form>', page, re.S)
    assert form, f"no form #{form_id} on the page"
    out: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                                  form.group(0)):
        out.setdefault(html.unescape(name), []).append(html.unescape(value))
    return out


def preview_and_apply(auth, type_name, data):
    page = auth.post(f"/r/{type_name}/settings/preview", data)
    assert page.status_code == 200, page.text
    form = hidden_inputs(page.text, "apply")
    return page, auth.post(f"/r/{type_name}/settings/apply", form)


def log_rows(app):
    """The schema log, less the start-up migration that made the tables (no one, no diff)."""
    run = app.extensions["lowrise"]
    t = run.schema.schema_log
    with run.engine.connect() as conn:
        rows = conn.execute(sa.select(t).order_by(t.c.id)).all()
    return [r for r in rows if r.actor is not None or r.diff is not None]


ADD_VIP = {"change": "add_field", "_page": "type", "name": "vip_level", "type": "select",
           "label_en": "VIP level", "label_zh": "贵宾等级", "required": "",
           "options": "gold | Gold | yellow\nsilver | Silver | gray", "after": "phone"}

SETTINGS_GETS = ["/r/client/settings", "/r/client/settings/fields/name",
                 "/r/deal/settings", "/r/deal/settings/views/deals",
                 "/r/deal/settings/fields/stage", "/settings/log"]
SETTINGS_POSTS = [("/r/client/settings/preview", ADD_VIP),
                  ("/r/client/settings/apply", ADD_VIP),
                  ("/r/deal/settings/preview", {"change": "move_field", "name": "stage",
                                                "direction": "up"}),
                  ("/r/deal/settings/apply", {"change": "add_column", "view": "deals",
                                              "field": "number"})]


def test_people_without_manage_get_403_on_every_settings_route(app, folder):
    before = {p: p.read_text() for p in folder.rglob("*.yaml")}
    cleo = sign_in(app, "cleo@example.com")
    for url in SETTINGS_GETS:
        assert cleo.client.get(url).status_code == 403, url
    for url, data in SETTINGS_POSTS:
        assert cleo.post(url, data).status_code == 403, url
    assert "/settings" not in cleo.client.get("/r/client/").text  # no link offered
    kim = sign_in(app, "kim@example.com")  # manages clients only
    assert kim.client.get("/r/client/settings").status_code == 200
    assert kim.client.get("/settings/log").status_code == 200
    for url in [u for u in SETTINGS_GETS if u.startswith("/r/deal")]:
        assert kim.client.get(url).status_code == 403, url
    for url, data in SETTINGS_POSTS[2:]:
        assert kim.post(url, data).status_code == 403, url
    anonymous = app.test_client()
    assert anonymous.get("/r/client/settings").status_code == 302  # to the sign-in page
    assert {p: p.read_text() for p in folder.rglob("*.yaml")} == before
    assert log_rows(app) == []


def test_manage_is_checked_by_the_engine_too(app, folder):
    from lowrise.access import Policy
    from lowrise.actor import Actor
    from lowrise.errors import Forbidden
    from lowrise.workspace import edit

    run = app.extensions["lowrise"]
    keeper = Policy.for_actor(Actor(name="kim", roles=frozenset({"keeper"})), run.workspace)
    with run.engine.connect() as conn:
        proposal = edit.preview(folder, [edit.EditView("deals", {"label": "Deals"})], conn=conn)
    with pytest.raises(Forbidden):
        edit.commit(proposal, run.engine, actor="kim", policy=keeper)
    assert "label: Deals\n" not in (folder / "views" / "deals.yaml").read_text()


def test_a_new_field_is_previewed_then_applied_and_shows_at_once(app, folder):
    ada = sign_in(app)
    assert ada.client.post("/r/client/settings/preview", data=ADD_VIP).status_code == 400
    assert ada.client.post("/r/client/settings/apply", data=ADD_VIP).status_code == 400  # CSRF
    settings = ada.client.get("/r/client/settings")
    assert settings.status_code == 200 and 'id="field-phone"' in settings.text
    assert 'href="/r/client/settings"' in ada.client.get("/r/client/").text
    page, applied = preview_and_apply(ada, "client", ADD_VIP)
    text = html.unescape(page.text)
    assert "+  vip_level:" in text and "+    label: {en: VIP level, zh: 贵宾等级}" in text
    assert "add column client.vip_level" in text  # the migration plan, as the CLI says it
    assert applied.status_code == 302
    yaml = (folder / CLIENT).read_text()
    assert "# Clients: people who may buy (a comment that must stay)" in yaml
    assert "  # how to write to them\n  email:" in yaml
    assert yaml.index("vip_level:") < yaml.index("email:")  # after phone, as asked
    form = ada.client.get("/r/client/new").text
    assert 'name="vip_level"' in form and "VIP level" in form
    assert ada.client.get(applied.headers["Location"]).status_code == 200
    run = app.extensions["lowrise"]
    record = run.records.create("client", {"name": "Zoe", "vip_level": "gold"}, SYSTEM_ACTOR)
    assert run.records.get("client", record["id"], actor=SYSTEM_ACTOR)["vip_level"] == "gold"
    (entry,) = log_rows(app)
    assert entry.actor == "ada@example.com" and "add field client.vip_level" in entry.summary
    assert "+  vip_level:" in entry.diff
    log = html.unescape(ada.client.get("/settings/log").text)
    assert "ada@example.com" in log and "add field client.vip_level" in log


def test_every_kind_of_change_goes_through_preview(app, folder):
    ada = sign_in(app)
    steps = [
        ("client", {"change": "edit_field", "_page": "field:email", "name": "email",
                    "label_en": "Mail", "label_zh": "邮箱", "help_en": "Work address",
                    "help_zh": "", "required": "1", "type": "email"},
         ["label: {en: Mail, zh: 邮箱}", "help: {en: Work address}", "required: true"]),
        ("client", {"change": "rename_field", "_page": "field:website", "name": "website",
                    "new": "homepage"}, ["homepage:", "renamed_from: website"]),
        ("client", {"change": "move_field", "_page": "type", "name": "phone",
                    "direction": "up"}, []),
        ("client", {"change": "add_option", "_page": "field:source", "field": "source",
                    "value": "online", "label_en": "Online", "label_zh": "网络",
                    "color": "purple"}, ["{value: online, label: {en: Online, zh: 网络}, "
                                         "color: purple}"]),
        ("client", {"change": "edit_option", "_page": "field:source", "field": "source",
                    "value": "walk_in", "label_en": "Walk-in", "label_zh": "到访",
                    "color": "red"}, ["color: red"]),
        ("client", {"change": "move_option", "_page": "field:source", "field": "source",
                    "value": "referral", "direction": "up"}, []),
        ("deal", {"change": "add_column", "_page": "view:deals", "view": "deals",
                  "field": "number"}, ["columns: [title, client, stage, amount, closes_on, "
                                       "owner, number]"]),
        ("deal", {"change": "edit_view", "_page": "view:open_deals", "view": "open_deals",
                  "label_en": "Open", "label_zh": "进行中", "columns": "title, amount"},
         ["columns: [title, amount]", "label: {en: Open, zh: 进行中}"]),
    ]
    for type_name, data, expected in steps:
        page, applied = preview_and_apply(ada, type_name, data)
        assert applied.status_code == 302, (data, applied.text)
        for text in expected:
            assert text in html.unescape(page.text), (data["change"], text)
    ws = app.extensions["lowrise"].workspace
    client = ws.type("client")
    assert client.field("email").required and client.field("email").label.get("zh") == "邮箱"
    assert "homepage" in client.fields and "website" not in client.fields
    assert [f.name for f in client.user_fields][:2] == ["phone", "name"]
    assert [o.value for o in client.field("source").options] == ["referral", "walk_in",
                                                                 "online"]
    assert client.field("source").option("walk_in").color == "red"
    assert ws.views["open_deals"].config["columns"] == ["title", "amount"]
    assert len(log_rows(app)) == len(steps)
    assert "# how to write to them" in (folder / CLIENT).read_text()


def test_a_type_change_that_would_lose_data_is_refused_with_the_cli_reason(app, folder):
    run = app.extensions["lowrise"]
    run.records.create("client", {"name": "Ann", "notes": "call after six"}, SYSTEM_ACTOR)
    before = (folder / CLIENT).read_text()
    ada = sign_in(app)
    page = ada.post("/r/client/settings/preview", {
        "change": "edit_field", "_page": "field:notes", "name": "notes", "type": "integer",
        "label_en": "Notes", "label_zh": "Notes"})
    assert page.status_code == 422
    changed = before.replace("notes: {type: long_text}", "notes: {type: integer}")
    new_ws = load_workspace_from_texts({**FILES, CLIENT: changed})
    with run.engine.connect() as conn:
        cli = [r.describe() for r in plan(conn, build_schema(new_ws)).refusals]
    assert cli and all(r in html.unescape(page.text) for r in cli)
    assert 'id="apply"' not in page.text  # nothing to apply
    forced = ada.post("/r/client/settings/apply", {
        "change": "edit_field", "_page": "field:notes", "name": "notes", "type": "integer",
        "label_en": "Notes", "label_zh": "Notes", "_fingerprint": "x"})
    assert forced.status_code in (409, 422)
    assert (folder / CLIENT).read_text() == before and log_rows(app) == []


def test_a_file_changed_on_disk_since_the_preview_is_a_conflict(app, folder):
    ada = sign_in(app)
    page = ada.post("/r/client/settings/preview", ADD_VIP)
    form = hidden_inputs(page.text, "apply")
    edited = (folder / CLIENT).read_text() + "  # someone else was here\n"
    touch(folder / CLIENT, edited)
    resp = ada.post("/r/client/settings/apply", form)
    assert resp.status_code == 409
    assert "changed on disk since the preview" in html.unescape(resp.text)
    assert (folder / CLIENT).read_text() == edited and log_rows(app) == []


@pytest.mark.parametrize("name, message", [
    ("Bad Name", "is not a usable name"), ("", "Give the field a name"),
    ("phone", "already has a field 'phone'")])
def test_bad_input_is_a_clear_error_on_the_form_and_nothing_is_written(app, folder, name,
                                                                        message):
    before = (folder / CLIENT).read_text()
    ada = sign_in(app)
    resp = ada.post("/r/client/settings/preview", {**ADD_VIP, "name": name})
    assert resp.status_code == 422
    text = html.unescape(resp.text)
    assert message in text and 'id="error-name"' in text and 'id="add-field"' in text
    assert ada.post("/r/client/settings/apply", {**ADD_VIP, "name": name}).status_code == 422
    bad_options = ada.post("/r/client/settings/preview", {**ADD_VIP, "options": "a | A | mauve"})
    assert "'mauve' is not a colour" in html.unescape(bad_options.text)
    assert (folder / CLIENT).read_text() == before and log_rows(app) == []


def test_a_check_problem_comes_back_with_file_and_line(app, folder):
    ada = sign_in(app)
    resp = ada.post("/r/client/settings/preview", {**ADD_VIP, "type": "link", "target": "",
                                                   "options": ""})
    assert resp.status_code == 422 and "Choose the record type it links to" in resp.text
    resp = ada.post("/r/deal/settings/preview", {"change": "edit_view", "_page": "view:deals",
                                                 "view": "deals", "columns": "title, nope"})
    assert resp.status_code == 422 and "deal has no field nope" in html.unescape(resp.text)


def test_yaml_edited_on_disk_is_picked_up_without_a_restart(app, folder):
    ada = sign_in(app)
    assert 'name="wechat"' not in ada.client.get("/r/client/new").text
    yaml = (folder / CLIENT).read_text()
    touch(folder / CLIENT, yaml + "  wechat: {type: text, label: {en: WeChat, zh: 微信}}\n")
    assert 'name="wechat"' in ada.client.get("/r/client/new").text
    run = app.extensions["lowrise"]
    assert run.generation == 1
    rules = app.extensions["lowrise_rules"].engine  # the rules run on the new records service
    assert rules in run.records.hooks and rules.workspace is run.workspace
    record = run.records.create("client", {"name": "Wu", "wechat": "wu88"}, SYSTEM_ACTOR)
    assert run.records.get("client", record["id"], actor=SYSTEM_ACTOR)["wechat"] == "wu88"


def test_several_processes_pick_up_a_change_and_migrate_it_once(app, folder, tmp_path, db_url):
    other = make_app(tmp_path, db_url, folder, name="other")
    try:
        ada, bob = sign_in(app), sign_in(other)
        touch(folder / CLIENT, (folder / CLIENT).read_text() + "  level: {type: integer}\n")
        assert 'name="level"' in ada.client.get("/r/client/new").text
        assert 'name="level"' in bob.client.get("/r/client/new").text
        reloads = [r for r in log_rows(app) if r.actor == "workspace reload"]
        assert len(reloads) == 1 and "add column client.level" in reloads[0].steps[0]["text"]
        with other.extensions["lowrise"].engine.connect() as conn:
            assert plan(conn, other.extensions["lowrise"].schema).is_empty
    finally:
        other.extensions["lowrise"].engine.dispose()


def test_a_broken_file_keeps_the_last_good_workspace_and_says_where(app, folder):
    ada = sign_in(app)
    good = (folder / CLIENT).read_text()
    touch(folder / CLIENT, good + "  wechat: {type: txt}\n")
    page = ada.client.get("/r/client/")
    assert page.status_code == 200  # still serving, on the last good workspace
    text = html.unescape(page.text)
    assert "schemas/client.yaml:" in text and "'txt' is not a field type" in text  # the banner
    assert app.extensions["lowrise"].generation == 0
    settings = html.unescape(ada.client.get("/r/client/settings").text)
    assert 'id="workspace-problems"' in settings and "schemas/client.yaml:" in settings
    cleo = sign_in(app, "cleo@example.com")
    assert "'txt' is not a field type" not in html.unescape(cleo.client.get("/r/client/").text)
    assert ada.client.get("/r/client/new").status_code == 200
    touch(folder / CLIENT, good + "  wechat: {type: text}\n")
    assert 'name="wechat"' in ada.client.get("/r/client/new").text
    assert 'id="workspace-problems"' not in ada.client.get("/r/client/settings").text


def test_an_on_disk_change_the_database_refuses_keeps_the_old_workspace(app, folder):
    run = app.extensions["lowrise"]
    run.records.create("client", {"name": "Ann", "notes": "call after six"}, SYSTEM_ACTOR)
    ada = sign_in(app)
    good = (folder / CLIENT).read_text()
    touch(folder / CLIENT, good.replace("notes: {type: long_text}", "notes: {type: integer}"))
    text = html.unescape(ada.client.get("/r/client/settings").text)
    assert "cannot " in text and "do not convert" in text or "does not convert" in text
    assert app.extensions["lowrise"].workspace.type("client").field("notes").type == "long_text"


def test_every_string_of_the_settings_pages_has_its_zh_translation(app):
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    web = Path(__file__).resolve().parents[1] / "platform" / "lowrise" / "web"
    translations = web.parent / "translations"
    mapping = [(m[2], m[1]) for m in re.finditer(
        r"\[(\w+):\s*(.+)\]", (translations / "babel.cfg").read_text())]
    with (translations / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        cat = read_po(fh, locale="zh")
    mine = {m[0] if isinstance(m, tuple) else m
            for f, _n, m, _c, _x in extract_from_dir(web, method_map=mapping)
            if f.startswith(("settings.py", "templates/settings/"))}
    assert len(mine) > 50
    missing = [m for m in mine if cat.get(m) is None or not cat.get(m).string]
    assert not missing, missing
    ada = sign_in(app)
    ada.client.get("/locale/zh")
    page = ada.client.get("/r/client/settings")
    assert page.status_code == 200 and "添加字段" in page.text and "预览更改" in page.text


def test_removing_an_option_in_use_on_disk_is_reported_like_a_lossy_change(app, folder):
    run = app.extensions["lowrise"]
    run.records.create("client", {"name": "Ann", "source": "referral"}, SYSTEM_ACTOR)
    text = (folder / CLIENT).read_text()
    touch(folder / CLIENT, text.replace(
        "      - {value: referral, label: {en: Referral, zh: 转介绍}, color: green}\n", ""))
    ada = sign_in(app)
    ada.client.get("/locale/zh")
    page = html.unescape(ada.client.get("/r/client/settings").text)
    assert "无法保留 client.source 的现有值：有 1 条记录的值已不是可选项（referral ×1）" in page
    assert app.extensions["lowrise"].workspace.type("client").field("source").option("referral")
    # mapped to the option that takes it over, the reload goes through and moves the record
    touch(folder / CLIENT, text.replace(
        "      - {value: referral, label: {en: Referral, zh: 转介绍}, color: green}\n", "").replace(
        "{value: walk_in, label: {en: Walk-in, zh: 到访}, color: blue}",
        "{value: walk_in, label: {en: Walk-in, zh: 到访}, color: blue, renamed_from: referral}"))
    page = html.unescape(ada.client.get("/r/client/settings").text)
    assert "无法保留" not in page
    with run.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT source FROM client")).scalar() == "walk_in"
