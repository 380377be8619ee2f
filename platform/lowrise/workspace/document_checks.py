"""Cross-checks of document templates (documents/<name>.yaml): the record type, the attachment
field the files go to and what it accepts, the formats a template file can make, the roles,
the when / locked_when filters and the related lists. What the template file itself uses is
checked by lowrise.documents.checks (it reads the file; `lowrise check` runs both)."""

from __future__ import annotations

from pathlib import PurePosixPath

from .checks import Context, _check_filter, _field_at, _not_a_type, _suggest
from .model import Document

#: the formats a template file can be made into, by its extension
MAKES = {".docx": ("docx",), ".html": ("pdf", "html"), ".htm": ("pdf", "html")}
EXTENSIONS = {"docx": ".docx", "pdf": ".pdf", "html": ".html"}
MIME = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "pdf": "application/pdf", "html": "text/html"}


def accepts(accept: list | None, fmt: str) -> bool:
    """Whether an attachment field's `accept` list lets in a file of format `fmt`."""
    if not accept:
        return True
    ext, mime = EXTENSIONS[fmt], MIME[fmt]
    return any(a.lower() == ext or a == mime or (a.endswith("/*") and mime.startswith(a[:-1]))
               for a in accept if isinstance(a, str))


def check_document(ctx: Context, doc: Document) -> None:
    """Every problem of one document's YAML, at its place in the file."""
    file = doc.loc.file
    path = PurePosixPath(doc.template)
    if doc.template and (".." in path.parts or "\\" in doc.template):
        ctx.report(file, ("template",), f"'{doc.template}' points outside documents/; keep "
                   "the template file in the documents folder")
    makes = MAKES.get(path.suffix.lower(), ())
    for i, fmt in enumerate(doc.formats):
        if makes and fmt not in makes:
            ctx.report(file, ("formats", i), f"a {path.suffix} template cannot make {fmt} "
                       f"(it makes: {', '.join(makes)})")
    roles = ctx.workspace.roles
    for i, role in enumerate(doc.roles or ()):
        if role not in roles:
            ctx.report(file, ("roles", i), f"'{role}' is not a role"
                       + (_suggest(role, roles) or f" (roles: {', '.join(roles) or 'none'})"))
    if not doc.record_type:
        return
    if not ctx.type_known(doc.record_type):
        ctx.report(file, ("record_type",), _not_a_type(ctx, doc.record_type))
        return
    rt = ctx.workspace.record_types.get(doc.record_type)
    if rt is None:
        return
    if doc.attach_to:
        f = _field_at(ctx, file, rt, ("attach_to",), doc.attach_to)
        if f is not None and not f.kind.stores_files:
            good = ", ".join(g.name for g in rt.user_fields if g.kind.stores_files)
            ctx.report(file, ("attach_to",), f"'{f.name}' is {'an' if f.type[0] in 'aeio' else 'a'}"
                       f" {f.type} field; documents are stored in an attachment field "
                       f"({f'fields that fit: {good}' if good else f'{rt.name} has none'})")
        elif f is not None:
            if len(doc.formats) > 1 and not f.config.get("multiple"):
                ctx.report(file, ("attach_to",), f"'{f.name}' takes one file, and the document "
                           f"makes {len(doc.formats)} ({', '.join(doc.formats)}); add "
                           "multiple: true to the field or make one format")
            for i, fmt in enumerate(doc.formats):
                if fmt in EXTENSIONS and not accepts(f.config.get("accept"), fmt):
                    ctx.report(file, ("formats", i), f"'{f.name}' does not accept "
                               f"{EXTENSIONS[fmt]} files (accept: "
                               f"{', '.join(f.config.get('accept') or [])})")
    _check_filter(ctx, file, rt, doc.when, ("when",))
    _check_filter(ctx, file, rt, doc.locked_when, ("locked_when",))
    for key, rel in doc.related.items():
        _check_related(ctx, doc, key, rel)


def _check_related(ctx: Context, doc: Document, key: str, rel) -> None:
    file, at = doc.loc.file, ("related", key)
    if key in ctx.workspace.record_types[doc.record_type].fields:
        ctx.report(file, at, f"'{key}' is also a field of {doc.record_type}; give the list "
                   "another name", key=True)
    if not rel.record_type or not ctx.type_known(rel.record_type):
        if rel.record_type:
            ctx.report(file, (*at, "record_type"), _not_a_type(ctx, rel.record_type))
        return
    other = ctx.workspace.record_types.get(rel.record_type)
    if other is None:
        return
    if rel.link:
        f = _field_at(ctx, file, other, (*at, "link"), rel.link)
        if f is not None and (not f.kind.links or f.target != doc.record_type):
            good = [g.name for g in other.user_fields
                    if g.kind.links and g.target == doc.record_type]
            ctx.report(file, (*at, "link"), f"'{rel.link}' does not link {rel.record_type} to "
                       f"{doc.record_type}" + (f" (links that do: {', '.join(good)})" if good
                                               else f" ({rel.record_type} has no such link)"))
    for i, key_ in enumerate(rel.sort):
        _field_at(ctx, file, other, (*at, "sort", i), key_.removeprefix("-"))
    _check_filter(ctx, file, other, rel.filter, (*at, "filter"))
