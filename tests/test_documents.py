"""Documents from templates, through the engine, on SQLite and PostgreSQL: what a template
sees (fields, links, related lists, constants, today, the person), as the person generating
it reads the records (masked, hidden, out of their rows); the YAML's options (formats,
file_name, roles, when, locked_when, locale, related sort / filter / limit); what is stored
and written to the history; the sandbox."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from docx import Document as Docx
from pypdf import PdfReader

from lowrise import documents
from lowrise.actor import SYSTEM, Actor
from lowrise.errors import Forbidden, NotFound, ValidationError

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)

FILES = {
    "workspace.yaml": """
label: {en: Shop, zh: 小店}
default_locale: zh
locales: [zh, en]
timezone: Asia/Shanghai
users: staff
roles:
  seller:
    permissions:
      staff: {can: [read]}
      client:
        can: [read]
        rows: [own, {linked_from: [deal.client]}]
        fields:
          phone: {access: masked, unless: own}
          secret: hidden
      deal: {can: [read, update], rows: own, fields: {margin: hidden}}
      instalment: {can: [read], rows: {filter: {field: hidden_from_sellers, op: eq, value: false}}}
  clerk:
    permissions:
      client: {can: [read]}
      deal: {can: [read, update]}
      instalment: {can: [read]}
  admin: {admin: true}
""",
    "schemas/staff.yaml": "title: name\nfields:\n  name: {type: text}\n",
    "schemas/client.yaml": """
title: name
fields:
  name: {type: text}
  phone: {type: phone}
  secret: {type: text}
  consultant: {type: user}
""",
    "schemas/deal.yaml": """
title: title
fields:
  title: {type: text}
  client: {type: link, target: client}
  amount: {type: currency, currency: CNY}
  signed_on: {type: date}
  status: {type: select, options: [{value: draft, label: {en: Draft, zh: 草稿}},
                                    {value: approved, label: {en: Approved, zh: 已审批}}]}
  kind: {type: select, options: [sale, rent]}
  owner: {type: user}
  files: {type: attachment, multiple: true, accept: [.docx, .pdf, .html]}
  one_file: {type: attachment, accept: [.pdf]}
  margin: {type: decimal}
""",
    "schemas/instalment.yaml": """
title: label
fields:
  label: {type: text}
  deal: {type: link, target: deal}
  due_on: {type: date}
  amount: {type: currency, currency: CNY}
  paid: {type: boolean}
  hidden_from_sellers: {type: boolean, default: false}
""",
    "documents/letter.yaml": """
label: {en: Letter, zh: 确认函}
record_type: deal
template: letter.docx
attach_to: files
file_name: "{{ title }} 确认函 {{ client.name }}"
roles: [seller]
when: {field: kind, op: eq, value: sale}
locked_when: {field: status, op: eq, value: approved}
related:
  plan: {record_type: instalment, link: deal, sort: [-due_on], filter: {field: paid, op: eq, value: false}, limit: 2}
constants:
  seller: {name: 示例置业有限公司}
  city: 杭州
""",
    "documents/sheet.yaml": """
label: {en: Deal sheet, zh: 成交单}
record_type: deal
template: sheet.html
formats: [pdf, html]
attach_to: files
locale: en
related:
  plan: {record_type: instalment, link: deal, sort: [due_on]}
""",
    "documents/receipt.yaml": """
label: Receipt
record_type: deal
template: receipt.html
attach_to: one_file
""",
    "documents/sheet.html": """<html><body>
