"""Exporting confidential fields is a permission of its own, per field and per role.

A confidential field is one that some role reading its type sees masked or hidden (and a
lookup or formula computed from one: `lowrise.access.confidential_fields`). Reading such a
field in full (the consultant's own clients' phones) does not let one take it away in a
file: each role's grant says how each one goes into its exports (CSV, Excel, the API's
export, a share link's download):

    client:
      can: [read, export]
      fields:
        phone: {access: masked, unless: own, export: masked}   # full | masked | none

Without `export:` a confidential field is exported masked when it is text (maskable) and
left out otherwise. `full` exports it as the role reads it (masked where they read it
masked). With several roles, the most open of those that may export the type counts. A field
computed from another type's confidential field is exported as that field would be.
Administrators, the system and open workspaces export everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .inherit import sources
from .model import Mask
from .policy import Policy, confidential_fields

OPENNESS = {"none": 0, "masked": 1, "full": 2}


@dataclass(frozen=True)
class ExportColumn:
    """How one confidential column goes into an export: `how` (full, masked, none) and the
    mask it is shown with when masked."""

    how: str
    mask: Mask


def export_plan(pol: Policy, type_name: str, names: Iterable[str]) -> dict[str, ExportColumn]:
    """{field: ExportColumn} for each confidential field among `names`."""
    ws = pol.ws
    secret = confidential_fields(ws, type_name)
    out = {}
    for name in names:
        if name not in secret:
            continue
        how = "full" if pol.bypass else _how(pol, type_name, name, frozenset())
        out[name] = ExportColumn(how, secret[name])
    return out


def _how(pol: Policy, type_name: str, name: str, seen: frozenset) -> str:
    """full, masked or none for one field of one type, for a restricted actor."""
    ws = pol.ws
    f = ws.type(type_name).fields[name]
    declared = [g.exports[name] for g in pol.grants(type_name, "export") if name in g.exports]
    if declared:
        return max(declared, key=OPENNESS.__getitem__)
    key = (type_name, name)
    followed = [
        _how(pol, other, source, seen | {key})
        for other, source in sources(ws, ws.type(type_name), f)[1]
        if other != type_name and source and other in ws.record_types and
        (other, source) not in seen and source in confidential_fields(ws, other)]
    if followed:  # as the confidential field it is computed from would go
        how = min(followed, key=OPENNESS.__getitem__)
    else:
        how = "masked"
    if how == "masked" and not f.kind.value_type(f).maskable:
        return "none"
    return how


def withheld(plan: dict[str, ExportColumn]) -> dict[str, str]:
    """{field: masked | none} for the confidential fields an export does not carry in full."""
    return {n: c.how for n, c in plan.items() if c.how != "full"}
