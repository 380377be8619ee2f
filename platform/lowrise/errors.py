"""The exceptions the engine raises; each carries a message a business user can act on."""

from __future__ import annotations

from collections.abc import Mapping


class LowriseError(Exception):
    """Base class of every error the engine raises on purpose.

    `message` keeps the message as given (a `lowrise.i18n.Msg` where the engine wrote one), for
    whoever shows it to translate; `str()` of the error is its English words.
    """

    def __init__(self, message: str = "", *args):
        self.message = message
        super().__init__(message, *args)


class FieldError(LowriseError):
    """One value does not fit its field; the message names what would fit.

    `message` is what to show (a `lowrise.i18n.Msg`, translated where it is shown); `str()`
    of the error is its English words.
    """



class ValidationError(LowriseError):
    """A record's values were refused; `errors` maps field name to message (`""` = whole record)."""

    def __init__(self, errors: Mapping[str, str], *, row: int | None = None):
        # the messages are lowrise.i18n.Msg where the engine wrote them: render them with tr()
        self.errors = dict(errors)
        self.row = row
        where = f"row {row}: " if row is not None else ""
        super().__init__(where + "; ".join(f"{k or 'record'}: {v}" for k, v in self.errors.items()))


class Undisclosed(ValidationError):
    """A refusal that must not say more than it does: a value already registered to a record
    the actor may not read in full (no value, no record, no row), or such checks paused for
    the actor. A batch is refused as a whole with it: it is never collected row by row.
    `clash` (lowrise.access.clashes.Clash) names the record, for the audit only."""

    def __init__(self, errors: Mapping[str, str], *, clash=None):
        super().__init__(errors)
        self.clash = clash
        self.noted = False


class BulkValidationError(LowriseError):
    """Some rows of a bulk write were refused; nothing was written. `rows` maps row index to errors."""

    def __init__(self, rows: Mapping[int, Mapping[str, str]]):
        self.rows = {i: dict(e) for i, e in rows.items()}
        first = ", ".join(str(i + 1) for i in list(self.rows)[:10])
        super().__init__(f"{len(self.rows)} row(s) refused (rows {first}); nothing was written")


class NotFound(LowriseError):
    """No such record (or it is in the trash)."""


class ConflictError(LowriseError):
    """The record changed since it was read; nothing was overwritten."""

    def __init__(self, message: str, *, current_version: int | None = None):
        self.current_version = current_version
        super().__init__(message)


class FilterError(LowriseError):
    """A filter names an unknown field or an operator the field does not support."""


class Forbidden(LowriseError):
    """The actor's roles do not allow this action on this record type (see lowrise.access)."""
