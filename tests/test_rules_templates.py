"""Message templates run in Jinja2's immutable sandbox: escapes raise, never render."""

from __future__ import annotations

import pytest

from lowrise.rules.templates import MAX_OUTPUT, Template, TemplateProblem

ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ record.__class__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ record.clear() }}",
    "{{ record.update({'a': 1}) }}",
    "{{ ''.format.__self__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ request }}",  # not given: a strict undefined raises instead of rendering nothing
]


@pytest.mark.parametrize("source", ESCAPES)
def test_the_sandbox_refuses_escapes(source):
    t = Template.compile(source)
    with pytest.raises(TemplateProblem):
        t.render({"record": {"title": "x"}})


def test_templates_render_record_values():
    t = Template.compile("{{ title }}: {{ record.amount * 2 }} {{ shown.stage | upper }}"
                         "{% if record.vip %} VIP{% endif %}")
    assert t.render({"title": "SC-1", "record": {"amount": 2, "vip": True},
                     "shown": {"stage": "lead"}}) == "SC-1: 4 LEAD VIP"


def test_a_template_that_does_not_compile_is_refused():
    with pytest.raises(TemplateProblem, match="does not compile"):
        Template.compile("{{ unclosed")
    with pytest.raises(TemplateProblem):
        Template.compile(42)


# Each would build hundreds of megabytes (or loop for hours) if its size were checked only
# once rendered; every one is refused before it is built.
BOMBS = [
    "{{ range(99999)|join('x' * 5000) }}",
    "{{ ('x' * 20000)|replace('x', 'y' * 20000) }}",
    "{{ ('x' * 20000).replace('x', 'y' * 20000) }}",
    "{% set a = 'x' * 20000 %}{{ (a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a)|length }}",
    "{% set a = 'x' * 20000 %}{{ (a + a + a + a + a + a + a + a + a + a + a)|length }}",
    "{% set ns = namespace(s='x' * 20000) %}{% for i in range(30) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "{{ ('%(a)s' * 20) % {'a': 'x' * 20000} }}",
    "{{ ('{0}' * 20).format('x' * 20000) }}",
    "{{ ('%s' * 20)|format(*(['x' * 20000] * 20)) }}",
    "{{ 'x'.ljust(10 ** 9) }}",
    "{{ 'x'.center(10 ** 9) }}",
    "{{ ('a\tb' * 5000).expandtabs(999) }}",
    "{{ ('x' * 20000).join(range(20000)) }}",
    "{{ ('x' * 20000).translate({120: 'y' * 20000}) }}",
    "{{ ('x\n' * 10000)|indent('y' * 1000) }}",
    "{{ ('a ' * 10000)|wordwrap(1, wrapstring='x' * 5000) }}",
    "{{ ([[1] * 20000] * 20000)|sum(start=[]) }}",
    "{{ [1]|batch(10 ** 8, 'x') }}",
    "{{ range(10)|slice(10 ** 8) }}",
    "{{ ([{'a': 'x' * 20000}] * 20000)|join(', ', attribute='a') }}",
    "{% macro m() %}{% for i in range(99999) %}{{ 'x' * 5000 }}{% endfor %}{% endmacro %}"
    "{{ m()|length }}",
    "{% set b %}{% for i in range(99999) %}{{ 'x' * 5000 }}{% endfor %}{% endset %}"
    "{{ b|length }}",
    "{% filter upper %}{% for i in range(99999) %}{{ 'x' * 5000 }}{% endfor %}{% endfilter %}",
    "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
    "{{ lipsum(1000000) }}",
]


@pytest.mark.parametrize("source", BOMBS)
def test_templates_cannot_build_huge_texts(source):
    """Refused while rendering, before the text is built: the peak memory stays small."""
    import time
    import tracemalloc

    t = Template.compile(source)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(TemplateProblem):
            t.render({"record": {"id": 1}, "title": "t"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, f"{peak:,} bytes"
    assert time.monotonic() - started < 20


def test_a_long_output_is_cut_while_rendering():
    t = Template.compile("{% for i in range(99999) %}{{ 'x' * 5000 }}{% endfor %}")
    import tracemalloc

    tracemalloc.start()
    try:
        out = t.render({})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out == "x" * MAX_OUTPUT and peak < 5_000_000


def test_ordinary_templates_still_render():
    ctx = {"title": "SC-1", "record": {"id": 7, "note": "a\nb", "tags": ["vip", "cash"]},
           "people": [{"name": "李娜"}, {"name": "王伟"}]}
    cases = {
        "{{ record.tags|join(', ') }}": "vip, cash",
        "{{ people|join('、', attribute='name') }}": "李娜、王伟",
        "{{ title|replace('SC', 'Case') }}": "Case-1",
        "{{ record.note|indent(2, first=true) }}": "  a\n  b",
        "{{ '%s'|format(123456) }} {{ '%05d' % record.id }}": "123456 00007",
        "{{ '{}/{}'.format(title, record.id) }}": "SC-1/7",
        "{{ title ~ ' #' ~ record.id }} {{ title + '!' }}": "SC-1 #7 SC-1!",
        "{% for t in record.tags %}{{ loop.index }}{{ t }} {% endfor %}": "1vip 2cash ",
        "{{ [1, 2, 3]|sum }} {{ title.ljust(6, '.') }}|": "6 SC-1..|",
        "{% set b %}{{ title }}!{% endset %}{{ b }}": "SC-1!",
        "{{ record|tojson }}": '{"id": 7, "note": "a\\nb", "tags": ["vip", "cash"]}',
    }
    for source, expected in cases.items():
        assert Template.compile(source).render(ctx) == expected, source
