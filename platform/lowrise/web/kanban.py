"""Kanban boards: one column per option of a select field, in the options' order.

A board takes the same filters as a table (the filter builder, saved in the URL) and a quick
search. On a small type the page comes with every column's count, sum and first cards; on a
large one (more records than LOWRISE_KANBAN_INLINE) the page comes at once with empty columns
that each load their own totals and first cards in a request of their own (htmx, on load), so
that the first response does not wait for the slowest column; every column loads more cards
as one scrolls to its end.

Each card carries the columns its record may not move to, with the reason, worked out from
the workspace's stage rules (transitions, roles, required fields) and the person's rights, so
that the board greys them out while a card is dragged. The server still decides: a move is a
POST that goes through Records.update with the card's version, so the engine (and the rules it
runs) decide; a refused move answers with the reason, and the board puts the card back.
"""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block

from lowrise import filters
from lowrise.access import Masked
from lowrise.errors import ConflictError, FilterError, NotFound, ValidationError
from lowrise.rules.engine import linked_present, rule_set
from lowrise.storage import query

from . import data
from .auth import actor
from .display import text
from .forms import posted_version
from .guard import policy, require
from .i18n import current_locale, field_problems, label, say
from .pages import op_label, searchable_fields, url_with
from .render import render
from .runtime import rt
from .viewdefs import record_type_or_404, view_or_404
from .viewstate import SHAPES, parse_state

bp = Blueprint("kanban", __name__)

EMPTY = "__empty__"
#: records of a type up to which a board comes whole in its first response (above: columns
#: load after the page)
INLINE_UP_TO = 5_000


def _setup(type_name: str, view_name: str):
    ws = rt().workspace
    rtype = record_type_or_404(ws, type_name)
    require("read", type_name)
    view = view_or_404(ws, type_name, view_name, "kanban")
    group = rtype.fields.get(view.config.get("group_by") or "")
    if group is None or not group.kind.stages:
        abort(404)
    return rtype, view, group


def _card_title(rtype, view):
    """The field a card is titled by (`card_title`), when it is not the record's title."""
    f = rtype.fields.get(view.config.get("card_title") or "")
    return f if f is not None and f.name != rtype.title_field else None


def _card_fields(rtype, view):
    names = view.config.get("card_fields") or []
    shown = {rtype.title_field, view.config.get("card_title")}
    return [rtype.fields[n] for n in names if n in rtype.fields and n not in shown]


def _sum_field(rtype, view):
    f = rtype.fields.get(view.config.get("sum") or "")
    return f if f is not None and filters.flavor(f) == "number" else None


