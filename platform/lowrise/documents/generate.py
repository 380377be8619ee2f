"""Generating a document from a record: read it as the person sees it, fill the template,
store the file(s) on the record's attachment field, and write who generated what into the
record's history, in the same transaction.

Each stored file carries the document's name, the SHA-256 of the template file it was made
from (`template`), the record's version it shows, when and by whom; its `key` is already the
SHA-256 of its own bytes. Generating again replaces the files of the same document on the
field (the history keeps every one). A document's `roles`, `when` and `locked_when` decide
who may generate it and when; the write itself is an ordinary update by the person, so the
update permission, read-only fields and the field's size and type limits hold as on a form.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lowrise import filters
from lowrise.actor import Actor
from lowrise.errors import ConflictError, Forbidden, NotFound
from lowrise.fields.file import FileUpload
from lowrise.i18n import Lazy, Msg, msg
from lowrise.storage import query
from lowrise.storage.db import write_transaction
from lowrise.workspace.document_checks import EXTENSIONS, MIME
from lowrise.workspace.model import Document, Workspace

from . import context, render
from .render import DocumentError


class DocumentRefused(DocumentError):
    """The record's state does not allow the document: its `when` does not hold, or its
    `locked_when` does."""

#: the audit action of a generated document (its note holds the details as JSON)
AUDIT_ACTION = "document"


@dataclass(frozen=True)
class Offer:
    """A document one person is offered on one record; `locked` says why it cannot be made."""

    document: Document
    locked: Msg | None = None


@dataclass(frozen=True)
class Generated:
    """The files a generation stored, and the record after it."""

    document: Document
    files: list[dict[str, Any]]
    record: dict[str, Any]


def folder(ws: Workspace) -> Path:
    """The workspace's documents folder (where template files live)."""
    return Path(ws.root or ".") / "documents"


def template_path(ws: Workspace, doc: Document) -> Path:
    return folder(ws) / doc.template


def may_generate(ws: Workspace, doc: Document, actor: Actor) -> bool:
    """Whether the actor's roles are among the document's (admins and the system always)."""
    from lowrise import access

    pol = access.policy(ws, actor)
    if pol is None:
        return True
    if not pol.may("update", doc.record_type):
        return False
    return doc.roles is None or bool(set(doc.roles) & set(actor.roles))


def _matches(node_data: Any, ws: Workspace, doc: Document, stored: dict, conn, schema,
             actor: Actor) -> bool:
    node = filters.parse(node_data, doc.record_type, ws)
    ctx = filters.FilterContext.of(actor, query.record_resolver(conn, schema))
    return filters.evaluate(node, stored, ctx)


def _lock_reason(ws: Workspace, doc: Document) -> Msg:
    node = filters.parse(doc.locked_when, doc.record_type, ws)
    return msg("%(document)s cannot be generated for this record any more (%(condition)s)",
               document=doc.label,
               condition=Lazy(lambda locale: filters.describe(node, ws, locale)))


def offers(records, type_name: str, record_id: int, actor: Actor) -> list[Offer]:
    """The documents of a record's type this actor may generate on this record (their
    `when` holds), each with the reason it is locked, if it is."""
    ws = records.schema.workspace
    docs = [d for d in ws.documents_of(type_name) if may_generate(ws, d, actor)]
    if not docs:
        return []
    out = []
    with records.engine.connect() as conn:
        stored = records.get(type_name, record_id, conn=conn)
        for doc in docs:
            if doc.when and not _matches(doc.when, ws, doc, stored, conn, records.schema, actor):
                continue
            locked = (doc.locked_when and _matches(doc.locked_when, ws, doc, stored, conn,
                                                   records.schema, actor))
            out.append(Offer(doc, _lock_reason(ws, doc) if locked else None))
    return out


