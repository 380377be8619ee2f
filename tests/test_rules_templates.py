"""Message templates run in Jinja2's immutable sandbox: escapes raise, never render."""

from __future__ import annotations

import pytest

from lowrise.rules.templates import Template, TemplateProblem

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
