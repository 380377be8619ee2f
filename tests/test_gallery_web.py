"""The template gallery in the browser, over HTTP: cards and previews of every template in
both locales, "use this template" (a new folder that `lowrise check` accepts; never over
anything; bad names refused), exporting the workspace as an archive and importing one, and
who may do what. Every app runs on SQLite and on PostgreSQL (the `db_url` fixture)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from markupsafe import escape

from lowrise.cli import main
from lowrise.seed import demo_counts
from lowrise.templates import gallery
from lowrise.workspace import load_workspace
from test_web_support import PASSWORD, SMALL, AuthActions, build_app, make_record

pytest_plugins = ["test_web_support"]

TEMPLATES = list(gallery())


def write_folder(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def app(tmp_path, db_url):
    """The small workspace, loaded from a folder (so that it can be exported), with new
    workspaces going to tmp_path/spaces; Ada is the admin, Cleo has no role."""
    ws = load_workspace(write_folder(tmp_path / "small", SMALL))
    app = build_app(tmp_path, db_url, ws, LOWRISE_WORKSPACES_DIR=str(tmp_path / "spaces"))
    app.extensions["lowrise"].accounts.add("cleo@example.com", PASSWORD, name="Cleo", roles=[])
    yield app
    app.extensions["lowrise"].engine.dispose()


@pytest.fixture
def spaces(tmp_path) -> Path:
    return tmp_path / "spaces"


@pytest.fixture
def clerk(app):
    auth = AuthActions(app.test_client())
    assert auth.login("cleo@example.com").status_code == 302
    return auth


def shown(text: str) -> str:
    """A text as a page shows it in its HTML (escaped)."""
    return str(escape(text))


def files_under(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# -- browsing ---------------------------------------------------------------------------------

def test_the_gallery_shows_a_card_per_template_in_each_locale(signed_in):
    client = signed_in.client
    html = client.get("/templates").text
    assert 'href="/templates"' in html  # the sidebar's link
    for name, t in gallery().items():
        assert f'id="template-{name}"' in html
        assert shown(t.title.get("en")) in html and shown(t.summary.get("en")) in html
        assert f'href="/templates/{name}/use"' in html
    assert 'action="/templates/export"' in html and 'href="/templates/import"' in html
    client.get("/locale/zh")
    html = client.get("/templates").text
    assert "模板" in html
    for t in gallery().values():
        assert shown(t.title.get("zh")) in html and shown(t.summary.get("zh")) in html
        assert shown(t.title.get("en")) not in html


@pytest.mark.parametrize("name", TEMPLATES)
@pytest.mark.parametrize("locale", ["en", "zh"])
def test_a_preview_lists_record_types_fields_views_rules_and_demo_sizes(signed_in, name,
                                                                       locale):
    client = signed_in.client
    assert client.get(f"/locale/{locale}").status_code == 302
    resp = client.get(f"/templates/{name}")
    assert resp.status_code == 200
    html = resp.text
    assert f'<html lang="{locale}"' in html, html[:300]  # the page is in the chosen language
    ws = load_workspace(gallery()[name].path)
    assert shown(gallery()[name].title.get(locale)) in html
    counts = demo_counts(ws, 1.0)
    for rt in ws.record_types.values():
        row = html.split(f'id="type-{rt.name}"', 1)[1].split("</tr>", 1)[0]
        assert shown(rt.label_plural.get(locale)) in row
        assert f"{len(rt.user_fields)} " in row  # "12 fields" / "12 个字段"
        for f in rt.user_fields:
            assert f"<code>{f.type}" in row and shown(f.label.get(locale)) in row
        assert f"{counts[rt.name]:,}" in row
    for kind in ("table", "kanban", "calendar", "dashboard", "form"):
        block = html.split(f'id="views-{kind}"', 1)[1].split("</div>", 1)[0]
        for v in (v for v in ws.views.values() if v.type == kind):
            assert shown(v.label.get(locale)) in block
    for rule in ws.rules.values():
        assert rule.name in html
    for role in ws.roles.values():  # each role with what it does
        item = html.split(f'id="role-{role.name}"', 1)[1].split("</li>", 1)[0]
        assert shown(role.label.get(locale)) in item
        said = role.config.get("description")
        if said:
            assert shown(said[locale] if isinstance(said, dict) else said) in item
    assert f"{sum(counts.values()):,}" in html
    words = {"en": ("Record types", "Views", "Automations", "Demo data", "Boards"),
             "zh": ("记录类型", "视图", "自动化", "演示数据", "看板")}[locale]
    for word in words:
        assert word in html


def test_an_unknown_template_is_404(signed_in):
    assert signed_in.client.get("/templates/nothing_here").status_code == 404
    assert signed_in.client.get("/templates/nothing_here/use").status_code == 404


def test_anyone_signed_in_may_browse_but_only_admins_use_import_or_export(app, clerk, spaces):
    client = clerk.client
    html = client.get("/templates").text
    assert "Use this template" not in html and "/templates/export" not in html
    assert client.get("/templates/service_desk").status_code == 200
    for url in ("/templates/service_desk/use", "/templates/import", "/templates/made"):
        assert client.get(url).status_code == 403, url
    assert clerk.post("/templates/service_desk/use",
                      data={"folder": "desk", "demo_data": "1"}).status_code == 403
    assert clerk.post("/templates/export", data={"with_data": "1"}).status_code == 403
    assert clerk.post("/templates/import", data={
        "folder": "copy", "archive": (io.BytesIO(b"PK"), "x.zip")}).status_code == 403
    assert not spaces.exists()
    assert app.test_client().get("/templates").status_code == 302  # signed out: sign in


def test_every_post_needs_the_csrf_token(app, signed_in, spaces):
    client = signed_in.client
    for url, data in (("/templates/service_desk/use", {"folder": "desk"}),
                      ("/templates/export", {}),
                      ("/templates/import", {"folder": "copy"})):
        resp = client.post(url, data=data)
        assert resp.status_code == 400 and "CSRF" in resp.text, url
    assert not spaces.exists()


# -- use this template ------------------------------------------------------------------------

@pytest.mark.parametrize("demo", [True, False])
def test_use_a_template_makes_a_folder_that_lowrise_check_accepts(signed_in, spaces, demo):
    form = signed_in.client.get("/templates/service_desk/use").text
    assert 'name="folder" value="service_desk"' in form and "checked" in form
    data = {"folder": "desk"} | ({"demo_data": "1"} if demo else {})
    resp = signed_in.post("/templates/service_desk/use", data=data)
    assert resp.status_code == 302 and resp.headers["Location"] == "/templates/made"
    made = signed_in.client.get("/templates/made").text
    dest = spaces / "desk"
    assert str(dest) in made and f"cd {dest}" in made
    for command in ("lowrise check", "lowrise migrate", "lowrise serve"):
        assert command in made
    assert ("lowrise seed" in made) is demo
    assert ("lowrise user add you@example.com" in made) is not demo
    ws = load_workspace(dest)
    assert set(ws.record_types) == set(load_workspace(gallery()["service_desk"].path)
                                       .record_types)
    result = CliRunner().invoke(main, ["-w", str(dest), "check"])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    assert not (dest / "instance").exists()  # no database until `lowrise migrate`


def test_use_never_overwrites_an_existing_folder(signed_in, spaces):
    dest = spaces / "desk"
    (dest / "instance").mkdir(parents=True)
    (dest / "notes.txt").write_text("mine")
    (dest / "instance" / "lowrise.db").write_bytes(b"not to be touched")
    before = files_under(dest)
    resp = signed_in.post("/templates/project_tracker/use", data={"folder": "desk"})
    assert resp.status_code == 422
    assert "Nothing was written" in resp.text and "not empty" in resp.text
    assert 'value="desk"' in resp.text  # the form keeps what was typed
    assert files_under(dest) == before
    assert [p.name for p in spaces.iterdir()] == ["desk"]  # no staging folder left behind


@pytest.mark.parametrize("folder", ["", "../evil", "a/b", ".hidden", "..", "/tmp/elsewhere",
                                    "a b", "x" * 65, "名字"])
def test_bad_folder_names_are_refused_and_nothing_is_written(signed_in, spaces, tmp_path,
                                                             folder):
    before = sorted(p.name for p in tmp_path.iterdir())
    resp = signed_in.post("/templates/service_desk/use", data={"folder": folder})
    assert resp.status_code == 422
    assert "That folder name cannot be used" in resp.text
    assert not spaces.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not Path("/tmp/elsewhere").exists()


def test_an_absolute_path_only_when_the_config_allows_it(app, signed_in, tmp_path):
    dest = tmp_path / "abs" / "desk"
    resp = signed_in.post("/templates/service_desk/use", data={"folder": str(dest)})
    assert resp.status_code == 422 and not dest.exists()
    app.config["LOWRISE_WORKSPACES_ABSOLUTE"] = True
    assert "An absolute path is accepted too." in signed_in.client.get(
        "/templates/service_desk/use").text
    resp = signed_in.post("/templates/service_desk/use", data={"folder": str(dest)})
    assert resp.status_code == 302
    assert load_workspace(dest).record_types
    resp = signed_in.post("/templates/service_desk/use", data={"folder": str(dest / "..")})
    assert resp.status_code == 422 and "That folder name cannot be used" in resp.text


def test_the_use_page_and_refusals_in_chinese(signed_in, spaces):
    signed_in.client.get("/locale/zh")
    assert "使用此模板" in signed_in.client.get("/templates/service_desk/use").text
    resp = signed_in.post("/templates/service_desk/use", data={"folder": "../x"})
    assert resp.status_code == 422 and "不能使用这个文件夹名" in resp.text
    assert signed_in.post("/templates/service_desk/use", data={"folder": "desk"}
                          ).status_code == 302
    made = signed_in.client.get("/templates/made").text
    assert "新工作区" in made and "lowrise migrate" in made


# -- export and import ------------------------------------------------------------------------

def test_export_with_data_then_import_it_into_a_new_folder(app, run, signed_in, spaces):
    c = make_record(run, "client", name="Zhang Wei", phone="13800000001")
    make_record(run, "deal", title="Flat 3-201", client=c["id"], amount=1200000)
    resp = signed_in.post("/templates/export", data={"with_data": "1"})
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert "small.zip" in resp.headers["Content-Disposition"]
    archive = resp.data
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert "workspace/schemas/deal.yaml" in zf.namelist()
    assert manifest["with_data"] and manifest["records"]["deal"] == 1
    assert manifest["records"]["client"] == 1

    page = signed_in.client.get("/templates/import").text
    assert 'enctype="multipart/form-data"' in page
    resp = signed_in.post("/templates/import", data={
        "folder": "copy", "with_data": "1", "archive": (io.BytesIO(archive), "small.zip")},
        content_type="multipart/form-data")
    assert resp.status_code == 302, resp.text
    made = signed_in.client.get("/templates/made").text
    dest = spaces / "copy"
    assert str(dest) in made and "lowrise serve" in made
    assert "lowrise migrate" not in made  # the import made and migrated its database
    assert "lowrise user add" in made
    assert load_workspace(dest).record_types.keys() == run.workspace.record_types.keys()
    import sqlite3

    with sqlite3.connect(dest / "instance" / "lowrise.db") as db:
        assert db.execute("select title from deal").fetchall() == [("Flat 3-201",)]
    # the same archive again into the same folder: refused, the copy untouched
    before = files_under(dest)
    resp = signed_in.post("/templates/import", data={
        "folder": "copy", "archive": (io.BytesIO(archive), "small.zip")},
        content_type="multipart/form-data")
    assert resp.status_code == 422 and "Nothing was written" in resp.text
    assert files_under(dest) == before


def test_export_without_data_holds_only_the_yaml(signed_in, run):
    make_record(run, "client", name="Li Na")
    resp = signed_in.post("/templates/export")
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        assert not [n for n in zf.namelist() if n.startswith("data/")]
        assert json.loads(zf.read("manifest.json"))["with_data"] is False


def test_importing_something_that_is_not_an_archive_writes_nothing(signed_in, spaces):
    resp = signed_in.post("/templates/import", data={
        "folder": "copy", "archive": (io.BytesIO(b"just text"), "notes.zip")},
        content_type="multipart/form-data")
    assert resp.status_code == 422 and "not a readable template archive" in resp.text
    resp = signed_in.post("/templates/import", data={"folder": "copy"},
                          content_type="multipart/form-data")
    assert resp.status_code == 422 and "Choose a template archive" in resp.text
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "lowrise-template",
                                                 "format_version": 1, "name": "x"}))
        zf.writestr("workspace/workspace.yaml", "label: Broken\nlocales: [en]\n")
        zf.writestr("workspace/schemas/thing.yaml", "fields: {a: {type: nonsense}}\n")
    resp = signed_in.post("/templates/import", data={
        "folder": "copy", "archive": (io.BytesIO(broken.getvalue()), "broken.zip")},
        content_type="multipart/form-data")
    assert resp.status_code == 422 and "has problems" in resp.text
    assert "schemas/thing.yaml" in resp.text
    assert not spaces.exists()


def test_the_gallery_is_whatever_folders_there_are(signed_in, spaces, tmp_path, monkeypatch):
    """Nothing in the code names a template: a folder under templates/ is one, and one with
    problems shows them in its preview and is not copied."""
    import lowrise.templates as engine

    root = tmp_path / "gallery_root"
    write_folder(root / "templates" / "tiny", {
        "workspace.yaml": "label: Tiny\nlocales: [en, zh]\ntemplate:\n"
                          "  title: {en: Tiny things, zh: 小物件}\n",
        "schemas/thing.yaml": "label: Thing\nfields:\n  name: {type: text}\n"})
    write_folder(root / "templates" / "broken", {
        "workspace.yaml": "label: Broken\nlocales: [en]\n",
        "schemas/thing.yaml": "fields: {a: {type: nonsense}}\n"})
    monkeypatch.setattr(engine, "repository_root", lambda: root)
    html = signed_in.client.get("/templates").text
    assert "Tiny things" in html and 'id="template-broken"' in html
    assert "Real-estate sales" not in html  # this root has no flagship
    assert "thing" in signed_in.client.get("/templates/tiny").text
    resp = signed_in.client.get("/templates/broken")
    assert resp.status_code == 200 and "This template has problems" in resp.text
    assert "schemas/thing.yaml" in resp.text and "Use this template" not in resp.text
    resp = signed_in.post("/templates/broken/use", data={"folder": "b"})
    assert resp.status_code == 422 and "This template has problems" in resp.text
    assert not spaces.exists()
    assert signed_in.post("/templates/tiny/use", data={"folder": "t"}).status_code == 302
    assert list(load_workspace(spaces / "t").record_types) == ["thing"]


def test_an_archive_that_would_unzip_to_far_more_is_refused_in_chinese(signed_in, spaces):
    """A 200 KB archive whose workspace holds 200 MB: refused from the zip's directory, in
    the reader's language, with nothing written."""
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps({"format": "lowrise-template",
                                                 "format_version": 1, "name": "x"}))
        zf.writestr("workspace/workspace.yaml", "label: Bomb\nlocales: [en]\n")
        with zf.open("workspace/schemas/big.yaml", "w") as fh:
            for _ in range(200):
                fh.write(bytes(1 << 20))
    assert len(bomb.getvalue()) < 1 << 20
    signed_in.client.get("/locale/zh")
    resp = signed_in.post("/templates/import", data={
        "folder": "copy", "archive": (io.BytesIO(bomb.getvalue()), "bomb.zip")},
        content_type="multipart/form-data")
    assert resp.status_code == 422
    assert str(escape("压缩包中的“workspace/schemas/big.yaml”解压后为 200.0 MB，上限为 4.0 MB")) \
        in resp.text
    assert not spaces.exists()
