"""Rules as typed data: triggers, conditions, actions and stage rules, parsed once from
automations/*.yaml (see parse.py). Nothing here runs anything; the engine interprets them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any, Literal

from lowrise.expr import Expression
from lowrise.filters import Node
from lowrise.workspace.model import Label, Loc

from .conditions import Condition
from .templates import Localized, Template

# -- values an action writes ----------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """A literal value, or a safe expression evaluated on the record (`{expr: "now()"}`).
    An expression may read fields of linked records (`client.vip_rate`): `paths` maps the
    name each path has in `expr` to the path; `source` is the expression as written."""

    literal: Any = None
    expr: Expression | None = None
    paths: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source: str | None = None

    def describe(self) -> str:
        return f"= {self.source or self.expr.source}" if self.expr else repr(self.literal)


Values = Mapping[str, Value]

# -- triggers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delay:
    """How long after the start a time trigger fires: fixed, or by the value of a field."""

    seconds: float | None = None
    by: str | None = None
    table: Mapping[str, float] = field(default_factory=dict)
    otherwise: float | None = None

    def for_record(self, record: Mapping[str, Any]) -> float | None:
        if self.by is None:
            return self.seconds
        return self.table.get(str(record.get(self.by)), self.otherwise)


@dataclass(frozen=True)
class WorkingHours:
    """Count only these hours (in the workspace's time zone) towards a delay."""

    days: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday is 0
    start: time = time(9)
    end: time = time(18)


@dataclass(frozen=True)
class Created:
    kind: Literal["created"] = "created"


@dataclass(frozen=True)
class Updated:
    fields: tuple[str, ...] = ()  # empty: any field
    kind: Literal["updated"] = "updated"


@dataclass(frozen=True)
class FieldChanged:
    field: str = ""
    from_: tuple[Any, ...] | None = None  # None: any value
    to: tuple[Any, ...] | None = None
    kind: Literal["field_changed"] = "field_changed"


@dataclass(frozen=True)
class Matches:
    """The record starts to match the rule's conditions."""

    kind: Literal["matches"] = "matches"


@dataclass(frozen=True)
class Deleted:
    kind: Literal["deleted"] = "deleted"


@dataclass(frozen=True)
class TimeTrigger:
    """`after` a date field (`from_field`), or after the conditions started to hold."""

    after: Delay
    from_field: str | None = None
    unless: Node | None = None
    working_hours: WorkingHours | None = None
    kind: Literal["time"] = "time"


@dataclass(frozen=True)
class Schedule:
    cron: str = ""
    limit: int = 1000  # records a run handles at most
    kind: Literal["schedule"] = "schedule"


@dataclass(frozen=True)
class Manual:
    label: Label | None = None
    kind: Literal["manual"] = "manual"


@dataclass(frozen=True)
class IncomingWebhook:
    secret_env: str | None = None
    secret: str | None = None
    record_key: str = "id"  # the payload key naming the record
    kind: Literal["webhook"] = "webhook"


@dataclass(frozen=True)
class ApprovalEnded:
    """An approval round on the record ended approved or refused (lowrise.approvals runs it);
    `approval` names which one (None: any)."""

    kind: Literal["approved", "refused"] = "approved"
    approval: str | None = None


Trigger = (Created | Updated | FieldChanged | Matches | Deleted | TimeTrigger | Schedule
           | Manual | IncomingWebhook | ApprovalEnded)
EVENT_KINDS = ("created", "updated", "field_changed", "matches", "deleted")
TRIGGER_KINDS = (*EVENT_KINDS, "time", "schedule", "manual", "webhook", "approved", "refused")

# -- actions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetFields:
    values: Values
    kind: Literal["set_fields"] = "set_fields"


@dataclass(frozen=True)
class CreateRecord:
    type: str
    values: Values
    kind: Literal["create_record"] = "create_record"


@dataclass(frozen=True)
class UpdateLinked:
    """Update the record a link points at (`link: unit`), or the records of `type` whose
    `field` points at this one (`related: {type: contract, field: case}`)."""

    values: Values
    link: str | None = None
    related_type: str | None = None
    related_field: str | None = None
    where: Node | None = None
    kind: Literal["update_linked"] = "update_linked"


@dataclass(frozen=True)
class Assign:
    field: str
    among: Node  # a filter on the users type
    strategy: Literal["round_robin", "least_loaded"] = "round_robin"
    load: Node | None = None  # which of this type's records count as load
    overwrite: bool = False
    kind: Literal["assign"] = "assign"


@dataclass(frozen=True)
class Recipients:
    """User fields of the record, or paths through links (`consultant.manager`), and/or a
    filter on the users type."""

    paths: tuple[str, ...] = ()
    users: Node | None = None


@dataclass(frozen=True)
class Notify:
    """Tell people in their inbox (and by e-mail); title and body per locale, each reader
    reads theirs."""

    to: Recipients
    title: Localized
    body: Localized | None = None
    email: bool = False
    kind: Literal["notify"] = "notify"


@dataclass(frozen=True)
class CallWebhook:
    url: str
    secret_env: str | None = None
    body: Template | None = None  # default: the event as JSON
    timeout: float = 10.0
    retries: int = 5
    #: the body shows the record as this role sees it; None: every field some role sees
    #: masked or hidden is masked (the receiver is outside the access rules)
    as_role: str | None = None
    kind: Literal["webhook"] = "webhook"


@dataclass(frozen=True)
class ChatBot:
    """A text posted to a group chat's robot (lowrise.rules.bots): WeCom, DingTalk, Feishu."""

    bot: str
    #: the text (per locale, or one for all); the workspace's locale is used
    text: Localized
    url: str | None = None
    #: the environment variable holding the URL instead (the URL holds the robot's token)
    url_env: str | None = None
    #: the environment variable holding the signing secret (DingTalk 加签, Feishu 签名校验)
    secret_env: str | None = None
    timeout: float = 10.0
    retries: int = 5
    kind: Literal["chat"] = "chat"


@dataclass(frozen=True)
class Comment:
    text: Localized  # the workspace's locale is used
    kind: Literal["comment"] = "comment"


@dataclass(frozen=True)
class Block:
    message: Localized  # in the locale of whoever made the change
    field: str = ""
    kind: Literal["block"] = "block"


ActionSpec = (SetFields | CreateRecord | UpdateLinked | Assign | Notify | CallWebhook | ChatBot
              | Comment | Block)
ACTION_KINDS = ("set_fields", "create_record", "update_linked", "assign", "notify", "webhook",
                "chat", "comment", "block")


@dataclass(frozen=True)
class Action:
    """One step of a rule: what to do, and optionally when (a condition on the record)."""

    spec: ActionSpec
    when: Condition | None = None
    index: int = 0

    @property
    def kind(self) -> str:
        return self.spec.kind


# -- stage rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StageRules:
    """How a select field may move: allowed transitions, who may make them, what must be filled."""

    field: str
    transitions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # from -> to
    roles: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)  # (from|*, to)
    required: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # to -> fields
    #: the standard path: each stage may go on to the next one; any other move between them
    #: (back, or a skip) is an override (only `override_roles`, with a `reason`)
    path: tuple[str, ...] = ()
    #: stages that may be entered from any stage (a case lost at any point)
    exits: tuple[str, ...] = ()
    override_roles: tuple[str, ...] = ()
    reason: str | None = None  # the field that must say why, on an override
    #: to -> records of another type that must link to this one before it enters the stage
    linked: Mapping[str, tuple[LinkedNeed, ...]] = field(default_factory=dict)
    role_labels: Mapping[str, Label] = field(default_factory=dict)  # to name roles in reasons


@dataclass(frozen=True)
class LinkedNeed:
    """A stage needs a record of `type` whose link `link` points here and that matches
    `where` (filter data), e.g. a signed contract of the case."""

    type: str
    link: str
    where: Any = None
    label: Label | None = None


# -- the rule -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One automation rule (or stage rules) as the engine runs it."""

    name: str
    record_type: str
    label: Label
    trigger: Trigger | None = None
    conditions: Condition | None = None
    actions: tuple[Action, ...] = ()
    stages: StageRules | None = None
    enabled: bool = True
    loc: Loc = Loc("")
    #: a time trigger's limit shown on the record and the board as due or overdue, by name
    deadline: Label | None = None

    @property
    def is_stage_rule(self) -> bool:
        return self.stages is not None

    @property
    def trigger_kind(self) -> str:
        return self.trigger.kind if self.trigger else "stages"
