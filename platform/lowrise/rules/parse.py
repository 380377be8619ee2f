"""automations/<rule>.yaml → a typed Rule, checked against the workspace once.

`parse_rule` raises RuleError listing every problem; `rule_problems` returns them as
(path, message) pairs for the workspace loader, which turns a path into file:line:column.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import time
from typing import Any

from lowrise import filters
from lowrise.errors import FieldError, FilterError, LowriseError
from lowrise.expr import Expression, ExpressionError
from lowrise.i18n import msg
from lowrise.workspace.automation_schema import (
    ACTION_SETTINGS,
    MAX_WEBHOOK_TIMEOUT,
    TRIGGER_SETTINGS,
)
from lowrise.workspace.model import Label, RecordType, Workspace
from lowrise.workspace.model import Rule as RuleConfig

from . import conditions as conds
from .model import (
    ACTION_KINDS,
    TRIGGER_KINDS,
    Action,
    ApprovalEnded,
    Assign,
    Block,
    CallWebhook,
    ChatBot,
    Comment,
    Created,
    CreateRecord,
    Delay,
    Deleted,
    FieldChanged,
    IncomingWebhook,
    LinkedNeed,
    Manual,
    Matches,
    Notify,
    Recipients,
    Rule,
    Schedule,
    SetFields,
    StageRules,
    TimeTrigger,
    Updated,
    UpdateLinked,
    Value,
    WorkingHours,
)
from .outbox import DEFAULT_TIMEOUT
from .templates import Localized, Template, TemplateProblem
from .timing import DAY_NAMES, TimingError, check_cron, parse_duration

#: names an action's expression may read besides the record's fields
EXTRA_NAMES = {"actor", "record_id"}
#: what a rule file holds
RULE_SETTINGS = ("record_type", "label", "description", "enabled", "trigger", "conditions",
                 "actions", "stages", "deadline")
Path = tuple[Any, ...]


# A path (`client.vip_rate`) outside quoted text; a quoted text is matched to be skipped.
_PATH = re.compile(r"(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
                   r"|(?<![\w.])([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)(?![\w(])")


def paths_in(text: str) -> tuple[str, dict[str, tuple[str, ...]]]:
    """The expression with each path through links renamed (`client.vip_rate` becomes
    `P_client_D_vip_rate`: capitals never occur in field names, so no field is shadowed),
    and the paths by their new names."""
    paths: dict[str, tuple[str, ...]] = {}

    def rename(m: re.Match) -> str:
        if m.group(1):
            return m.group(1)
        steps = tuple(m.group(2).split("."))
        alias = "P_" + "_D_".join(steps)
        paths[alias] = steps
        return alias

    return _PATH.sub(rename, text), paths


def link_path_problem(ws: Workspace, rt: RecordType, steps: tuple[str, ...]) -> str | None:
    """What is wrong with a path through links from `rt` (None: nothing)."""
    for i, step in enumerate(steps):
        f = rt.fields.get(step)
        if f is None:
            return f"{rt.name} has no field '{step}'"
        if i == len(steps) - 1:
            return None
        target = filters.link_target(f, ws)
        if target is None or target not in ws.record_types:
            return f"'{step}' is not a link, so '.{steps[i + 1]}' cannot follow it"
        rt = ws.record_types[target]
    return None


class RuleError(LowriseError):
    """A rule does not fit the workspace; `problems` lists (path, message)."""

    def __init__(self, rule: str, problems: list[tuple[Path, str]]):
        self.rule, self.problems = rule, problems
        shown = "; ".join(f"{'.'.join(map(str, p)) or 'rule'}: {m}" for p, m in problems)
        super().__init__(f"rule {rule}: {shown}")


class _Parser:
    def __init__(self, ws: Workspace, name: str):
        self.ws, self.name = ws, name
        self.problems: list[tuple[Path, str]] = []

    def fail(self, path: Path, message: str) -> None:
        self.problems.append((path, message))

    def settings(self, raw: Any, allowed: tuple[str, ...], path: Path, what: str) -> None:
        """A problem for every key of the mapping `raw` that is not one of `allowed` (a typo
        would otherwise be a setting quietly ignored), with the likely word."""
        if not isinstance(raw, Mapping):
            return
        for key in raw:
            if key in allowed:
                continue
            near = difflib.get_close_matches(str(key), allowed, n=1)
            self.fail((*path, key), msg(
                "'%(key)s' is not a setting of %(what)s; did you mean '%(near)s'? (settings: "
                "%(allowed)s)", key=key, what=what, near=near[0], allowed=", ".join(allowed))
                if near else msg("'%(key)s' is not a setting of %(what)s (settings: "
                                 "%(allowed)s)", key=key, what=what,
                                 allowed=", ".join(allowed)))

    # -- pieces ----------------------------------------------------------------------------
    def field(self, rt: RecordType, name: Any, path: Path, *, writable: bool = False) -> str | None:
        if not isinstance(name, str) or name not in rt.fields:
            self.fail(path, f"'{name}' is not a field of {rt.name}"
                      f"{filters.did_you_mean(str(name), rt.fields)}")
            return None
        f = rt.fields[name]
        if writable and (f.system or f.kind.generated):
            self.fail(path, f"'{name}' is computed by the engine ({f.type}); a rule cannot set it")
            return None
        return name

    def condition(self, data: Any, rt: RecordType, path: Path) -> conds.Condition | None:
        if data is None:
            return None
        try:
            return conds.parse(data, rt, self.ws)
        except FilterError as exc:
            self.fail(path, str(exc))
            return None

    def filter(self, data: Any, rt: RecordType, path: Path) -> filters.Node | None:
        if data is None:
            return None
        problems = filters.check(data, rt, self.ws)
        for p in problems:
            self.fail(path, p)
        return None if problems else filters.parse(data, rt, self.ws)

    def template(self, raw: Any, path: Path) -> Template | None:
        try:
            return Template.compile(raw)
        except TemplateProblem as exc:
            self.fail(path, str(exc))
            return None

    def localized(self, raw: Any, path: Path) -> Localized | None:
        """A message template, or one per locale ({en: ..., zh: ...}) as labels are."""
        texts = raw if isinstance(raw, Mapping) else {"": raw}
        if not texts:
            self.fail(path, "a message needs its text, or one per locale ({en: ..., zh: ...})")
            return None
        compiled = {}
        for locale, source in texts.items():
            if locale and locale not in self.ws.locales:
                self.fail((*path, locale), f"'{locale}' is not one of the workspace's "
                          f"locales ({', '.join(self.ws.locales)})")
                return None
            t = self.template(source, (*path, locale) if locale else path)
            if t is None:
                return None
            compiled[str(locale)] = t
        return Localized(compiled)

    def duration(self, raw: Any, path: Path) -> float | None:
        try:
            return parse_duration(raw)
        except TimingError as exc:
            self.fail(path, str(exc))
            return None

    def expression(self, text: str, source: RecordType, names: set[str]) -> Value:
        """An action's expression; paths through links (`client.vip_rate`) are checked
        against the workspace and become names of their own (see paths_in)."""
        mangled, paths = paths_in(text)
        for steps in paths.values():
            problem = link_path_problem(self.ws, source, steps)
            if problem:
                raise ExpressionError(f"'{'.'.join(steps)}' in '{text}': {problem}")
        if not paths:
            return Value(expr=Expression(text, allowed_names=names))
        return Value(expr=Expression(mangled, allowed_names=names | set(paths)),
                     paths=paths, source=text)

    def values(self, rt: RecordType, raw: Any, path: Path, source: RecordType) -> dict[str, Value]:
        """Field values to write on `rt`; expressions read the fields of `source`."""
        if not isinstance(raw, Mapping) or not raw:
            self.fail(path, "expected field: value lines")
            return {}
        out: dict[str, Value] = {}
        names = set(source.fields) | EXTRA_NAMES
        for key, v in raw.items():
            name = self.field(rt, key, (*path, key), writable=True)
            if name is None:
                continue
            if isinstance(v, Mapping):
                self.settings(v, ("expr",), (*path, key), msg("a computed value"))
                if "expr" not in v:
                    self.fail((*path, key), msg("a computed value is written {expr: ...}"))
                    continue
            if isinstance(v, Mapping):
                try:
                    out[name] = self.expression(str(v["expr"]), source, names)
                except ExpressionError as exc:
                    self.fail((*path, key, "expr"), str(exc))
                continue
            f = rt.fields[name]
            if v is not None:
                try:
                    f.kind.parse(f, v)
                except FieldError as exc:
                    self.fail((*path, key), f"{exc}")
                    continue
                except (TypeError, ValueError):
                    self.fail((*path, key), f"{v!r} is not a value for {name}")
                    continue
            out[name] = Value(literal=v)
        return out

    # -- the trigger -------------------------------------------------------------------------
    def trigger(self, raw: Any, rt: RecordType):
        path: Path = ("trigger",)
        if isinstance(raw, str):
            raw = {"kind": raw}
        if not isinstance(raw, Mapping):
            self.fail(path, f"expected a trigger with a kind: {', '.join(TRIGGER_KINDS)}")
            return None
        kind = raw.get("kind")
        p = lambda k: (*path, k)  # noqa: E731
        if kind in TRIGGER_SETTINGS:
            self.settings(raw, ("kind", *TRIGGER_SETTINGS[kind]), path,
                          msg("the %(kind)s trigger", kind=kind))
        if kind == "created":
            return Created()
        if kind == "deleted":
            return Deleted()
        if kind == "matches":
            return Matches()
        if kind == "updated":
            names = raw.get("fields") or []
            names = [names] if isinstance(names, str) else names
            return Updated(tuple(n for i, n in enumerate(names)
                                 if self.field(rt, n, (*path, "fields", i))))
        if kind == "field_changed":
            name = self.field(rt, raw.get("field"), p("field"))
            if name is None:
                return None
            try:
                frm = (conds.parse_values(rt, name, raw["from"]) if "from" in raw else None)
                to = conds.parse_values(rt, name, raw["to"]) if "to" in raw else None
            except FilterError as exc:
                self.fail(path, str(exc))
                return None
            return FieldChanged(name, frm, to)
        if kind == "time":
            return self.time_trigger(raw, rt, path)
        if kind == "schedule":
            try:
                check_cron(raw.get("cron"))
            except TimingError as exc:
                self.fail(p("cron"), str(exc))
                return None
            return Schedule(raw["cron"], int(raw.get("limit", 1000)))
        if kind == "manual":
            return Manual(Label.of(raw["label"], self.name) if raw.get("label") else None)
        if kind == "webhook":
            if not raw.get("secret_env") and not raw.get("secret"):
                self.fail(path, "an incoming webhook needs secret_env (the environment "
                                "variable holding its secret) or secret")
            return IncomingWebhook(raw.get("secret_env"), raw.get("secret"),
                                   str(raw.get("record_key", "id")))
        if kind in ("approved", "refused"):
            name = raw.get("approval")
            if name is not None and name not in self.ws.approvals:
                self.fail(p("approval"), f"'{name}' is not an approval"
                          f"{filters.did_you_mean(str(name), list(self.ws.approvals))}")
            return ApprovalEnded(kind, name)
        self.fail(p("kind"), f"{kind!r} is not a trigger; use one of {', '.join(TRIGGER_KINDS)}"
                  f"{filters.did_you_mean(str(kind), TRIGGER_KINDS)}")
        return None

    def time_trigger(self, raw: Mapping, rt: RecordType, path: Path) -> TimeTrigger | None:
        frm = raw.get("field")
        if frm is not None:
            frm = self.field(rt, frm, (*path, "field"))
            if frm and not rt.fields[frm].kind.value_type(rt.fields[frm]).calendar:
                self.fail((*path, "field"), f"'{frm}' is {rt.fields[frm].type}; a time trigger "
                          "counts from a date or datetime field")
                frm = None
        after = raw.get("after", 0)
        if isinstance(after, Mapping):
            self.settings(after, ("by", "durations", "otherwise"), (*path, "after"),
                          msg("a delay by field"))
            by = self.field(rt, after.get("by"), (*path, "after", "by"))
            table = {}
            for k, v in (after.get("durations") or {}).items():
                s = self.duration(v, (*path, "after", "durations", k))
                if s is not None:
                    table[str(k)] = s
            if by and rt.fields[by].options:
                known = {o.value for o in rt.fields[by].options}
                for k in table:
                    if k not in known:
                        self.fail((*path, "after", "durations", k),
                                  f"'{k}' is not an option of {by}")
            other = after.get("otherwise")
            delay = Delay(by=by, table=table,
                          otherwise=None if other is None else self.duration(
                              other, (*path, "after", "otherwise")))
        else:
            delay = Delay(seconds=self.duration(after, (*path, "after")))
        wh = raw.get("working_hours")
        hours = None
        if wh:
            hours = self.working_hours(wh, (*path, "working_hours"))
        return TimeTrigger(delay, frm, self.filter(raw.get("unless"), rt, (*path, "unless")),
                           hours)

    def working_hours(self, raw: Any, path: Path) -> WorkingHours | None:
        if raw is True:
            return WorkingHours()
        if not isinstance(raw, Mapping):
            self.fail(path, "working_hours is true, or {days: [mon, ...], start: '09:00', "
                            "end: '18:00'}")
            return None
        self.settings(raw, ("days", "start", "end"), path, msg("working hours"))
        days = raw.get("days", list(DAY_NAMES[:5]))
        bad = [d for d in days if str(d).lower()[:3] not in DAY_NAMES]
        if bad:
            self.fail((*path, "days"), f"{bad} are not days; use mon tue wed thu fri sat sun")
            return None
        try:
            start = time.fromisoformat(str(raw.get("start", "09:00")))
            end = time.fromisoformat(str(raw.get("end", "18:00")))
        except ValueError:
            self.fail(path, "start and end are times like '09:00'")
            return None
        if end <= start:
            self.fail(path, "end must be after start")
            return None
        return WorkingHours(tuple(DAY_NAMES.index(str(d).lower()[:3]) for d in days), start, end)

    # -- actions -------------------------------------------------------------------------------
    def action(self, raw: Any, i: int, rt: RecordType) -> Action | None:
        path: Path = ("actions", i)
        if not isinstance(raw, Mapping):
            self.fail(path, f"an action is one of {', '.join(ACTION_KINDS)} with its settings")
            return None
        kinds = [k for k in raw if k in ACTION_KINDS]
        extra = [k for k in raw if k not in ACTION_KINDS and k not in ("when", "label")]
        if len(kinds) != 1 or extra:
            wrong = extra[0] if extra else ", ".join(kinds) or "nothing"
            self.fail(path, f"an action names exactly one of {', '.join(ACTION_KINDS)} (got "
                      f"{wrong}){filters.did_you_mean(str(wrong), ACTION_KINDS)}")
            return None
        kind = kinds[0]
        if kind in ACTION_SETTINGS:
            self.settings(raw[kind], ACTION_SETTINGS[kind], (*path, kind),
                          msg("the %(kind)s action", kind=kind))
        spec = getattr(self, f"act_{kind}")(raw[kind], rt, (*path, kind))
        if spec is None:
            return None
        when = self.condition(raw.get("when"), rt, (*path, "when"))
        return Action(spec, when, i)

    def act_set_fields(self, raw, rt, path):
        values = self.values(rt, raw, path, rt)
        return SetFields(values) if values else None

    def act_create_record(self, raw, rt, path):
        if not isinstance(raw, Mapping) or raw.get("type") not in self.ws.record_types:
            self.fail((*path, "type"), f"create_record needs type: one of "
                      f"{', '.join(sorted(self.ws.record_types))}")
            return None
        target = self.ws.record_types[raw["type"]]
        values = self.values(target, raw.get("values"), (*path, "values"), rt)
        return CreateRecord(target.name, values) if values else None

    def act_update_linked(self, raw, rt, path):
        if not isinstance(raw, Mapping):
            self.fail(path, "update_linked needs link: (a link field) or related: {type, field}")
            return None
        if "link" in raw:
            link = self.field(rt, raw["link"], (*path, "link"))
            if link is None:
                return None
            target = self.ws.record_types.get(filters.link_target(rt.fields[link], self.ws) or "")
            if target is None:
                self.fail((*path, "link"), f"'{link}' is not a link field")
                return None
            values = self.values(target, raw.get("values"), (*path, "values"), rt)
            return UpdateLinked(values, link=link) if values else None
        rel = raw.get("related")
        self.settings(rel, ("type", "field"), (*path, "related"),
                      msg("related (the records that link here)"))
        if not isinstance(rel, Mapping) or rel.get("type") not in self.ws.record_types:
            self.fail(path, "update_linked needs link: (a link field) or related: {type, field}")
            return None
        other = self.ws.record_types[rel["type"]]
        fname = self.field(other, rel.get("field"), (*path, "related", "field"))
        if fname is None:
            return None
        if filters.link_target(other.fields[fname], self.ws) != rt.name:
            self.fail((*path, "related", "field"), f"{other.name}.{fname} does not point at "
                      f"{rt.name}")
            return None
        values = self.values(other, raw.get("values"), (*path, "values"), rt)
        where = self.filter(raw.get("where"), other, (*path, "where"))
        return UpdateLinked(values, related_type=other.name, related_field=fname,
                            where=where) if values else None

    def act_assign(self, raw, rt, path):
        if not isinstance(raw, Mapping):
            self.fail(path, "assign needs field, among and strategy")
            return None
        name = self.field(rt, raw.get("field"), (*path, "field"), writable=True)
        users = self.ws.users_type
        if name and filters.link_target(rt.fields[name], self.ws) != users:
            self.fail((*path, "field"), f"'{name}' does not point at {users or 'people'}; "
                      "assign sets a user field")
            name = None
        strategy = raw.get("strategy", "round_robin")
        if strategy not in ("round_robin", "least_loaded"):
            self.fail((*path, "strategy"), f"{strategy!r}: use round_robin or least_loaded")
            return None
        if users not in self.ws.record_types:
            self.fail(path, "assign needs the workspace's users type (workspace.yaml users:)")
            return None
        among = self.filter(raw.get("among", {}), self.ws.record_types[users], (*path, "among"))
        load = self.filter(raw.get("load"), rt, (*path, "load"))
        if name is None or among is None:
            return None
        return Assign(name, among, strategy, load, bool(raw.get("overwrite", False)))

    def act_notify(self, raw, rt, path):
        if not isinstance(raw, Mapping) or "to" not in raw or "title" not in raw:
            self.fail(path, "notify needs to: (user fields or {users: filter}) and title:")
            return None
        to = raw["to"]
        to = [to] if isinstance(to, (str, Mapping)) else to
        paths, users = [], None
        for i, item in enumerate(to or []):
            if isinstance(item, str):
                if self.user_path(rt, item, (*path, "to", i)):
                    paths.append(item)
            elif isinstance(item, Mapping) and "users" in item and self.ws.users_type:
                self.settings(item, ("users",), (*path, "to", i), msg("a recipient"))
                users = self.filter(item["users"], self.ws.record_types[self.ws.users_type],
                                    (*path, "to", i, "users"))
            else:
                self.fail((*path, "to", i), "a recipient is a user field (consultant), a path "
                          "(consultant.manager) or {users: filter}")
        title = self.localized(raw["title"], (*path, "title"))
        body = self.localized(raw["body"], (*path, "body")) if raw.get("body") else None
        if title is None:
            return None
        return Notify(Recipients(tuple(paths), users), title, body, bool(raw.get("email")))

    def user_path(self, rt: RecordType, dotted: str, path: Path) -> bool:
        here = rt
        parts = dotted.split(".")
        for i, part in enumerate(parts):
            if self.field(here, part, path) is None:
                return False
            target = filters.link_target(here.fields[part], self.ws)
            if target is None:
                self.fail(path, f"'{part}' is not a link or user field")
                return False
            if i == len(parts) - 1 and target != self.ws.users_type:
                self.fail(path, f"'{dotted}' does not lead to {self.ws.users_type or 'people'}")
                return False
            here = self.ws.record_types[target]
        return True

    def act_webhook(self, raw, rt, path):
        if isinstance(raw, str):
            raw = {"url": raw}
        url = raw.get("url") if isinstance(raw, Mapping) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            self.fail((*path, "url"), "webhook needs url: an http:// or https:// address")
            return None
        body = self.template(raw["body"], (*path, "body")) if raw.get("body") else None
        as_role = raw.get("as_role")
        if as_role is not None and as_role not in self.ws.roles:
            self.fail((*path, "as_role"), f"'{as_role}' is not a role (roles: "
                      f"{', '.join(self.ws.roles) or 'none'})")
            return None
        timeout = raw.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
                not 0 < timeout <= MAX_WEBHOOK_TIMEOUT:
            self.fail((*path, "timeout"), msg("timeout is a number of seconds, more than 0 and "
                                              "at most %(n)s", n=MAX_WEBHOOK_TIMEOUT))
            return None
        return CallWebhook(url, raw.get("secret_env"), body, float(timeout),
                           int(raw.get("retries", 5)), as_role)

    def act_chat(self, raw, rt, path):
        """{bot: dingtalk, url | url_env, secret_env, text: <template or per locale>}"""
        from .bots import BOTS

        if not isinstance(raw, Mapping):
            self.fail(path, "chat needs bot: (wecom, dingtalk or feishu), url: or url_env:, "
                      "and text:")
            return None
        bot = raw.get("bot")
        if bot not in BOTS:
            self.fail((*path, "bot"), f"'{bot}' is not a chat robot; use {', '.join(BOTS)}"
                      f"{filters.did_you_mean(str(bot), BOTS)}")
            return None
        url, url_env = raw.get("url"), raw.get("url_env")
        if (url is None) == (url_env is None):
            self.fail(path, "chat needs url: (the robot's address) or url_env: (the "
                      "environment variable holding it), not both")
            return None
        if url is not None and (not isinstance(url, str) or
                                not url.startswith(("http://", "https://"))):
            self.fail((*path, "url"), "url is an http:// or https:// address")
            return None
        if raw.get("secret_env") is not None and bot == "wecom":
            self.fail((*path, "secret_env"), "a WeCom robot signs nothing: its URL's key is "
                      "the secret (leave secret_env out)")
            return None
        compiled = self.localized(raw.get("text"), (*path, "text"))
        if compiled is None:
            return None
        timeout = raw.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
                not 0 < timeout <= MAX_WEBHOOK_TIMEOUT:
            self.fail((*path, "timeout"), msg("timeout is a number of seconds, more than 0 and "
                                              "at most %(n)s", n=MAX_WEBHOOK_TIMEOUT))
            return None
        return ChatBot(bot, compiled, url, url_env, raw.get("secret_env"), float(timeout),
                       int(raw.get("retries", 5)))

    def act_comment(self, raw, rt, path):
        # the text itself, or {text: ...}: a plain string or one per locale
        text = raw.get("text") if isinstance(raw, Mapping) else raw
        t = self.localized(text, (*path, "text") if isinstance(raw, Mapping) else path)
        return Comment(t) if t else None

    def act_block(self, raw, rt, path):
        text = raw.get("message") if isinstance(raw, Mapping) else raw
        t = self.localized(text, (*path, "message") if isinstance(raw, Mapping) else path)
        field = raw.get("field", "") if isinstance(raw, Mapping) else ""
        if field and self.field(rt, field, (*path, "field")) is None:
            return None
        return Block(t, field) if t else None

    # -- stage rules ---------------------------------------------------------------------------
    def stages(self, raw: Any, rt: RecordType) -> StageRules | None:
        path: Path = ("stages",)
        if not isinstance(raw, Mapping):
            self.fail(path, "stages needs field: (a select field), and transitions, roles or "
                            "required")
            return None
        self.settings(raw, ("field", "transitions", "roles", "required", "path", "exits",
                            "override", "linked"), path, msg("stage rules"))
        name = self.field(rt, raw.get("field"), (*path, "field"))
        if name is None:
            return None
        f = rt.fields[name]
        if not f.kind.stages:
            self.fail((*path, "field"), f"'{name}' is {f.type}; stage rules apply to a select field")
            return None
        options = {o.value for o in f.options}

        def stage(v, p, star=False):
            if star and v == "*":
                return "*"
            if str(v) not in options:
                self.fail(p, f"'{v}' is not an option of {name} ({', '.join(sorted(options))})")
                return None
            return str(v)

        transitions = {}
        for frm, tos in (raw.get("transitions") or {}).items():
            a = stage(frm, (*path, "transitions", frm))
            tos = [tos] if isinstance(tos, str) else (tos or [])
            bs = tuple(b for j, t in enumerate(tos)
                       if (b := stage(t, (*path, "transitions", frm, j))))
            if a:
                transitions[a] = bs
        roles = {}
        known_roles = set(self.ws.roles)
        for key, who in (raw.get("roles") or {}).items():
            frm, _, to = str(key).rpartition("->")
            a = stage(frm.strip() or "*", (*path, "roles", key), star=True)
            b = stage(to.strip(), (*path, "roles", key))
            who = [who] if isinstance(who, str) else list(who or [])
            for r in who:
                if r not in known_roles:
                    self.fail((*path, "roles", key), f"'{r}' is not a role of the workspace "
                              f"({', '.join(sorted(known_roles))})")
            if a and b:
                roles[(a, b)] = tuple(who)
        required = {}
        for to, names in (raw.get("required") or {}).items():
            b = stage(to, (*path, "required", to))
            names = [names] if isinstance(names, str) else (names or [])
            ok = tuple(n for j, n in enumerate(names)
                       if self.field(rt, n, (*path, "required", to, j)))
            if b:
                required[b] = ok
        seq = [stage(v, (*path, "path", j)) for j, v in enumerate(raw.get("path") or [])]
        exits = [stage(v, (*path, "exits", j)) for j, v in enumerate(raw.get("exits") or [])]
        over = raw.get("override") or {}
        self.settings(over, ("roles", "reason"), (*path, "override"), msg("override"))
        over_roles = [over.get("roles")] if isinstance(over.get("roles"), str) else \
            list(over.get("roles") or [])
        for r in over_roles:
            if r not in known_roles:
                self.fail((*path, "override", "roles"), f"'{r}' is not a role of the workspace "
                          f"({', '.join(sorted(known_roles))})")
        reason = None
        if over.get("reason") is not None:
            reason = self.field(rt, over.get("reason"), (*path, "override", "reason"))
        if seq and len(set(seq)) != len(seq):
            self.fail((*path, "path"), "a stage is named twice in path")
        linked = {}
        for to, needs in (raw.get("linked") or {}).items():
            b = stage(to, (*path, "linked", to))
            got = []
            for j, need in enumerate([needs] if isinstance(needs, Mapping) else (needs or [])):
                got.append(self.linked_need(need, rt, (*path, "linked", to, j)))
            if b and all(got):
                linked[b] = tuple(got)
        role_labels = {n: r.label for n, r in self.ws.roles.items()}
        return StageRules(name, transitions, roles, required,
                          path=tuple(s for s in seq if s), exits=tuple(s for s in exits if s),
                          override_roles=tuple(over_roles), reason=reason, linked=linked,
                          role_labels=role_labels)

    def linked_need(self, raw: Any, rt: RecordType, path: Path) -> LinkedNeed | None:
        """`{type: contract, link: case, where: <filter>, label: ...}` of a stage rule."""
        if not isinstance(raw, Mapping):
            self.fail(path, "a linked need is {type:, link:, where:, label:}")
            return None
        self.settings(raw, ("type", "link", "where", "label"), path, msg("a linked need"))
        other = self.ws.record_types.get(str(raw.get("type")))
        if other is None:
            self.fail((*path, "type"), f"'{raw.get('type')}' is not a record type")
            return None
        link = self.field(other, raw.get("link"), (*path, "link"))
        if link is None:
            return None
        f = other.fields[link]
        if not f.kind.links or f.kind.person or f.target != rt.name:
            self.fail((*path, "link"), f"'{link}' of {other.name} is not a link to {rt.name}")
            return None
        where = raw.get("where")
        if where is not None:
            try:
                filters.parse(where, other.name, self.ws)
            except (FilterError, LowriseError) as exc:
                self.fail((*path, "where"), str(exc))
                return None
        return LinkedNeed(other.name, link, where,
                          Label.of(raw.get("label"), f"a {other.name}"))


def _parse(ws: Workspace, config: RuleConfig) -> tuple[Rule | None, list[tuple[Path, str]]]:
    raw = dict(config.config)
    p = _Parser(ws, config.name)
    rt = ws.record_types.get(config.record_type or "")
    if rt is None:
        p.fail(("record_type",), f"'{config.record_type}' is not a record type")
        return None, p.problems
    p.settings(raw, RULE_SETTINGS, (), msg("a rule"))
    label = Label.of(raw.get("label"), config.name)
    enabled = raw.get("enabled", True) is not False
    if "stages" in raw:
        stages = p.stages(raw["stages"], rt)
        return (Rule(config.name, rt.name, label, stages=stages, enabled=enabled,
                     loc=config.loc) if stages else None), p.problems
    trigger = p.trigger(raw.get("trigger"), rt)
    cond = p.condition(raw.get("conditions"), rt, ("conditions",))
    if trigger is not None and trigger.kind in ("time", "schedule") and \
            conds.has_change_tests(cond):
        p.fail(("conditions",), "changed / from / to test a change; a time or schedule "
                                "trigger has none (test the values instead)")
    actions_raw = raw.get("actions")
    if not isinstance(actions_raw, list) or not actions_raw:
        p.fail(("actions",), "a rule needs a list of actions")
        actions_raw = []
    actions = tuple(a for i, x in enumerate(actions_raw) if (a := p.action(x, i, rt)))
    if p.problems or trigger is None:
        return None, p.problems
    if trigger.kind == "deleted" and any(a.kind in ("set_fields", "assign") for a in actions):
        p.fail(("actions",), "a deleted record cannot be changed; use notify, webhook, "
                             "create_record or update_linked")
        return None, p.problems
    deadline = None
    if raw.get("deadline") not in (None, False):
        if trigger.kind != "time" or not trigger.from_field:
            p.fail(("deadline",), "a deadline is the time limit of a time trigger that counts "
                                  "from a field (trigger: {kind: time, field: ..., after: ...})")
            return None, p.problems
        deadline = label if raw["deadline"] is True else Label.of(raw["deadline"], config.name)
    return Rule(config.name, rt.name, label, trigger, cond, actions, enabled=enabled,
                loc=config.loc, deadline=deadline), p.problems


def rule_problems(ws: Workspace, config: RuleConfig) -> list[tuple[Path, str]]:
    """Every problem of one rule, as (path in the YAML, message)."""
    return _parse(ws, config)[1]


def parse_rule(ws: Workspace, config: RuleConfig) -> Rule:
    """The typed rule; RuleError when it does not fit the workspace."""
    rule, problems = _parse(ws, config)
    if problems or rule is None:
        raise RuleError(config.name, problems)
    return rule


def parse_rules(ws: Workspace) -> dict[str, Rule]:
    """Every rule of the workspace, typed (the loader has checked them already)."""
    return {name: parse_rule(ws, cfg) for name, cfg in sorted(ws.rules.items())}
