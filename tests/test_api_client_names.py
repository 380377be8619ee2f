"""Stable OpenAPI names for generated clients: schemas named after the record types and
fields (never their labels, which change with the language), one shared enum per select
field, no name a generated client uses for its own classes, an ASCII title; and the
flagship's client generated with openapi-python-client (when installed), with its labels
only in Chinese, passing ruff's pyflakes checks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from lowrise import openapi
from lowrise.workspace import load_workspace
from lowrise.workspace.model import Label

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def _zh_only(ws):
    """The workspace with every label that has a Chinese text left with that text only, as
    long as the `with` lasts: the loader hands the same objects to every load of the same
    files (and shares system fields' labels), so the labels are given back afterwards, or
    other tests' English pages would read Chinese."""
    seen: set[int] = set()
    changed: list[tuple[Label, dict]] = []

    def walk(obj, depth=0):
        if id(obj) in seen or depth > 8:
            return
        seen.add(id(obj))
        if isinstance(obj, Label):
            if "zh" in obj.texts:
                changed.append((obj, obj.texts))
                object.__setattr__(obj, "texts", {"zh": obj.texts["zh"]})
            return
        if isinstance(obj, dict):
            for v in obj.values():
                walk(v, depth + 1)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v, depth + 1)
        elif hasattr(obj, "__dict__") or hasattr(obj, "__dataclass_fields__"):
            for name in getattr(obj, "__dataclass_fields__", None) or vars(obj):
                walk(getattr(obj, name, None), depth + 1)
    try:
        walk(ws)
        yield ws
    finally:
        for obj, texts in reversed(changed):
            object.__setattr__(obj, "texts", texts)


@pytest.fixture(scope="module")
def flagship():
    return load_workspace(ROOT)


def _refs(node, out):
    if isinstance(node, dict):
        if "$ref" in node:
            out.append(node["$ref"].rsplit("/", 1)[1])
        for v in node.values():
            _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)
    return out


def test_names_come_from_types_and_fields_not_labels(flagship):
    doc = openapi.document(flagship)
    schemas = doc["components"]["schemas"]
    assert {"Case", "CaseInput", "CasePatch", "CaseStage", "ClientRecord", "ClientInput",
            "ClientGrade", "Staff"} <= set(schemas)
    assert "Client" not in schemas  # a generated client's own class
    assert doc["info"]["title"].isascii()
    for name, schema in schemas.items():
        assert schema.get("title", name).isascii(), name
        for prop, sub in (schema.get("properties") or {}).items():
            assert "title" not in sub, f"{name}.{prop}"
    # the grade's options: one enum, which the record, input, patch and bulk schemas share
    refs = _refs(schemas, [])
    assert refs.count("ClientGrade") >= 4
    grade = flagship.type("client").fields["grade"]
    assert schemas["ClientGrade"]["enum"] == [o.value for o in grade.options]
    assert not any(s.get("enum") == schemas["ClientGrade"]["enum"] for n, s in schemas.items()
                   if n != "ClientGrade")


def test_chinese_only_labels_change_no_name(flagship):
    before = openapi.document(flagship)
    with _zh_only(load_workspace(ROOT)) as ws:
        zh = openapi.document(ws)
    assert zh["components"]["schemas"]["Case"]["description"] != \
        before["components"]["schemas"]["Case"]["description"]  # the labels did change
    assert list(zh["components"]["schemas"]) == list(before["components"]["schemas"])
    assert {p: sorted(ops) for p, ops in zh["paths"].items()} == \
        {p: sorted(ops) for p, ops in before["paths"].items()}
    assert before["info"]["title"] == "Real estate sales API"
    assert zh["info"]["title"] == "Lowrise workspace API"  # ASCII, the same in every clone


def test_the_flagship_client_generates_and_passes_ruff(tmp_path):
    pytest.importorskip("openapi_python_client")
    with _zh_only(load_workspace(ROOT)) as ws:
        doc = openapi.document(ws)
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    bindir = Path(sys.executable).parent
    tool = shutil.which("openapi-python-client", path=str(bindir))
    assert tool, "openapi-python-client is installed but its command is not"
    out = tmp_path / "client"
    gen = subprocess.run([tool, "generate", "--path", str(spec), "--output-path", str(out),
                          "--meta", "setup"], capture_output=True, text=True, timeout=600,
                         env={"PATH": f"{bindir}:/usr/bin:/bin"})
    assert gen.returncode == 0, gen.stdout + gen.stderr
    packages = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert [p.name for p in packages] == ["lowrise_workspace_api_client"]
    models = {p.stem for p in (packages[0] / "models").iterdir()}
    assert {"case", "case_stage", "client_record", "client_grade"} <= models
    assert all(m.isascii() for m in models)
    assert not any(m.startswith(("client_input_grade", "client_patch_grade")) for m in models)
    ruff = subprocess.run([str(bindir / "ruff"), "check", "--isolated", "--select", "F,E9",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert ruff.returncode == 0, ruff.stdout
    setup = (out / "setup.py").read_text(encoding="utf-8")
    assert "lowrise-workspace-api-client" in setup
