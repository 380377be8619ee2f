"""Signed webhook deliveries, both ways: what the outbox sends and what `POST /hooks/<rule>`
accepts are signed alike, so that either end can refuse a forged, an old or a replayed one.

A delivery carries `X-Lowrise-Timestamp: <Unix seconds>` and `X-Lowrise-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` (the scheme Stripe and Slack use). A
receiver recomputes the signature, refuses a timestamp more than a few minutes from its own
clock (so a captured delivery cannot be sent again later), and remembers what it accepted (so
it cannot be sent again sooner either): the delivery's `Idempotency-Key`, and its signature.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

SIGNATURE_HEADER = "X-Lowrise-Signature"
TIMESTAMP_HEADER = "X-Lowrise-Timestamp"
#: how far (seconds) a delivery's timestamp may be from the receiver's clock, by default
DEFAULT_MAX_AGE = 300
#: how long a receiver remembers a delivery it accepted (at least the max age)
KEEP_SEEN = timedelta(days=1)


def sign(secret: str, body: bytes, timestamp: int | str) -> str:
    """The signature header's value: `sha256=<hex HMAC of "<timestamp>.<body>">`."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The timestamp and signature headers of a delivery sent now."""
    stamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(secret, body, stamp)}


def verify(secret: str, body: bytes, header: str | None, timestamp: str | None) -> bool:
    """Whether `header` is the signature of `body` at `timestamp` with `secret`."""
    if not header or not timestamp or not timestamp.strip().isdigit():
        return False
    return hmac.compare_digest(sign(secret, body, timestamp.strip()), header.strip())


def age(timestamp: str, now: datetime) -> float:
    """Seconds between a delivery's (verified) timestamp and `now`, either way."""
    return abs(now.timestamp() - int(timestamp.strip()))


def remember(conn: sa.Connection, table: sa.Table, rule: str, keys: Iterable[str],
             now: datetime, keep: timedelta = KEEP_SEEN) -> bool:
    """Record that a delivery with these keys was accepted; False when one of them was seen
    before (a replay, or a retry of a delivery that already ran). Forgets deliveries older
    than `keep`. Runs in the caller's transaction: a delivery whose run fails is not kept."""
    conn.execute(table.delete().where(table.c.seen_at < now - keep))
    rows = [{"key": _digest(rule, k), "rule": rule, "seen_at": now} for k in dict.fromkeys(keys)]
    seen = conn.execute(sa.select(table.c.key).where(table.c.key.in_([r["key"] for r in rows]))
                        ).first()
    if seen is not None:
        return False
    try:
        with conn.begin_nested():
            conn.execute(table.insert(), rows)
    except sa.exc.IntegrityError:  # the same delivery, accepted at this moment elsewhere
        return False
    return True


def _digest(rule: str, key: str) -> str:
    return hashlib.sha256(f"{rule}\n{key}".encode()).hexdigest()
