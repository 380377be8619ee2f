"""The Jinja2 sandbox message templates render in: bounded in what they may build, not only
in what they may reach.

Jinja's immutable sandbox keeps a template away from Python's internals; this one also keeps
it from exhausting memory or time. Every step that makes text is checked *before* it makes
it: `*`, `+`, `~`, `%`, the string methods that grow text (`ljust`, `replace`, `join`,
`format`...), the filters that do (`join`, `replace`, `indent`, `wordwrap`, `format`,
`center`, `batch`...), and the buffers of `{% set %}` blocks and macros. A step whose result
would be longer than MAX_TEXT characters is refused, and so is a template whose loops run
more than MAX_STEPS times in all. (Checking the output after rendering is too late:
`{{ range(99999)|join('x' * 5000) }}` would build half a gigabyte first.)
"""

from __future__ import annotations

import contextvars
import re
from decimal import Decimal
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.filters import make_attrgetter
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from lowrise.i18n import msg

#: the longest text a rendered message keeps (the rest is cut off)
MAX_OUTPUT = 20_000
#: the longest text any step of a template may build
MAX_TEXT = 200_000
#: the most times a template's loops may run in all, in one rendering
MAX_STEPS = 100_000
MAX_POWER = 64
MAX_WIDTH = 1000

_steps: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_steps")


def too_long(n: int) -> None:
    """Refuse a result of `n` characters (or items) when it is longer than MAX_TEXT."""
    if n > MAX_TEXT:
        raise SecurityError(msg("a text longer than %(n)s characters is not allowed",
                                n=MAX_TEXT))


def _size(x: Any) -> int:
    return len(x) if isinstance(x, (str, list, tuple)) else len(str(x))


def _joined(parts, sep: str = "") -> list:
    """The parts as a list, refused as soon as joining them with `sep` would be too long."""
    out, total = [], 0
    for p in parts:
        total += _size(p) + (len(sep) if out else 0)
        too_long(total)
        out.append(p)
    return out


_FIELD = re.compile(r"%|\{")


def _fields_estimate(fmt: str, values) -> int:
    """How long `fmt` can get once its % or {} fields are filled with `values` (at most)."""
    longest = max((_size(v) for v in values), default=0)
    return len(fmt) + len(_FIELD.findall(fmt)) * (longest + MAX_WIDTH)


_WIDE = re.compile(r"%[-#0 +]*(\*|\d{4,})|\{[^{}]*:[^{}]*?(\d{4,}|\{)")


def _check_widths(fmt: str) -> None:
    """A format that pads to thousands of characters (or takes its width from an argument)."""
    if _WIDE.search(fmt):
        raise SecurityError(msg("format widths above %(n)s are not allowed", n=MAX_WIDTH - 1))


def _check_format(fmt: str, args, kwargs) -> None:
    _check_widths(fmt)
    values = [*args, *kwargs.values()]
    for v in list(values):
        if isinstance(v, dict):  # '%(a)s' % {...} and format_map
            values += list(v.values())
    too_long(_fields_estimate(fmt, values))


def _width(n: Any) -> None:
    if isinstance(n, int) and not isinstance(n, bool) and abs(n) >= MAX_WIDTH:
        raise SecurityError(msg("widths above %(n)s are not allowed", n=MAX_WIDTH - 1))


# -- what a string method would build, checked before it is called ---------------------------

def _str_method(name: str, s: str, args, kwargs) -> tuple:
    """Check a call of str.`name` on `s`; returns the args to call it with."""
    if name in ("ljust", "rjust", "center", "zfill", "expandtabs"):
        for a in (*args, *kwargs.values()):
            _width(a)
        if name == "expandtabs":
            too_long(len(s) + s.count("\t") * MAX_WIDTH)
    elif name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        times = (len(s) + 1) if old == "" else s.count(old)
        too_long(len(s) + times * max(0, len(new) - len(old)))
    elif name == "join" and args:
        args = (_joined(args[0], s), *args[1:])
    elif name in ("translate", "maketrans"):
        raise SecurityError(msg("'%(name)s' is not allowed in a message template", name=name))
    return args


# -- filters, with what they would build checked first ---------------------------------------

def _unchanged(args, kwargs):
    return args, kwargs


def _wrap(fn, check):
    def wrapped(*args, **kwargs):
        args, kwargs = check(args, kwargs)
        out = fn(*args, **kwargs)
        if isinstance(out, (str, list, tuple)):
            too_long(len(out))
        return out

    for attr in ("jinja_pass_arg",):
        if hasattr(fn, attr):
            setattr(wrapped, attr, getattr(fn, attr))
    wrapped.__name__ = fn.__name__
    return wrapped


