"""YAML with positions: every value (and every mapping key) knows its line and column.

PyYAML's `safe_load` forgets where things were and silently keeps the last of two equal
keys. Here the text is composed into nodes with the SafeLoader, then walked: the data comes
out as plain Python (dicts, lists, str, int, float, bool, None; dates stay the text as
written, so that the data is JSON and the field types parse it), positions come out as a
map from path to (line, column), 1-based, and duplicate keys and syntax errors come out
as problems instead of being lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[Any, ...]


class _KeyMarker:
    """The last element of a path that asks for a key's position rather than its value's."""

    def __repr__(self) -> str:
        return "KEY"


#: `positions[(*path, KEY)]` is where the key of `path` is written (`fields:` for ("fields",)).
KEY = _KeyMarker()


def dotted(path: Path) -> str:
    """A path as people read it: fields.source.options[1].value."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a workspace: where (file, 1-based line and column, path) and what."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass
class Source:
    """One YAML file of a workspace: its data, where each value is, and its problems."""

    file: str
    data: Any = None
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: False when the text is not YAML (data is then None)
    parsed: bool = True

    def where(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The position of the value at `path` (or of its key), else of the nearest parent."""
        path = tuple(path)
        if key and (*path, KEY) in self.positions:
            return self.positions[(*path, KEY)]
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def problem(self, path: Path, message: str, *, key: bool = False) -> Problem:
        """A Problem at `path` of this file (at the key when `key`)."""
        line, column = self.where(path, key=key)
        return Problem(self.file, line, column, dotted(path), message)


class _Loader(yaml.SafeLoader):
    """SafeLoader, except that timestamps stay text: the field types read dates themselves."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)

if getattr(yaml, "__with_libyaml__", False):
    class _FastLoader(yaml.CSafeLoader):
        """The same, on libyaml's parser: several times faster on a workspace's files. Used
        for files that parse; one that does not is parsed again by `_Loader`, whose syntax
        messages the error texts are written for."""

    _FastLoader.add_constructor("tag:yaml.org,2002:timestamp",
                                yaml.SafeLoader.construct_yaml_str)
else:  # pragma: no cover - PyYAML built without libyaml
    _FastLoader = None

_MERGE = "tag:yaml.org,2002:merge"


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


#: aliases can repeat a subtree exponentially ("billion laughs"); a workspace file is small
MAX_VALUES = 50_000
#: deeper data is a mistake, and would overflow the recursive checks that follow
MAX_DEPTH = 40


class _TooBig(Exception):
    """The data is too big or too deep to be a workspace file; args: line, column, path, message."""


class _Walker:
    def __init__(self, loader: _Loader, source: Source):
        self.loader = loader
        self.source = source
        self.count = 0
        self.stack: set[int] = set()

    def value(self, node: yaml.Node, path: Path) -> Any:
        self.source.positions[path] = _pos(node)
        self.count += 1
        if self.count > MAX_VALUES:
            raise _TooBig(1, 1, "", f"the file holds more than {MAX_VALUES} values once its "
                          "aliases are expanded; a workspace file should be far smaller")
        if isinstance(node, yaml.ScalarNode):
            return self.loader.construct_object(node, deep=True)
        if len(path) > MAX_DEPTH:
            raise _TooBig(*_pos(node), "", f"the data is nested more than {MAX_DEPTH} levels "
                          "deep")
        if id(node) in self.stack:
            self.source.problems.append(Problem(
                self.source.file, *_pos(node), dotted(path), "a YAML alias refers to itself"))
            return None
        self.stack.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self.mapping(node, path)
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self.stack.discard(id(node))

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        seen: dict[str, yaml.Node] = {}
        own = [(k, v) for k, v in node.value if k.tag != _MERGE]
        for key_node, _ in own:
            if not isinstance(key_node, yaml.ScalarNode):
                self.source.problems.append(Problem(
                    self.source.file, *_pos(key_node), dotted(path),
                    "a key must be a plain name, not a list or a mapping"))
                continue
            name = key_node.value
            if name in seen:
                first = seen[name].start_mark.line + 1
                self.source.problems.append(Problem(
                    self.source.file, *_pos(key_node), dotted((*path, name)),
                    f"'{name}' is given twice (first on line {first}); "
                    "YAML would keep only the last one, so remove or rename one of them"))
            seen[name] = key_node
        # Merge keys (<<: *anchor) come first, so that the mapping's own keys win.
        self.loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            # Keys are names: keep the text as written (YAML 1.1 would read `no:` as False).
            name = key_node.value
            self.source.positions[(*path, name, KEY)] = _pos(key_node)
            out[name] = self.value(value_node, (*path, name))
        return out


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    what = exc.problem or exc.context or "it does not parse"
    if what.startswith("but found another document"):
        return "YAML syntax error: a file holds one document; remove the second '---'"
    if exc.context and exc.problem:
        what = f"{what} ({exc.context})"
    if "'\\t'" in what:
        what += "; indent with spaces, not tabs"
    return f"YAML syntax error: {what}"


def parse_yaml(text: str, file: str = "<text>") -> Source:
    """Parse one YAML document into a Source: data, positions and problems (never raises)."""
    if _FastLoader is not None:  # positions agree: both count lines and characters
        source = _parse(text, file, _FastLoader)
        if source.parsed:
            return source
    return _parse(text, file, _Loader)


def _parse(text: str, file: str, loader_class) -> Source:
    source = Source(file)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            source.data = _Walker(loader, source).value(node, ())
    except _TooBig as exc:
        source.problems.append(Problem(file, *exc.args))
        source.data, source.parsed = None, False
    except RecursionError:
        source.problems.append(Problem(file, 1, 1, "", "YAML syntax error: nested too deeply"))
        source.data, source.parsed = None, False
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        source.problems.append(Problem(file, line, column, "", _syntax_message(exc)))
        source.data, source.parsed = None, False
    except yaml.YAMLError as exc:
        source.problems.append(Problem(file, 0, 0, "", f"YAML syntax error: {exc}"))
        source.data, source.parsed = None, False
    finally:
        loader.dispose()
    return source
