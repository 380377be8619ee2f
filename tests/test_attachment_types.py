"""Attachment fields' `accept` lists: an extension rule is met by the file's name, a MIME
rule by what the file's bytes are; the type the sender declares counts for neither."""

from __future__ import annotations

import io
import zipfile

import pytest

from lowrise.errors import FieldError
from lowrise.fields.file import FileUpload
from lowrise.fields.sniff import content_types
from test_web_support import SMALL, build_app, make_record, make_workspace

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FIELDS = f"""
  contract: {{type: attachment, multiple: true, accept: [.pdf, .doc, .docx, image/*]}}
  scan: {{type: attachment, accept: [image/*, application/pdf]}}
  letter: {{type: attachment, accept: [application/msword, {DOCX_TYPE}]}}
  sheet: {{type: attachment, accept: [{XLSX_TYPE}]}}
"""


def _zip(*names: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        for name in names:
            zf.writestr(name, "<x/>")
    return buf.getvalue()


def _ole(stream: str) -> bytes:
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504 + stream.encode("utf-16-le") + b"\0" * 64


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\0" * 32
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\0" * 16
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00" + b"\0" * 24
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\0" * 32  # an iPhone photo
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
DOCX = _zip("word/document.xml")
XLSX = _zip("xl/workbook.xml")
DOC = _ole("WordDocument")
XLS = _ole("Workbook")


@pytest.mark.parametrize(("data", "kind"), [
    (PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp"),
    (HEIC, "image/heif"), (PDF, "application/pdf"), (DOCX, DOCX_TYPE), (XLSX, XLSX_TYPE), (DOC, "application/msword"),
    (XLS, "application/vnd.ms-excel"), (HTML, "text/html")])
def test_common_types_are_told_from_their_bytes(data, kind):
    assert kind in content_types(data)


def test_text_that_begins_like_a_bitmap_is_text():
    assert content_types(b"BMW 3 series, blue\n") == {"text/plain"}


@pytest.fixture(scope="module")
def fields():
    ws = make_workspace({**SMALL, "schemas/client.yaml": SMALL["schemas/client.yaml"] + FIELDS})
    return ws.type("client").fields


def take(field, name, data, declared=""):
    return field.kind.parse(field, FileUpload(name, data, declared))


@pytest.mark.parametrize(("field", "name", "data", "declared"), [
    ("contract", "deal.pdf", PDF, "application/pdf"),
    ("contract", "scan.jpg", JPEG, "image/jpeg"),       # image/* by its bytes
    ("contract", "photo", PNG, ""),                     # no extension: the bytes say PNG
    ("contract", "old.doc", DOC, "application/msword"),
    ("scan", "page.webp", WEBP, ""),
    ("scan", "IMG_0001.HEIC", HEIC, ""),
    ("scan", "contract.bin", PDF, "application/octet-stream"),
    ("letter", "letter.docx", DOCX, ""),
    ("letter", "letter.doc", DOC, ""),
    ("sheet", "prices.xlsx", XLSX, ""),
])
def test_allowed_files_are_taken(fields, field, name, data, declared):
    assert take(fields[field], name, data, declared)[0].name == name


@pytest.mark.parametrize(("field", "name", "data", "declared"), [
    ("contract", "page.html", HTML, "image/png"),       # the declared type is not believed
    ("contract", "page.png.html", HTML, "application/pdf"),
    ("scan", "photo.png", HTML, "image/png"),           # named like a picture, bytes of a page
    ("scan", "run.exe", b"MZ\x90\x00" + b"\0" * 60, "image/gif"),
    ("letter", "prices.docx", XLSX, DOCX_TYPE),        # a workbook is no Word document
    ("letter", "prices.doc", XLS, "application/msword"),
    ("sheet", "letter.xlsx", DOCX, XLSX_TYPE),
    ("sheet", "broken.xlsx", b"PK\x03\x04garbage", XLSX_TYPE),
])
def test_files_whose_bytes_do_not_fit_are_refused(fields, field, name, data, declared):
    with pytest.raises(FieldError, match="not an allowed file type"):
        take(fields[field], name, data, declared)


def test_an_upload_through_the_api_is_judged_by_its_bytes(tmp_path, db_url):
    app = build_app(tmp_path, db_url, make_workspace(
        {**SMALL, "schemas/client.yaml": SMALL["schemas/client.yaml"] + FIELDS}))
    try:
        run = app.extensions["lowrise"]
        user = run.accounts.add("root@example.com", "long enough password", roles=["admin"])
        secret, _info = run.accounts.create_token(user.id)
        auth = {"Authorization": f"Bearer {secret}"}
        cid = make_record(run, "client", name="Alpha Co")["id"]
        web = app.test_client()

        def send(name, data, declared):
            return web.post(f"/api/v1/client/{cid}/files/contract", headers=auth,
                            data={"file": (io.BytesIO(data), name, declared)},
                            content_type="multipart/form-data")

        page = send("page.html", HTML, "image/png")
        assert page.status_code == 422, page.json
        assert "not an allowed file type" in page.json["errors"][0]["detail"]
        photo = send("site-visit.jpg", JPEG, "image/jpeg")
        assert photo.status_code == 200, photo.json
        assert [f["name"] for f in photo.json["contract"]] == ["site-visit.jpg"]
    finally:
        app.extensions["lowrise"].engine.dispose()
