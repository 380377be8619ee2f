"""The expression functions refuse what they cannot do, with a message, and never build more
than the text limit: `mask()` hides as masked fields do, `year()` of a text is refused (a write
that runs it gets a clear refusal, not a crash)."""

from __future__ import annotations

import time
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from lowrise.access.model import Mask
from lowrise.errors import ValidationError
from lowrise.expr import MAX_TEXT, Expression, ExpressionError
from lowrise.i18n import tr
from test_rules_support import BASE, make_env


def ev(source: str, **values):
    return Expression(source).evaluate(values)


@pytest.mark.parametrize("value", ["13812345678", "12345", "ab", "1234567", "12345678",
                                   "110101199003071234", "", "x"])
def test_mask_hides_as_a_masked_field_does(value):
    assert ev("mask(s)", s=value) == Mask().apply(value)
    assert ev("mask(s, 1, 1)", s=value) == Mask(1, 1).apply(value)
    assert ev("mask(s, 0, 0)", s=value) == Mask(0, 0).apply(value)


def test_mask_of_short_values_keeps_nothing():
    assert ev("mask(s)", s="12345") == "*****"
    assert ev("mask(s)", s="ab") == "****"
    assert ev("mask(s)", s="13812345678") == "138****5678"


@pytest.mark.parametrize("source", ["mask(s, -200000000, 0)", "mask(s, 0, -200000000)",
                                    "mask(s, -200000000, -200000000)",
                                    "mask(s, 200000000, 200000000)"])
def test_mask_with_huge_or_negative_counts_stays_small(source):
    started = time.monotonic()
    out = ev(source, s="13812345678")
    assert len(out) <= MAX_TEXT and set(out) <= set("13812345678*")
    assert "1381234567" not in out or out == "*" * 11
    assert time.monotonic() - started < 1


def test_mask_of_a_text_over_the_limit_is_refused():
    with pytest.raises(ExpressionError, match="too long"):
        ev("mask(s)", s="x" * (MAX_TEXT + 1))


@pytest.mark.parametrize("fn", ["year", "month"])
@pytest.mark.parametrize("value", ["2026-01-02", 7, True, ["a"]])
def test_year_and_month_of_a_non_date_are_refused(fn, value):
    with pytest.raises(ExpressionError) as info:
        ev(f"{fn}(x)", x=value)
    assert tr(info.value.message, "en").startswith(f"{fn}() needs a date, not ")
    assert tr(info.value.message, "zh").startswith(f"{fn}() 需要日期")


def test_year_and_month_of_dates():
    assert ev("year(d) * 100 + month(d)", d=date(2026, 3, 9)) == 202603
    assert ev("year(t)", t=datetime(2025, 12, 31, 23, 0)) == 2025
    assert ev("year(d)", d=None) is None


def test_a_write_whose_rule_calls_year_on_text_is_refused_cleanly(engine):
    """The rule fails with a message and nothing is written (it used to crash the write)."""
    env = make_env(engine, {"stamp": """
record_type: ticket
trigger: {kind: created}
actions:
  - set_fields: {x: {expr: "year(title)"}}
"""})
    with pytest.raises(ValidationError) as info:
        env.create("ticket", title="2026")
    assert "year() needs a date" in str(info.value)
    with env.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(
            env.records.schema.table("ticket"))).scalar() == 0


def test_a_formula_calling_year_on_text_is_empty_not_a_crash(engine):
    files = {"schemas/ticket.yaml": BASE["schemas/ticket.yaml"]
             + "  opened_year: {type: formula, expression: 'year(title)', result: integer}\n"}
    env = make_env(engine, {}, extra=files)
    t = env.create("ticket", title="2026")
    assert env.get("ticket", t["id"])["opened_year"] is None


def test_sha256_of_a_text_and_of_stored_files():
    import hashlib

    assert ev("sha256(s)", s="合同") == hashlib.sha256("合同".encode()).hexdigest()
    assert ev("sha256(s)", s=None) is None and ev("sha256(s)", s=[]) is None
    files = [{"name": "a.pdf", "key": "a" * 64}, {"name": "b.pdf", "key": "b" * 64}]
    assert ev("sha256(f)", f=files[:1]) == "a" * 64
    assert ev("sha256(f)", f=files) == f"{'a' * 64}, {'b' * 64}"
    with pytest.raises(ExpressionError):
        ev("sha256(f)", f=[{"name": "x"}])
