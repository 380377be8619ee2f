"""`lowrise check` on lookups, rollups, counts and formulas that read linked records: each
names a link and fields that exist and fit, and no chain of them leads back to itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from lowrise.errors import LowriseError
from lowrise.expr import Expression, ExpressionError
from lowrise.fields.relational import (
    aggregate_of,
    aggregates_of,
    expression_of,
    is_derived,
    is_lookup,
)

from .model import Field, RecordType, Workspace

if TYPE_CHECKING:
    from .checks import Context


def check_derived(ctx: Context, file: str, rt: RecordType, f: Field) -> None:
    """The problems of one lookup, rollup or count field."""
    at = ("fields", f.name)
    ws = ctx.workspace
    cfg = f.config
    if is_lookup(f):
        through = cfg.get("through")
        link = rt.fields.get(through)
        if link is None:
            if not ctx.field_known(rt, through):
                ctx.report(file, (*at, "through"), _not_a_field(ctx, rt, through))
            return
        target = link.target
        if not target or link.kind.family != "link":
            links = ", ".join(g.name for g in rt.user_fields if g.target) or "none"
            ctx.report(file, (*at, "through"), f"'{through}' is not a link field; a lookup "
                       f"reads a field of a linked record (link fields of {rt.name}: {links})")
            return
        other = ws.record_types.get(target)
        if other is None:
            return
        name = cfg.get("field")
        if name not in other.fields:
            if not ctx.field_known(other, name):
                ctx.report(file, (*at, "field"), _not_a_field(ctx, other, name))
        elif other.fields[name].kind.family == "file":
            ctx.report(file, (*at, "field"), f"'{name}' holds files, which a lookup cannot "
                       "show; link to the record instead")
        return
    source = ws.record_types.get(cfg.get("from"))
    if source is None:
        if not ctx.type_known(cfg.get("from")):
            ctx.report(file, (*at, "from"), _not_a_type(ctx, cfg.get("from")))
        return
    if source.name == rt.name:
        ctx.report(file, (*at, "from"), "a rollup or count over records of its own type "
                   f"({rt.name}) is not supported")
        return
    via = source.fields.get(cfg.get("via"))
    if via is None:
        if not ctx.field_known(source, cfg.get("via")):
            ctx.report(file, (*at, "via"), _not_a_field(ctx, source, cfg.get("via")))
        return
    if via.target != rt.name or via.kind.family != "link":
        fit = ", ".join(g.name for g in source.user_fields
                        if g.target == rt.name and g.kind.family == "link") or "none"
        ctx.report(file, (*at, "via"), f"'{via.name}' of {source.name} does not link to "
                   f"{rt.name} (the fields of {source.name} that do: {fit})")
        return
    agg = aggregate_of(f)
    if agg != "count":
        name = cfg.get("field")
        of = source.fields.get(name) if isinstance(name, str) else None
        if name is None:
            ctx.report(file, at, f"a rollup with aggregate {agg} needs 'field': the field of "
                       f"{source.name} to {agg}", key=True)
        elif of is None:
            if not ctx.field_known(source, name):
                ctx.report(file, (*at, "field"), _not_a_field(ctx, source, name))
        elif agg not in aggregates_of(of):
            fit = ", ".join(g.name for g in source.user_fields
                            if agg in aggregates_of(g)) or "none"
            ctx.report(file, (*at, "field"), f"'{name}' is {of.type}: {agg} takes a number"
                       f"{'' if agg in ('sum', 'avg') else ' or a date'} (fields of "
                       f"{source.name} that fit: {fit})")
    if cfg.get("filter") is not None:
        _check_filter(ctx, file, (*at, "filter"), source, ws, cfg["filter"])


def _check_filter(ctx: Context, file: str, path, source: RecordType, ws: Workspace,
                  data) -> None:
    from lowrise import filters  # filters reads the whole model; it is imported on use

    try:
        node = filters.parse(data, source, ws, strict_options=True)
    except LowriseError as exc:
        ctx.report(file, path, str(exc))
        return
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (filters.All, filters.Any)):
            stack.extend(n.items)
        elif isinstance(n, filters.Not):
            stack.append(n.item)
        elif isinstance(n, filters.Condition):
            if len(n.path) > 1:
                ctx.report(file, path, f"'{'.'.join(n.path)}' goes through a link: a rollup's "
                           "filter reads fields of the records it counts only (add a lookup "
                           "there and filter on it)")
            values = n.value if isinstance(n.value, (list, tuple)) else [n.value]
            if any(isinstance(v, filters.Me) for v in values):
                ctx.report(file, path, "'me' is whoever reads, but a rollup is computed once "
                           "for everyone: compare with a field instead")


def link_names(rt: RecordType, ws: Workspace) -> set[str]:
    """`link.field` names a formula of rt may read."""
    out = set()
    for f in rt.user_fields:
        other = ws.record_types.get(f.target) if f.target else None
        if other is not None and f.kind.family == "link":
            out |= {f"{f.name}.{g}" for g in other.fields}
    return out


def check_cycles(ctx: Context) -> None:
    """Lookups, rollups and formulas that read each other in a loop, across types: each
    loop once, at its first field."""
    ws = ctx.workspace
    deps: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for rt in ws.record_types.values():
        for f in rt.user_fields:
            reads = _reads(ws, rt, f)
            if reads is not None:
                deps[(rt.name, f.name)] = reads
    reported: set[frozenset] = set()

    def walk(node, trail) -> Iterator[list]:
        for dep in sorted(deps.get(node, ())):
            if dep == trail[0]:
                yield [*trail, dep]
            elif dep not in trail and dep in deps:
                yield from walk(dep, [*trail, dep])

    for start in sorted(deps):
        for cycle in walk(start, [start]):
            members = frozenset(cycle)
            if members in reported:
                continue
            reported.add(members)
            rt = ws.record_types[start[0]]
            # formulas of one type in a loop are reported by the formula check already
            if all(n[0] == start[0] and expression_of(rt.fields[n[1]]) is not None
                   for n in cycle):
                continue
            words = " → ".join(f"{t}.{n}" for t, n in cycle)
            ctx.report(rt.loc.file, ("fields", start[1]), "these fields are computed from "
                       f"each other in a loop, so none can be computed: {words}; break the "
                       "loop by reading a field that is entered, not computed", key=True)


def _reads(ws: Workspace, rt: RecordType, f: Field) -> set[tuple[str, str]] | None:
    """The (type, field)s a computed field reads, or None for a field entered by people."""
    cfg = f.config
    if expression_of(f) is not None:
        try:
            names = Expression(expression_of(f)).names
        except ExpressionError:
            return set()
        out = set()
        for n in names:
            link, _, name = n.partition(".")
            g = rt.fields.get(link)
            if name and g is not None and g.target:
                out |= {(rt.name, link), (g.target, name)}
            elif not name:
                out.add((rt.name, n))
        return out
    if not is_derived(f):
        return None
    if is_lookup(f):
        link = rt.fields.get(cfg.get("through"))
        if link is None or not link.target:
            return set()
        return {(rt.name, link.name), (link.target, cfg.get("field"))}
    source = cfg.get("from")
    out = {(source, cfg.get("via"))}
    if aggregate_of(f) != "count" and cfg.get("field"):
        out.add((source, cfg["field"]))
    return out


def _not_a_field(ctx, rt, name):
    from .checks import _not_a_field as say

    return say(ctx, rt, name)


def _not_a_type(ctx, name):
    from .checks import _not_a_type as say

    return say(ctx, name)
