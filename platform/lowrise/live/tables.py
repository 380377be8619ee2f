"""The change log, on the workspace's metadata so that `lowrise migrate` creates it."""

from __future__ import annotations

import sqlalchemy as sa

from lowrise.fields.types import UTCDateTime

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def live_tables(metadata: sa.MetaData) -> list[sa.Table]:
    """lr_changes: one row per committed change of a record (record_id empty: many records
    of the type at once), per comment, and per inbox notice (for_user: its recipient).
    Rows carry ids only, never values; old rows are pruned (see broker.Broker)."""
    return [sa.Table(
        "lr_changes", metadata,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("record_type", sa.String(63)),
        sa.Column("record_id", sa.BigInteger),
        # create update delete restore many comment notice
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("actor", sa.BigInteger),
        sa.Column("actor_name", sa.String(255)),
        sa.Column("for_user", sa.BigInteger),
        sa.Index("ix_lr_changes_at", "at"),
    )]
