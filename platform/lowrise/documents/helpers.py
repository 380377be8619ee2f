"""Helpers a document template calls on values: amounts in Chinese capital numerals (大写金额),
money with a symbol and thousands separators, dates written the Chinese way, plain numbers.

The capital amount follows the rules banks apply to 大写 amounts (支付结算办法, 附一):
壹贰叁肆伍陆柒捌玖 with 拾佰仟 inside a group of four digits and 万 / 亿 / 万亿 between
groups; a run of zeros inside the number is one 零; an amount that ends at 元 ends with 整;
a zero 角 before a non-zero 分 is written (元零伍分); a zero 元 place before 角 is not
(壹仟元伍角, the shorter of the two accepted forms). Amounts are rounded half up to the fen.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

DIGITS = "零壹贰叁肆伍陆柒捌玖"
PLACES = ("", "拾", "佰", "仟")
GROUPS = ("", "万", "亿", "万亿")
FEN = Decimal("0.01")


def plain(value: Any) -> Any:
    """The Python value behind a template value (a field's value object gives its value)."""
    return getattr(value, "plain_value", value)


def _decimal(value: Any) -> Decimal | None:
    value = plain(value)
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"'{value}' is not an amount") from None


def _group(n: int) -> str:
    """0 < n < 10000 in capitals, without a leading 零."""
    out, zero, started = [], False, False
    for i, ch in enumerate(f"{n:04d}"):
        d = int(ch)
        if d == 0:
            zero = zero or started
            continue
        if zero:
            out.append("零")
            zero = False
        out.append(DIGITS[d] + PLACES[3 - i])
        started = True
    return "".join(out)


def _integer(n: int) -> str:
    groups = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    if len(groups) > len(GROUPS):
        raise ValueError("the amount is too large to write in capitals")
    out, gap = "", False
    for i in range(len(groups) - 1, -1, -1):
        g = groups[i]
        if g == 0:
            gap = bool(out)
            continue
        if out and (gap or g < 1000):
            out += "零"
        out += _group(g) + GROUPS[i]
        gap = False
    return out


def rmb_upper(value: Any) -> str:
    """An amount in Chinese capital numerals: 3250000 → 叁佰贰拾伍万元整; empty for none."""
    amount = _decimal(value)
    if amount is None:
        return ""
    amount = amount.quantize(FEN, rounding=ROUND_HALF_UP)
    sign = "负" if amount < 0 else ""
    fen_total = int(abs(amount) * 100)
    yuan, jiao, fen = fen_total // 100, fen_total // 10 % 10, fen_total % 10
    if fen_total == 0:
        return "零元整"
    head = f"{_integer(yuan)}元" if yuan else ""
    if not jiao and not fen:
        return f"{sign}{head}整"
    tail = f"{DIGITS[jiao]}角" if jiao else ("零" if yuan else "")
    if fen:
        tail += f"{DIGITS[fen]}分"
    return sign + head + tail


def money(value: Any, symbol: str = "¥", places: int = 2) -> str:
    """An amount with a currency symbol and thousands separators: ¥3,250,000.00."""
    amount = _decimal(value)
    if amount is None:
        return ""
    text = format(abs(amount), f",.{int(places)}f")
    return f"{'-' if amount < 0 else ''}{symbol}{text}"


def number(value: Any, places: int | None = None) -> str:
    """A number with thousands separators (`places` decimals when given): 1,234.5."""
    n = _decimal(value)
    if n is None:
        return ""
    if places is None:
        text = format(n, ",f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return format(n, f",.{int(places)}f")


def cn_date(value: Any) -> str:
    """A date written the Chinese way: 2026年12月7日 (a datetime in its own time zone)."""
    value = plain(value)
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        raise ValueError(f"'{value}' is not a date")
    return f"{value.year}年{value.month}月{value.day}日"


FILTERS = {"rmb_upper": rmb_upper, "money": money, "number": number, "cn_date": cn_date}
