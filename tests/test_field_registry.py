"""One field type, one place: what a field type does is asked of the type (lowrise.fields),
never decided elsewhere by comparing its name.

The check reads every module outside platform/lowrise/fields/ and fails on a comparison
(==, !=, in, not in) of a field's type name with a string literal that names a registered
type: `f.type == "date"`, `field.type in ("link", "user")`, `kind == "select"` where `kind`
was taken from a `.type`, `raw["type"] == "formula"`, `f.kind.name == "rating"`. Such code
is what made a new type touch a dozen files; ask a capability or a method of the type
instead (`f.kind.links`, `f.kind.calendar`, `f.kind.html(...)`, see fields/base.py).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "platform" / "lowrise"
sys.path.insert(0, str(ROOT / "platform"))

from lowrise.fields import registry  # noqa: E402

#: Comparisons that must stay, each with its reason: (module relative to
#: platform/lowrise, the literal compared). Keep it empty unless something truly must.
ALLOWED: set[tuple[str, str]] = set()


def _literals(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for e in node.elts for s in _literals(e)]
    return []


def _is_type_read(node: ast.AST, typed: set[str]) -> bool:
    """Whether `node` reads a field's type name."""
    if isinstance(node, ast.Attribute) and node.attr == "type":
        return True  # f.type, field.type, rt.fields[n].type, ff.field.type
    if isinstance(node, ast.Attribute) and node.attr == "name" and \
            isinstance(node.value, ast.Attribute) and node.value.attr == "kind":
        return True  # f.kind.name
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and \
            node.slice.value == "type":
        return True  # raw["type"]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr == "get" and node.args and \
            isinstance(node.args[0], ast.Constant) and node.args[0].value == "type":
        return True  # fdef.get("type")
    return isinstance(node, ast.Name) and node.id in typed


def _typed_names(scope: ast.AST) -> set[str]:
    """Names a scope assigns a field's type name to (`t = f.type`, `kind = ... f.type`)."""
    names: set[str] = set()
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            value = node.value
            if value is None:
                continue
            reads = [n for n in ast.walk(value) if _is_type_read(n, set())]
            if reads:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def comparisons(source: str, names: set[str]) -> list[tuple[int, str, str]]:
    """(line, literal, code) of every comparison of a type name with a type-name literal."""
    tree = ast.parse(source)
    found = []
    scopes = [n for n in ast.walk(tree)
              if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)]
    for scope in [tree, *scopes]:
        typed = _typed_names(scope) if scope is not tree else set()
        body = [scope] if scope is not tree else [n for n in tree.body
                                                   if not isinstance(n, ast.FunctionDef
                                                                     | ast.AsyncFunctionDef
                                                                     | ast.ClassDef)]
        for part in body:
            for node in ast.walk(part):
                if not isinstance(node, ast.Compare):
                    continue
                sides = [node.left, *node.comparators]
                if not any(_is_type_read(s, typed) for s in sides):
                    continue
                for lit in (s for side in sides for s in _literals(side)):
                    if lit in names:
                        found.append((node.lineno, lit, ast.unparse(node)))
    return sorted(set(found))


def _outside_fields() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "fields" not in p.relative_to(
        PACKAGE).parts[:1])


def test_the_check_finds_what_it_looks_for():
    """The check is not blind: each way of comparing a type name is found, and asking the
    type is not."""
    names = set(registry.names())
    code = '''
def a(f, raw, rt, n):
    if f.type == "date": pass
    if f.type in ("link", "user"): pass
    if rt.fields[n].type not in ("select",): pass
    if raw["type"] == "formula": pass
    if raw.get("type") != "rating": pass
    if f.kind.name == "email": pass
    kind = f.config.get("result") if f.type == "formula" else f.type
    if kind == "boolean": pass
    t = f.type
    if "attachment" == t: pass
def b(f, view, trigger):
    if f.kind.links or f.kind.calendar: pass
    if view.type == "kanban": pass
    if f.name == "id": pass
    if trigger.kind == "time": pass
'''
    hits = [lit for _, lit, _ in comparisons(code, names)]
    assert hits == ["date", "link", "user", "select", "formula", "rating", "email",
                    "formula", "boolean", "attachment"]


def test_no_module_outside_fields_compares_a_field_type_name():
    names = set(registry.names())
    problems = []
    for path in _outside_fields():
        rel = path.relative_to(PACKAGE).as_posix()
        for line, lit, code in comparisons(path.read_text(encoding="utf-8"), names):
            if (rel, lit) not in ALLOWED:
                problems.append(f"platform/lowrise/{rel}:{line}: {code}")
    assert not problems, (
        "compare no field type's name outside lowrise/fields/: ask the type (a capability "
        "or a method of FieldType, fields/base.py):\n" + "\n".join(problems))


@pytest.mark.parametrize("name", sorted(registry.names()))
def test_every_type_answers_what_the_engine_asks(name):
    """Each registered type, built-in or added, answers every capability with the right kind
    of value, so that nothing outside fields/ needs to know it."""
    kind = registry.get(name)
    assert kind.name == name
    for flag in ("links", "person", "has_options", "stages", "multiple", "stores_files",
                 "has_expression", "numbered", "calendar", "instant", "indexable",
                 "groupable", "few_values", "plain_text", "declarable", "titles", "maskable",
                 "restamped", "email_address", "numeric", "sums", "generated", "sortable",
                 "searchable"):
        assert isinstance(getattr(kind, flag), bool), (name, flag)
    assert kind.flavor in ("text", "multi", "select", "bool", "number", "date", "datetime",
                           "link", "file"), name
    assert kind.widget and isinstance(kind.operators, tuple | list)


def test_registry_has_at_least_28_types():
    assert len(registry.names()) >= 28, sorted(registry.names())