def _filter_check(name: str, fn):
    """The check of one growing filter: its widths and counts, and the size of its result,
    before it runs (its arguments, rewritten when an iterable had to be read to measure it)."""
    def check(args, kwargs):
        k = 1 if getattr(fn, "jinja_pass_arg", None) is not None else 0  # context, env...
        value, rest = (args[k] if len(args) > k else None), args[k + 1:]
        if name in WIDTHS:
            for a in (*rest, *kwargs.values()):
                _width(a)
        if name == "join":
            sep = str(rest[0] if rest else kwargs.get("d", ""))
            attribute = rest[1] if len(rest) > 1 else kwargs.get("attribute")
            items = list(value)
            if attribute is not None:
                get = make_attrgetter(args[0].environment, attribute)
                items = [get(x) for x in items]
            return (*args[:k], _joined(items, sep), sep), {}
        if name == "replace" and isinstance(value, str) and len(rest) >= 2:
            _str_method("replace", value, rest[:2], {})
        elif name == "indent" and isinstance(value, str):
            width = rest[0] if rest else kwargs.get("width", 4)
            pad = len(width) if isinstance(width, str) else int(width or 0)
            too_long(len(value) + (value.count("\n") + 1) * pad)
        elif name == "wordwrap" and isinstance(value, str):
            width = rest[0] if rest else kwargs.get("width", 79)
            wrap = rest[2] if len(rest) > 2 else kwargs.get("wrapstring") or "\n"
            lines = len(value) // max(1, int(width)) + value.count("\n") + 1
            too_long(len(value) + lines * len(str(wrap)))
        elif name == "urlize" and isinstance(value, str):
            extra = sum(len(v) for v in (*rest, *kwargs.values()) if isinstance(v, str))
            too_long(3 * len(value) + len(value.split()) * (100 + extra))
        elif name == "format" and isinstance(value, str):
            _check_format(value, rest, kwargs)
        elif name == "sum":
            start = rest[1] if len(rest) > 1 else kwargs.get("start", 0)
            if not isinstance(start, (int, float, Decimal)):
                raise SecurityError(msg("sum adds numbers only"))
        return args, kwargs

    return check


#: filters that can build far more than they are given: checked before they run
GROWING = ("join", "replace", "indent", "wordwrap", "urlize", "format", "sum", "center",
           "batch", "slice")
#: ... whose numeric arguments are widths or counts (`center(999999)`, `batch(10**8)`)
WIDTHS = ("center", "indent", "wordwrap", "batch", "slice")


class _Generator(CodeGenerator):
    """Jinja's code generator, with the few places where a template builds text or loops
    routed through the environment's checks."""

    def buffer(self, frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.new_buffer()")

    def visit_Concat(self, node, frame) -> None:
        self.write("environment.concat_checked((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_For(self, node, frame) -> None:
        it = node.iter
        if not (isinstance(it, nodes.Call) and isinstance(it.node, nodes.EnvironmentAttribute)
                and it.node.name == "counted"):
            node.iter = nodes.Call(nodes.EnvironmentAttribute("counted"), [it], [], None, None)
        super().visit_For(node, frame)


class _Buffer(list):
    """What a `{% set %}` block or a macro has written so far, refused once too long."""

    size = 0

    def append(self, item) -> None:
        self.size += _size(item)
        too_long(self.size)
        super().append(item)

    def extend(self, items) -> None:
        for item in items:
            self.append(item)


class Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, refusing what would exhaust memory or time (see the module's words)."""

    code_generator_class = _Generator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **kw):
        super().__init__(**kw)
        self.globals.pop("lipsum", None)  # lipsum(10**6) writes a book; no message needs it
        for name, fn in list(self.filters.items()):
            # the others grow text a few times at most (escape, tojson): checked after
            self.filters[name] = _wrap(fn, _filter_check(name, fn) if name in GROWING
                                       else _unchanged)

    @staticmethod
    def new_buffer() -> _Buffer:
        return _Buffer()

    @staticmethod
    def concat(parts) -> str:  # a block's or a macro's text, joined
        return "".join(_joined(parts))

    @staticmethod
    def concat_checked(parts) -> str:  # `a ~ b`
        return "".join(_joined([str(p) for p in parts]))

    @staticmethod
    def counted(iterable):
        """A loop's items, each counted against the rendering's MAX_STEPS."""
        steps = _steps.get(None)
        for item in iterable:
            if steps is not None:
                steps[0] += 1
                if steps[0] > MAX_STEPS:
                    raise SecurityError(msg("loops that run more than %(n)s times are not "
                                            "allowed", n=MAX_STEPS))
            yield item

    def wrap_str_format(self, value):
        fmt = super().wrap_str_format(value)
        if fmt is None:
            return None
        text = str(getattr(value, "__self__", ""))

        def checked(*args, **kwargs):
            _check_format(text, args, kwargs)
            out = fmt(*args, **kwargs)
            too_long(len(out))
            return out

        return checked

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            args = _str_method(getattr(__obj, "__name__", ""), owner, args, kwargs)
        out = super().call(__context, __obj, *args, **kwargs)
        if isinstance(out, (str, list, tuple)):
            too_long(len(out))
        return out

    def call_binop(self, context, operator, left, right):
        if operator == "%" and isinstance(left, str):
            _check_format(left, right if isinstance(right, tuple) else (right,), {})
        if operator == "**" and isinstance(right, (int, float)) and not isinstance(right, bool) \
                and abs(right) > MAX_POWER and isinstance(left, (int, float)) and abs(left) > 1:
            raise SecurityError(msg("powers above %(n)s are not allowed", n=MAX_POWER))
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and \
                        len(seq) * n > MAX_OUTPUT:
                    raise SecurityError(msg("a result longer than %(n)s is not allowed",
                                            n=MAX_OUTPUT))
        if operator == "+" and isinstance(left, (str, list, tuple)) and \
                isinstance(right, (str, list, tuple)):
            too_long(len(left) + len(right))
        return super().call_binop(context, operator, left, right)


def render_bounded(compiled, context) -> str:
    """The template's text for `context`, cut at MAX_OUTPUT characters: rendering stops there,
    and its loops may run MAX_STEPS times in all."""
    token = _steps.set([0])
    try:
        out, total = [], 0
        for chunk in compiled.generate(**context):
            out.append(chunk)
            total += len(chunk)
            if total >= MAX_OUTPUT:
                break
        return "".join(out)[:MAX_OUTPUT]
    finally:
        _steps.reset(token)