def make(ws: Workspace, doc: Document, data: dict[str, Any]) -> list[FileUpload]:
    """The document's files for `data` (one per format), not yet stored."""
    path = template_path(ws, doc)
    if not path.is_file():
        raise DocumentError(msg("the template file documents/%(file)s of %(document)s is "
                                "missing", file=doc.template, document=doc.label))
    env = context.environment()
    stem = render.render_text(doc.file_name, data, context.environment(autoescape=False)) \
        if doc.file_name else ""
    stem = _safe_name(stem) or f"{doc.label.get(doc.locale or ws.default_locale)}"
    out = []
    if path.suffix.lower() == ".docx":
        body = render.render_docx(path, data, env)
        out.append(FileUpload(stem + ".docx", body, MIME["docx"]))
    else:
        html = render.render_html(path, data, env)
        for fmt in doc.formats:
            body = (render.html_to_pdf(html, folder(ws)) if fmt == "pdf"
                    else html.encode("utf-8"))
            out.append(FileUpload(stem + EXTENSIONS[fmt], body, MIME[fmt]))
    return out


def _safe_name(text: str) -> str:
    """A file name without path separators or control characters."""
    bad = set('/\\:*?"<>|') | {chr(i) for i in range(32)}
    return "".join("_" if c in bad else c for c in text).strip(" .")[:150]


def generate(records, doc_name: str, record_id: int, actor: Actor) -> Generated:
    """Make the document `doc_name` from one record as `actor` reads it and store it on the
    record. NotFound for an unknown document or a record out of the actor's rows; Forbidden
    for a role the document does not list; DocumentError when it is not offered on this
    record or is locked; the update's own refusals (ValidationError, ConflictError)."""
    ws = records.schema.workspace
    doc = ws.documents.get(doc_name)
    if doc is None:
        raise NotFound(msg("there is no document '%(name)s'", name=doc_name))
    if not may_generate(ws, doc, actor):
        raise Forbidden(msg("your role may not generate %(document)s", document=doc.label))
    locale = doc.locale or ws.default_locale
    with records.engine.connect() as conn:
        shown = records.get(doc.record_type, record_id, conn=conn, actor=actor)
        stored = records.get(doc.record_type, record_id, conn=conn)
        _refuse_unless_offered(ws, doc, stored, conn, records.schema, actor)
        reader = context.Reader(conn, records.schema, actor, locale)
        uploads = make(ws, doc, context.data(reader, doc, shown))
    rt = ws.record_types[doc.record_type]
    f = rt.fields[doc.attach_to]
    if records.files is None:
        raise DocumentError(msg("documents cannot be stored: this records service has no "
                                "file store"))
    f.kind.parse(f, uploads)  # the field's size and type limits, as for an upload
    template_hash = hashlib.sha256(template_path(ws, doc).read_bytes()).hexdigest()
    now = actor.now()
    items = [{**records.files.put(up), "document": doc.name, "template": template_hash,
              "record_version": shown["version"], "generated_at": now.isoformat(),
              "generated_by": actor.name} for up in uploads]
    with write_transaction(records.engine) as c:
        current = records.get(doc.record_type, record_id, conn=c, for_update=True)
        if current["version"] != shown["version"]:
            raise ConflictError(msg("%(type)s #%(id)s was changed while the document was "
                                    "made; generate it again", type=rt.label, id=record_id),
                                current_version=current["version"])
        _refuse_unless_offered(ws, doc, current, c, records.schema, actor)
        kept = [i for i in current.get(f.name) or [] if i.get("document") != doc.name]
        if not f.config.get("multiple"):
            kept = []
        after = records.update(doc.record_type, record_id, {f.name: [*kept, *items]}, actor,
                               conn=c, expected_version=current["version"])
        c.execute(records.schema.audit.insert().values(
            record_type=doc.record_type, record_id=record_id, action=AUDIT_ACTION,
            actor=actor.user, actor_name=actor.name, at=now, version=after.get("version"),
            changes=None, note=json.dumps(
                {"document": doc.name, "template": template_hash, "files": [
                    {"name": i["name"], "key": i["key"]} for i in items]},
                ensure_ascii=False)))
    return Generated(doc, items, after)


def _refuse_unless_offered(ws: Workspace, doc: Document, stored: dict, conn, schema,
                           actor: Actor) -> None:
    if doc.when and not _matches(doc.when, ws, doc, stored, conn, schema, actor):
        node = filters.parse(doc.when, doc.record_type, ws)
        raise DocumentRefused(msg(
            "%(document)s is made only for records where %(condition)s", document=doc.label,
            condition=Lazy(lambda loc: filters.describe(node, ws, loc))))
    if doc.locked_when and _matches(doc.locked_when, ws, doc, stored, conn, schema, actor):
        raise DocumentRefused(_lock_reason(ws, doc))