<h1>Deal {{ title }} · {{ status }}</h1><p>{{ client.name }} / {{ client.phone }} / [{{ client.secret }}]</p>
<p>{{ amount }} = {{ amount|rmb_upper }} on {{ signed_on }} ({{ signed_on|cn_date }})</p>
<table>{% for p in plan %}<tr><td>{{ loop.index }}. {{ p.label }}</td><td>{{ p.amount|money }}</td></tr>{% endfor %}</table>
<p>by {{ generated_by }} on {{ today }}</p></body></html>""",
    "documents/receipt.html": "<p>Received {{ amount|money }} for {{ deal }}</p>",
}


def _letter_docx(path: Path) -> None:
    d = Docx()
    d.add_paragraph("买受人：{{ client.name }}　电话：{{ client.phone }}　备注：[{{ client.secret }}]")
    d.add_paragraph("总价：{{ amount|money }}（大写：{{ amount|rmb_upper }}）状态：{{ status }}"
                    "　利润：[{{ margin }}]")
    d.add_paragraph("{% if amount > 1000000 %}大额{% endif %}首期 {{ (amount * 0.3)|money }}")
    d.add_paragraph("经办：{{ deal.owner.name }}　{{ seller.name }}（{{ city }}）"
                    "{{ generated_by }} {{ today }}")
    t = d.add_table(rows=3, cols=2)
    t.cell(0, 0).text = "{%tr for p in plan %}"
    t.cell(1, 0).text, t.cell(1, 1).text = "{{ p.label }}", "{{ p.amount|money }} {{ p.due_on }}"
    t.cell(2, 0).text = "{%tr endfor %}"
    d.save(str(path))


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    _letter_docx(root / "documents" / "letter.docx")


class Shop:
    def __init__(self, root: Path, db_url: str):
        from lowrise.storage import migrate
        from lowrise.storage.db import create_engine
        from lowrise.storage.files import FileStore
        from lowrise.storage.records import Records
        from lowrise.storage.tables import build_schema
        from lowrise.workspace import load_workspace

        self.ws = load_workspace(root)
        self.engine = create_engine(db_url)
        schema = build_schema(self.ws)
        with self.engine.connect() as conn:
            plan = migrate.plan(conn, schema)
        migrate.apply(self.engine, plan)
        self.records = rec = Records(self.engine, schema, files=FileStore(root / "uploads"))
        mk = lambda t, **v: rec.create(t, v, SYSTEM)["id"]  # noqa: E731
        self.sam, self.bob = mk("staff", name="李秀英"), mk("staff", name="王强")
        self.client = mk("client", name="张三", phone="13812345678", secret="VIP 折扣",
                         consultant=self.bob)
        self.other_client = mk("client", name="李四", consultant=self.bob)
        self.deal = mk("deal", title="A-1801", client=self.client, amount="3250000",
                       signed_on="2026-12-07", status="draft", kind="sale", owner=self.sam,
                       margin="0.18")
        for label, due, amount, paid in (("定金", "2026-12-08", "50000", True),
                                         ("首付款", "2027-01-08", "950000", False),
                                         ("二期款", "2027-03-08", "250000", False),
                                         ("尾款", "2027-06-08", "2000000", False)):
            mk("instalment", label=label, deal=self.deal, due_on=due, amount=amount, paid=paid)
        self.seller = Actor(user=self.sam, name="李秀英", roles=frozenset({"seller"}),
                            locale="zh", clock=lambda: NOW)
        self.clerk = Actor(user=self.bob, name="王强", roles=frozenset({"clerk"}), locale="zh",
                           clock=lambda: NOW)

    def bytes_of(self, item: dict) -> bytes:
        return self.records.files.path(item["key"]).read_bytes()


@pytest.fixture
def shop(tmp_path, db_url):
    _write(tmp_path, FILES)
    s = Shop(tmp_path, db_url)
    yield s
    s.engine.dispose()


def _text(data: bytes) -> str:
    doc = Docx(io.BytesIO(data))
    return "\n".join([p.text for p in doc.paragraphs] +
                     [c.text for t in doc.tables for r in t.rows for c in r.cells])


def test_a_docx_filled_as_the_person_reads_the_records(shop):
    made = documents.generate(shop.records, "letter", shop.deal, shop.seller)
    [item] = made.files
    assert item["name"] == "A-1801 确认函 张三.docx"
    text = _text(shop.bytes_of(item))
    # masked for her (the client is her colleague's), hidden left empty
    assert "买受人：张三　电话：138****5678　备注：[]" in text and "13812345678" not in text
    assert "¥3,250,000.00（大写：叁佰贰拾伍万元整）状态：草稿　利润：[]" in text  # hidden
    assert "大额首期 ¥975,000.00" in text  # values compare and compute as themselves
    assert "经办：李秀英　示例置业有限公司（杭州）李秀英 2026年12月7日" in text
    # related: unpaid only (filter), latest due first (sort), two of them (limit)
    assert "尾款" in text and "二期款" in text and "首付款" not in text and "定金" not in text
    assert text.index("尾款") < text.index("二期款")
    assert "¥2,000,000.00 2027年6月8日" in text

    # stored with the template's hash, the record's version and who made it, in the history
    template = shop.ws.root + "/documents/letter.docx"
    assert item["template"] == hashlib.sha256(Path(template).read_bytes()).hexdigest()
    assert item["key"] == hashlib.sha256(shop.bytes_of(item)).hexdigest()
    assert (item["document"], item["record_version"], item["generated_by"]) == (
        "letter", 1, "李秀英")
    stored = shop.records.get("deal", shop.deal)
    assert stored["files"] == [item] and stored["version"] == 2
    entry = shop.records.history("deal", shop.deal)[0]
    assert (entry["action"], entry["actor_name"]) == ("document", "李秀英")
    note = json.loads(entry["note"])
    assert note["document"] == "letter" and note["template"] == item["template"]
    assert note["files"] == [{"name": item["name"], "key": item["key"]}]

    # generating again replaces the document's earlier file, not the others'
    documents.generate(shop.records, "sheet", shop.deal, shop.seller)
    again = documents.generate(shop.records, "letter", shop.deal, shop.seller)
    names = [f["name"] for f in shop.records.get("deal", shop.deal)["files"]]
    assert names == ["Deal sheet.pdf", "Deal sheet.html", "A-1801 确认函 张三.docx"]  # locale: en
    assert again.files[0]["record_version"] == 3


def test_an_html_page_made_a_pdf_and_kept_as_html_in_the_document_locale(shop):
    made = documents.generate(shop.records, "sheet", shop.deal, shop.clerk)
    pdf, html = made.files
    assert (pdf["name"], pdf["type"]) == ("Deal sheet.pdf", "application/pdf")
    assert (html["name"], html["type"]) == ("Deal sheet.html", "text/html")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(shop.bytes_of(pdf))).pages)
    # locale: en labels and dates; the clerk sees the phone in full, and the secret
    assert "Deal A-1801 · Draft" in text and "Dec 7, 2026 (2026年12月7日)" in text
    assert "张三 / 13812345678 / [VIP 折扣]" in text and "叁佰贰拾伍万元整" in text
    assert "1. 定金" in text and "4. 尾款" in text and "1 / 1" in text  # page counter
    page = shop.bytes_of(html).decode()
    assert "<h1>Deal A-1801 · Draft</h1>" in page and "by 王强 on Dec 7, 2026" in page


def test_a_linked_record_out_of_the_persons_rows_is_empty(shop):
    # the deal now points at a client she cannot read (not hers, not linked from her deals
    # ... until this change, which the system makes): the letter leaves the buyer blank
    other = shop.records.create("deal", {"title": "B-2", "client": shop.other_client,
                                         "owner": shop.bob, "kind": "sale"}, SYSTEM)
    shop.records.update("deal", shop.deal, {"client": None}, SYSTEM)
    made = documents.generate(shop.records, "letter", shop.deal, shop.seller)
    text = _text(shop.bytes_of(made.files[0]))
    assert "买受人：　电话：" in text and "李四" not in text
    assert made.files[0]["name"] == "A-1801 确认函.docx"
    with pytest.raises(NotFound):  # a deal out of her rows: as if it did not exist
        documents.generate(shop.records, "letter", other["id"], shop.seller)


def test_who_may_generate_it_and_when(shop):
    with pytest.raises(Forbidden):  # roles: [seller]
        documents.generate(shop.records, "letter", shop.deal, shop.clerk)
    offered = documents.offers(shop.records, "deal", shop.deal, shop.seller)
    assert [(o.document.name, o.locked) for o in offered] == [
        ("letter", None), ("receipt", None), ("sheet", None)]
    # when: only for sales
    shop.records.update("deal", shop.deal, {"kind": "rent"}, SYSTEM)
    assert "letter" not in [o.document.name for o in documents.offers(
        shop.records, "deal", shop.deal, shop.seller)]
    with pytest.raises(documents.DocumentRefused) as refused:
        documents.generate(shop.records, "letter", shop.deal, shop.seller)
    assert refused.value.message.render("zh") == "确认函只适用于Kind 等于 Sale的记录"
    # locked_when: approved deals keep the letter they have
    shop.records.update("deal", shop.deal, {"kind": "sale", "status": "approved"}, SYSTEM)
    [letter] = [o for o in documents.offers(shop.records, "deal", shop.deal, shop.seller)
                if o.document.name == "letter"]
    assert letter.locked.render("en") == ("Letter cannot be generated for this record any "
                                          "more (Status is Approved)")
    assert letter.locked.render("zh") == "此记录已不能再生成确认函（Status 等于 已审批）"
    before = shop.records.get("deal", shop.deal)
    with pytest.raises(documents.DocumentRefused):
        documents.generate(shop.records, "letter", shop.deal, shop.seller)
    assert shop.records.get("deal", shop.deal) == before


def test_the_attachment_fields_own_limits_hold(shop):
    # one_file takes .pdf only: the receipt (an .html made a PDF) fits, and replaces
    made = documents.generate(shop.records, "receipt", shop.deal, shop.seller)
    assert made.files[0]["name"] == "Receipt.pdf"
    documents.generate(shop.records, "receipt", shop.deal, shop.seller)
    assert len(shop.records.get("deal", shop.deal)["one_file"]) == 1
    # a person who may not update the record gets the update's refusal, nothing stored
    reader = Actor(user=shop.bob, name="王强", roles=frozenset({"nobody"}), clock=lambda: NOW)
    with pytest.raises((Forbidden, ValidationError, NotFound)):
        documents.generate(shop.records, "letter", shop.deal, reader)


def test_the_sandbox_reaches_fields_and_nothing_else(shop, tmp_path):
    from jinja2.exceptions import SecurityError

    from lowrise.documents import context
    from lowrise.storage.query import get_many

    env = context.environment()
    with shop.engine.connect() as conn:
        reader = context.Reader(conn, shop.records.schema, shop.seller, "zh")
        record = get_many(conn, shop.records.schema, "deal", [shop.deal], ctx=shop.seller)
        data = context.data(reader, shop.ws.documents["letter"], record[shop.deal])
        render = lambda text: env.from_string(text).render(data)  # noqa: E731
        assert render("{{ client.name }} {{ deal.client.name }}") == "张三 张三"
        for probe in ("{{ client._values }}", "{{ amount.plain_value }}",
                      "{{ client.__class__ }}", "{{ deal._reader.conn }}",
                      "{{ client.nosuch }}", "{{ amount.field }}"):
            with pytest.raises(Exception) as caught:
                render(probe)
            assert caught.type.__name__ in ("UndefinedError", "SecurityError"), probe
        with pytest.raises(SecurityError):
            render("{{ city.__class__.__mro__ }}")  # a plain constant: the sandbox
