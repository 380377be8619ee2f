"""System fields every record type has: id, created_at, updated_at, created_by, updated_by, version."""

from __future__ import annotations

import sqlalchemy as sa

from .base import ORDER_OPS, FieldType, registry


@registry.register
class RecordId(FieldType):
    name = "id"
    family = "system"
    flavor = "number"
    numeric = True
    declarable = False
    operators = ORDER_OPS
    widget = "readonly"
    generated = True

    def column_type(self, field):
        return sa.BigInteger()

    def json_schema(self, field, writing):
        return {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}

    def parse(self, field, raw):
        return registry.get("integer").parse(field, raw)
