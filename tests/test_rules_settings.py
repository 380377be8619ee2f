"""Every key of a rule is checked: a trigger takes the settings of its kind, each action those
of its kind, and a misspelt key (`secret_evn:` sent webhooks unsigned, `emial:` no e-mail) is
an error of `lowrise check` and of the editor's schema, with its place and the likely word,
never a setting quietly ignored. The shipped workspaces' rules still load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from lowrise.cli import main
from lowrise.i18n import tr
from lowrise.rules.parse import rule_problems
from lowrise.workspace import load_workspace, load_workspace_from_texts, metaschema
from lowrise.workspace.model import Rule as RuleConfig
from test_rules_support import BASE

ROOT = Path(__file__).resolve().parents[1]

TYPOS = """record_type: ticket
trigger: {kind: updated, feilds: [title]}
actions:
  - webhook:
      url: https://erp.example.com/hooks/ticket
      secret_evn: ERP_HOOK_SECRET
  - notify: {to: [owner], title: "New {{ title }}", emial: true}
  - set_fields: {note: {exp: "concat(title, '!')"}}
  - update_linked: {related: {type: log, feild: ticket}, values: {text: x}}
  - comment: {txt: hello}
  - webhook: {url: "https://erp.example.com/slow", timeout: 9999}
"""

EXPECTED = [
    "automations/typos.yaml:2:26: trigger.feilds: 'feilds' is not a setting of the updated "
    "trigger; did you mean 'fields'? (settings: kind, fields)",
    "automations/typos.yaml:6:7: actions[0].webhook.secret_evn: 'secret_evn' is not a setting "
    "of the webhook action; did you mean 'secret_env'? (settings: url, secret_env, body, "
    "timeout, retries, as_role)",
    "automations/typos.yaml:7:53: actions[1].notify.emial: 'emial' is not a setting of the "
    "notify action; did you mean 'email'? (settings: to, title, body, email)",
    "automations/typos.yaml:8:25: actions[2].set_fields.note.exp: 'exp' is not a setting of a "
    "computed value; did you mean 'expr'? (settings: expr)",
    "automations/typos.yaml:9:42: actions[3].update_linked.related.feild: 'feild' is not a "
    "setting of related; did you mean 'field'? (settings: type, field)",
    "automations/typos.yaml:10:15: actions[4].comment.txt: 'txt' is not a setting of the comment "
    "action; did you mean 'text'? (settings: text)",
    "automations/typos.yaml:11:61: actions[5].webhook.timeout: must be at most 300",
]


def test_lowrise_check_names_each_misspelt_key(tmp_path):
    for rel, text in {**BASE, "automations/typos.yaml": TYPOS}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["-w", str(tmp_path), "check"])
    assert result.exit_code == 1
    for line in EXPECTED:
        assert line in result.output, result.output


def test_the_editor_schema_refuses_them_too():
    errors = Draft202012Validator(metaschema.schema_for("automation")).iter_errors(
        yaml.safe_load(TYPOS))
    paths = {".".join(map(str, e.absolute_path)) for e in errors}
    for path in ("trigger", "actions.0.webhook", "actions.1.notify", "actions.2.set_fields.note",
                 "actions.3.update_linked.related", "actions.4.comment",
                 "actions.5.webhook"):
        assert path in paths, paths


def test_each_trigger_takes_only_its_own_settings():
    schema = Draft202012Validator(metaschema.schema_for("automation"))
    base = {"record_type": "ticket", "actions": [{"comment": "x"}]}
    assert not list(schema.iter_errors({**base, "trigger": {"kind": "schedule",
                                                            "cron": "0 9 * * *", "limit": 5}}))
    wrong = {**base, "trigger": {"kind": "manual", "cron": "0 9 * * *"}}
    assert [e.validator for e in schema.iter_errors(wrong)] == ["additionalProperties"]


def test_the_rule_parser_checks_the_keys_itself():
    """A rule parsed without the loader's schema pass (a rule built in code) is held to the
    same keys, its messages in zh as well."""
    ws = load_workspace_from_texts(BASE)
    problems = dict(rule_problems(ws, RuleConfig("typos", "ticket", yaml.safe_load(TYPOS))))
    webhook = problems[("actions", 0, "webhook", "secret_evn")]
    assert webhook == ("'secret_evn' is not a setting of the webhook action; did you mean "
                       "'secret_env'? (settings: url, secret_env, body, timeout, retries, "
                       "as_role)")
    assert tr(webhook, "zh").startswith("“secret_evn”不是 webhook 动作的设置项；是不是“secret_env”")
    assert "did you mean 'email'" in problems[("actions", 1, "notify", "emial")]
    assert "did you mean 'fields'" in problems[("trigger", "feilds")]
    assert "did you mean 'expr'" in problems[("actions", 2, "set_fields", "note", "exp")]
    assert "did you mean 'field'" in problems[("actions", 3, "update_linked", "related",
                                               "feild")]
    assert "did you mean 'text'" in problems[("actions", 4, "comment", "txt")]
    assert "at most 300" in problems[("actions", 5, "webhook", "timeout")]
    bad_rule = {"record_type": "ticket", "trigger": "created", "actons": []}
    assert "did you mean 'actions'" in dict(rule_problems(ws, RuleConfig(
        "r", "ticket", bad_rule)))[("actons",)]


@pytest.mark.parametrize("path", [ROOT, *sorted(p for p in (ROOT / "templates").iterdir()
                                              if (p / "workspace.yaml").exists())],
                         ids=lambda p: p.name)
def test_the_shipped_workspaces_rules_still_load(path):
    ws = load_workspace(path)
    assert ws.rules
    for cfg in ws.rules.values():
        assert rule_problems(ws, cfg) == []
