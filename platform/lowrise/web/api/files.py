"""/api/v1/<type>/<id>/files/<field>: the files of an attachment field.

Upload (POST adds, PUT replaces: multipart/form-data, one or more parts named `file`),
download (GET .../<key>) and remove (DELETE .../<key>). Each goes through the record as the
caller may see it: a record outside their rows or a hidden field is 404, as if it did not
exist; a change is an ordinary update of the record by the engine, with the caller's Actor
(update permission, read-only fields, the field's size and type limits, If-Match), so it
is refused or accepted exactly as the same change made on the record's form.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request, send_file

from lowrise.errors import NotFound
from lowrise.fields.file import FileUpload
from lowrise.storage.values import to_json_values
from lowrise.workspace.model import Field, RecordType

from ..runtime import rt
from . import bp, problem
from .records import _Abort, _actor, _etag, _expected_version, _json, _only, _read_one, _type

PART = "file"  # the name of the multipart part(s) holding the file(s)


def _target(type_name: str, record_id: int, field: str) -> tuple[RecordType, Field, dict]:
    """The type, the attachment field and the record as the caller sees it (404 otherwise)."""
    rtype = _type(type_name)
    f = rtype.fields.get(field)
    if f is None or not f.kind.stores_files:
        raise NotFound(f"{rtype.label} has no attachment field '{field}'")
    with rt().engine.connect() as conn:
        record = _read_one(conn, rtype, record_id)
    if field not in record:  # hidden from this caller: as if it were not there
        raise NotFound(f"{rtype.label} has no attachment field '{field}'")
    return rtype, f, record


def _uploads() -> list[FileUpload]:
    """The files of the request (415 when it is not multipart, 400 when it has none)."""
    if request.mimetype != "multipart/form-data":
        raise _Abort(problem(415, "bad-request", "multipart/form-data expected",
                             f"send the file as a multipart/form-data part named '{PART}'"))
    ups = [FileUpload(s.filename or "", s.read(), s.mimetype or "")
           for s in request.files.getlist(PART)]
    if not ups or any(not up.name for up in ups):
        others = sorted({*request.files, *request.form} - {PART})
        hint = f" (the request has {', '.join(repr(n) for n in others)})" if others else ""
        raise _Abort(problem(400, "bad-request", "No file",
                             f"send the file as a multipart/form-data part named '{PART}', "
                             f"with a file name{hint}"))
    return ups


def _write(type_name: str, record_id: int, rtype: RecordType, f: Field,
           items: list[Any] | None) -> Response:
    record = rt().records.update(type_name, record_id, {f.name: items or None}, _actor(),
                                 expected_version=_expected_version())
    return _json(to_json_values(rtype, record), ETag=_etag(record))


@bp.post("/<type_name>/<int:record_id>/files/<field>")
def add_files(type_name: str, record_id: int, field: str):
    """Add the uploaded files (to a field of one file: put the upload in its place)."""
    _only()
    rtype, f, record = _target(type_name, record_id, field)
    ups = _uploads()
    kept = list(record.get(field) or []) if f.config.get("multiple") else []
    return _write(type_name, record_id, rtype, f, [*kept, *ups])


@bp.put("/<type_name>/<int:record_id>/files/<field>")
def replace_files(type_name: str, record_id: int, field: str):
    """The uploaded files become the field's files."""
    _only()
    rtype, f, _record = _target(type_name, record_id, field)
    return _write(type_name, record_id, rtype, f, list(_uploads()))


def _file(record: dict, field: str, key: str, rtype: RecordType) -> dict:
    for item in record.get(field) or []:
        if item.get("key") == key:
            return item
    raise NotFound(f"{rtype.label} #{record['id']} has no file '{key}' in {field}")


@bp.get("/<type_name>/<int:record_id>/files/<field>/<key>")
def download_file(type_name: str, record_id: int, field: str, key: str):
    """The file's bytes, always as a download that runs nothing (whatever its type)."""
    _only()
    rtype, _f, record = _target(type_name, record_id, field)
    item = _file(record, field, key, rtype)
    try:
        path = rt().files.path(key)
    except ValueError:
        raise NotFound(f"{rtype.label} #{record_id} has no file '{key}' in {field}") from None
    if not path.is_file():
        raise NotFound(f"the file '{item.get('name')}' is missing from the file store")
    resp = send_file(path, as_attachment=True, download_name=item.get("name") or key,
                     mimetype="application/octet-stream", etag=key, conditional=True)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.delete("/<type_name>/<int:record_id>/files/<field>/<key>")
def remove_file(type_name: str, record_id: int, field: str, key: str):
    """Take one file off the field (its bytes stay in the store: other records may hold
    the same content)."""
    _only()
    rtype, f, record = _target(type_name, record_id, field)
    _file(record, field, key, rtype)
    kept = [item for item in record.get(field) or [] if item.get("key") != key]
    return _write(type_name, record_id, rtype, f, kept)
