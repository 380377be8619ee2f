"""The password rule: long enough, not common, not trivial, not the account's own name or
address; one rule for `lowrise user add` / `password`, invitations and /account/password,
said in the person's language."""

from __future__ import annotations

import pytest

from lowrise import passwords
from lowrise.accounts import AccountError
from lowrise.i18n import tr
from test_web_support import PASSWORD

pytest_plugins = ["test_web_support"]

REFUSED = {
    "short": ["short", "1234567"],
    "common": ["password", "iloveyou", "sunshine", "baseball", "Password1", "Dragon2024!",
               "woaini1314", "5201314520", "qq123456", "zhang123456", "ｐａｓｓｗｏｒｄ"],
    "trivial": ["aaaaaaaa", "abcabcabc", "12121212", "12345678", "87654321", "abcdefgh",
                "qwertyui", "asdfghjkl;", "88888888"],
    "date": ["19861010", "1986-10-10", "10.10.1986"],
    "self": ["ada.lovelace!", "Lovelace-77-x", "xx-adalovelace"],
}
ACCEPTED = ["correct horse battery", "violet tram at dusk 9", "Zq7!mR2#kd", "月亮河边的猫42",
            "plum-sofa-radar", "ada is not here 7"]


def test_the_rule():
    for kind, items in REFUSED.items():
        for pw in items:
            found = passwords.problem(pw, email="ada.lovelace@example.com", name="Ada Lovelace")
            assert found is not None, (kind, pw)
    for pw in ACCEPTED:
        assert passwords.problem(pw, email="ada.lovelace@example.com",
                                 name="Ada Lovelace") is None, pw
    assert passwords.problem("x" * 257) is not None
    assert len(passwords.common()) > 25_000  # the shipped list, read once


def test_accounts_refuse_weak_passwords_with_a_translated_reason(run):
    with pytest.raises(AccountError) as refused:
        run.accounts.add("bob@example.com", "iloveyou1")
    assert "most commonly used" in str(refused.value)
    assert "最常用的密码" in tr(refused.value.message, "zh")
    with pytest.raises(AccountError) as refused:
        run.accounts.add("bq@example.com", "x-quarrington-77", name="Bob Quarrington")
    assert "邮箱地址或姓名" in tr(refused.value.message, "zh")
    bob = run.accounts.add("bob@example.com", "violet tram at dusk 9", name="Bob")
    with pytest.raises(AccountError) as refused:
        run.accounts.set_password(bob.id, "12345678")
    assert "重复或连续" in tr(refused.value.message, "zh")
    assert run.accounts.authenticate("bob@example.com", "violet tram at dusk 9") is not None


def test_account_page_refuses_in_the_persons_language(client, signed_in, run):
    client.get("/locale/zh?next=/")
    for weak, words in (("aaaaaaaa", "重复或连续"), ("password1", "最常用的密码"),
                        ("19861010", "日期"), ("adaadmin99", "邮箱地址或姓名"),
                        ("short", "至少需要 8 个字符")):
        resp = signed_in.post("/account/password", data={"current": PASSWORD, "new": weak,
                                                         "again": weak})
        assert resp.status_code == 422 and words in resp.text, weak
    assert run.accounts.authenticate("ada@example.com", PASSWORD) is not None  # unchanged
    client.get("/locale/en?next=/")
    resp = signed_in.post("/account/password", data={"current": PASSWORD, "new": "qwertyuiop",
                                                     "again": "qwertyuiop"})
    assert resp.status_code == 422 and "a repeat or a run of characters" in resp.text


def test_invitations_make_passwords_that_pass_the_rule(signed_in, run):
    for i in range(5):
        resp = signed_in.post("/admin/users", data={"email": f"n{i}@example.com", "name": "N"})
        assert resp.status_code == 200 and run.accounts.by_email(f"n{i}@example.com")
