"""The template gallery: ready-made workspaces a team starts from, and cloning one.

A template is a workspace folder like any other. The gallery holds the flagship at the
repository root (named `real_estate`) and every folder under `templates/` with a
workspace.yaml; the `template:` block of its workspace.yaml gives its title, summary and
tags. Nothing here knows what a template is about. Exporting a workspace as an archive
and importing one live in `lowrise.template_archive`. No Flask, no click.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lowrise.errors import LowriseError
from lowrise.workspace.model import Label, Workspace

#: what a workspace folder is made of; everything else in a folder (docs, instance/) is not
WORKSPACE_PARTS = ("workspace.yaml", "schemas", "views", "automations", "documents",
                   "approvals")
FLAGSHIP = "real_estate"
TEMPLATES_DIR = "templates"
SCHEMA_HINT = "$schema="


class TemplateError(LowriseError):
    """A template cannot be found, cloned, exported or imported; the message says why."""


class TemplateNotFound(TemplateError):
    """No template of that name in the gallery."""


class TargetNotEmpty(TemplateError):
    """The folder (or database) a template would go to already holds something."""


class BadFolderName(TemplateError):
    """A name for a new workspace folder that is not a plain, safe folder name."""


def repository_root() -> Path:
    """Where the flagship workspace and the templates/ folder live."""
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Template:
    """One entry of the gallery: a name, where its folder is, and how the gallery shows it."""

    name: str
    path: Path
    title: Label
    summary: Label | None = None
    tags: tuple[Label, ...] = ()

    def workspace(self) -> Workspace:
        """The template loaded and checked (for a preview of its record types and views)."""
        from lowrise.workspace import load_workspace

        return load_workspace(self.path)


_loaded: dict[Path, tuple[tuple, Workspace]] = {}
_loading = threading.Lock()


def _stamp(path: Path) -> tuple:
    """What changes when a workspace's files change: each file's name, size and time."""
    out = []
    for part in WORKSPACE_PARTS:
        p = path / part
        for file in ([p] if p.is_file() else sorted(p.rglob("*.y*ml")) if p.is_dir() else []):
            st = file.stat()
            out.append((str(file), st.st_size, st.st_mtime_ns))
    return tuple(out)


def cached_workspace(t: Template) -> Workspace:
    """`t.workspace()`, loaded once and again only when its files change (for previews)."""
    stamp = _stamp(t.path)
    with _loading:
        hit = _loaded.get(t.path)
        if hit is None or hit[0] != stamp:
            hit = _loaded[t.path] = (stamp, t.workspace())
        return hit[1]


def template_folders(root: str | os.PathLike | None = None) -> dict[str, Path]:
    """Template name → folder, without reading any YAML: the flagship, then templates/*."""
    base = Path(root) if root is not None else repository_root()
    found: dict[str, Path] = {}
    if (base / "workspace.yaml").is_file():
        found[FLAGSHIP] = base
    folder = base / TEMPLATES_DIR
    if folder.is_dir():
        for sub in sorted(folder.iterdir()):
            if sub.is_dir() and (sub / "workspace.yaml").is_file() and sub.name != FLAGSHIP:
                found[sub.name] = sub
    return found


def describe(name: str, path: Path) -> Template:
    """The gallery entry of one template folder, from the `template:` block of workspace.yaml."""
    import yaml

    try:
        settings = yaml.safe_load((path / "workspace.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"{path / 'workspace.yaml'} cannot be read: {exc}") from None
    settings = settings if isinstance(settings, Mapping) else {}
    block = settings.get("template") if isinstance(settings.get("template"), Mapping) else {}
    title = block.get("title") or settings.get("label") or name
    summary = block.get("summary") or settings.get("description")
    tags = block.get("tags") if isinstance(block.get("tags"), list) else []
    return Template(name, path, Label.of(title, name),
                    Label.of(summary, "") if summary else None,
                    tuple(Label.of(t, "") for t in tags if t))


def gallery(root: str | os.PathLike | None = None) -> dict[str, Template]:
    """Every template, by name: the flagship first, then the others by name."""
    return {name: describe(name, path) for name, path in template_folders(root).items()}


def get_template(name: str, root: str | os.PathLike | None = None) -> Template:
    """One template by name; TemplateNotFound lists the names there are."""
    folders = template_folders(root)
    if name not in folders:
        raise TemplateNotFound(f"there is no template '{name}' (templates: "
                               f"{', '.join(folders) or 'none'})")
    return describe(name, folders[name])


# ----- the files of a workspace, and writing them into a new folder -----

def workspace_files(root: str | os.PathLike) -> dict[str, bytes]:
    """relative path → bytes of every file that makes up the workspace at `root`."""
    root = Path(root)
    out: dict[str, bytes] = {}
    for part in WORKSPACE_PARTS:
        p = root / part
        if p.is_file():
            out[part] = p.read_bytes()
        elif p.is_dir():
            for file in sorted(p.rglob("*")):
                rel = file.relative_to(root)
                if file.is_file() and not any(s.startswith((".", "__")) for s in rel.parts):
                    out[rel.as_posix()] = file.read_bytes()
    return out


def point_schema_hints(text: str) -> str:
    """Point a file's `$schema=` editor hint at the schemas shipped with the package, since
    the template's relative path means nothing in a folder elsewhere."""
    if SCHEMA_HINT not in text:
        return text
    schema_dir = Path(__file__).resolve().parent / "workspace" / "schemas"
    head, _, rest = text.partition(SCHEMA_HINT)
    old, nl, tail = rest.partition("\n")
    return f"{head}{SCHEMA_HINT}{schema_dir / Path(old.strip()).name}{nl}{tail}"


def check_target(dest: str | os.PathLike, instance: str | os.PathLike | None = None) -> None:
    """Refuse a folder that holds anything, or an instance folder that has a database."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise TargetNotEmpty(f"{dest} is a file; choose a new folder")
    if dest.is_dir() and any(dest.iterdir()):
        raise TargetNotEmpty(f"{dest} exists and is not empty; choose a new folder "
                             "(nothing was changed)")
    inst = Path(instance) if instance is not None else dest / "instance"
    if inst.is_dir() and any(inst.glob("*.db")):
        raise TargetNotEmpty(f"{inst} already has a database; choose another instance folder "
                             "(nothing was changed)")


def write_workspace(files: Mapping[str, bytes], dest: str | os.PathLike, *,
                    instance: str | os.PathLike | None = None) -> Path:
    """Write a workspace's files into `dest`, which must be new or empty; never overwrites.

    The files are written to a hidden folder beside `dest` first and moved into place in
    one rename, which fails rather than overwrite when `dest` filled up in the meantime.
    """
    dest = Path(dest)
    check_target(dest, instance)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a workspace is an ordinary folder
    try:
        for rel, data in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if rel.endswith((".yaml", ".yml")):
                data = point_schema_hints(data.decode("utf-8")).encode("utf-8")
            target.write_bytes(data)
        for part in WORKSPACE_PARTS[1:]:
            (staging / part).mkdir(exist_ok=True)
        try:
            os.rename(staging, dest)  # replaces an empty folder, refuses a non-empty one
        except OSError:
            raise TargetNotEmpty(f"{dest} was filled while the template was copied; "
                                 "nothing was changed") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return dest


def clone(name: str, dest: str | os.PathLike, *, root: str | os.PathLike | None = None,
          instance: str | os.PathLike | None = None) -> Path:
    """Create a new workspace at `dest` from the template `name`; never overwrites anything."""
    template = get_template(name, root)
    return write_workspace(workspace_files(template.path), dest, instance=instance)


# ----- where a new workspace goes, and how to run it -----

FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


def new_folder(name: str, base: str | os.PathLike, *, allow_absolute: bool = False) -> Path:
    """The folder a new workspace called `name` goes to: `base/name` for a plain folder name
    (letters, digits, `-`, `_`, `.`; up to 64), or `name` itself when it is an absolute path
    and `allow_absolute`. BadFolderName says why a name is refused; nothing is checked on disk
    here (`check_target` does that)."""
    raw = (name or "").strip()
    if not raw:
        raise BadFolderName("the new workspace needs a folder name")
    if raw.startswith("/"):
        parts = PurePosixPath(raw).parts
        if not allow_absolute:
            raise BadFolderName(f"'{raw}' is a path; give a folder name (it is made under "
                                f"{base})")
        if ".." in parts or len(parts) < 2 or "\\" in raw or "\0" in raw:
            raise BadFolderName(f"'{raw}' is not a plain absolute path (no '..')")
        return Path(os.path.normpath(raw))
    if not FOLDER_NAME.match(raw) or raw.strip(".") == "":
        raise BadFolderName(f"'{raw}' is not a folder name: use letters, digits, '-', '_' and "
                            "'.', start with a letter or a digit, at most 64 characters")
    return Path(base) / raw


@dataclass(frozen=True)
class Step:
    """One command of the way from a new workspace folder to a running app."""

    kind: str  # cd | check | migrate | seed | user | serve
    command: str


def admin_role(ws: Workspace) -> str | None:
    """The role that manages everything: flagged `admin: true`, else one named admin."""
    flagged = [n for n, r in ws.roles.items() if r.config.get("admin") is True]
    return flagged[0] if flagged else ("admin" if "admin" in ws.roles else None)


def next_steps(dest: str | os.PathLike, ws: Workspace, *, migrated: bool = False,
               demo_data: bool = True) -> list[Step]:
    """The commands that run a new workspace, as `lowrise new` prints them: check it, create
    and migrate its database (an SQLite file in DEST/instance), load demo data (which makes
    a demo account per role) or add a first administrator, then serve. `migrated`: the
    database exists already (an imported archive)."""
    steps = [Step("cd", f"cd {shlex.quote(str(dest))}"), Step("check", "lowrise check")]
    if not migrated:
        steps.append(Step("migrate", "lowrise migrate"))
    if demo_data and not migrated:
        steps.append(Step("seed", "lowrise seed"))
    else:
        role = admin_role(ws)
        steps.append(Step("user", "lowrise user add you@example.com --name 'Your Name'"
                                  + (f" --role {role}" if role else "")))
    steps.append(Step("serve", "lowrise serve"))
    return steps


def iter_summary(t: Template, locale: str = "en") -> Iterator[str]:
    """Lines describing a template for a terminal: title, summary, what it holds."""
    ws = t.workspace()
    yield t.title.get(locale)
    if t.summary:
        yield t.summary.get(locale)
    types = ", ".join(rt.label.get(locale) for rt in ws.record_types.values())
    yield f"{len(ws.record_types)} record types ({types}), {len(ws.views)} views, " \
          f"{len(ws.rules)} automations"
    roles = role_lines(ws, locale)
    if roles:
        yield "Roles:"
        yield from (f"  {line}" for line in roles)


def role_lines(ws, locale: str = "en") -> list[str]:
    """Each role of the workspace with what it does (its `description`), as the gallery and
    `lowrise templates` show them."""
    from lowrise.workspace.model import Label

    out = []
    for role in ws.roles.values():
        raw = role.config.get("description")
        said = Label.of(raw, "").get(locale) if isinstance(raw, (str, dict)) and raw else ""
        out.append(f"{role.label.get(locale)}: {said}" if said else role.label.get(locale))
    return out
