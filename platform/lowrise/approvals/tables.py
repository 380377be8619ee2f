"""The approvals' own tables, on the workspace's metadata so that `lowrise migrate` creates
them with the other `lr_*` tables (see storage.tables.system_tables).

lr_approvals       one round of one approval chain on one record: its state, the current
                   step, who asked, the locked fields' values it was started on
lr_approval_tasks  what one approver (a person, or anyone with a role) is asked to decide on a
                   step; the approver's queue is its pending rows
lr_approval_trail  every event of a round: started, approved, refused, sent back, approver
                   added, delegated, escalated, restarted, ended (who, when, comment)
"""

from __future__ import annotations

import sqlalchemy as sa

from lowrise.fields.types import UTCDateTime

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _id() -> sa.Column:
    return sa.Column("id", _ID, primary_key=True, autoincrement=True)


def approval_tables(metadata: sa.MetaData) -> list[sa.Table]:
    """The approvals' tables, defined on `metadata`."""
    approvals = sa.Table(
        "lr_approvals", metadata, _id(),
        sa.Column("name", sa.String(63), nullable=False),  # approvals/<name>.yaml
        sa.Column("record_type", sa.String(63), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        # running -> approved | refused | cancelled | restarted
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("round", sa.Integer, nullable=False, server_default="1"),
        sa.Column("step", sa.Integer, nullable=False, server_default="0"),  # index in steps
        sa.Column("level", sa.Integer, nullable=False, server_default="1"),  # manager steps
        sa.Column("requester", sa.BigInteger),
        sa.Column("requester_name", sa.String(255)),
        sa.Column("locked", sa.JSON),  # the locked fields' values it was started on
        sa.Column("reverted", sa.JSON),  # their values before the change that started it
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime()),
        sa.Index("ix_lr_approvals_record", "record_type", "record_id", "id"),
        sa.Index("ix_lr_approvals_status", "status", "name"),
    )
    tasks = sa.Table(
        "lr_approval_tasks", metadata, _id(),
        sa.Column("approval_id", sa.BigInteger, nullable=False),
        sa.Column("record_type", sa.String(63), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("assignee", sa.BigInteger),  # a record of the users type, or
        sa.Column("role", sa.String(63)),  # anyone with this role
        # pending -> approved | refused | returned | delegated | cancelled | escalated
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("added_by", sa.BigInteger),  # 加签: who added this approver
        sa.Column("delegated_from", sa.BigInteger),
        sa.Column("due_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime()),
        sa.Column("decided_by", sa.BigInteger),
        sa.Column("comment", sa.Text),
        sa.Index("ix_lr_approval_tasks_assignee", "assignee", "status", "id"),
        sa.Index("ix_lr_approval_tasks_role", "role", "status", "id"),
        sa.Index("ix_lr_approval_tasks_approval", "approval_id", "step", "status"),
    )
    trail = sa.Table(
        "lr_approval_trail", metadata, _id(),
        sa.Column("approval_id", sa.BigInteger, nullable=False),
        sa.Column("record_type", sa.String(63), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer),
        sa.Column("actor", sa.BigInteger),
        sa.Column("actor_name", sa.String(255)),
        sa.Column("comment", sa.Text),
        sa.Column("detail", sa.JSON),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Index("ix_lr_approval_trail_record", "record_type", "record_id", "id"),
    )
    return [approvals, tasks, trail]
