"""Every page and every answer of the flagship reads in Chinese when a person chose 中文.

The checker (zh_checker.py) signs in as each demo role, walks every page it can reach from the
home page by links (and the pages each record type and view has), and makes the common
refusals happen (a form with missing and bad values, an inline edit refused, a board move
refused, a stale save); on each it looks for English words outside values and codes. The words
do not depend on the database, so this runs on SQLite only.
"""

from __future__ import annotations

import io
import re
import time
from collections import deque
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import sqlalchemy as sa

from lowrise import seed as seeding
from lowrise.workspace.yamlpos import parse_yaml
from test_web_support import AuthActions, build_app, csrf_of
from zh_checker import CJK, chinese_runs, english_words, value_words

pytest_plugins = ["test_web_support"]

ROOT = Path(__file__).resolve().parents[1]
SKIP = re.compile(r"/auth/logout|/locale/|/export\.|/files/|\.csv|\.xlsx|/api/v1/(?!docs)"
                  r"|/static/|/download|/refused|/feed|\.ics")
MAX_PAGES = 400
#: what _refusals types into forms and files (shown back to the person, as typed)
BAD_VALUES = {"abc", "someday", "bad"}


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    from lowrise.workspace import load_workspace

    tmp = tmp_path_factory.mktemp("zh")
    app = build_app(tmp, f"sqlite:///{tmp / 'zh.db'}", load_workspace(ROOT))
    run = app.extensions["lowrise"]
    seeding.seed(run.records, scale=0.1, seed_value=11)
    yield app
    run.engine.dispose()


def _values(app) -> set[str]:
    """The words of every value stored in the workspace's records, and people's names."""
    return value_words(_value_texts(app))


def _value_texts(app) -> list[str]:
    """Every text stored in the workspace's records, and people's names."""
    run = app.extensions["lowrise"]
    texts: list[str] = []
    with run.engine.connect() as conn:
        meta = sa.MetaData()
        meta.reflect(conn)
        for name, table in meta.tables.items():
            if name.startswith("lr_") and name not in ("lr_users",):
                continue
            for row in conn.execute(sa.select(table)):
                texts += [v for v in row if isinstance(v, str)]
    return texts


def _yaml_texts() -> list[str]:
    """Every text the workspace's YAML files write: labels, options, messages of rules."""
    out: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str):
            out.append(node)

    for path in ROOT.glob("**/*.yaml"):
        if ".venv" not in path.parts and "templates" not in path.relative_to(ROOT).parts[:1]:
            walk(parse_yaml(path.read_text(encoding="utf-8"), str(path)).data)
    return out


def _links(base: str, html: str) -> list[str]:
    out = []
    for href in re.findall(r'href="([^"#]+)"', html):
        href = href.replace("&amp;", "&")
        url = urljoin(base, href)
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or SKIP.search(parts.path + "?" + parts.query):
            continue
        out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def _shape(url: str) -> str:
    """Pages of one kind: record pages of a type are one page (numbers folded)."""
    return re.sub(r"\d+", "N", url.split("?")[0]) + ("?" if "?" in url else "")


def _walk(client, start: list[str]) -> dict[str, str]:
    seen_shapes: dict[str, int] = {}
    pages: dict[str, str] = {}
    queue = deque(start)
    while queue and len(pages) < MAX_PAGES:
        url = queue.popleft()
        shape = _shape(url)
        if url in pages or seen_shapes.get(shape, 0) >= 2:
            continue
        resp = client.get(url)
        if resp.status_code != 200 or "html" not in resp.content_type:
            continue
        seen_shapes[shape] = seen_shapes.get(shape, 0) + 1
        pages[url] = resp.text
        queue.extend(_links(url, resp.text))
    return pages


def _start_urls(ws) -> list[str]:
    urls = ["/", "/trash", "/search?q=王", "/inbox", "/rules", "/templates", "/account/password",
            "/account/tokens", "/api/v1/docs", "/admin/users", "/settings/log"]
    for rt in ws.record_types.values():
        urls += [f"/r/{rt.name}/", f"/r/{rt.name}/new", f"/r/{rt.name}/1", f"/r/{rt.name}/1/edit",
                 f"/r/{rt.name}/import", f"/r/{rt.name}/settings"]
    for view in ws.views.values():
        kind = {"table": "table", "kanban": "kanban", "calendar": "calendar"}.get(view.type)
        if kind:
            urls.append(f"/r/{view.record_type}/{kind}/{view.name}")
        elif view.type == "dashboard":
            urls.append(f"/d/{view.name}")
    return urls


