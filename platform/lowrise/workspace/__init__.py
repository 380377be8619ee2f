"""A workspace: a folder of YAML loaded into a checked, typed model (see docs/workspace-format.md).

The names below are imported on first use, so that `python -m lowrise.workspace.metaschema`
runs without the loader having imported the module it is about to execute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loader import WorkspaceError, load_workspace, load_workspace_from_texts
    from .yamlpos import Problem

__all__ = ["Problem", "WorkspaceError", "load_workspace", "load_workspace_from_texts"]


def __getattr__(name: str) -> Any:
    if name == "Problem":
        from .yamlpos import Problem

        return Problem
    if name in __all__:
        from . import loader

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
