"""Builds the flagship's Word templates (the .docx files beside this script) with python-docx.

    python documents/build_templates.py

The texts are written here, so that a change to a contract is a reviewable diff and the
files come out the same byte for byte every time (fixed zip dates and order). A company can
also open a built .docx in Word and edit it directly: the {{ placeholders }} are plain text
in the document (docs/documents.md lists the names each one may use).
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt

HERE = Path(__file__).resolve().parent
FONT = "宋体"  # the usual face of Chinese contracts; Word substitutes where it is missing
BLANK_DATE = "　　　　年　　月　　日"


def _document():
    doc = Document()
    doc.core_properties.author = "Lowrise"
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(11)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    return doc


def _title(doc, text: str, sub: str | None = None) -> None:
    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = p.add_run(text)
    run.bold, run.font.size = True, Pt(18)
    if sub:
        q = doc.add_paragraph(sub)
        q.alignment = WD_ALIGN_PARAGRAPH.RIGHT


def _head(doc, text: str) -> None:
    run = doc.add_paragraph().add_run(text)
    run.bold, run.font.size = True, Pt(12)


def _paras(doc, *texts: str) -> None:
    for t in texts:
        doc.add_paragraph(t)


def _grid(doc, rows: list[tuple[str, str]]) -> None:
    """A two-column table of label and value."""
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for name, value in rows:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = name, value


def _schedule(doc, items: str) -> None:
    """The payment schedule: one row per related payment ({%tr %} repeats a table row)."""
    table = doc.add_table(rows=4, cols=4)
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, ("款项", "金额（元）", "金额大写", "应付日期"),
                          strict=True):
        cell.text = text
    table.rows[1].cells[0].text = f"{{%tr for p in {items} %}}"
    row = table.rows[2].cells
    row[0].text, row[1].text = "{{ p.label }}", "{{ p.amount|money }}"
    row[2].text, row[3].text = "{{ p.amount|rmb_upper }}", "{{ p.due_on|cn_date }}"
    table.rows[3].cells[0].text = "{%tr endfor %}"


def _parties(doc, buyer: str = "买受人") -> None:
    _paras(doc,
           "出卖人：{{ seller.name }}",
           "通讯地址：{{ seller.address }}",
           "统一社会信用代码：{{ seller.credit_code }}",
           "法定代表人：{{ seller.representative }}　联系电话：{{ seller.phone }}",
           f"{buyer}：{{{{ client.name }}}}",
           "证件类型：居民身份证　证件号码：{{ client.id_number }}",
           "联系电话：{{ client.phone }}",
           "置业顾问：{{ case.consultant.name }}")


def _unit(doc) -> None:
    _grid(doc, [
        ("项目名称", "{{ unit.project }}{% if unit.phase %}（{{ unit.phase }}）{% endif %}"),
        ("楼栋及房号", "{{ unit.building }} {{ unit.unit_no }}"),
        ("所在楼层 / 总层数", "第 {{ unit.floor }} 层 / 共 {{ unit.total_floors }} 层"),
        ("用途及户型", "{{ unit.product_type }}，{{ unit.layout }}，{{ unit.orientation }}"),
        ("建筑面积", "{{ unit.gross_area }} 平方米"),
        ("套内建筑面积", "{{ unit.net_area }} 平方米"),
        ("装修标准", "{{ unit.decoration }}"),
    ])


def _price(doc, clause: str) -> None:
    _head(doc, f"{clause}　计价方式与价款")
    _paras(doc,
           "本合同按套计价。该商品房总价款为人民币 {{ amount|money }}"
           "（大写：人民币{{ amount|rmb_upper }}）。",
           "{% if unit.gross_area %}折合建筑面积每平方米 "
           "{{ (amount / unit.gross_area)|money }}。{% endif %}"
           "{% if discount %}上述总价款已包含相对表价 {{ discount }} 的优惠。{% endif %}")


def _payment(doc, clause: str) -> None:
    _head(doc, f"{clause}　付款方式及期限")
    _paras(doc,
           "买受人选择以下付款方式：{{ payment_method }}。",
           "{% if down_payment %}首付款 {{ down_payment|money }}（大写：{{ down_payment|rmb_upper }}）"
           "，于签订本合同时支付。{% endif %}"
           "{% if loan_amount %}其余 {{ loan_amount|money }} 由买受人向"
           "{{ loan_bank|default('贷款银行', true) }}申请贷款支付；贷款未获批准的，双方协商"
           "改为其他付款方式，协商不成的，买受人可以解除合同，出卖人退还已付房款。{% endif %}",
           "付款计划表（共 {{ payments|length }} 期，合计 "
           "{{ payments|sum(attribute='amount')|money }}）：")
    _schedule(doc, "payments")
    _paras(doc, "买受人逾期付款的，自应付之日起至实际付款之日止，按日计算向出卖人支付逾期"
                "应付款万分之二的违约金；逾期超过 60 日的，出卖人有权解除合同。")


def _closing(doc, clauses: list[tuple[str, str]]) -> None:
    for head, text in clauses:
        _head(doc, head)
        _paras(doc, text)
    _paras(doc, "{% if notes %}补充说明：{{ notes }}{% endif %}")
    table = doc.add_table(rows=3, cols=2)
    table.rows[0].cells[0].text = "出卖人（盖章）：{{ seller.name }}"
    table.rows[0].cells[1].text = "买受人（签字）："
    table.rows[1].cells[0].text = "委托代理人（签字）："
    table.rows[1].cells[1].text = "证件号码：{{ client.id_number }}"
    table.rows[2].cells[0].text = f"签订日期：{{{{ signed_on|cn_date or '{BLANK_DATE}' }}}}"
    table.rows[2].cells[1].text = f"签订日期：{{{{ signed_on|cn_date or '{BLANK_DATE}' }}}}"
    footer = doc.sections[0].footer.paragraphs[0]
    footer.text = "合同编号 {{ contract_no }}　本文本生成于 {{ today }}（{{ generated_by }}）"


COMMON_END = [
    ("第七条　面积差异的处理",
     "该商品房交付时以房产测绘机构出具的实测建筑面积为准。实测面积与本合同约定面积的误差比"
     "绝对值在 3%（含）以内的，据实结算房价款；超过 3% 的，买受人有权解除合同，出卖人应当在"
     "买受人提出解除之日起 30 日内退还已付房款及同期利息。买受人不解除合同的，超出 3% 部分的"
     "房价款由出卖人承担，不足 3% 部分的房价款由出卖人双倍返还。"),
    ("第八条　质量与保修",
     "出卖人保证该商品房的主体结构质量合格。保修期自交付之日起计算，不低于国家规定的最低"
     "保修期限；保修期内发生的质量问题，由出卖人负责修复并承担费用。"),
    ("第九条　不动产登记",
     "出卖人应当在交付后 365 日内，将办理不动产登记需由出卖人提供的资料报送登记机构。因"
     "出卖人的原因导致买受人未能按期取得不动产权证书的，买受人可以解除合同或要求出卖人"
     "按已付房款的万分之一按日支付违约金。"),
    ("第十条　争议解决",
     "本合同在履行过程中发生的争议，由双方协商解决；协商不成的，依法向该商品房所在地人民"
     "法院起诉。"),
    ("第十一条　其他",
     "本合同自双方签字（盖章）之日起生效，一式四份，出卖人、买受人各执一份，其余用于"
     "办理网签备案及不动产登记。本合同未尽事宜，双方可另行签订补充协议，补充协议与本合同"
     "具有同等效力。"),
]


def presale_contract():
    doc = _document()
    _title(doc, "商品房买卖合同（预售）", "合同编号：{{ contract_no }}")
    _parties(doc)
    _paras(doc, "根据《中华人民共和国民法典》《中华人民共和国城市房地产管理法》和《商品房销售管理"
                "办法》等规定，出卖人和买受人在平等、自愿、公平、诚实信用的基础上，就买卖下列"
                "预售商品房达成如下协议。")
    _head(doc, "第一条　项目建设及预售依据")
    _paras(doc, "出卖人已依法取得本项目的土地使用权和建设工程规划许可，该商品房已取得商品房预售"
                "许可，预售许可证号：{{ unit.presale_permit|default('________', true) }}。")
    _head(doc, "第二条　商品房基本状况")
    _unit(doc)
    _paras(doc, "上述面积为预测面积，交付时以房产测绘机构的实测面积为准。")
    _price(doc, "第三条")
    _payment(doc, "第四条")
    _head(doc, "第五条　交付期限")
    _paras(doc, "出卖人应当在 {{ unit.delivery_date|cn_date or '________' }} 前，将取得建设工程"
                "竣工验收备案的商品房交付买受人。逾期交付的，出卖人按日向买受人支付已付房款"
                "万分之二的违约金；逾期超过 90 日的，买受人有权解除合同。")
    _head(doc, "第六条　交付手续")
    _paras(doc, "出卖人应当在交付日 10 日前书面通知买受人办理交付手续的时间和地点。交付时，"
                "出卖人应当出示竣工验收备案证明和房产测绘报告，并提供《住宅质量保证书》和"
                "《住宅使用说明书》。")
    _closing(doc, COMMON_END)
    return doc


def existing_contract():
    doc = _document()
    _title(doc, "商品房买卖合同（现售）", "合同编号：{{ contract_no }}")
    _parties(doc)
    _paras(doc, "根据《中华人民共和国民法典》《中华人民共和国城市房地产管理法》和《商品房销售管理"
                "办法》等规定，出卖人和买受人在平等、自愿、公平、诚实信用的基础上，就买卖下列"
                "已竣工商品房达成如下协议。")
    _head(doc, "第一条　房屋权属")
    _paras(doc, "该商品房已竣工验收合格并完成备案，出卖人保证对该商品房享有完整的处分权，该商品房"
                "未设定抵押，未被查封，不存在权属争议。")
    _head(doc, "第二条　商品房基本状况")
    _unit(doc)
    _paras(doc, "上述面积为房产测绘机构的实测面积。")
    _price(doc, "第三条")
    _payment(doc, "第四条")
    _head(doc, "第五条　交付期限")
    _paras(doc, "出卖人应当在本合同生效之日起 30 日内，将该商品房交付买受人。买受人应当在交付"
                "时对房屋进行查验，并签署房屋交接书。")
    _head(doc, "第六条　交付手续")
    _paras(doc, "交付时，出卖人应当结清交付前发生的物业服务费、水电燃气费等费用，并提供《住宅"
                "质量保证书》和《住宅使用说明书》。")
    _closing(doc, COMMON_END)
    return doc


def subscription():
    doc = _document()
    _title(doc, "商品房认购书", "编号：{{ contract_no }}")
    _parties(doc, buyer="认购人")
    _head(doc, "一、认购房屋")
    _unit(doc)
    _head(doc, "二、认购价格")
    _paras(doc, "该房屋总价款为人民币 {{ amount|money }}（大写：人民币{{ amount|rmb_upper }}）。"
                "{% if discount %}已含相对表价 {{ discount }} 的优惠。{% endif %}")
    _head(doc, "三、定金")
    _paras(doc, "{% for d in deposits %}认购人应于 {{ d.due_on|cn_date }} 前向出卖人支付定金"
                " {{ d.amount|money }}（大写：{{ d.amount|rmb_upper }}）。{% else %}"
                "认购人于签署本认购书时向出卖人支付定金，金额以出卖人开具的收据为准。"
                "{% endfor %}",
           "定金在双方签订《商品房买卖合同》后抵作房价款。")
    _head(doc, "四、签约期限")
    _paras(doc, "认购人应当在本认购书签署之日起 7 日内，与出卖人签订《商品房买卖合同》。")
    _head(doc, "五、定金罚则")
    _paras(doc, "认购人未在约定期限内签订《商品房买卖合同》的，无权要求返还定金；出卖人在约定期限"
                "内将该房屋另售他人或拒绝签约的，应当双倍返还定金。因不可归责于双方的原因未能"
                "签约的，出卖人应当全额退还定金。")
    _head(doc, "六、其他")
    _paras(doc, "本认购书一式两份，双方各执一份，自双方签字（盖章）之日起生效。"
                "{% if notes %}补充说明：{{ notes }}{% endif %}")
    table = doc.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text = "出卖人（盖章）：{{ seller.name }}"
    table.rows[0].cells[1].text = "认购人（签字）："
    table.rows[1].cells[0].text = f"日期：{{{{ signed_on|cn_date or '{BLANK_DATE}' }}}}"
    table.rows[1].cells[1].text = f"日期：{{{{ signed_on|cn_date or '{BLANK_DATE}' }}}}"
    doc.sections[0].footer.paragraphs[0].text = "本认购书生成于 {{ today }}（{{ generated_by }}）"
    return doc


TEMPLATES = {"sale_contract_presale.docx": presale_contract,
             "sale_contract_existing.docx": existing_contract,
             "subscription.docx": subscription}


def reproducible(doc) -> bytes:
    """The .docx bytes with fixed zip dates and member order, so a build is byte-stable."""
    raw = io.BytesIO()
    doc.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(src.namelist(), key=lambda n: (n != "[Content_Types].xml", n)):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, src.read(name))
    return out.getvalue()


def build(folder: Path = HERE) -> list[Path]:
    """Write every template into `folder`; returns the files written."""
    written = []
    for name, make in TEMPLATES.items():
        path = folder / name
        path.write_bytes(reproducible(make()))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(path)
