"""Who made and who last changed a record: `created_by` and `updated_by`.

Every record type has these two system fields; their types say what they are: a person
(a record of the workspace's users type: shown as their name, filtered with `me`, grouped
by, listed in a table's columns and on the record page), set by the engine on every write
and never by anyone else. `updated_by` changes on every write, so it never makes a record
someone's own (access `own` scopes use `created_by` and user fields)."""

from __future__ import annotations

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import registry
from .link import User


@registry.register
class CreatedBy(User):
    """The person who created the record (set by the engine)."""

    name = "created_by"
    widget = "readonly"
    generated = True
    declarable = False
    options_schema = {}

    def parse(self, field, raw):
        if raw is None:
            return None
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw < 2**63:
            return raw  # a backup, the trash or an archive giving back what was stored
        raise FieldError(msg("is set by the system and cannot be changed"))

    def sample(self, field, sampler):
        return None


@registry.register
class UpdatedBy(CreatedBy):
    """The person who last changed the record (set by the engine on every write)."""

    name = "updated_by"
    restamped = True
