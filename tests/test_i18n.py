"""One way to translate: engine messages are ids with parameters, put into words in the
reader's locale when shown (lowrise.i18n), from the catalogue the pages use."""

from __future__ import annotations

import pickle
import re

import pytest

from lowrise.errors import FieldError
from lowrise.fields import registry
from lowrise.i18n import Lazy, Msg, about, msg, msg_n, tr, tr_all
from lowrise.workspace.model import Label

pytest_plugins = ["test_web_support"]


def test_a_message_is_its_english_words_and_renders_in_each_locale():
    m = msg("must be at least %(min)s characters", min=3)
    assert isinstance(m, str) and m == "must be at least 3 characters"
    assert tr(m, "en") == "must be at least 3 characters"
    assert tr(m, "zh") == "至少需要 3 个字符"
    assert tr(m, "zh_CN") == tr(m, "zh-Hans") == "至少需要 3 个字符"
    # an unknown locale reads the source words rather than failing
    assert tr(m, "fr") == "must be at least 3 characters"


def test_parameters_render_in_the_same_locale():
    name = Label({"en": "Amount", "zh": "成交金额"})
    inner = msg("is required")
    m = about(name, inner)
    assert tr(m, "en") == "Amount is required"
    assert tr(m, "zh") == "成交金额为必填项"
    lazy = Lazy(lambda loc: "一" if loc == "zh" else "one")
    assert tr(msg("must be at least %(min)s", min=lazy), "zh") == "不能小于 一"
    assert str(msg("must be at least %(min)s", min=lazy)) == "must be at least one"


def test_plurals_maps_and_pickling():
    m = msg_n("one row", "%(n)s rows", 3)
    assert m == "3 rows" and isinstance(m, Msg)
    assert tr_all({"a": msg("is required"), "b": "typed"}, "zh") == {"a": "为必填项",
                                                                      "b": "typed"}
    back = pickle.loads(pickle.dumps(msg("is required")))
    assert isinstance(back, Msg) and tr(back, "zh") == "为必填项"


def test_a_broken_translation_falls_back_to_the_source_words(monkeypatch):
    import lowrise.i18n as i18n

    class Broken:
        def gettext(self, text):
            return "%(nope)s"

    monkeypatch.setattr(i18n, "translations", lambda locale: Broken())
    assert tr(msg("must be at least %(min)s", min=2), "zh") == "must be at least 2"


def test_field_errors_carry_their_message_untranslated_until_shown():
    f_type = registry.get("integer")
    with pytest.raises(FieldError) as caught:
        f_type.parse(None, "abc")
    assert tr(caught.value.message, "zh") == "：“abc”不是整数"
    assert str(caught.value) == "'abc' is not a whole number"


def test_form_errors_read_in_chinese_and_in_english(client, signed_in):
    client.get("/locale/zh?next=/")
    resp = signed_in.post("/r/client/new", data={"name": "", "stars": "9"})
    assert resp.status_code == 422
    assert "姓名为必填项" in resp.text, re.findall(r"class=\"error\"[^<]*", resp.text)
    assert "应在 0 到 5 之间" in resp.text and "is required" not in resp.text
    client.get("/locale/en?next=/")
    resp = signed_in.post("/r/client/new", data={"name": ""})
    assert re.search(r'id="name-err"[^>]*>Name is required', resp.text)


def test_a_message_kept_in_a_text_column_reads_in_each_readers_locale():
    from lowrise.i18n import from_text, msg, to_text

    class Label:  # as a workspace label is: words per locale
        texts = {"en": "Contract review", "zh": "合同审批"}

        def get(self, locale):
            return self.texts.get(locale, self.texts["en"])

    kept = to_text(msg("Waiting for your approval: %(approval)s", approval=Label()))
    assert len(kept) < 255 and "Waiting" in kept
    assert from_text(kept, "en") == "Waiting for your approval: Contract review"
    assert from_text(kept, "zh") == "待您审批：合同审批"
    assert from_text("typed words", "zh") == "typed words" and from_text(None, "zh") is None
    assert to_text("plain words") == "plain words"
