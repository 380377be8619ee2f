"""`lowrise check` for template files: each document's file is there, its Jinja parses, and
every name it uses is one the document gives: a field of the record type, a path through
links (`client.name`, `unit.building`), a field of the records a related list holds (inside
its `for` loop), a constant, or one of `today`, `generated_by` and the record type's own name.

A .docx is read the way docxtpl renders it (body, headers and footers, with Word's split
runs joined), and `get_undeclared_template_variables` finds its top-level names; the paths
below them are followed through the parsed template here. A problem names the template file
and the name, with the closest field when there is one: `documents/sale.docx: 'amout' is
not a field of contract; did you mean 'amount'?`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError, nodes

from lowrise.workspace.model import Document, Field, RecordType, Workspace
from lowrise.workspace.yamlpos import Problem

from .context import environment, top_names
from .generate import folder


def template_problems(ws: Workspace) -> list[Problem]:
    """Every problem of every document's template file (and of its file_name)."""
    out: list[Problem] = []
    for doc in ws.documents.values():
        if doc.record_type not in ws.record_types:
            continue  # the YAML check says so
        out += _document(ws, doc)
    return out


def _document(ws: Workspace, doc: Document) -> list[Problem]:
    rel = f"documents/{doc.template}"
    path = folder(ws) / doc.template
    if not path.is_file():
        return [Problem(doc.loc.file, 0, 0, "", f"the template file {rel} is missing")]
    env = environment()
    try:
        if path.suffix.lower() == ".docx":
            source, top = _docx_source(path, env)
        else:
            source, top = path.read_text(encoding="utf-8"), None
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        line = exc.lineno if path.suffix.lower() != ".docx" else 0
        return [Problem(rel, line, 0, "", f"the template does not parse: {exc.message}")]
    except (OSError, UnicodeDecodeError, ValueError, KeyError) as exc:
        return [Problem(rel, 0, 0, "", f"cannot be read as a template: {exc}")]
    names = top_names(ws, doc)
    out = [Problem(rel, 0, 0, "", _unknown(doc, name, names))  # a .docx: docxtpl's list
           for name in sorted(top or ()) if name not in names and name not in env.globals]
    walker = _Walker(ws, doc, names, rel, env.globals)
    walker.visit(tree, {})
    out += walker.problems
    if doc.file_name:
        try:
            walker.rel, walker.prefix = doc.loc.file, "file_name: "
            walker.visit(env.parse(doc.file_name), {})
            out += [p for p in walker.problems if p.file == doc.loc.file]
        except TemplateSyntaxError as exc:
            out.append(Problem(doc.loc.file, 0, 0, "", f"file_name does not parse: "
                               f"{exc.message}"))
    return _unique(out)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    return [p for p in problems if not (str(p) in seen or seen.add(str(p)))]


def _docx_source(path: Path, env) -> tuple[str, set[str]]:
    """The Jinja text docxtpl renders from a .docx, and its top-level names."""
    from docx.oxml import parse_xml
    from docxtpl import DocxTemplate

    tpl = DocxTemplate(str(path))
    top = tpl.get_undeclared_template_variables(jinja_env=env)
    tpl.init_docx()
    source = tpl.patch_xml(tpl.get_xml())
    for uri in (tpl.HEADER_URI, tpl.FOOTER_URI):
        for rel in tpl.docx._part.rels.values():
            if rel.reltype == uri and rel.target_part.blob:
                source += tpl.patch_xml(tpl.xml_to_string(parse_xml(rel.target_part.blob)))
    return source, set(top)


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _unknown(doc: Document, name: str, names: dict[str, Any]) -> str:
    return (f"'{name}' is not a field of {doc.record_type} nor a name the document gives"
            f"{_suggest(name, names)}")


class _Walker:
    """Follows each `a.b.c` of a parsed template to the field it names; a `for` over a
    related list (or a multi-record value) knows the type of its loop variable."""

    def __init__(self, ws: Workspace, doc: Document, names: dict[str, Any], rel: str,
                 given: Any = ()):
        self.ws, self.doc, self.names, self.rel, self.given = ws, doc, names, rel, given
        self.prefix = ""
        self.problems: list[Problem] = []

    def report(self, node: nodes.Node, message: str) -> None:
        # a .docx's Jinja is one long line of XML: its line numbers mean nothing to a person
        line = getattr(node, "lineno", 0) if self.rel.endswith((".html", ".htm")) else 0
        self.problems.append(Problem(self.rel, line, 0, "", self.prefix + message))

    def visit(self, node: nodes.Node, scope: dict[str, Any]) -> None:
        if isinstance(node, nodes.For):
            self.visit(node.iter, scope)
            inner = dict(scope)
            shape = self.shape(node.iter, scope)
            if isinstance(node.target, nodes.Name):  # for p in payments: p is a payment
                inner[node.target.name] = shape[1] if isinstance(shape, tuple) else "any"
            for target in node.target.find_all(nodes.Name):  # for a, b in ...: not followed
                inner[target.name] = "any"
            inner["loop"] = "any"
            for child in (*node.body, *node.else_):
                self.visit(child, inner)
            if node.test is not None:
                self.visit(node.test, inner)
            return
        if isinstance(node, (nodes.Getattr, nodes.Getitem)) or (
                isinstance(node, nodes.Name) and node.ctx == "load"):
            self.shape(node, scope)
            return
        if isinstance(node, (nodes.Assign, nodes.AssignBlock, nodes.Macro, nodes.CallBlock,
                             nodes.With)):
            for name in node.find_all(nodes.Name):
                if name.ctx in ("store", "param"):
                    scope[name.name] = "any"
        for child in node.iter_child_nodes():
            self.visit(child, scope)

    def shape(self, node: nodes.Node, scope: dict[str, Any]) -> Any:
        """What an expression is: a RecordType (a record), ("list", RecordType), a Field
        (a value), or "any" (not followed)."""
        if isinstance(node, nodes.Name):
            if node.name in scope:
                return scope[node.name]
            if node.name not in self.names and node.name not in self.given:
                self.report(node, _unknown(self.doc, node.name, self.names))
            return self._of(self.names.get(node.name, "any"))
        if isinstance(node, nodes.Getattr):
            return self.member(node, self.shape(node.node, scope), node.attr)
        if isinstance(node, nodes.Getitem):
            self.visit(node.arg, scope)
            base = self.shape(node.node, scope)
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                return self.member(node, base, node.arg.value)
            return "any"
        self.visit(node, scope)
        return "any"

    def _of(self, what: Any) -> Any:
        if isinstance(what, Field):
            if what.kind.links and what.target in self.ws.record_types:
                return self.ws.record_types[what.target]
            return what
        if isinstance(what, (RecordType, tuple)):
            return what
        return "any"

    def member(self, node: nodes.Node, base: Any, name: str) -> Any:
        if isinstance(base, RecordType):
            f = base.fields.get(name)
            if f is None:
                self.report(node, f"'{_dotted(node)}': '{name}' is not a field of {base.name}"
                            f"{_suggest(name, base.fields)}")
                return "any"
            return self._of(f)
        if isinstance(base, Field):
            self.report(node, f"'{_dotted(node)}': {base.name} is {_article(base.type)} "
                        "field, not a link; only links lead to another record's fields")
        elif isinstance(base, tuple):
            self.report(node, f"'{_dotted(node)}' reads a field of a list; loop over it: "
                        f"{{% for item in {_dotted(node).rsplit('.', 1)[0]} %}}")
        return "any"


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeio" else f"a {word}"


def _dotted(node: nodes.Node) -> str:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_dotted(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_dotted(node.node)}.{node.arg.value}"
    return "…"
