"""The field-type registry. Importing this package registers every built-in type."""

# in the order the settings page and the editor's schema list them
from . import text, number, choice, time, link, file, computed, system  # noqa: F401, I001
from .base import FieldType, registry
from .file import FileUpload

__all__ = ["FieldType", "FileUpload", "registry"]
