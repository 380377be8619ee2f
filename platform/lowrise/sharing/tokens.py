"""Secret tokens for the links of sharing: 256 random bits, URL-safe, compared by SHA-256."""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    """A new unguessable token (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored of a secret token: its SHA-256 (256 random bits need no salt)."""
    return hashlib.sha256((token or "").encode()).hexdigest()


def plausible(token: str) -> bool:
    """Whether a token from a URL could be one of ours (a cheap refusal before any query)."""
    return 20 <= len(token or "") <= 64 and all(c.isalnum() or c in "-_" for c in token)
