"""`lowrise check` on document templates: the YAML (record type, attachment field, formats,
roles, filters, related lists) and the template files (there, parsing, and every placeholder
a field, a link path, a related list's field inside its loop, a constant or a given name),
with the file and the name and the closest field; the flagship's templates pass and rebuild
byte for byte; a template reads no file outside the documents folder."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from docx import Document as Docx

from lowrise.cli import main
from test_documents import FILES, _write

ROOT = Path(__file__).resolve().parents[1]


def check(root: Path):
    return CliRunner().invoke(main, ["-w", str(root), "check"], catch_exceptions=False)


def test_the_flagship_passes(tmp_path):
    result = check(ROOT)
    assert result.exit_code == 0, result.output
    assert "4 documents" in result.output


def test_the_flagship_docx_templates_rebuild_byte_for_byte(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_templates",
                                                  ROOT / "documents" / "build_templates.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    written = build.build(tmp_path)
    assert [p.name for p in written] == sorted(
        p.name for p in (ROOT / "documents").glob("*.docx")) or len(written) == 3
    for path in written:
        assert path.read_bytes() == (ROOT / "documents" / path.name).read_bytes(), (
            f"documents/{path.name} is not what build_templates.py makes: run "
            "python documents/build_templates.py")


def _docx(path: Path, *paragraphs: str) -> None:
    d = Docx()
    for text in paragraphs:
        d.add_paragraph(text)
    d.save(str(path))


def test_an_unknown_placeholder_fails_with_the_file_the_name_and_the_closest_field(tmp_path):
    _write(tmp_path, FILES)
    assert check(tmp_path).exit_code == 0
    _docx(tmp_path / "documents" / "letter.docx", "总价：{{ amout|money }}",
          "{{ client.nmae }} {{ deal.owner.name }} {{ plan.amount }}",
          "{% for p in plan %}{{ p.labl }} {{ p.deal.client.name }}{% endfor %}",
          "{{ amount.currency }} {{ seller.name }} {{ today }} {{ generated_by }}")
    (tmp_path / "documents" / "sheet.html").write_text(
        "<p>{{ title }}</p>\n<p>{{ unit }}</p>\n{% for p in plan %}{{ p.due }}{% endfor %}\n")
    result = check(tmp_path)
    assert result.exit_code == 1
    out = result.output
    assert ("documents/letter.docx: 'amout' is not a field of deal nor a name the document "
            "gives; did you mean 'amount'?") in out
    assert "documents/letter.docx: 'client.nmae': 'nmae' is not a field of client; did you " \
           "mean 'name'?" in out
    assert "'plan.amount' reads a field of a list; loop over it" in out
    assert "'p.labl': 'labl' is not a field of instalment; did you mean 'label'?" in out
    assert "'amount.currency': amount is a currency field, not a link" in out
    assert "documents/sheet.html:2:0: 'unit' is not a field of deal" in out
    assert "documents/sheet.html:3:0: 'p.due': 'due' is not a field of instalment; did you " \
           "mean 'due_on'?" in out
    assert "p.deal.client.name" not in out and "seller" not in out and "today" not in out
    assert "7 problems in the document templates" in out


def test_broken_and_missing_templates(tmp_path):
    _write(tmp_path, FILES)
    (tmp_path / "documents" / "sheet.html").write_text("<p>{% if title %}open</p>\n")
    (tmp_path / "documents" / "receipt.html").unlink()
    files = dict(FILES)
    out = check(tmp_path).output
    assert re.search(r"documents/sheet.html:\d+:0: the template does not parse: Unexpected "
                     "end of template", out), out
    assert "documents/receipt.yaml: the template file documents/receipt.html is missing" in out
    assert files == FILES


@pytest.mark.parametrize("change, message", [
    ({"attach_to: files": "attach_to: title"},
     "documents/letter.yaml:5:12: attach_to: 'title' is a text field; documents are stored in "
     "an attachment field (fields that fit: files, one_file)"),
    ({"attach_to: files": "attach_to: flies"},
     "attach_to: 'flies' is not a field of deal; did you mean 'files'?"),
    ({"roles: [seller]": "roles: [sellers]"},
     "roles[0]: 'sellers' is not a role; did you mean 'seller'?"),
    ({"template: letter.docx": "template: letter.pdf"},
     "template: 'letter.pdf' is not a template file: name a .docx or .html file in documents/"),
    ({"template: letter.docx": "template: ../letter.docx"},
     "template: '../letter.docx' points outside documents/"),
    ({"attach_to: files": "attach_to: files\nformats: [pdf]"},
     "formats[0]: a .docx template cannot make pdf (it makes: docx)"),
    ({"{field: kind, op: eq, value: sale}": "{field: knd, op: eq, value: sale}"},
     "when.field: 'knd' is not a field of deal; did you mean 'kind'?"),
    ({"{field: status, op: eq, value: approved}": "{field: status, op: eq, value: aproved}"},
     "locked_when.value"),
    ({"link: deal, sort": "link: dael, sort"}, "'dael' is not a field of instalment"),
    ({"sort: [-due_on]": "sort: [-due]"}, "related.plan.sort[0]: 'due' is not a field of "
                                          "instalment; did you mean 'due_on'?"),
    ({"record_type: deal": "record_type: dea"}, "record_type: 'dea' is not a record type; "
                                                "did you mean 'deal'?"),
])
def test_the_yaml_of_a_document_is_checked(tmp_path, change, message):
    files = dict(FILES)
    text = files["documents/letter.yaml"]
    for old, new in change.items():
        assert old in text
        text = text.replace(old, new)
    files["documents/letter.yaml"] = text
    _write(tmp_path, files)
    result = check(tmp_path)
    assert result.exit_code == 1
    assert message in result.output, result.output


def test_attachment_fields_that_do_not_fit_the_formats(tmp_path):
    files = dict(FILES)
    files["documents/receipt.yaml"] = FILES["documents/receipt.yaml"] + "formats: [pdf, html]\n"
    files["documents/sheet.yaml"] = FILES["documents/sheet.yaml"].replace(
        "attach_to: files", "attach_to: one_file").replace("formats: [pdf, html]",
                                                           "formats: [html]")
    _write(tmp_path, files)
    out = check(tmp_path).output
    assert "attach_to: 'one_file' takes one file, and the document makes 2 (pdf, html); add " \
           "multiple: true to the field or make one format" in out
    assert "formats[0]: 'one_file' does not accept .html files (accept: .pdf)" in out


def test_a_template_reads_no_file_outside_its_folder(tmp_path):
    from lowrise.documents.render import html_to_pdf

    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" '
                                     'height="10"><rect width="10" height="10"/></svg>')
    secret = tmp_path / "secret.css"
    secret.write_text("body { color: red }")
    shutil.copy(secret, tmp_path / "also.svg")
    fetched: list[str] = []
    import lowrise.documents.render as render

    real = render._folder_fetcher

    def spy(f):
        fetcher = real(f)
        inner = fetcher.fetch

        def fetch(url, headers=None):
            try:
                result = inner(url, headers)
            except ValueError:
                fetched.append("refused " + url)
                raise
            fetched.append("read " + url)
            return result
        fetcher.fetch = fetch
        return fetcher

    render._folder_fetcher = spy
    try:
        pdf = html_to_pdf('<img src="logo.svg"><img src="../also.svg">'
                          '<link rel="stylesheet" href="../secret.css">'
                          '<img src="http://127.0.0.1:9/x.png">', folder)
    finally:
        render._folder_fetcher = real
    assert pdf.startswith(b"%PDF")
    assert any(f.startswith("read ") and f.endswith("/documents/logo.svg") for f in fetched)
    assert not [f for f in fetched if f.startswith("read ") and "logo.svg" not in f]
    assert len([f for f in fetched if f.startswith("refused ")]) == 3
