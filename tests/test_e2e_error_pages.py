"""The app's own 404, 403 and 500 pages, in the reader's language, through a real server
(and the 500 page in-process, where a failing page can be made); `/login` is the sign-in
page."""

from __future__ import annotations

import urllib.request

import pytest

from e2e_support import (  # noqa: F401 (instance ... server: fixtures)
    Http,
    instance,
    locale,
    say,
    server,
    server_stays_clean,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("e2e_error_pages")]


def test_a_missing_record_or_page_is_the_apps_own_404(server, locale):  # noqa: F811
    http = Http(server, role="consultant", locale=locale)
    for path in ("/r/case/999999", "/no/such/page", "/r/nosuchtype/"):
        answer = http.send("GET", path, htmx=False)
        assert answer.status == 404, path
        assert "Not Found" not in answer.body and "Werkzeug" not in answer.body
        assert say("Page not found", locale) in answer.body, path
        assert f'<html lang="{locale}"' in answer.body
    # another consultant's case is not there for this one either: the same page, no hint
    answer = http.send("GET", "/api/v1/case/999999", htmx=False)
    assert answer.status in (401, 404) and "Page not found" not in answer.body


def test_a_forbidden_page_is_the_apps_own_403(server, locale):  # noqa: F811
    http = Http(server, role="consultant", locale=locale)
    answer = http.send("GET", "/r/staff/settings", htmx=False)
    assert answer.status == 403
    assert "Forbidden" not in answer.body
    if locale == "zh":
        assert "You may" not in answer.body and "not allowed" not in answer.body.lower()


def test_login_is_the_sign_in_page(server):  # noqa: F811
    with urllib.request.urlopen(server.base + "/login", timeout=30) as resp:
        assert resp.status == 200 and resp.url.endswith("/auth/login")
    with urllib.request.urlopen(server.base + "/login?next=/r/case/", timeout=30) as resp:
        assert "/auth/login?next=" in resp.url
    with urllib.request.urlopen(server.base + "/login?next=//evil.example", timeout=30) as resp:
        assert "evil" not in resp.url


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_failing_page_is_the_apps_own_500(tmp_path, lang):
    from test_web_support import build_app, make_workspace

    app = build_app(tmp_path, f"sqlite:///{tmp_path}/t.db", make_workspace(),
                    PROPAGATE_EXCEPTIONS=False)
    app.testing = False

    @app.route("/boom")
    def boom():
        raise RuntimeError("boom")

    from lowrise.web.auth import PUBLIC

    PUBLIC.add("boom")
    try:
        client = app.test_client()
        resp = client.get("/boom", headers={"Accept-Language": lang})
        client.get(f"/locale/{lang}?next=/")
        resp = client.get("/boom")
    finally:
        PUBLIC.discard("boom")
        app.extensions["lowrise"].engine.dispose()
    assert resp.status_code == 500
    assert "Internal Server Error" not in resp.text
    assert say("Something went wrong", lang) in resp.text
