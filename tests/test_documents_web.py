"""The flagship's contract documents through the web, in Chinese, on SQLite and PostgreSQL:
a consultant generates the sale contract (DOCX) and the terms sheet (PDF) from the record
page's buttons; the files open with the buyer's name, the amount in figures and in capitals,
dates written 2026年…, the payment schedule, and the buyer's phone still masked for this
consultant; the history says who generated which document; once a manager approves the
contract the contract text cannot be generated again (page and API), while a cancelled
contract refuses the terms sheet too."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from docx import Document as Docx
from pypdf import PdfReader

from lowrise.actor import Actor
from lowrise.approvals.engine import install as install_approvals
from lowrise.approvals.queue import queue as approval_queue
from test_web_support import PASSWORD, SYSTEM_ACTOR, AuthActions, build_app, csrf_of

pytest_plugins = ["test_web_support"]

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


class Office:
    """A sales office with one contract: 李秀英 (consultant) handles the case of 张伟, a
    client registered by her colleague 王强 (so his phone is masked for her)."""

    def __init__(self, app):
        self.app = app
        self.run = run = app.extensions["lowrise"]
        mk = lambda t, **v: run.records.create(t, v, SYSTEM_ACTOR)  # noqa: E731
        self.li = mk("staff", name="李秀英", role="consultant")["id"]
        self.wang = mk("staff", name="王强", role="consultant")["id"]
        self.boss = mk("staff", name="文磊", role="manager")["id"]
        run.accounts.add("li@example.com", PASSWORD, name="李秀英", staff_id=self.li,
                         roles=["consultant"])
        run.accounts.add("boss@example.com", PASSWORD, name="文磊", staff_id=self.boss,
                         roles=["manager"])
        self.client_id = mk("client", name="张伟", phone="13812345678",
                            id_number="110101199003071234", source="walk_in",
                            consultant=self.wang)["id"]
        self.unit = mk("property", project="锦绣花园", building="3栋", unit_no="1801",
                       floor=18, total_floors=32, layout="3br", gross_area="125.00",
                       net_area="98.50", list_price="3400000", status="available",
                       presale_permit="预售证字第2026-018号",
                       delivery_date="2027-06-30")["id"]
        self.case = mk("case", client=self.client_id, unit=self.unit, consultant=self.li,
                       stage="negotiation", amount="3250000",
                       opened_on="2026-11-01")["id"]
        self.contract = mk("contract", kind="sale", template="presale_model", case=self.case,
                           client=self.client_id, unit=self.unit, amount="3250000",
                           payment_method="mortgage", down_payment="1000000",
                           loan_amount="2250000", loan_bank="中国建设银行")
        self.cid = self.contract["id"]
        mk("payment", contract=self.cid, label="首付款", kind="down_payment",
           amount="1000000", due_on="2026-12-20")
        mk("payment", contract=self.cid, label="银行按揭贷款", kind="loan", amount="2250000",
           due_on="2027-02-28")

    def browser(self, email: str) -> AuthActions:
        auth = AuthActions(self.app.test_client())
        assert auth.login(email=email).status_code == 302
        auth.client.get("/locale/zh")
        return auth

    def file(self, item: dict) -> bytes:
        return self.run.files.path(item["key"]).read_bytes()


@pytest.fixture
def office(tmp_path, db_url, monkeypatch):
    from lowrise.workspace import load_workspace

    monkeypatch.setattr("lowrise.actor.utcnow", lambda: NOW)
    app = build_app(tmp_path, db_url, load_workspace(ROOT))
    yield Office(app)
    app.extensions["lowrise"].engine.dispose()


def _docx_text(data: bytes) -> str:
    doc = Docx(io.BytesIO(data))
    parts = [p.text for p in doc.paragraphs]
    parts += [c.text for t in doc.tables for r in t.rows for c in r.cells]
    parts += [p.text for s in doc.sections for p in s.footer.paragraphs]
    return "\n".join(parts)


def _generate(auth: AuthActions, cid: int, name: str):
    page = auth.client.get(f"/r/contract/{cid}")
    assert page.status_code == 200
    return auth.client.post(f"/r/contract/{cid}/documents/{name}",
                            data={"csrf_token": csrf_of(page.text)}, follow_redirects=True)


def test_a_consultant_generates_the_sale_contract_with_the_values_as_she_may_see_them(office):
    li = office.browser("li@example.com")
    page = li.client.get(f"/r/contract/{office.cid}").text
    assert "生成商品房买卖合同（预售）" in page and "打印" in page
    assert "商品房认购书" not in page  # offered only on subscription contracts (when:)
    assert "商品房买卖合同（现售）" not in page

    resp = _generate(li, office.cid, "sale_contract_presale")
    assert resp.status_code == 200
    assert "已生成商品房买卖合同（预售）" in resp.text
    files = office.run.records.get("contract", office.cid)["attachment"]
    assert [f["name"] for f in files] == [
        f"{office.contract['contract_no']} 商品房买卖合同（预售）张伟.docx"]
    item = files[0]
    template = ROOT / "documents" / "sale_contract_presale.docx"
    import hashlib

    assert item["template"] == hashlib.sha256(template.read_bytes()).hexdigest()
    assert item["key"] == hashlib.sha256(office.file(item)).hexdigest()
    assert item["generated_by"] == "李秀英" and item["document"] == "sale_contract_presale"

    text = _docx_text(office.file(item))
    assert "买受人：张伟" in text
    assert "¥3,250,000.00" in text and "叁佰贰拾伍万元整" in text
    assert "¥1,000,000.00" in text and "壹佰万元整" in text  # the down payment
    assert "2027年6月30日" in text  # the unit's handover date
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert f"生成于 {today.year}年{today.month}月{today.day}日（李秀英）" in text  # in Beijing
    assert "首付款" in text and "银行按揭贷款" in text and "2027年2月28日" in text
    assert "锦绣花园" in text and "3栋 1801" in text and "预售证字第2026-018号" in text
    assert "置业顾问：李秀英" in text
    # the buyer belongs to her colleague: his phone and ID number stay masked for her
    assert "13812345678" not in text and "138****5678" in text
    assert "110101199003071234" not in text

    # the history says who generated which document, with the template's hash
    history = li.client.get(f"/r/contract/{office.cid}").text
    assert re.search(r"李秀英</strong> 生成了文档 <span class=\"tl-note\">商品房买卖合同（预售）"
                     r"（.*张伟\.docx；模板 " + item["template"][:12], history), history


def test_the_terms_sheet_is_a_pdf_with_the_amount_in_words(office):
    li = office.browser("li@example.com")
    assert _generate(li, office.cid, "contract_summary").status_code == 200
    item = office.run.records.get("contract", office.cid)["attachment"][0]
    assert item["name"].endswith("合同要点确认单.pdf") and item["type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(office.file(item)))
    text = "".join(p.extract_text() for p in reader.pages)
    assert "张伟" in text and "¥3,250,000.00" in text and "叁佰贰拾伍万元整" in text
    assert "2027年6月30日" in text and "银行按揭贷款" in text
    assert "138****5678" in text and "13812345678" not in text
    assert "第 1 页 / 共" in text  # the page counters of the template's @page


def test_regenerating_after_approval_is_refused(office):
    li = office.browser("li@example.com")
    assert "已生成" in _generate(li, office.cid, "sale_contract_presale").text
    records = office.run.records
    # the consultant sends it to review; she has no manager here, so the administrators
    # decide (approvals/contract_review.yaml), and the approval marks it approved
    li_actor = Actor(user=office.li, name="李秀英", roles=frozenset({"consultant"}), locale="zh")
    records.update("contract", office.cid, {"status": "in_review"}, li_actor)
    admin = Actor(name="管理员", roles=frozenset({"admin"}), locale="zh")
    (task,) = approval_queue(records, admin)
    install_approvals(records).act(task["task_id"], admin, "approve")
    before = records.get("contract", office.cid)
    assert before["status"] == "approved" and before["approved_at"] is not None

    page = li.client.get(f"/r/contract/{office.cid}").text
    assert re.search(r'data-document="sale_contract_presale" disabled', page)
    resp = _generate(li, office.cid, "sale_contract_presale")
    assert "此记录已不能再生成商品房买卖合同（预售）（合同状态 属于 已审批" in resp.text
    after = records.get("contract", office.cid)
    assert after["attachment"] == before["attachment"] and after["version"] == before["version"]

    # the API says the same, as a 409 with the reason
    user = office.run.accounts.by_email("li@example.com")
    token, _ = office.run.accounts.create_token(user.id)
    auth = {"Authorization": f"Bearer {token}"}
    api = office.app.test_client()
    listed = api.get(f"/api/v1/contract/{office.cid}/documents", headers=auth).get_json()
    assert {d["name"]: d["locked"] for d in listed["documents"]} == {
        "sale_contract_presale": True, "contract_summary": False}
    refused = api.post(f"/api/v1/contract/{office.cid}/documents/sale_contract_presale",
                       headers=auth)
    assert refused.status_code == 409 and "approved" in refused.get_json()["detail"].lower()
    # the terms sheet may still be made, from the approved terms, for the archive
    made = api.post(f"/api/v1/contract/{office.cid}/documents/contract_summary", headers=auth)
    assert made.status_code == 201
    names = [f["name"] for f in made.get_json()["files"]]
    assert names == [f"{office.contract['contract_no']} 合同要点确认单.pdf"]


def test_who_may_generate_and_on_which_records(office):
    records = office.run.records
    # a contract of another consultant's case is out of her rows: 404, nothing written
    other = records.create("case", {"client": office.client_id, "unit": office.unit,
                                    "consultant": office.wang, "stage": "negotiation",
                                    "opened_on": "2026-11-01"},
                           SYSTEM_ACTOR)
    theirs = records.create("contract", {
        "kind": "sale", "template": "presale_model", "case": other["id"],
        "client": office.client_id, "unit": office.unit, "amount": "1",
        "payment_method": "full"}, SYSTEM_ACTOR)
    li = office.browser("li@example.com")
    page = li.client.get(f"/r/contract/{office.cid}")
    resp = li.client.post(f"/r/contract/{theirs['id']}/documents/sale_contract_presale",
                          data={"csrf_token": csrf_of(page.text)})
    assert resp.status_code == 404
    assert records.get("contract", theirs["id"])["attachment"] is None
    # a document not offered on this record (a subscription's, on a sale contract)
    resp = li.client.post(f"/r/contract/{office.cid}/documents/subscription",
                          data={"csrf_token": csrf_of(page.text)}, follow_redirects=True)
    assert "商品房认购书只适用于合同类型 等于 认购书的记录" in resp.text
    assert records.get("contract", office.cid)["attachment"] is None
    # a manager whose team the client is not in: the buyer is out of his rows, so the
    # contract he generates leaves the buyer blank (as a link he may not follow)
    boss = office.browser("boss@example.com")
    assert "已生成" in _generate(boss, office.cid, "sale_contract_presale").text
    item = records.get("contract", office.cid)["attachment"][0]
    text = _docx_text(office.file(item))
    assert "张伟" not in text and "1381234" not in text and "买受人：\n" in text
    assert item["name"].endswith("商品房买卖合同（预售）.docx")
    # once the client's consultant reports to him, he sees the client, phone in full; the
    # new copy replaces his first one on the field
    records.update("staff", office.wang, {"manager": office.boss}, SYSTEM_ACTOR)
    assert "已生成" in _generate(boss, office.cid, "sale_contract_presale").text
    files = records.get("contract", office.cid)["attachment"]
    assert len(files) == 1 and files[0]["name"].endswith("张伟.docx")
    assert "13812345678" in _docx_text(office.file(files[0]))
