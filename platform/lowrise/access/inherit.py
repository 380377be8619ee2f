"""A field computed from linked records shows no more than what it is computed from.

A lookup of a client's hidden budget is hidden on the case; of a masked phone, masked the
same way; a rollup or count over records the reader may not read, or of a field hidden or
masked to them, is hidden; a formula that reads a linked record's hidden or masked field
(`client.budget - amount`) is hidden. Rules with `unless` on the source are not followed
through the link: the derived field is shown as the source shows on the rows it shows least
(never more, whichever record it came from).
"""

from __future__ import annotations

from lowrise.expr import ExpressionError, compiled
from lowrise.fields.relational import aggregate_of, expression_of, is_derived, is_lookup
from lowrise.workspace.model import Field, RecordType, Workspace


def sources(ws: Workspace, rt: RecordType, f: Field) -> tuple[bool, list[tuple[str, str | None]]]:
    """(whether the field shows its source's value as such, the (type, field) it reads; a
    field None where reading the type's records at all is what counts)."""
    cfg = f.config
    if expression_of(f) is not None:
        try:
            names = compiled(expression_of(f)).names
        except ExpressionError:
            return False, []
        out: list[tuple[str, str | None]] = []
        for n in names:
            link, _, name = n.partition(".")
            g = rt.fields.get(link)
            if name and g is not None and g.target:
                out.append((g.target, name))
            elif not name and n in rt.fields and n != f.name:
                out.append((rt.name, n))
        return False, out
    if not is_derived(f):
        return False, []
    if is_lookup(f):
        link = rt.fields.get(cfg.get("through"))
        if link is None or not link.target:
            return True, []
        return True, [(link.target, cfg.get("field"))]
    source = cfg.get("from")
    if aggregate_of(f) == "count" or not cfg.get("field"):
        return False, [(source, None)]
    return False, [(source, cfg.get("field"))]
