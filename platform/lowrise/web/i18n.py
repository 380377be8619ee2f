"""Locales: the interface's own words come from Babel catalogues, the workspace's from its labels.

The locale is the one the person chose (kept in the session), else the workspace's default.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, g, redirect, request, session
from flask_babel import Babel

from .runtime import rt

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


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


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to; anything pointing elsewhere becomes `default`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def switch_locale(code: str):
    """Remember the chosen locale and go back where the person was."""
    if code in rt().workspace.locales:
        session["locale"] = code
    return redirect(safe_next(request.args.get("next")))


LOCALE_NAMES = {"en": "English", "zh": "中文"}


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=current_locale,
          default_translation_directories=str(TRANSLATIONS))
    app.add_url_rule("/locale/<code>", "locale", switch_locale)
    app.jinja_env.globals.update(lbl=label, locale_names=LOCALE_NAMES,
                                 current_locale=current_locale)