class Board:
    """One request's board: the view, its group field, the person's filters from the URL."""

    def __init__(self, type_name: str, view_name: str) -> None:
        self.rtype, self.view, self.group = _setup(type_name, view_name)
        self.state = parse_state(request.args, rt().workspace, self.rtype, self.view)
        self.problems = list(self.state.problems)
        try:
            self.base = data.combined(self.rtype, self.view.filter, self.state.user_filter())
        except FilterError as exc:
            self.problems.append(say(exc))
            self.base = data.combined(self.rtype, self.view.filter)
        self.q = self.state.q or None
        self.sum_field = _sum_field(self.rtype, self.view)
        self.card_fields = _card_fields(self.rtype, self.view)
        self.card_title = _card_title(self.rtype, self.view)
        self.locale = current_locale()
        self.args = self.state.args(sort=[], group=None, after=None)  # the filters, for links
        enforced = current_app.config.get("LOWRISE_RULES", True)
        self.stages = [sr for sr in rule_set(rt().workspace).stages.get(self.rtype.name, ())
                       if sr.field == self.group.name] if enforced else []
        self._linked: dict = {}  # need -> ids of the cards that have it
        self._asked: set = set()
        self._refused: dict = {}  # record id -> {column: why not}
        self._keys: dict = {}  # refused_key -> {column: why not}

    def url(self, endpoint: str, after: str | None = None, **values) -> str:
        """A URL of this board (the page, a column, a move) keeping the person's filters."""
        base = url_for(endpoint, type_name=self.rtype.name, view_name=self.view.name, **values)
        args = self.args.copy()
        if after:
            args["after"] = after
        return url_with(base, args)

    def more_url(self, col) -> str:
        """The next cards of a column."""
        return self.url("kanban.column", key=col["key"], after=col["page"].next_cursor)

    def table_url(self, value) -> str:
        """The records of one column in a table (what a column links to without JavaScript)."""
        if value is None:
            return url_for("pages.table", type_name=self.rtype.name, f0=self.group.name,
                           o0="is_empty")
        return url_for("pages.table", type_name=self.rtype.name, f0=self.group.name,
                       o0="eq", v0=value)

    def value_of(self, key: str):
        value = None if key == EMPTY else key
        if value is not None and self.group.option(value) is None:
            abort(404)
        return value

    def column_filter(self, value):
        cond = ({"field": self.group.name, "op": "is_empty"} if value is None
                else {"field": self.group.name, "op": "eq", "value": value})
        return filters.all_of(self.base, data.parse_filter(self.rtype, cond))

    def _measures(self) -> list[str]:
        return ["count"] + ([f"sum:{self.sum_field.name}"] if self.sum_field else [])

    def _total(self, row) -> dict:
        sf = self.sum_field
        return {"count": row.get("count") or 0,
                "sum": text(sf, row.get(f"sum:{sf.name}"), self.locale) if sf else ""}

    def totals(self) -> dict:
        """{option value: {"count": n, "sum": formatted}} for every column, in one query."""
        run = rt()
        with run.engine.connect() as conn:
            rows = query.aggregate(conn, run.schema, self.rtype.name,
                                   group_by=[self.group.name], measures=self._measures(),
                                   filter=self.base, ctx=actor(), q=self.q)
        return {r[self.group.name]: self._total(r) for r in rows}

    def column_totals(self, values) -> dict:
        """The totals of some columns only, a query each (a moved card's two columns, one
        column loading on its own): each reads one stage's rows through the group's index."""
        run = rt()
        out = {}
        with run.engine.connect() as conn:
            for value in values:
                rows = query.aggregate(conn, run.schema, self.rtype.name,
                                       measures=self._measures(),
                                       filter=self.column_filter(value), ctx=actor(), q=self.q)
                out[value] = self._total(rows[0] if rows else {})
        return out

    def cards(self, value, after=None):
        run = rt()
        limit = int(current_app.config["LOWRISE_KANBAN_PAGE"])
        wanted = [f.name for f in self._shown()] + [self.rtype.title_field, "version",
                                                    self.group.name]
        for sr in self.stages:  # what the stage rules look at to judge a move
            for names in sr.required.values():
                wanted += list(names)
        wanted += rule_set(rt().workspace).deadline_fields(self.rtype.name)  # the cards' limits
        wanted = [n for n in dict.fromkeys(wanted) if n in self.rtype.fields and n != "id"]
        with run.engine.connect() as conn:
            page = query.list_records(conn, run.schema, self.rtype.name,
                                      filter=self.column_filter(value),
                                      sort=self.view.sort or ["-updated_at"], limit=limit,
                                      after=after, fields=wanted, ctx=actor(), q=self.q)
            self._look_up_linked(conn, [r["id"] for r in page.rows])
        return page

    def _shown(self) -> list:
        """The fields a card shows: its title's (when set) and the card's fields."""
        return ([self.card_title] if self.card_title else []) + self.card_fields

    def title_of(self, rec, titles) -> str:
        """The card's title from `card_title` (a linked record's title for a link field), or
        "" when the view titles cards by the record's title or the card's value is empty."""
        f = self.card_title
        value = rec.get(f.name) if f else None
        if value is None or value == "" or value == []:
            return ""
        if isinstance(value, Masked):
            return str(value)
        if f.kind.links:
            ids = value if isinstance(value, list) else [value]
            return ", ".join(titles.get((f.target, i)) or f"#{i}" for i in ids)
        return text(f, value, self.locale)

    def _look_up_linked(self, conn, ids) -> None:
        """Which of these cards have the linked records a stage needs (a signed contract of
        the case): one query a need, so that the board can say why before the drop."""
        for sr in self.stages:
            for needs in sr.linked.values():
                for need in needs:
                    have = self._linked.setdefault(id(need), set())
                    have |= linked_present(conn, rt().schema, need, ids)
        self._asked.update(ids)

    def _look_up_linked_one(self, rec) -> None:
        run = rt()
        with run.engine.connect() as conn:
            self._look_up_linked(conn, [rec["id"]])

    def _linked_check(self, rec):
        if rec.get("id") not in self._asked:
            return None
        return lambda need: rec["id"] in self._linked.get(id(need), ())

    def refused_key(self, rec) -> str:
        """A short name of this card's refusals (`refused`), the same for every card that is
        refused the same columns for the same reasons: cards carry the name, and each list
        of cards carries what its names stand for once (`reasons`), not each card."""
        out = self.refused(rec)
        if not out:
            return ""
        key = hashlib.blake2s(json.dumps(out, sort_keys=True).encode(), digest_size=5).hexdigest()
        self._keys[key] = out
        return key

    def reasons(self, rows) -> str:
        """What these cards' refusal names stand for, as JSON for an attribute: each reason
        once ("why") and, for each name, {column: the reason's place in "why"}."""
        why: dict[str, int] = {}
        names = {}
        for key in sorted({self.refused_key(r) for r in rows} - {""}):
            names[key] = {col: why.setdefault(text, len(why))
                          for col, text in sorted(self._keys[key].items())}
        return json.dumps({"why": list(why), "names": names}, ensure_ascii=False) if names else ""

    def refused(self, rec) -> dict[str, str]:
        cached = self._refused.get(rec.get("id"))
        if cached is None:
            cached = self._refused[rec.get("id")] = self._work_out_refused(rec)
        return cached

    def _work_out_refused(self, rec) -> dict[str, str]:
        """{column key: why not} for every column this card may not be moved to by this
        person: the stage rules (transitions, roles, required fields) and the field's rights."""
        current = rec.get(self.group.name)
        keys = [o.value for o in self.group.options if o.value != current]
        pol = policy()
        if not (pol.may("update", self.rtype.name)
                and pol.may_write_field(self.rtype.name, self.group.name, rec)):
            why = _("You may not change %(field)s here.", field=label(self.group.label,
                                                                     self.locale))
            return dict.fromkeys(keys, why)
        if not self.stages:
            return {}
        rules, who = rule_set(rt().workspace), actor()
        out = {}
        for key in keys:
            verdict = rules.check_move(self.rtype.name, rec, {self.group.name: key}, who,
                                       linked=self._linked_check(rec))
            if not verdict:
                out[key] = say(verdict.as_msg())
        return out

    def column(self, value, *, totals=None, page=None) -> dict:
        opt = self.group.option(value) if value is not None else None
        return {"value": value, "key": EMPTY if value is None else value,
                "label": label(opt.label, self.locale) if opt else _("(empty)"),
                "color": opt.color if opt else "gray", "page": page,
                "loaded": page is not None,
                "count": (totals or {}).get("count", 0), "sum": (totals or {}).get("sum", ""),
                "url": self.url("kanban.column", key=EMPTY if value is None else value),
                "table_url": self.table_url(value)}

    def context(self, rows, **more) -> dict:
        """What the board's template needs, with the titles of the cards' linked records."""
        return dict(board=self, rtype=self.rtype, view=self.view, group=self.group,
                    card_fields=self.card_fields, sum_field=self.sum_field, state=self.state,
                    titles=data.titles_for(self._shown(), rows, self.locale),
                    current_type=self.rtype.name, current_view=self.view, **more)


