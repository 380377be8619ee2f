"""A table's state in its URL, so that a filtered, sorted view can be bookmarked and shared.

`?f0=stage&o0=in&v0=lead&v0=viewing&f1=amount&o1=gte&v1=1000000&sort=-amount&q=wang&group=stage`

A condition names a field of the type or a path through links (`f0=client.source`), as
the filter language does: a dashboard's group through a link drills down to its records.

Conditions are numbered; a condition that does not fit its field is dropped and reported,
never an error page. The result is data in the one filter language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from lowrise import filters
from lowrise.errors import FilterError
from lowrise.workspace.model import Field, RecordType, View, Workspace

MAX_CONDITIONS = 20
SHAPES = {name: op.shape for name, op in filters.OPERATORS.items()}


@dataclass
class Cond:
    field: str
    op: str
    values: list[str] = field(default_factory=list)
    problem: str = ""
    #: the fields `field` goes through, the compared one last (one for a field of the type;
    #: `client.source`: the link, then the linked type's field), for the filter row's words
    path: tuple[Field, ...] = ()

    def data(self) -> dict[str, Any]:
        """The condition in the filter language."""
        shape = SHAPES.get(self.op, "one")
        out: dict[str, Any] = {"field": self.field, "op": self.op}
        vals = [v.strip() for v in self.values if v.strip()]
        if shape == "none":
            return out
        if shape in ("many", "pair"):
            if len(vals) == 1 and "," in vals[0]:
                vals = [p.strip() for p in vals[0].replace("，", ",").split(",") if p.strip()]
            out["value"] = vals
        else:
            out["value"] = vals[0] if vals else None
        return out


@dataclass
class TableState:
    conds: list[Cond]
    sort: list[str]
    q: str
    group: str | None
    after: str | None
    problems: list[str]
    page: int = 1  # `page=`: a small jump by page number, beside the cursors


    def user_filter(self) -> dict[str, Any] | None:
        good = [c.data() for c in self.conds if not c.problem]
        return {"all": good} if good else None

    def args(self, **changes: Any) -> MultiDict:
        """The query string of this state, with some parts changed (None removes a part)."""
        out: MultiDict = MultiDict()
        for i, c in enumerate(changes.get("conds", self.conds)):
            out.add(f"f{i}", c.field)
            out.add(f"o{i}", c.op)
            for v in c.values:
                out.add(f"v{i}", v)
        for key in ("sort", "q", "group", "after"):
            value = changes.get(key, getattr(self, key))
            if key == "sort":
                value = ",".join(value) if value else None
            if value:
                out.add(key, value)
        if (changes.get("page") or 1) > 1:  # any other change starts again at the first page
            out.add("page", str(changes["page"]))
        return out


def filterable(rt: RecordType) -> list[Field]:
    """Fields a person can filter on, the declared ones first."""
    return [f for f in rt.user_fields + [f for f in rt.fields.values() if f.system]
            if filters.operators_for(f)]


def condition_path(name: str, rt: RecordType, ws: Workspace) -> tuple[Field, ...]:
    """The fields a condition names: the type's own, or a path through links to a linked
    record's field (`client.source`: a dashboard's group through a link drills down with
    one); empty when there is no such field."""
    if "." not in name:
        return (rt.fields[name],) if name in rt.fields else ()
    try:
        return filters.resolve_path(name, rt, ws)
    except FilterError:
        return ()


def sortable(f: Field) -> bool:
    return bool(f.kind.sortable)


def parse_state(args: MultiDict, ws: Workspace, rt: RecordType, view: View) -> TableState:
    """Read the table state from the query string."""
    conds: list[Cond] = []
    problems: list[str] = []
    removed = args.get("remove", type=int)
    for i in range(MAX_CONDITIONS):
        name = args.get(f"f{i}")
        if not name or i == removed:
            continue
        path = condition_path(name, rt, ws)
        if not path:
            problems.append(f"{name}: not a field of {rt.label}")
            continue
        f = path[-1]
        ops = filters.operators_for(f)
        op = args.get(f"o{i}") or ops[0]
        if op not in ops:
            op = ops[0]
        c = Cond(name, op, args.getlist(f"v{i}"), path=path)
        data = c.data()
        needs_value = SHAPES.get(op) != "none"
        if needs_value and not data.get("value"):
            c.problem = "incomplete"  # a row being built: shown, not applied, not an error
        else:
            found = filters.check(data, rt, ws)
            if found:
                c.problem = "; ".join(found)
                problems.append(c.problem)
        conds.append(c)
    sort = [s for s in (args.get("sort") or "").split(",") if s]
    sort = [s for s in sort if s.lstrip("-") in rt.fields
            and sortable(rt.fields[s.lstrip("-")])] or list(view.sort) or ["-updated_at"]
    group = args.get("group", view.config.get("group_by"))
    if group is not None and (group not in rt.fields
                              or not (rt.fields[group].kind.stages
                                      or rt.fields[group].kind.links)):
        group = None
    page = args.get("page", type=int) or 1
    return TableState(conds, sort, (args.get("q") or "").strip(), group or None,
                      args.get("after") or None, problems, page if page > 1 else 1)
