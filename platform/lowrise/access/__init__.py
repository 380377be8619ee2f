"""Roles → decisions: may this actor do this to this type, which rows do they see (a filter
ANDed into every read), and how each field shows to them (hidden, read-only, masked).

No Flask here. The query layer (`lowrise.storage.query`, `.search`) and the records service
(`lowrise.storage.records`) apply the Policy of the Actor they are given, so every caller
gets it; an internal read passes no actor, or `lowrise.actor.SYSTEM`, on purpose.
"""

from __future__ import annotations

from .model import (
    ACTIONS,
    AccessModel,
    FieldRule,
    Mask,
    PermissionProblem,
    RoleAccess,
    Scope,
    Teams,
    TypeGrant,
    model_of,
    problems,
)
from .policy import (
    FLAG,
    READ_ONLY,
    Masked,
    Policy,
    Shown,
    confidential_fields,
    mask_record,
    mask_value,
    policy,
)
from .reveal import ReasonRequired, reason_fields, reveal

__all__ = [
    "ACTIONS", "FLAG", "READ_ONLY", "AccessModel", "FieldRule", "Mask", "Masked", "PermissionProblem", "Policy",
    "RoleAccess", "Scope", "Shown", "Teams", "TypeGrant", "mask_value", "model_of", "policy",
    "problems", "reveal", "confidential_fields", "mask_record", "ReasonRequired",
    "reason_fields",
]
