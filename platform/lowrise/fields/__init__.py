"""The field-type registry. Importing this package registers every built-in type."""

from . import choice, computed, file, link, number, relational, system, text, time  # noqa: F401
from .base import FieldType, registry
from .file import FileUpload

__all__ = ["FieldType", "FileUpload", "registry"]
