"""The `manage` permission: who may change a record type's schema (fields, options, views).

A schema change names the record types it touches (a view change touches the view's type);
the person needs `manage` on every one of them. `lowrise.workspace.edit.commit` asks this
when given a Policy, and the settings pages ask it before showing anything. No Flask.
"""

from __future__ import annotations

from collections.abc import Iterable

from lowrise.errors import Forbidden

from .policy import Policy


def touched_types(policy: Policy, changes: Iterable) -> set[str]:
    """The record types the changes touch (a view's record type for a view change)."""
    out: set[str] = set()
    for c in changes:
        if c.kind == "add_view":
            out.add(str(c.definition.get("record_type") or ""))
        elif c.kind == "edit_view":
            view = policy.ws.views.get(c.name)
            out.add(view.record_type if view is not None and view.record_type else "")
        else:
            out.add(c.record_type)
    return out


def managed_types(policy: Policy) -> list[str]:
    """The record types whose schema the person may change."""
    return [n for n in policy.ws.record_types if policy.may("manage", n)]


def require_manage(policy: Policy, changes: Iterable) -> None:
    """Forbidden unless the person may `manage` every record type the changes touch."""
    for name in sorted(touched_types(policy, changes)):
        if not name and not policy.is_admin:
            raise Forbidden("only an administrator may change a view of no record type")
        if name:
            policy.require("manage", name)
