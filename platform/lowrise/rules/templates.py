"""Message templates (notification titles and bodies, comments, webhook bodies, block messages)
rendered by Jinja2's immutable sandbox: no attribute starting with `_`, no unsafe calls, no
changing what a template is given. An escape such as `{{ ''.__class__ }}` raises, it never
renders to an empty string, so a bad template is noticed by `lowrise rules test`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from lowrise.errors import LowriseError

MAX_OUTPUT = 20_000


class TemplateProblem(LowriseError):
    """A message template does not compile, or failed on a record."""


MAX_POWER = 64


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, also refusing arithmetic that would exhaust memory or time: repeating text
    or a list past MAX_OUTPUT, or powers past MAX_POWER (`9 ** 999999999` would otherwise
    run for minutes, even while the template compiles, as Jinja folds constants)."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **kw):
        super().__init__(**kw)
        for name in ("center", "indent", "format", "wordwrap", "truncate"):
            self.filters[name] = _bounded(self.filters[name])

    def wrap_str_format(self, value):
        fmt = super().wrap_str_format(value)
        if fmt is None:
            return None
        text = str(getattr(value, "__self__", ""))

        def checked(*args, **kwargs):
            _check_widths(text, args, kwargs)
            return fmt(*args, **kwargs)

        return checked

    def call_binop(self, context, operator, left, right):
        if operator == "%" and isinstance(left, str):
            _check_widths(left, right if isinstance(right, tuple) else (right,), {})
        if operator == "**" and isinstance(right, (int, float)) and not isinstance(right, bool) \
                and abs(right) > MAX_POWER and isinstance(left, (int, float)) and abs(left) > 1:
            raise SecurityError(f"powers above {MAX_POWER} are not allowed")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and \
                        len(seq) * n > MAX_OUTPUT:
                    raise SecurityError(f"a result longer than {MAX_OUTPUT} is not allowed")
        return super().call_binop(context, operator, left, right)


MAX_WIDTH = 1000
_WIDE = re.compile(r"%[-#0 +]*(\*|\d{4,})|\{[^{}]*:[^{}]*?(\d{4,}|\{)")


def _check_widths(fmt: str, args, kwargs) -> None:
    """A format that pads to thousands of characters (or takes its width from an argument)."""
    if _WIDE.search(fmt):
        raise SecurityError(f"format widths above {MAX_WIDTH - 1} are not allowed")


def _bounded(fn):
    """A filter whose numeric arguments (widths) are checked first."""
    def wrapped(*args, **kwargs):
        for a in (*args[1:], *kwargs.values()):
            if isinstance(a, int) and not isinstance(a, bool) and abs(a) >= MAX_WIDTH:
                raise SecurityError(f"widths above {MAX_WIDTH - 1} are not allowed")
        if args and isinstance(args[0], str) and fn.__name__.startswith("do_format"):
            _check_widths(args[0], args[1:], kwargs)
        return fn(*args, **kwargs)

    for attr in ("jinja_pass_arg",):
        if hasattr(fn, attr):
            setattr(wrapped, attr, getattr(fn, attr))
    wrapped.__name__ = fn.__name__
    return wrapped


_env = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


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
            raise TemplateProblem(f"the template tried something not allowed: {exc}") from None
        except (TemplateError, ValueError, TypeError, ArithmeticError, RecursionError) as exc:
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
        except (TypeError, ValueError, ArithmeticError, LookupError, AssertionError,
                RecursionError, MemoryError) as exc:
            raise TemplateProblem(f"the template failed: {exc}") from None
        return out[:MAX_OUTPUT]
