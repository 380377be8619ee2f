"""What a template archive may hold, checked from the zip's directory before anything is read:
the members the format defines (manifest.json, YAML under workspace/, data/<type>.jsonl,
files/<sha256>), each within a size limit, the whole within another, and none shrunk more
than real data shrinks (a zip bomb).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import PurePosixPath

from lowrise.i18n import msg
from lowrise.templates import WORKSPACE_PARTS, TemplateError

MANIFEST = "manifest.json"
YAML_DIR = "workspace/"
MB = 1024 * 1024
#: the most a member of each kind may hold uncompressed (the flagship's largest YAML file is
#: about 30 KB; attached files are read whole, data files a record at a time)
LIMITS = {"manifest": 16 * MB, "yaml": 4 * MB, "data": 2048 * MB, "file": 256 * MB}
#: the most the members read may hold together, uncompressed
MAX_TOTAL = 4096 * MB
#: how far a member over RATIO_FROM bytes may have shrunk: real YAML and JSON shrink 5 to 30
#: times, a run of one repeated byte a thousand times
MAX_RATIO = 100
RATIO_FROM = 1 * MB
#: the longest record line a data file may have
MAX_LINE = 16 * MB
DATA_NAME = re.compile(r"data/[A-Za-z0-9_]{1,64}\.jsonl")
FILE_NAME = re.compile(r"files/[0-9a-f]{64}")


class ArchiveError(TemplateError):
    """The archive is not a Lowrise template, or its data does not fit its workspace."""


def safe_path(name: str) -> str | None:
    """The workspace-relative path of an archive member under workspace/, or None."""
    if not name.startswith(YAML_DIR) or name.endswith("/"):
        return None
    rel = PurePosixPath(name[len(YAML_DIR):])
    if rel.is_absolute() or ".." in rel.parts or "\\" in name or not rel.parts:
        raise ArchiveError(msg("the archive member '%(name)s' points outside the workspace",
                               name=name))
    if rel.parts[0] not in WORKSPACE_PARTS:
        raise ArchiveError(msg("the archive member '%(name)s' is not part of a workspace "
                               "(%(parts)s)", name=name, parts=", ".join(WORKSPACE_PARTS)))
    return rel.as_posix()


def _kind(info: zipfile.ZipInfo) -> str | None:
    """Which part of the format a member is (None: a folder entry or a hidden file of the
    workspace, never read); ArchiveError for a member the format does not have."""
    name = info.filename
    if name.endswith("/"):
        return None
    if name == MANIFEST:
        return "manifest"
    if name.startswith(YAML_DIR):
        rel = safe_path(name)
        if any(part.startswith((".", "__")) for part in PurePosixPath(rel).parts):
            return None  # as export leaves them out
        if not rel.endswith((".yaml", ".yml")):
            raise ArchiveError(msg("the archive member '%(name)s' is not a YAML file; a "
                                   "template's workspace holds only YAML", name=name))
        return "yaml"
    if DATA_NAME.fullmatch(name):
        return "data"
    if FILE_NAME.fullmatch(name):
        return "file"
    raise ArchiveError(msg("the archive member '%(name)s' is not part of a Lowrise template "
                           "archive", name=name))


def check_members(zf: zipfile.ZipFile) -> dict[str, str]:
    """Every member's kind, after checking names, sizes and compression against the limits,
    from the zip's directory alone (nothing is decompressed)."""
    kinds: dict[str, str] = {}
    total = 0
    for info in zf.infolist():
        kind = _kind(info)
        if kind is None:
            continue
        if info.file_size > LIMITS[kind]:
            raise ArchiveError(msg("the archive member '%(name)s' is %(size)s MB uncompressed; "
                                   "at most %(limit)s MB", name=info.filename,
                                   size=mb(info.file_size), limit=mb(LIMITS[kind])))
        if info.file_size > RATIO_FROM and \
                info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ArchiveError(msg("the archive member '%(name)s' shrank %(ratio)s times in the "
                                   "zip, more than real data does (at most %(limit)s times); it "
                                   "is not read", name=info.filename,
                                   ratio=info.file_size // max(info.compress_size, 1),
                                   limit=MAX_RATIO))
        total += info.file_size
        kinds[info.filename] = kind
    if total > MAX_TOTAL:
        raise ArchiveError(msg("the archive holds %(size)s MB uncompressed; at most %(limit)s MB",
                               size=mb(total), limit=mb(MAX_TOTAL)))
    return kinds


def mb(size: int) -> str:
    """A size in megabytes, as the limits' messages write it."""
    return f"{size / MB:,.1f}"
