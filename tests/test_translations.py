"""The Chinese catalogue: every interface string of the covered pages has a translation, the
catalogue is sound (no duplicates, placeholders kept, the compiled .mo up to date), and the
import, export, account, API token and API reference pages render in Chinese."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from test_web_support import csrf_of, make_record

pytest_plugins = ["test_web_support"]

PACKAGE = Path(__file__).resolve().parent.parent / "platform" / "lowrise"
TRANSLATIONS = PACKAGE / "translations"
PO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None,
            "_l": None, "msg": None, "msg_n": (1, 2)}


def _mapping() -> list[tuple[str, str]]:
    """The [python: ...] and [jinja2: ...] sections of babel.cfg."""
    out = []
    for line in (TRANSLATIONS / "babel.cfg").read_text().splitlines():
        m = re.match(r"\[(\w+):\s*(.+)\]", line.strip())
        if m:
            out.append((m[2], m[1]))
    return out


def _extracted() -> dict[str, list[str]]:
    """Every msgid in the package's sources (pages and engine), with the files it appears in."""
    out: dict[str, list[str]] = {}
    for filename, _lineno, message, _comments, _ctx in extract_from_dir(
            PACKAGE, method_map=_mapping(), keywords=KEYWORDS):
        msgid = message[0] if isinstance(message, tuple) else message
        out.setdefault(msgid, []).append(filename)
    return out


def _catalogue():
    with PO.open("rb") as fh:
        return read_po(fh, locale="zh")


def test_every_interface_string_is_translated():
    """Every word of the pages and every engine message, not only the pages above, has its zh
    translation: a person who switches to 中文 never meets an English button or refusal."""
    cat = _catalogue()
    missing = sorted(
        f"{files[0]}: {msgid!r}" for msgid, files in _extracted().items()
        if cat.get(msgid) is None or not cat.get(msgid).string or cat.get(msgid).fuzzy)
    assert not missing, "no zh translation for:\n" + "\n".join(missing)


def test_the_catalogue_is_sound():
    text = PO.read_text(encoding="utf-8")
    ids = re.findall(r'^msgid ((?:".*"\n?)+)', text, flags=re.M)
    seen, dupes = set(), []
    for raw in ids:
        if raw in seen:
            dupes.append(raw.strip())
        seen.add(raw)
    assert not dupes, f"msgids given twice (pybabel compile keeps one): {dupes}"
    cat = _catalogue()
    for m in cat:
        if not m.id:
            continue
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        assert all(strings), f"empty translation for {m.id!r}"
        ids_ = m.id if isinstance(m.id, tuple) else (m.id,)
        wanted = set(re.findall(r"%\((\w+)\)[sd]", ids_[-1]))
        for s in strings:
            assert set(re.findall(r"%\((\w+)\)[sd]", s)) == wanted, \
                f"placeholders differ in {m.id!r}: {s!r}"
    # the compiled catalogue is the source's (pybabel compile was run after the last edit)
    def plain(x):
        return tuple(x) if isinstance(x, (list, tuple)) else x

    with MO.open("rb") as fh:
        compiled = {plain(m.id): plain(m.string) for m in read_mo(fh) if m.id}
    assert compiled == {plain(m.id): plain(m.string) for m in cat if m.id and not m.fuzzy}


def _zh(client):
    client.get("/locale/zh?next=/")


ENGLISH = ("Import", "Upload and preview", "Column in the file", "Rows that will be refused",
           "Start the import", "API tokens", "Create a token", "No tokens yet",
           "Calling the API", "What it does", "Errors are", "Change password",
           "Current password", "Invite someone", "Roles and person", "Deactivate",
           "Export CSV", "Export Excel", "read-only", "Generated from the workspace")


def _no_english(html: str, url: str) -> None:
    body = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", body)
    left = [w for w in ENGLISH if re.search(rf"(?<![\w/.-]){re.escape(w)}\b", text)]
    assert not left, f"{url} still shows {left}"


def test_import_export_account_and_api_pages_render_in_chinese(client, signed_in, run):
    make_record(run, "client", name="Alpha Co")
    _zh(client)
    run.accounts.create_token(run.accounts.by_email("ada@example.com").id, "sync")
    pages = {"/r/client/import": "上传并预览", "/account/tokens": "创建令牌",
             "/api/v1/docs": "调用 API", "/account/password": "修改密码",
             "/admin/users": "邀请用户", "/r/deal/": "导出"}
    for url, words in pages.items():
        page = client.get(url)
        assert page.status_code == 200, url
        assert words in page.text, url
        _no_english(page.text, url)
    upload = client.get("/r/client/import")
    csv = "姓名,手机\nZhang San,13800000001\n,not a phone\n".encode()
    made = client.post("/r/client/import", data={
        "csrf_token": csrf_of(upload.text), "file": (io.BytesIO(csv), "clients.csv")},
        content_type="multipart/form-data")
    assert made.status_code == 302
    for _ in range(600):  # the file is read and checked in the background
        preview = client.get(made.headers["Location"])
        if 'hx-trigger="every 1s"' not in preview.text:
            break
        time.sleep(0.1)
    assert preview.status_code == 200 and "将被拒绝的行" in preview.text
    _no_english(preview.text, "import preview")
