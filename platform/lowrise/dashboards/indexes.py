"""The indexes dashboards want: one per widget shape, so that a widget over a large table
reads an index range instead of the table.

A widget narrowed by equality conditions (`stage in [...]`) and a date range reads the
rows of its period from an index that starts with those columns; when the index also holds
the columns the widget groups and measures (and the dashboard's filter fields), the
database never visits the table (a covering index). Widgets that narrow nothing read every
row anyway and ask for nothing. Widgets with the same leading columns share one index.
`lowrise.storage.tables.wanted_indexes` adds these to the indexes the workspace asks for.
"""

from __future__ import annotations

from lowrise.workspace.model import RecordType, Workspace

from .model import flat, load

MAX_COLUMNS = 8


def _columns(rt: RecordType, names) -> list[str]:
    out: list[str] = []
    for n in names:
        n = str(n).partition(":")[0].partition(".")[0]
        f = rt.fields.get(n)
        if f is not None and f.kind.sortable and n not in out and n != "id" and \
                f.kind.indexable:
            out.append(n)
    return out


def widget_indexes(ws: Workspace, rt: RecordType) -> list[tuple[tuple[str, ...], str, int]]:
    """(columns, why, lead) of the indexes the dashboards' widgets on `rt` want: the first
    `lead` columns in that order (what the widget narrows by, or sorts by), the others only
    for the index to hold them (any order, after the lead)."""
    wanted: dict[tuple[str, ...], tuple[list[str], str]] = {}
    sorted_by: list[tuple[tuple[str, ...], str, int]] = []
    listed: set[tuple[str, ...]] = set()  # the leads of list widgets
    for view in ws.views.values():
        if view.type != "dashboard":
            continue
        board = load(view, ws)
        controls = [c.fields[rt.name] for c in board.controls if rt.name in c.fields]
        for w in board.widgets:
            if w.record_type != rt.name:
                continue
            conds = flat(w.filter) or []
            # (a condition through a link pins the link's target, not the column itself)
            eq = [c["field"] for c in conds if c.get("op") in ("eq", "in")
                  and "." not in str(c["field"])]
            if w.kind == "list" and w.config.get("sort"):
                # A list over any range (all time too) walks its sort from the top and stops
                # at its few rows, as a table view's first page does.
                cols = _columns(rt, eq + [s.lstrip("-+") for s in w.config["sort"]])
                if cols:
                    key = tuple([*cols[: MAX_COLUMNS - 1], "id"])
                    sorted_by.append((key, f"dashboard {view.name}, widget {w.name} (its sort)",
                                      len(key)))
            lead = _columns(rt, eq + ([w.date_field] if w.date_field else []))
            if not lead or (not w.date_field and w.kind != "kpi"):
                continue
            first = w.group_by[0] if w.group_by else ""
            if w.date_field and not eq and first in rt.fields and \
                    rt.fields[first].kind.few_values:
                # A few groups over a long range (a funnel over this year): with the group
                # first, SQLite reads each group's range of days in turn (a skip-scan) and
                # never sorts the rows of the range to group them.
                lead = _columns(rt, [first, w.date_field])
            rest = [c["field"] for c in conds] + list(w.group_by) + controls
            for m in w.measures:
                rest += [m.field_name] if m.field_name else []
                rest += [c["field"] for c in flat(m.filter) or []]
            key = tuple(lead)
            if w.kind == "list":
                rest += [s.lstrip("-") for s in w.config.get("sort") or []]
                listed.add(key)
            cover, why = wanted.get(key, ([], f"dashboard {view.name}, widget {w.name}"))
            wanted[key] = (_columns(rt, [*cover, *rest]), why)
    out = []
    for lead, (cover, why) in wanted.items():
        cols = (list(lead) + [c for c in cover if c not in lead])[:MAX_COLUMNS]
        if lead in listed and len(cols) < MAX_COLUMNS:
            # A list reads its matches' ids and sort keys off this index alone (query's
            # matches_first): PostgreSQL's entries hold no id unless it is a column.
            cols.append("id")
        out.append((tuple(cols), why, min(len(lead), MAX_COLUMNS)))
    return out + sorted_by
