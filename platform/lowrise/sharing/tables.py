"""The sharing features' own tables, on the workspace's metadata so that `lowrise migrate`
creates them with the other `lr_*` tables (see storage.tables.system_tables).

lr_public_forms   publications of public forms: the form view, its token (public, shown to the
                  people who manage the form), who published and who revoked it
lr_form_posts     each post to a public form: the client address and the outcome, counted by
                  the rate limit and kept for the form's figures (30 days)
lr_feeds          calendar feeds: one person's secret URL for one calendar view (its SHA-256)
lr_share_links    read-only links to a view: who shared it, as which role, until when, whether
                  it exports (the token's SHA-256)
lr_share_visits   every use of a share link: when, from which address, what (page or export)
"""

from __future__ import annotations

import sqlalchemy as sa

from lowrise.fields.types import UTCDateTime

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _id() -> sa.Column:
    return sa.Column("id", _ID, primary_key=True, autoincrement=True)


def sharing_tables(metadata: sa.MetaData) -> list[sa.Table]:
    """The sharing tables, defined on `metadata`."""
    forms = sa.Table(
        "lr_public_forms", metadata, _id(),
        sa.Column("view", sa.String(63), nullable=False, index=True),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("created_by", sa.BigInteger),  # an account (lr_users.id)
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_by", sa.BigInteger),
        sa.Column("revoked_at", UTCDateTime()),
    )
    posts = sa.Table(
        "lr_form_posts", metadata, _id(),
        sa.Column("view", sa.String(63), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        # seconds since the epoch (UTC): the window is arithmetic on it on both databases
        sa.Column("at", sa.Float(precision=53), nullable=False),
        # posted (counted, not yet decided) | created | merged | refused | bot
        sa.Column("outcome", sa.String(16), nullable=False, server_default="posted"),
        sa.Column("record_id", sa.BigInteger),
        sa.Index("ix_lr_form_posts_view", "view", "at"),
        sa.Index("ix_lr_form_posts_client", "client", "view", "at"),
    )
    feeds = sa.Table(
        "lr_feeds", metadata, _id(),
        sa.Column("account_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("view", sa.String(63), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime()),
        sa.Column("revoked_at", UTCDateTime()),
    )
    links = sa.Table(
        "lr_share_links", metadata, _id(),
        sa.Column("account_id", sa.BigInteger, nullable=False, index=True),  # the sharer
        sa.Column("view", sa.String(63), nullable=False),
        sa.Column("role", sa.String(63)),  # narrowed to this role of the sharer's; None: all
        sa.Column("note", sa.String(200), nullable=False, server_default=""),
        sa.Column("allow_export", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_by", sa.BigInteger),
        sa.Column("revoked_at", UTCDateTime()),
    )
    visits = sa.Table(
        "lr_share_visits", metadata, _id(),
        sa.Column("link_id", sa.BigInteger, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("address", sa.String(64), nullable=False, server_default=""),
        sa.Column("what", sa.String(16), nullable=False),  # page | export
        sa.Index("ix_lr_share_visits_link", "link_id", "id"),
    )
    return [forms, posts, feeds, links, visits]