def _refusals(client, ws) -> dict[str, str]:
    """Answers that carry the engine's words: a bad form, a stale save, an import preview of a
    file with bad values."""
    out = {}
    for rt in ws.record_types.values():
        page = client.get(f"/r/{rt.name}/new")
        if page.status_code != 200:
            continue
        data = {"csrf_token": csrf_of(page.text)}
        for name, f in rt.fields.items():
            if f.type in ("integer", "decimal", "currency", "percent"):
                data[name] = "abc"
            elif f.type in ("date", "datetime"):
                data[name] = "someday"
        resp = client.post(f"/r/{rt.name}/new", data=data)
        out[f"POST /r/{rt.name}/new (bad values)"] = resp.text
        out.update(_import_preview(client, rt))
        edit = client.get(f"/r/{rt.name}/1/edit")
        if edit.status_code == 200:
            resp = client.post(f"/r/{rt.name}/1/edit", data={
                "csrf_token": csrf_of(edit.text), "_version": "1000"})
            out[f"POST /r/{rt.name}/1/edit (stale)"] = resp.text
    return out


def _import_preview(client, rt) -> dict[str, str]:
    """The import preview of a file with a bad number and a bad date, once worked out."""
    page = client.get(f"/r/{rt.name}/import")
    if page.status_code != 200:
        return {}
    cols = [f for f in rt.user_fields if f.type in ("integer", "decimal", "currency", "date")]
    if not cols:
        return {}
    header = ",".join(f.label.get("zh") for f in cols)
    row = ",".join("someday" if f.type == "date" else "abc" for f in cols)
    resp = client.post(f"/r/{rt.name}/import", content_type="multipart/form-data", data={
        "csrf_token": csrf_of(page.text),
        "file": (io.BytesIO(f"{header}\n{row}\n".encode()), "bad.csv")})
    if resp.status_code != 302:
        return {f"POST /r/{rt.name}/import (bad file)": resp.text}
    url = resp.headers["Location"]
    deadline = time.monotonic() + 30
    while True:
        shown = client.get(url).text
        if 'hx-trigger="every 1s"' not in shown or time.monotonic() > deadline:
            return {f"{url} (import preview of bad values)": shown}
        time.sleep(0.1)


def _english_labels(ws) -> list[str]:
    """Labels the workspace gives in one language only, which a zh reader would see in English."""
    out = []
    for rt in ws.record_types.values():
        for f in rt.fields.values():
            texts = getattr(f.label, "texts", {})
            if texts and "zh" not in texts and re.search(r"[A-Za-z]{3}", f.label.get("zh")):
                out.append(f"{rt.name}.{f.name}: {f.label.get('zh')!r}")
    return out


@pytest.mark.parametrize("role", ["admin", "manager", "consultant", "legal"])
def test_every_page_reads_in_chinese(office, role):
    ws = office.extensions["lowrise"].workspace
    client = office.test_client()
    email, password = _account(office, role)
    assert AuthActions(client).login(email, password).status_code == 302
    client.get("/locale/zh?next=/")
    pages = _walk(client, _start_urls(ws))
    assert len(pages) > 20
    pages.update(_refusals(client, ws))
    values = _values(office) | BAD_VALUES
    leaks = {}
    for url, html in pages.items():
        words = english_words(html, values)
        if words:
            leaks[url] = sorted(set(words))[:12]
    report = "\n".join(f"{u}: {' '.join(w)}" for u, w in sorted(leaks.items()))
    assert not leaks, f"English words in the zh interface ({len(leaks)} pages):\n{report}"


def test_every_page_reads_in_english_where_the_platform_speaks(office):
    """In English, no Chinese comes from the platform: what Chinese a page shows is a value
    (a record's) or the workspace's own words (its YAML: a label without an English text, a
    rule's message), never the catalogue's or the engine's."""
    client = office.test_client()
    email, password = _account(office, "admin")
    assert AuthActions(client).login(email, password).status_code == 302
    client.get("/locale/en?next=/")
    ws = office.extensions["lowrise"].workspace
    pages = _walk(client, _start_urls(ws))
    assert len(pages) > 20
    pages.update(_refusals(client, ws))
    values = sorted({t.strip() for t in _value_texts(office) + _yaml_texts() + ["王"]  # searched
                     if CJK.search(t) and t.strip()}, key=len, reverse=True)
    leaks = {}
    for url, html in pages.items():
        runs = chinese_runs(html, values)
        if runs:
            leaks[url] = sorted(set(runs))[:12]
    report = "\n".join(f"{u}: {' '.join(w)}" for u, w in sorted(leaks.items()))
    assert not leaks, f"Chinese in the English interface ({len(leaks)} pages):\n{report}"


def test_the_flagship_labels_everything_in_chinese(office):
    ws = office.extensions["lowrise"].workspace
    assert not _english_labels(ws)


_ACCOUNTS: dict[str, tuple[str, str]] = {}


def _account(app, role: str) -> tuple[str, str]:
    """A sign-in of the given demo role (made once for the module)."""
    if not _ACCOUNTS:
        from lowrise import demo_accounts

        run = app.extensions["lowrise"]
        for a in demo_accounts.make(run.records, run.accounts):
            _ACCOUNTS[a.role] = (a.email, a.password)
    return _ACCOUNTS[role]