def _inline(board: Board) -> bool:
    """Whether the board comes whole in its first response (a type of few records)."""
    run = rt()
    with run.engine.connect() as conn:
        n = query.estimate_count(conn, run.schema, board.rtype.name)
    return n <= int(current_app.config.get("LOWRISE_KANBAN_INLINE", INLINE_UP_TO))


@bp.route("/r/<type_name>/kanban/<view_name>")
def board(type_name: str, view_name: str):
    b = Board(type_name, view_name)
    values = [o.value for o in b.group.options]
    columns = []
    if _inline(b):
        totals = b.totals()
        if totals.get(None):
            values.append(None)
        columns = [b.column(v, totals=totals.get(v), page=b.cards(v)) for v in values]
    else:  # each column loads its own totals and cards
        if not b.group.required:
            values.append(None)
        columns = [b.column(v) for v in values]
    return render("kanban.html", "board", problems=b.problems,
                  fields=searchable_fields(b.rtype), shapes=SHAPES, op_label=op_label,
                  base_url=url_for(".board", type_name=type_name, view_name=view_name),
                  title=label(b.view.label, b.locale), **b.context([r for c in columns if c["page"] for r in c["page"].rows],
                             columns=columns))


@bp.route("/r/<type_name>/kanban/<view_name>/column/<key>")
def column(type_name: str, view_name: str, key: str):
    """One column: with `after`, its next cards (htmx "load more"); without, the whole column
    with its count and sum (a column loading after the page)."""
    b = Board(type_name, view_name)
    value = b.value_of(key)
    after = request.args.get("after")
    try:
        page = b.cards(value, after=after)
        totals = None if after else b.column_totals([value])[value]
    except FilterError:
        abort(400)
    col = b.column(value, totals=totals, page=page)
    block = "cards" if after else "column"
    return render_block("kanban.html", block, **b.context(page.rows, col=col))


