"""The field-type registry. Importing this package registers every built-in type: the
families below first, in the order the settings page and the editor's schema list them,
then every other module of this package in name order (a type added as a module of its own
needs nothing else)."""

import importlib
import pkgutil

from .base import FieldType, registry

FAMILIES = ("text", "number", "choice", "time", "link", "file", "computed", "relational",
            "system")
#: modules of this package that define no type
HELPERS = ("base", "html", "types", "sniff")

for _module in (*FAMILIES, *sorted(m.name for m in pkgutil.iter_modules(__path__)
                                   if m.name not in (*FAMILIES, *HELPERS))):
    importlib.import_module(f"{__name__}.{_module}")

from .file import FileUpload  # noqa: E402 - after the loop, which registers attachment in its place

__all__ = ["FieldType", "FileUpload", "registry"]
