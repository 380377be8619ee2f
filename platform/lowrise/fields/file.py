"""Attachment: files stored under the instance folder, with size and type limits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import EMPTY_OPS, FieldType, Input, registry
from .sniff import content_types, matches

DEFAULT_MAX_SIZE = 10 * 1024 * 1024


@dataclass(frozen=True)
class FileUpload:
    """A file given to a record, not yet stored."""

    name: str
    data: bytes
    content_type: str = ""

    @property
    def size(self) -> int:
        return len(self.data)


def _human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:g} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def accepts(accept: Sequence[str], up: FileUpload) -> bool:
    """Whether an `accept` list takes the file: an extension rule (`.pdf`) by the file's
    name, a MIME rule (`image/*`) by what its bytes are; what the sender declared counts
    for neither (a web page sent as image/png is no picture)."""
    ext = "." + up.name.rsplit(".", 1)[-1].lower() if "." in up.name else ""
    if ext and any(a.lower() == ext for a in accept if a.startswith(".")):
        return True
    rules = [a for a in accept if "/" in a]
    if not rules:
        return False
    types = content_types(up.data)
    return any(matches(rule, types) for rule in rules)


@registry.register
class Attachment(FieldType):
    """Stored as a JSON list of {name, key, size, type}; the bytes live in the file store."""

    name = "attachment"
    family = "file"
    stores_files = True
    multiple = True
    indexable = False
    flavor = "file"
    operators = EMPTY_OPS
    widget = "file"
    sortable = False
    options_schema = {
        "max_size": {"type": "integer", "minimum": 1, "description": "bytes per file"},
        "accept": {"type": "array", "items": {"type": "string"},
                   "description": "allowed extensions (.pdf) or MIME types (image/*)"},
        "multiple": {"type": "boolean"},
    }

    def json_schema(self, field, writing):
        # written through the files operations, never in a record's body
        return {"type": "array", "items": {
            "type": "object", "required": ["name", "key"],
            "properties": {"name": {"type": "string"}, "key": {"type": "string"},
                           "size": {"type": "integer"}, "type": {"type": "string"}}}}

    def parse(self, field, raw):
        if raw is None or raw == [] or raw == "":
            return None
        items = raw if isinstance(raw, (list, tuple)) else [raw]
        if len(items) > 1 and not field.config.get("multiple"):
            raise FieldError(msg("takes one file"))
        out = []
        for item in items:
            if isinstance(item, FileUpload):
                self._check_upload(field, item)
                out.append(item)
            elif isinstance(item, dict) and {"name", "key"} <= item.keys():
                out.append(dict(item))
            else:
                raise FieldError(msg("expected an uploaded file"))
        return out

    def _check_upload(self, field, up: FileUpload) -> None:
        limit = int(field.config.get("max_size", DEFAULT_MAX_SIZE))
        if up.size > limit:
            raise FieldError(msg("'%(name)s' is %(size)s; the limit is %(limit)s", name=up.name, size=_human(up.size), limit=_human(limit)))
        accept = field.config.get("accept")
        if accept and not accepts(accept, up):
            raise FieldError(msg("'%(name)s' is not an allowed file type (%(types)s)",
                                 name=up.name, types=", ".join(accept)))

    def to_db(self, field, value):
        return None if not value else json.dumps(value, ensure_ascii=False)

    def from_db(self, field, value):
        return None if not value else json.loads(value)

    def form_input(self, field):
        accept = ",".join(field.config.get("accept") or [])
        return Input("file", {"multiple": bool(field.config.get("multiple")),
                              **({"accept": accept} if accept else {})})

    def form_value(self, field, value):
        return value

    def display(self, field, value, locale="en"):
        return ", ".join(f["name"] for f in value or [])

    def html(self, field, value, page):
        return Markup(", ").join(
            Markup('<a class="file" href="{}">{}</a>').format(
                page.file_url(f["key"], f["name"]), f["name"])
            for f in value if isinstance(f, dict) and "key" in f)