@bp.route("/r/<type_name>/kanban/<view_name>/move")
def move_page(type_name: str, view_name: str):
    """Where a card's "Move to…" leads without JavaScript: the columns it may go to, in a
    form that posts the move (with JavaScript the same button opens a menu on the board)."""
    b = Board(type_name, view_name)
    record_id = request.args.get("id", type=int)
    if record_id is None:
        abort(404)
    try:
        rec = rt().records.get(type_name, record_id, actor=actor())
    except NotFound:
        abort(404)
    b._look_up_linked_one(rec)
    return render("kanban_move.html", rec=rec, refused=b.refused(rec),
                  move_url=b.url(".move"), back=b.url(".board"),
                  title=_("Move to"), **b.context([rec]))


@bp.route("/r/<type_name>/kanban/<view_name>/move", methods=["POST"])
def move(type_name: str, view_name: str):
    """Move a card to another column: an update of the group field, with the card's version."""
    run = rt()
    b = Board(type_name, view_name)
    rtype, group = b.rtype, b.group
    wants_json = request.accept_mimetypes.best == "application/json"
    record_id = request.form.get("id", type=int)
    to = request.form.get("to") or None
    if to == EMPTY:
        to = None
    back = b.url(".board")
    try:
        if record_id is None:
            raise NotFound(_("no card given"))
        came_from = run.records.get(type_name, record_id, actor=actor()).get(group.name)
        saved = run.records.update(type_name, record_id, {group.name: to}, actor(),
                                   expected_version=posted_version(rtype, record_id, "version"))
    except (ValidationError, ConflictError, NotFound) as exc:
        if isinstance(exc, ValidationError):
            message = "; ".join(field_problems(rtype, exc.errors))
            status = 422
        else:
            message, status = say(exc), 409 if isinstance(exc, ConflictError) else 404
        if wants_json:
            return jsonify(ok=False, message=message), status
        flash(message, "error")
        return redirect(back)
    opt = group.option(to) if to else None
    message = _("Moved to %(column)s.",
                column=label(opt.label, b.locale) if opt else _("(empty)"))
    if not wants_json:
        flash(message, "success")
        return redirect(back)
    totals = b.column_totals(dict.fromkeys([came_from, to]))
    card = render_block("kanban.html", "card", rec=saved, whole_reasons=True,
                        **b.context([saved]))
    return jsonify(ok=True, version=saved["version"], card=card, message=message,
                   columns={(EMPTY if v is None else v): t for v, t in totals.items()})
