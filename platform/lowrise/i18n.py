"""One way to translate: a message is an id with parameters, put into words when it is shown.

The engine never writes a sentence for one language. It makes `msg("must be at most
%(n)s characters", n=5)`: a `Msg`, which is a `str` (its English words, for logs,
exceptions and code that only joins text) that also keeps its id and parameters. Whoever
shows it to a person (a page, the API, a notification, the CLI) calls `tr(message, locale)`
and gets it in that person's locale, from the one catalogue the pages use too
(`translations/<locale>/LC_MESSAGES/messages.po`, Flask-Babel's). A notification to two people
in two locales is rendered twice, once for each.

Parameters are rendered in the same locale: a `Msg` in turn, a workspace `Label` in its
locale's text, anything else as `str()`. Values a person typed stay as they are.

`pybabel extract` finds the ids through the `msg` and `msg_n` keywords (babel.cfg).
"""

from __future__ import annotations

import gettext
import json
from collections.abc import Callable
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from babel.support import Translations

CATALOGUE = Path(__file__).resolve().parent / "translations"
#: the locale the message ids are written in
SOURCE_LOCALE = "en"


class Msg(str):
    """A message id and its parameters; as a `str`, its English words."""

    __slots__ = ("id", "plural", "n", "params")

    id: str
    plural: str | None
    n: int | None
    params: dict[str, Any]

    def __new__(cls, id: str, params: dict[str, Any] | None = None, *,
                plural: str | None = None, n: int | None = None) -> Msg:
        params = dict(params or {})
        self = super().__new__(cls, _render(id, plural, n, params, SOURCE_LOCALE))
        self.id, self.plural, self.n, self.params = id, plural, n, params
        return self

    def render(self, locale: str | None) -> str:
        """These words in `locale` (English when the catalogue has no translation)."""
        return _render(self.id, self.plural, self.n, self.params, locale or SOURCE_LOCALE)

    def __reduce__(self):
        return (_rebuild, (self.id, self.params, self.plural, self.n))

    def __repr__(self) -> str:
        return f"msg({self.id!r}, {self.params!r})"


def _rebuild(id, params, plural, n) -> Msg:
    return Msg(id, params, plural=plural, n=n)


def msg(id: str, /, **params: Any) -> Msg:
    """A message to be translated when shown; `id` is its English words with %(name)s slots."""
    return Msg(id, params)


def msg_n(singular: str, plural: str, n: int, /, **params: Any) -> Msg:
    """A message with singular and plural forms chosen by `n` (also given as %(n)s)."""
    return Msg(singular, {"n": n, **params}, plural=plural, n=n)


class Lazy:
    """A parameter worked out in the reader's locale (a formatted amount, an option's label)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[str], str]):
        self.fn = fn

    def render(self, locale: str | None) -> str:
        return self.fn(locale or SOURCE_LOCALE)

    def __str__(self) -> str:
        return self.render(SOURCE_LOCALE)


def tr(text: Any, locale: str | None) -> str:
    """`text` in `locale`: a Msg translated, a Label in that locale, anything else as str()."""
    if isinstance(text, (Msg, Lazy)):
        return text.render(locale)
    if text is None:
        return ""
    if hasattr(text, "texts") and hasattr(text, "get"):  # a workspace Label
        return text.get(locale)
    return str(text)


def about(field_label: Any, problem: Any) -> Msg:
    """A problem with one field, as a sentence that names it ("Amount must be at least 0")."""
    return msg("%(field)s %(problem)s", field=field_label, problem=problem)


def tr_all(texts: Any, locale: str | None) -> Any:
    """Every message in a dict, list or tuple rendered in `locale` (for error maps)."""
    if isinstance(texts, dict):
        return {k: tr_all(v, locale) for k, v in texts.items()}
    if isinstance(texts, (list, tuple)):
        return type(texts)(tr_all(v, locale) for v in texts)
    return tr(texts, locale)


def language(locale: str | None) -> str:
    """The catalogue's language of a locale code: zh_CN, zh-Hans, zh → zh."""
    return (locale or SOURCE_LOCALE).replace("-", "_").split("_")[0].lower()


