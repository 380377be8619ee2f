"""Message templates (notification titles and bodies, comments, webhook bodies, block messages)
rendered by Jinja2's immutable sandbox: no attribute starting with `_`, no unsafe calls, no
changing what a template is given. An escape such as `{{ ''.__class__ }}` raises, it never
renders to an empty string, so a bad template is noticed by `lowrise rules test`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from lowrise.errors import LowriseError

MAX_OUTPUT = 20_000


class TemplateProblem(LowriseError):
    """A message template does not compile, or failed on a record."""


_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                     keep_trailing_newline=False)


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
        except TemplateError as exc:
            raise TemplateProblem(f"the template does not compile: {exc}") from None
        return cls(source, compiled)

    def render(self, context: Mapping[str, Any]) -> str:
        """The text for one record; TemplateProblem when the template fails or escapes."""
        try:
            out = self._compiled.render(**context)
        except SecurityError as exc:
            raise TemplateProblem(f"the template tried something not allowed: {exc}") from None
        except TemplateError as exc:
            raise TemplateProblem(f"the template failed: {exc}") from None
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise TemplateProblem(f"the template failed: {exc}") from None
        return out[:MAX_OUTPUT]
