"""Locales: the interface's own words come from Babel catalogues, the workspace's from its labels.

The locale is the one the person chose (kept in the session), else the workspace's default.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, g, redirect, request, session
from flask_babel import Babel

from lowrise.i18n import CATALOGUE, about, load, tr, tr_all
from lowrise.names import name_of

from .runtime import rt

TRANSLATIONS = CATALOGUE


def current_locale() -> str:
    """The locale of this request: chosen in the session, else the workspace's default."""
    if "locale" not in g:
        ws = rt().workspace
        chosen = session.get("locale")
        g.locale = chosen if chosen in ws.locales else ws.default_locale
    return g.locale


def label(obj, locale: str | None = None) -> str:
    """A workspace Label (or an object with `.label`) in the current locale."""
    if obj is None:
        return ""
    lab = getattr(obj, "label", obj)
    if isinstance(lab, str):
        return lab
    return lab.get(locale or current_locale(), rt().workspace.default_locale)


def say(text) -> str:
    """An engine message (a Msg, or an error carrying one) in this request's locale."""
    return tr(getattr(text, "message", text), current_locale())


def say_all(errors):
    """A map (or list) of engine messages, each in this request's locale."""
    return tr_all(errors, current_locale())


def say_about(field_label, problem) -> str:
    """'<field> <problem>' as one sentence in this request's locale."""
    return tr(about(field_label, problem), current_locale())


def field_problems(rtype, errors, locale: str | None = None) -> list[str]:
    """A ValidationError's {field: problem} as sentences that name each field, in the locale."""
    locale = locale or current_locale()
    out = []
    for name, problem in errors.items():
        f = rtype.fields.get(name) if name else None
        out.append(tr(about(f.label, problem), locale) if f is not None else tr(problem, locale))
    return out


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to; anything pointing elsewhere becomes `default`.

    Browsers read `/\\host` and `//host` as another site, and drop tabs and line breaks
    from a URL (`/<tab>/host` is `//host`; a header cannot carry a line break at all), so
    any control character, whitespace or backslash refuses the whole value; what is left
    must be a path with neither scheme nor host once parsed."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return default
    if any(ch == "\\" or ch.isspace() or not ch.isprintable() for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") \
            or parts.path.startswith("//"):
        return default
    return target


def switch_locale(code: str):
    """Remember the chosen locale and go back where the person was."""
    if code in rt().workspace.locales:
        session["locale"] = code
        user = g.get("user")
        if user is not None and user.locale != code:  # their notices and e-mails follow it
            rt().accounts.set_locale(user.id, code)
    return redirect(safe_next(request.args.get("next")))


LOCALE_NAMES = {"en": "English", "zh": "中文"}


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=current_locale,
          default_translation_directories=str(TRANSLATIONS))
    app.add_url_rule("/locale/<code>", "locale", switch_locale)
    app.jinja_env.globals.update(lbl=label, locale_names=LOCALE_NAMES,
                                 current_locale=current_locale)
    app.jinja_env.filters["say"] = say
    app.jinja_env.globals["say_about"] = say_about
    # a code of the platform (a field type, a colour, a rule's trigger) in words: {{ f.type|named("field_type") }}
    app.jinja_env.filters["named"] = lambda code, kind: say(name_of(kind, code))
    # a message stored as data (i18n.dump), or `fallback` where none was stored
    app.jinja_env.filters["say_stored"] = lambda data, fallback="": (
        say(load(data)) if data is not None else fallback)