def _join(items: tuple[Any, ...], locale: str) -> str:
    return ("、" if language(locale) == "zh" else ", ").join(tr(i, locale) for i in items)


def joined(items) -> Lazy:
    """A list (labels, messages) as one parameter, joined as the reader's language does."""
    return Lazy(partial(_join, tuple(items)))


@lru_cache(maxsize=16)
def translations(locale: str | None) -> gettext.NullTranslations:
    """The catalogue of `locale` (NullTranslations for the source language or a missing one)."""
    lang = language(locale)
    if lang == SOURCE_LOCALE:
        return gettext.NullTranslations()
    return Translations.load(str(CATALOGUE), [lang], domain="messages")


def _render(id: str, plural: str | None, n: int | None, params: dict[str, Any],
            locale: str) -> str:
    cat = translations(locale)
    text = cat.ngettext(id, plural, n) if plural is not None else cat.gettext(id)
    if not params:
        return text
    values = {k: (v if isinstance(v, (int, float)) and not isinstance(v, bool)
                  else tr(v, locale)) for k, v in params.items()}
    try:
        return text % values
    except (KeyError, ValueError, TypeError):
        # a broken translation must not hide the message: fall back to the source words
        return (plural if plural is not None and n != 1 else id) % values


def dump(text: Any, locales: Any = (SOURCE_LOCALE,)) -> Any:
    """A message as JSON data, to be stored and put into words later in any locale (`load`).
    A parameter worked out in the reader's locale (a Lazy, a Label) keeps its words in each
    of `locales`."""
    if isinstance(text, Msg):
        return {"$msg": text.id, "plural": text.plural, "n": text.n,
                "params": {k: dump(v, locales) for k, v in text.params.items()}}
    if isinstance(text, Lazy):
        return {"$texts": {loc: text.render(loc) for loc in dict.fromkeys(
            [*locales, SOURCE_LOCALE])}}
    if hasattr(text, "texts") and hasattr(text, "get"):  # a workspace Label
        return {"$texts": dict(text.texts)}
    if text is None or isinstance(text, (str, int, float, bool)):
        return text
    return str(text)


#: starts a text column's value that holds a message rather than words (`to_text`)
STORED = "\x1emsg:"


def to_text(text: Any, locales: Any = (SOURCE_LOCALE,)) -> str:
    """A message kept in a text column (a notification's title) so that each reader reads it
    in their own locale: its `dump` as JSON behind a marker no typed text starts with. Plain
    words stay as they are."""
    if not isinstance(text, (Msg, Lazy)):
        return "" if text is None else str(text)
    return STORED + json.dumps(dump(text, locales), ensure_ascii=False, separators=(",", ":"))


def from_text(value: str | None, locale: str | None) -> str | None:
    """What `to_text` kept, in `locale`; anything else as it is."""
    if not isinstance(value, str) or not value.startswith(STORED):
        return value
    try:
        return tr(load(json.loads(value[len(STORED):])), locale)
    except ValueError:
        return value


def load(data: Any) -> Any:
    """What `dump` stored, as a Msg again (anything else as it was)."""
    if isinstance(data, dict) and "$msg" in data:
        return Msg(data["$msg"], {k: load(v) for k, v in (data.get("params") or {}).items()},
                   plural=data.get("plural"), n=data.get("n"))
    if isinstance(data, dict) and "$texts" in data:
        texts = dict(data["$texts"])
        return Lazy(lambda locale: _pick(texts, locale))
    return data


def _pick(texts: dict[str, str], locale: str | None) -> str:
    """The text of a locale from a stored map, falling back as a Label does."""
    for key in (locale, language(locale), "", SOURCE_LOCALE):
        if key is not None and key in texts:
            return texts[key]
    return next(iter(texts.values()), "")
