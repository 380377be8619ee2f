"""Message templates (notification titles and bodies, comments, webhook bodies, block messages)
rendered by Jinja2's immutable sandbox: no attribute starting with `_`, no unsafe calls, no
changing what a template is given. An escape such as `{{ ''.__class__ }}` raises, it never
renders to an empty string, so a bad template is noticed by `lowrise rules test`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SecurityError

from lowrise.errors import LowriseError
from lowrise.i18n import language, msg

from .sandbox import MAX_OUTPUT, Sandbox, render_bounded

__all__ = ["MAX_OUTPUT", "Localized", "Template", "TemplateProblem"]


class TemplateProblem(LowriseError):
    """A message template does not compile, or failed on a record."""


_env = Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True)
class Template:
    """A compiled message template."""

    source: str
    _compiled: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def compile(cls, source: str) -> Template:
        if not isinstance(source, str):
            raise TemplateProblem(f"a message template must be text, got {source!r}")
        try:
            compiled = _env.from_string(source)
        except SecurityError as exc:
            raise _not_allowed(exc) from None
        except (TemplateError, ValueError, TypeError, ArithmeticError, RecursionError) as exc:
            raise TemplateProblem(f"the template does not compile: {exc}") from None
        return cls(source, compiled)

    def render(self, context: Mapping[str, Any]) -> str:
        """The text for one record; TemplateProblem when the template fails or escapes."""
        try:
            return render_bounded(self._compiled, context)
        except SecurityError as exc:
            raise _not_allowed(exc) from None
        except TemplateError as exc:
            raise TemplateProblem(f"the template failed: {exc}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError, AssertionError,
                RecursionError, MemoryError) as exc:
            raise TemplateProblem(f"the template failed: {exc}") from None


@dataclass(frozen=True)
class Localized:
    """A message written once per locale ({en: ..., zh: ...}, as labels are), or once for
    every locale (a plain string, kept under ""): `pick` gives a reader's."""

    by_locale: Mapping[str, Template]

    def pick(self, locale: str | None) -> Template:
        """The template of `locale` (zh_CN finds zh), else the plain one, else the first."""
        for key in (locale, language(locale), ""):
            if key is not None and key in self.by_locale:
                return self.by_locale[key]
        return next(iter(self.by_locale.values()))


def _not_allowed(exc: SecurityError) -> TemplateProblem:
    why = exc.args[0] if exc.args else ""
    return TemplateProblem(msg("the template tried something not allowed: %(why)s", why=why))
