"""/api/v1/<type>/<id>/documents: the documents a caller may generate on a record (GET),
and generating one (POST .../documents/<name>): made from the record as the caller reads
it and stored on its attachment field, exactly as the record page's button does. A document
the record's state does not allow (`when`, `locked_when`) is 409, with the reason."""

from __future__ import annotations

from lowrise import documents
from lowrise.documents.generate import DocumentRefused
from lowrise.errors import NotFound

from ..runtime import rt
from . import bp, problem
from .records import _actor, _etag, _json, _only, _type


@bp.errorhandler(DocumentRefused)
def _refused(exc: DocumentRefused):
    return problem(409, "conflict", "Not possible in this state", str(exc))


def _offer(offer: documents.Offer) -> dict:
    doc = offer.document
    return {"name": doc.name, "label": doc.label.get(), "formats": list(doc.formats),
            "attach_to": doc.attach_to, "locked": offer.locked is not None,
            "reason": str(offer.locked) if offer.locked else None}


@bp.get("/<type_name>/<int:record_id>/documents")
def list_documents(type_name: str, record_id: int):
    """The documents the caller may generate on this record, and whether each is locked."""
    _only()
    _type(type_name)
    run = rt()
    run.records.get(type_name, record_id, actor=_actor())  # 404 out of the caller's rows
    return _json({"documents": [_offer(o) for o in documents.offers(
        run.records, type_name, record_id, _actor())]})


@bp.post("/<type_name>/<int:record_id>/documents/<name>")
def generate_document(type_name: str, record_id: int, name: str):
    """Generate one document from the record and store it; 201 with the stored files."""
    _only()
    _type(type_name)
    doc = rt().workspace.documents.get(name)
    if doc is None or doc.record_type != type_name:
        raise NotFound(f"there is no document '{name}' of {type_name}")
    made = documents.generate(rt().records, name, record_id, _actor())
    return _json({"document": name, "files": made.files}, 201, ETag=_etag(made.record))
