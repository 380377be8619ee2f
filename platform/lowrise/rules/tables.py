"""The rules engine's own tables, on the workspace's metadata so that `lowrise migrate` creates
them with the other `lr_*` tables (see storage.tables.system_tables).

lr_timers        durable time triggers: set and cancelled inside the write's transaction
lr_outbox        external effects (e-mail, webhooks) waiting for the worker
lr_rule_runs     the run log: rule, record, trigger, conditions, each action's result
lr_notifications the in-app inbox
lr_comments      comments on a record, added by rules and by people (lowrise.comments)
lr_comment_mentions  the people a comment mentions (who, where in its text, notified)
lr_comment_trail the text a comment had before each edit or delete
lr_rule_state    small per-rule state: round-robin cursor, next schedule run
lr_webhook_seen  incoming webhook deliveries accepted lately (keys and signatures), so that
                 none runs twice
lr_workers       the running workers' heartbeats (rules/heartbeat.py), for /readyz
"""

from __future__ import annotations

import sqlalchemy as sa

from lowrise.fields.types import UTCDateTime

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _id() -> sa.Column:
    return sa.Column("id", _ID, primary_key=True, autoincrement=True)


def rules_tables(metadata: sa.MetaData) -> list[sa.Table]:
    """The rules engine's tables, defined on `metadata`."""
    timers = sa.Table(
        "lr_timers", metadata, _id(),
        sa.Column("rule", sa.String(63), nullable=False),
        sa.Column("record_type", sa.String(63), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("since", UTCDateTime()),  # what the delay counts from
        # pending -> fired | cancelled | failed (after its attempts)
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Index("ix_lr_timers_due", "status", "due_at"),
        sa.Index("ix_lr_timers_record", "record_type", "record_id", "rule", "status"),
    )
    outbox = sa.Table(
        "lr_outbox", metadata, _id(),
        sa.Column("key", sa.String(64), nullable=False, unique=True),  # idempotency key
        sa.Column("kind", sa.String(16), nullable=False),  # email | webhook
        sa.Column("rule", sa.String(63)),
        sa.Column("record_type", sa.String(63)),
        sa.Column("record_id", sa.BigInteger),
        sa.Column("target", sa.Text, nullable=False),  # the URL or the address
        sa.Column("payload", sa.JSON, nullable=False),
        # pending -> sending (leased) -> delivered | failed (retries exhausted)
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False, server_default="5"),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime()),
        sa.Column("worker", sa.String(64)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime()),
        sa.Index("ix_lr_outbox_due", "status", "next_attempt_at"),
        sa.Index("ix_lr_outbox_rule", "rule", "id"),
    )
    runs = sa.Table(
        "lr_rule_runs", metadata, _id(),
        sa.Column("rule", sa.String(63), nullable=False),
        sa.Column("record_type", sa.String(63)),
        sa.Column("record_id", sa.BigInteger),
        sa.Column("trigger", sa.String(63), nullable=False),  # created, timer, schedule...
        sa.Column("conditions", sa.Boolean),
        # ok | skipped (conditions false) | blocked | failed | depth_limit
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("actions", sa.JSON),  # [{"action": "set_fields", "result": "..."}]
        sa.Column("duration_ms", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("actor_name", sa.String(255)),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Index("ix_lr_rule_runs_rule", "rule", "id"),
        sa.Index("ix_lr_rule_runs_record", "record_type", "record_id", "id"),
    )
    notifications = sa.Table(
        "lr_notifications", metadata, _id(),
        sa.Column("user_id", sa.BigInteger, nullable=False),  # a record of the users type
        sa.Column("rule", sa.String(63)),
        sa.Column("record_type", sa.String(63)),
        sa.Column("record_id", sa.BigInteger),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("body", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("read_at", UTCDateTime()),
        sa.Index("ix_lr_notifications_user", "user_id", "read_at", "id"),
    )
    comments = sa.Table(
        "lr_comments", metadata, _id(),
        sa.Column("record_type", sa.String(63), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("author", sa.BigInteger),
        sa.Column("author_name", sa.String(255)),
        sa.Column("rule", sa.String(63)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Index("ix_lr_comments_record", "record_type", "record_id", "id"),
    )
    mentions = sa.Table(
        "lr_comment_mentions", metadata, _id(),
        sa.Column("comment_id", sa.BigInteger, nullable=False),
        sa.Column("staff_id", sa.BigInteger, nullable=False),  # a record of the users type
        sa.Column("name", sa.String(255), nullable=False),  # its title when mentioned
        sa.Column("start", sa.Integer, nullable=False),  # offsets of "@name" in the body
        sa.Column("end", sa.Integer, nullable=False),
        sa.Column("notified", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Index("ix_lr_comment_mentions_comment", "comment_id"),
    )
    trail = sa.Table(
        "lr_comment_trail", metadata, _id(),
        sa.Column("comment_id", sa.BigInteger, nullable=False),
        sa.Column("record_type", sa.String(63), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),  # edited | deleted
        sa.Column("body", sa.Text, nullable=False),  # the text before
        sa.Column("actor", sa.BigInteger),
        sa.Column("actor_name", sa.String(255)),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Index("ix_lr_comment_trail_record", "record_type", "record_id", "comment_id"),
    )
    state = sa.Table(
        "lr_rule_state", metadata,
        sa.Column("key", sa.String(160), primary_key=True),
        sa.Column("value", sa.JSON),
        sa.Column("updated_at", UTCDateTime()),
    )
    seen = sa.Table(
        "lr_webhook_seen", metadata,
        sa.Column("key", sa.String(64), primary_key=True),  # sha256 of rule and key
        sa.Column("rule", sa.String(63), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.Index("ix_lr_webhook_seen_at", "seen_at"),
    )
    workers = sa.Table(
        "lr_workers", metadata,
        sa.Column("name", sa.String(64), primary_key=True),  # host:pid:random
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
    )
    return [timers, outbox, runs, notifications, comments, mentions, trail, state, seen, workers]


class RuleTables:
    """The rules tables of one Schema, by short name: `t.timers`, `t.outbox`..."""

    def __init__(self, system: dict[str, sa.Table]):
        self.timers = system["lr_timers"]
        self.outbox = system["lr_outbox"]
        self.runs = system["lr_rule_runs"]
        self.notifications = system["lr_notifications"]
        self.comments = system["lr_comments"]
        self.state = system["lr_rule_state"]
        self.webhook_seen = system["lr_webhook_seen"]
        self.workers = system["lr_workers"]
