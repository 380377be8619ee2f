"""Finds English words a person reads on a page that is meant to be in Chinese.

A page's words are its text nodes and the attributes a person reads or hears (title,
aria-label, placeholder, alt, a button's value), without scripts and styles. Words that are
values (anything stored in a record, a person's name or e-mail), codes (URLs, field names,
numbers) or names of things that are the same in both languages (CSV, API, Excel...) are not
English words; every other run of Latin letters is, and is reported with the page it is on.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: written the same in a Chinese interface: formats, protocols, brands, units, codes
SAME_IN_BOTH = {
    "api", "csv", "xlsx", "excel", "json", "yaml", "url", "urls", "http", "https", "id", "ids",
    "vip", "sla", "kpi", "html", "pdf", "docx", "openapi", "lowrise", "wps", "ip", "hmac",
    "sha", "utf", "gbk", "etag", "cny", "usd", "am", "pm", "ok", "sso", "totp", "webhook",
    "token", "bearer", "markdown", "iso", "gb", "mb", "kb", "js", "css", "svg", "png", "jpg",
    "jpeg", "gif", "webp", "zip", "doc", "ics", "ical", "wechat", "qq", "curl", "get", "post",
    "patch", "put", "delete", "head", "problem", "if-match", "schemathesis", "python",
    "wecom", "dingtalk", "feishu", "bom", "utc", "gmt", "cst", "zh", "en", "rfc", "ods",
    "opendocument", "libreoffice",
}

READ_ATTRS = ("title", "aria-label", "placeholder", "alt", "aria-description")
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")
CODE = re.compile(
    r"\b[YMDHS]{1,4}([-:/ ][YMDHS]{1,4})+\b|https?://\S+|[\w.+-]+@[\w-]+(\.[\w-]+)+|/[\w/.<>{}?=&%-]*|\b\w+_\w+\b|#\w+|\b[A-Z]{2,}-[\w-]+"
    r"|\b\d+[A-Za-z]+\b|\$[\w.]+|\{[^}]*\}|`[^`]*`")


#: elements whose content is not interface words: code, text marked as another language
#: (the language switch names each language in itself: "English"), and text marked
#: translate="no" (a name from the YAML files, like a record type's `client`)
_QUIET = ("script", "style", "template", "code", "pre", "kbd", "samp")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}


class _Words(HTMLParser):
    def __init__(self, reading: str = "zh"):
        super().__init__(convert_charrefs=True)
        self.reading = reading  # the page's language: text marked as another is quiet
        self.stack: list[bool] = []  # per open element: is its content quiet
        self.parts: list[str] = []

    @property
    def skip(self) -> bool:
        return bool(self.stack) and self.stack[-1]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        lang = a.get("lang")
        quiet = (self.skip or tag in _QUIET
                 or (lang is not None and not lang.startswith(self.reading))
                 or a.get("translate") == "no")  # a code, marked as not to be translated
        if tag not in _VOID:
            self.stack.append(quiet)
        if quiet:
            return
        if "data-value-text" in a:  # a value shown as it is typed
            return
        for name in READ_ATTRS:
            if a.get(name):
                self.parts.append(a[name])
        if tag == "input" and a.get("type") in ("submit", "button") and a.get("value"):
            self.parts.append(a["value"])

    def handle_endtag(self, tag):
        if tag not in _VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def page_words(html: str) -> list[str]:
    """The runs of Latin letters a person reads on the page, codes and URLs left out."""
    p = _Words()
    p.feed(html)
    out = []
    for part in p.parts:
        for w in WORD.findall(CODE.sub(" ", part)):
            out.append(w)
    return out


def value_words(texts) -> set[str]:
    """Every word of the given values (records, names, e-mails), lower-cased."""
    out: set[str] = set()
    for t in texts:
        if isinstance(t, str):
            out.update(w.lower() for w in WORD.findall(t))
    return out


def english_words(html: str, values: set[str]) -> list[str]:
    """The English words on a page, given the words of the values it may show."""
    return [w for w in page_words(html)
            if w.lower() not in SAME_IN_BOTH and w.lower() not in values]


CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]+")


def page_texts(html: str, reading: str) -> list[str]:
    """The texts a person reads on a page in the `reading` language (codes left in)."""
    p = _Words(reading)
    p.feed(html)
    return [t for t in p.parts if t.strip()]


def chinese_runs(html: str, values: list[str]) -> list[str]:
    """The runs of Chinese on a page meant to be in English, once every text that is a value
    (a record's, a label or message the workspace's YAML writes) is taken out."""
    out = []
    for text in page_texts(html, "en"):
        if not CJK.search(text):
            continue
        for v in values:
            if v in text:
                text = text.replace(v, " ")
                if not CJK.search(text):
                    break
        out += CJK.findall(text)
    return out
