"""What a file is, from its bytes: the MIME types its content fits (not what the sender said).

An attachment field's MIME rules (`accept: [image/*]`) are checked against these, so a web
page sent as `image/png` is not taken for a picture. The magic numbers come from puremagic
(pure Python, a maintained database of several hundred formats: HEIC photos, TIFF scans and
the like pass `image/*` without a list of our own to keep). Two families share one
signature there, and are told apart here by what they hold: zip files (a Word document, an
Excel workbook or a plain zip) by their first folder, and Office 97 files (.doc, .xls, .ppt)
by the name of their main stream.
"""

from __future__ import annotations

import io
import zipfile

OOXML = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
OLE_STREAMS = {
    "WordDocument": "application/msword",
    "Workbook": "application/vnd.ms-excel",
    "Book": "application/vnd.ms-excel",
    "PowerPoint Document": "application/vnd.ms-powerpoint",
}
#: how sure puremagic must be of a format found in text (a text starting "BM" is no bitmap)
TEXT_CONFIDENCE = 0.5
TEXT_SAMPLE = 8192


def content_types(data: bytes) -> set[str]:
    """The MIME types the bytes fit (lower case; empty when nothing is recognised)."""
    found = _magic(data)
    if data[:4] == b"PK\x03\x04":
        found = _zip_types(data, found)
    elif data[:8] == OLE_MAGIC:
        found = {t for name, t in OLE_STREAMS.items() if name.encode("utf-16-le") in data} or {
            "application/x-ole-storage"}
    if b"%PDF-" in data[:1024]:  # the format allows a little before its header
        found.add("application/pdf")
    return found


def _magic(data: bytes) -> set[str]:
    import puremagic

    try:
        matches = [m for m in puremagic.magic_string(data) if m.mime_type]
    except (puremagic.PureError, ValueError):
        matches = []
    if _is_text(data):
        # text: what a strong signature says (an HTML page, an SVG), and plain text
        return {m.mime_type.lower() for m in matches if m.confidence >= TEXT_CONFIDENCE} | {
            "text/plain"}
    if not matches:
        return set()
    best = max(m.confidence for m in matches)
    return {m.mime_type.lower() for m in matches if m.confidence == best}


def _zip_types(data: bytes, found: set[str]) -> set[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return set()  # a damaged zip is no document of any kind
    kinds = {t for prefix, t in OOXML.items() if any(n.startswith(prefix) for n in names)}
    if kinds:
        return kinds
    return {t for t in found if t not in OOXML.values()} | {"application/zip"}


def _is_text(data: bytes) -> bool:
    sample = data[:TEXT_SAMPLE]
    if b"\x00" in sample:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            sample.decode(encoding)
            return True
        except UnicodeDecodeError as exc:
            if exc.start >= len(sample) - 3 and len(data) > len(sample):
                return True  # the sample cut a character in two
    return False


def matches(rule: str, types: set[str]) -> bool:
    """Whether a MIME rule (`image/png`, `image/*`) takes a file of these types."""
    rule = rule.lower()
    if rule.endswith("/*"):
        return any(t.startswith(rule[:-1]) for t in types)
    return rule in types
