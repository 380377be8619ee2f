"""The template gallery in headless Chromium: an administrator opens the gallery, looks at a
template's preview, uses it, and reads how to run the new workspace; the folder is there.

Screenshots go to test-artifacts/screenshots/ (gallery*.png), as in test_browser_flows.
"""

from __future__ import annotations

import re

import pytest

from lowrise.templates import gallery
from lowrise.workspace import load_workspace
from test_browser_flows import backend_of, browser, serving, shot, sign_in  # noqa: F401 (a fixture)
from test_gallery_web import write_folder
from test_web_support import SMALL, build_app

pytest_plugins = ["test_web_support"]
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser_gallery")]


@pytest.fixture
def server(tmp_path, db_url):
    """A small workspace's app, making new workspaces under tmp_path/spaces."""
    ws = load_workspace(write_folder(tmp_path / "small", SMALL))
    app = build_app(tmp_path, db_url, ws, LOWRISE_WORKSPACES_DIR=str(tmp_path / "spaces"))
    with serving(app) as base:
        yield app, base


def test_open_the_gallery_preview_a_template_and_use_it(server, browser, db_url,  # noqa: F811
                                                        tmp_path):
    app, base = server
    tag = backend_of(db_url)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.set_default_timeout(20000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base)

    # the sidebar leads to the gallery: a card per template
    page.click("nav.sidebar a:has-text('模板')")
    page.wait_for_url(f"{base}/templates")
    templates = gallery()
    assert page.locator("article.gallery-card").count() == len(templates)
    tracker = templates["project_tracker"]
    card = page.locator("#template-project_tracker")
    assert tracker.title.get("zh") in card.inner_text()
    shot(page, "gallery", tag)

    # the preview: record types with their fields, views, automations
    card.locator("a:has-text('预览')").click()
    page.wait_for_url(f"{base}/templates/project_tracker")
    assert page.inner_text("h1") == tracker.title.get("zh")
    ws = load_workspace(tracker.path)
    task = page.locator("#type-task")
    task.locator("summary").click()
    first = ws.record_types["task"].user_fields[0]
    assert task.locator("li").first.inner_text().startswith(first.label.get("zh"))
    assert page.locator("#views-kanban li").count() == sum(
        1 for v in ws.views.values() if v.type == "kanban")
    shot(page, "gallery-preview", tag)

    # use it: a folder name, then the page that says how to run it
    page.click("a.btn-primary:has-text('使用此模板')")
    page.wait_for_url(f"{base}/templates/project_tracker/use")
    page.fill("#folder", "tracker")
    shot(page, "gallery-use", tag)
    page.click("button[type=submit]:has-text('创建工作区')")
    page.wait_for_url(re.compile(r"/templates/made$"))
    dest = tmp_path / "spaces" / "tracker"
    body = page.inner_text("main")
    assert f"工作区已创建于 {dest}。" in body
    commands = page.locator("ol.run-steps code").all_inner_texts()
    assert commands == [f"cd {dest}", "lowrise check", "lowrise migrate", "lowrise seed",
                        "lowrise serve"]
    shot(page, "gallery-made", tag)

    assert set(load_workspace(dest).record_types) == set(ws.record_types)

    # the same name again is refused on the form, and the folder stays as it is
    page.goto(f"{base}/templates/service_desk/use")
    page.fill("#folder", "tracker")
    page.click("button[type=submit]:has-text('创建工作区')")
    assert "未写入任何内容：" in page.inner_text(".flash-error")
    assert set(load_workspace(dest).record_types) == set(ws.record_types)
    assert errors == []
