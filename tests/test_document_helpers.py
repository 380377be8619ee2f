"""The helpers document templates call: amounts in Chinese capital numerals (大写金额) by the
banks' rules, money with a symbol and thousands separators, Chinese dates, plain numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from lowrise.documents.helpers import cn_date, money, number, rmb_upper


@pytest.mark.parametrize("amount, words", [
    # zero, and amounts below one yuan
    (0, "零元整"), ("0.00", "零元整"), ("0.004", "零元整"), ("0.005", "壹分"),
    ("0.5", "伍角"), ("0.05", "伍分"), ("0.55", "伍角伍分"),
    # 角 and 分: 零 before 分 when 角 is zero; none between 元 and 角
    ("1.01", "壹元零壹分"), ("10.5", "壹拾元伍角"), ("1000.10", "壹仟元壹角"),
    ("325.04", "叁佰贰拾伍元零肆分"), ("6007.14", "陆仟零柒元壹角肆分"),
    ("1409.50", "壹仟肆佰零玖元伍角"),
    # 整 after 元; 壹拾 for the tens; one 零 for a run of zeros
    (15, "壹拾伍元整"), (20, "贰拾元整"), (100, "壹佰元整"), (1001, "壹仟零壹元整"),
    (10700, "壹万零柒佰元整"), (105000, "壹拾万伍仟元整"), (3250000, "叁佰贰拾伍万元整"),
    ("107000.53", "壹拾万柒仟元伍角叁分"),
    # 万 / 亿 / 万亿 groups, and the zeros between them
    (100000000, "壹亿元整"), (100010001, "壹亿零壹万零壹元整"),
    ("1002003004.56", "壹拾亿零贰佰万叁仟零肆元伍角陆分"), (10**11, "壹仟亿元整"),
    (10**12, "壹万亿元整"), (10**12 + 1, "壹万亿零壹元整"), (110000000, "壹亿壹仟万元整"),
    # a negative amount, a Decimal, a float
    (-5, "负伍元整"), (Decimal("3250000.00"), "叁佰贰拾伍万元整"), (1234.5, "壹仟贰佰叁拾肆元伍角"),
])
def test_amounts_in_capitals(amount, words):
    assert rmb_upper(amount) == words


def test_capitals_of_nothing_and_of_too_much():
    assert rmb_upper(None) == "" and rmb_upper("") == ""
    with pytest.raises(ValueError):
        rmb_upper(10**16)
    with pytest.raises(ValueError):
        rmb_upper("three")


def test_money_numbers_and_dates():
    assert money(Decimal("3250000")) == "¥3,250,000.00"
    assert money("-1234.5", "US$") == "-US$1,234.50"
    assert money(None) == "" and money(12, places=0) == "¥12"
    assert number("1234.50") == "1,234.5" and number(1234, 2) == "1,234.00"
    assert number(Decimal("98.50"), 1) == "98.5"
    assert cn_date(date(2026, 12, 7)) == "2026年12月7日"
    assert cn_date(datetime(2027, 1, 8, 23, 0, tzinfo=UTC)) == "2027年1月8日"
    assert cn_date("2026-03-01") == "2026年3月1日" and cn_date(None) == ""
