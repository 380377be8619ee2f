"""Round-trip YAML: change a workspace file's data and get its text back with the comments,
key order, quoting and layout of everything not changed kept as they were.

ruamel.yaml keeps comments and order; two things are added here. `Document.text()` splices
only the lines that changed into the original text, so that whatever ruamel would lay out
differently (a flow mapping wrapped over two lines, say) stays byte for byte as written.
`comments_to_following_keys` moves a comment written above a mapping key onto that key
(ruamel stores it at the end of the previous entry), so that the comment travels with the
field it describes when fields are inserted or reordered.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long line
    y.indent(mapping=2, sequence=4, offset=2)  # the house layout: "key:\n  - item"
    return y


class Document:
    """One YAML file, loaded for editing."""

    def __init__(self, text: str):
        self.original = text
        self.data = _yaml().load(text) if text.strip() else CommentedMap()
        self._untouched = dump(self.data) if text.strip() else ""

    def text(self) -> str:
        """The file's text now: the original, with only the changed lines replaced."""
        return splice(self.original, self._untouched, dump(self.data))


def dump(data: Any) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def splice(original: str, untouched: str, changed: str) -> str:
    """Apply the changes between two ruamel dumps (before and after an edit) to the original
    text; when a changed line cannot be placed in the original, the whole new dump is used."""
    if original == untouched:
        return changed
    a = original.splitlines(keepends=True)
    b = untouched.splitlines(keepends=True)
    c = changed.splitlines(keepends=True)
    b_to_a: dict[int, int] = {}
    for tag, i1, _i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            b_to_a.update({j1 + k: i1 + k for k in range(j2 - j1)})
    out: list[str] = []
    at = 0
    for tag, j1, j2, k1, k2 in difflib.SequenceMatcher(None, b, c, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if j1 < j2:  # lines of the dump replaced: each must stand as is in the original
            rows = [b_to_a.get(j) for j in range(j1, j2)]
            if None in rows or rows != list(range(rows[0], rows[0] + len(rows))):
                return changed
            start, end = rows[0], rows[-1] + 1
        elif j1 < len(b) and j1 in b_to_a:  # an insertion before a line that is in place
            start = end = b_to_a[j1]
        elif j1 == len(b):
            start = end = len(a)
        else:
            return changed
        if start < at:
            return changed
        out += a[at:start] + c[k1:k2]
        at = end
    return "".join(out + a[at:])


# ----- building nodes in the house style -----

def _scalar(value: Any) -> bool:
    return not isinstance(value, (Mapping, list, tuple))


def _flowable(value: Any) -> bool:
    """Short data written on one line: {en: Client, zh: 客户}, [a, b], {value: x, color: red}."""
    if isinstance(value, Mapping):
        return all(_scalar(v) or (isinstance(v, (list, tuple)) and all(map(_scalar, v)))
                   or (isinstance(v, Mapping) and all(map(_scalar, v.values())))
                   for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(map(_scalar, value))
    return True


def node(value: Any, *, block: bool = False) -> Any:
    """Plain data as ruamel nodes: short mappings and lists in flow style ({...}, [...]),
    longer ones as blocks; `block` forces the outer mapping to be a block (a field)."""
    if isinstance(value, Mapping):
        m = CommentedMap((str(k), node(v)) for k, v in value.items())
        if not block and _flowable(value):
            m.fa.set_flow_style()
        else:
            m.fa.set_block_style()
        return m
    if isinstance(value, (list, tuple)):
        s = CommentedSeq(node(v) for v in value)
        if all(map(_scalar, value)):
            s.fa.set_flow_style()
        else:
            s.fa.set_block_style()
        return s
    return value


# ----- comments travel with the key below them -----

def _last_slot(value: Any) -> tuple[list, int] | None:
    """Where the comment after a block value is kept: (ca entry, index) of its last item."""
    while isinstance(value, (CommentedMap, CommentedSeq)) and len(value) and \
            not value.fa.flow_style():
        if isinstance(value, CommentedMap):
            key = list(value)[-1]
            if isinstance(value[key], (CommentedMap, CommentedSeq)) and \
                    not value[key].fa.flow_style() and len(value[key]):
                value = value[key]
                continue
            entry = value.ca.items.get(key)
            return (entry, 2) if entry else None
        index = len(value) - 1
        if isinstance(value[index], (CommentedMap, CommentedSeq)) and \
                not value[index].fa.flow_style() and len(value[index]):
            value = value[index]
            continue
        entry = value.ca.items.get(index)
        return (entry, 0) if entry else None
    return None


def comments_to_following_keys(mapping: CommentedMap) -> None:
    """Move full-line comments that end one entry's block onto the next key, where they
    belong (the dumped text does not change)."""
    keys = list(mapping)
    for prev, key in zip(keys, keys[1:], strict=False):
        slot = _last_slot(mapping[prev])
        if slot is None:
            entry = mapping.ca.items.get(prev)
            slot = (entry, 2) if entry else None
        if slot is None or not isinstance(slot[0][slot[1]], CommentToken):
            continue
        holder, i = slot
        token = holder[i]
        eol, nl, rest = token.value.partition("\n")
        if not rest.strip():
            continue
        holder[i] = CommentToken(eol + nl, CommentMark(token.column))
        lines = [CommentToken(line.lstrip(" ") if line.strip() else "\n",
                              CommentMark(len(line) - len(line.lstrip(" "))))
                 for line in rest.splitlines(keepends=True)]
        entry = mapping.ca.items.setdefault(key, [None, None, None, None])
        entry[1] = lines + list(entry[1] or [])


def rename_key(mapping: CommentedMap, old: str, new: str) -> None:
    """Rename a key in place: same position, same value, same comments."""
    position = list(mapping).index(old)
    comments = mapping.ca.items.pop(old, None)
    value = mapping.pop(old)
    mapping.insert(position, new, value)
    if comments is not None:
        mapping.ca.items[new] = comments


def reorder(mapping: CommentedMap, order: list[str]) -> None:
    """Put the keys of a mapping in `order` (every key, once), comments following their keys."""
    comments_to_following_keys(mapping)
    items = [(k, mapping[k], mapping.ca.items.get(k)) for k in order]
    for k in order:
        mapping.pop(k)
        mapping.ca.items.pop(k, None)
    for i, (k, v, c) in enumerate(items):
        mapping.insert(i, k, v)
        if c is not None:
            mapping.ca.items[k] = c
