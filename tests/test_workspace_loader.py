"""The workspace loader: YAML with positions, schema messages people can act on, cross-checks."""

from __future__ import annotations

import pytest

from lowrise.fields.base import COMMON_OPTIONS
from lowrise.fields.choice import COLORS
from lowrise.workspace import Problem, WorkspaceError, load_workspace, load_workspace_from_texts
from lowrise.workspace.model import SYSTEM_FIELDS
from lowrise.workspace.yamlpos import KEY, parse_yaml

WS = """\
label: {en: Sales, zh: 销售}
default_locale: zh
locales: [zh, en]
timezone: Asia/Shanghai
users: staff
roles:
  consultant:
    label: {en: Sales consultant, zh: 置业顾问}
    permissions: {}
"""

STAFF = """\
label: {en: Staff, zh: 员工}
fields:
  name: {type: text, required: true}
  email: {type: email}
"""

CLIENT = """\
label: {en: Client, zh: 客户}
label_plural: {en: Clients, zh: 客户们}
fields:
  name:
    type: text
    label: {en: Name, zh: 姓名}
    required: true
  phone:
    type: phone
    unique: true
    help: Mobile number
  source:
    type: select
    options:
      - walk_in
      - {value: referral, label: {en: Referral, zh: 老带新}, color: green}
      - online
  consultant:
    type: user
  budget: {type: currency, currency: CNY, default: 1000000}
  met_at: {type: datetime}
  called_at: {type: datetime, timezone: Europe/Paris}
"""

CASE = """\
label: Case
title: code
search: [code]
fields:
  code: {type: autonumber, pattern: "SC-{YYYY}-{0000}"}
  client: {type: link, target: client}
  stage:
    type: select
    options: [lead, viewing, won, lost]
    default: lead
  amount: {type: decimal}
  fee: {type: formula, expression: amount * 0.03}
  opened_on: {type: date}
  old_code: {type: text, renamed_from: [legacy_code]}
"""

CLIENTS_VIEW = """\
type: table
record_type: client
label: {en: Clients, zh: 客户}
columns: [name, phone, source, consultant, created_at]
sort: [-updated_at, name]
group_by: consultant
filter:
  all:
    - {field: source, op: in, value: [walk_in, referral]}
    - any:
        - {field: consultant.name, op: starts_with, value: Li}
        - not: {field: budget, op: gte, value: 100}
page_size: 25
"""

OTHER_VIEWS = {
    "views/board.yaml": "type: kanban\nrecord_type: case\ngroup_by: stage\n"
                        "card_fields: [code, client]\nsum: amount\n",
    "views/calendar.yaml": "type: calendar\nrecord_type: case\ndate_field: opened_on\n"
                           "end_field: created_at\ntitle_field: code\n",
    "views/case_form.yaml": "type: form\nrecord_type: case\nsections:\n"
                            "  - {label: Deal, columns: 2, fields: [client, stage, amount]}\n",
    "views/home.yaml": "type: dashboard\nwidgets: [{type: funnel, record_type: case, "
                       "group_by: stage}]\n",
}

RULE = """\
record_type: case
label: Referral cases start as leads
trigger: {kind: created}
conditions: {field: client.source, op: eq, value: referral}
actions:
  - {set_fields: {stage: lead}}
"""


def base(**overrides: str) -> dict[str, str]:
    """The valid workspace above, with files replaced or added (`schemas__x` = schemas/x.yaml)."""
    files = {"workspace.yaml": WS, "schemas/staff.yaml": STAFF, "schemas/client.yaml": CLIENT,
             "schemas/case.yaml": CASE, "views/clients.yaml": CLIENTS_VIEW, **OTHER_VIEWS,
             "automations/assign.yaml": RULE}
    for key, text in overrides.items():
        folder, _, name = key.partition("__")
        files[f"{folder}/{name}.yaml" if name else f"{folder}.yaml"] = text
    return files


def problems(files: dict[str, str]) -> list[str]:
    with pytest.raises(WorkspaceError) as info:
        load_workspace_from_texts(files)
    return [str(p) for p in info.value.problems]


def thing_problems(text: str, **overrides: str) -> list[str]:
    """The problems of the base workspace plus schemas/thing.yaml holding `text`."""
    return problems(base(schemas__thing=text, **overrides))


# ----- a valid workspace -----

def test_valid_workspace_builds_the_model():
    ws = load_workspace_from_texts(base(), root="/srv/sales")
    assert ws.name == "sales"
    assert ws.root == "/srv/sales"
    assert ws.label.get("zh") == "销售"
    assert (ws.default_locale, ws.locales, ws.users_type) == ("zh", ("zh", "en"), "staff")
    assert ws.config["timezone"] == "Asia/Shanghai"
    assert list(ws.record_types) == ["case", "client", "staff"]
    assert ws.roles["consultant"].label.get("en") == "Sales consultant"
    assert ws.roles["consultant"].permissions == {}

    client = ws.type("client")
    assert client.label_plural.get("zh") == "客户们"
    assert [f.name for f in client.user_fields] == [
        "name", "phone", "source", "consultant", "budget", "met_at", "called_at"]
    assert client.title_field == "name"
    assert client.search_fields == ("name", "phone")
    name = client.field("name")
    assert (name.type, name.required, name.label.get("zh")) == ("text", True, "姓名")
    assert name.loc.file == "schemas/client.yaml" and (name.loc.line, name.loc.column) == (4, 3)
    phone = client.field("phone")
    assert phone.unique and phone.help.get() == "Mobile number"
    assert phone.label.get() == "Phone"
    budget = client.field("budget")
    assert budget.default == 1000000 and budget.config == {"currency": "CNY"}
    assert client.field("consultant").target == "staff"
    assert client.field("met_at").config == {"timezone": "Asia/Shanghai"}
    assert client.field("called_at").config == {"timezone": "Europe/Paris"}


def test_options_are_normalised_with_cycling_default_colours():
    source = load_workspace_from_texts(base()).type("client").field("source")
    assert [(o.value, o.color) for o in source.options] == [
        ("walk_in", COLORS[0]), ("referral", "green"), ("online", COLORS[2])]
    assert source.options[0].label.get() == "Walk in"
    assert source.options[1].label.get("zh") == "老带新"
    assert "options" not in source.config
    many = "fields:\n  x:\n    type: select\n    options: [" + ", ".join(
        f"o{i}" for i in range(len(COLORS) + 1)) + "]\n"
    x = load_workspace_from_texts(base(schemas__thing=many)).type("thing").field("x")
    assert x.options[len(COLORS)].color == COLORS[0]


def test_system_fields_are_appended_to_every_type():
    ws = load_workspace_from_texts(base())
    case = ws.type("case")
    assert list(case.fields)[-len(SYSTEM_FIELDS):] == list(SYSTEM_FIELDS)
    types = {n: case.field(n).type for n in SYSTEM_FIELDS}
    assert types == {"id": "id", "created_at": "datetime", "updated_at": "datetime",
                     "created_by": "created_by", "updated_by": "updated_by", "version": "integer"}
    for n in SYSTEM_FIELDS:
        f = case.field(n)
        assert f.system and f.read_only
        assert f.label.get("en") and f.label.get("zh") != f.label.get("en")
    assert case.field("created_at").label.get("zh") == "创建时间"
    assert case.field("created_by").target == "staff"
    assert case.field("updated_at").config["timezone"] == "Asia/Shanghai"
    assert [f.name for f in case.user_fields][0] == "code"


def test_title_search_and_renamed_from():
    case = load_workspace_from_texts(base()).type("case")
    assert case.title_field == "code"
    assert case.search_fields == ("code",)
    assert case.field("old_code").renamed_from == ("legacy_code",)
    assert case.field("fee").config == {"expression": "amount * 0.03"}
    assert case.field("client").target == "client"
    no_text = load_workspace_from_texts(base(schemas__thing="fields:\n  n: {type: integer}\n"))
    assert no_text.type("thing").title_field == "id"
    assert no_text.type("thing").search_fields == ()
    assert no_text.type("thing").label.get() == "Thing"


def test_views_rules_and_yaml_keys_as_written():
    ws = load_workspace_from_texts(base())
    view = ws.views["clients"]
    assert (view.type, view.record_type, view.label.get("zh")) == ("table", "client", "客户")
    assert view.sort == ["-updated_at", "name"]
    assert view.filter["all"][0] == {"field": "source", "op": "in",
                                     "value": ["walk_in", "referral"]}
    assert view.config["page_size"] == 25
    assert ws.views["home"].record_type is None
    assert [v.name for v in ws.views_of("case")] == ["board", "calendar", "case_form"]
    rule = ws.rules["assign"]
    assert rule.record_type == "case"
    # `on` is a key, kept as written (YAML 1.1 would have read it as true)
    assert rule.config["trigger"] == {"kind": "created"}


def test_labels_in_both_forms():
    text = ("label: Thing\nfields:\n  a: {type: text, label: Plain}\n"
            "  b: {type: text, label: {en: Both, zh: 两者}}\n  c: {type: text}\n")
    thing = load_workspace_from_texts(base(schemas__thing=text)).type("thing")
    assert thing.label.get("zh") == "Thing"
    assert thing.field("a").label.get("zh") == "Plain"
    assert thing.field("b").label.get("zh") == "两者"
    assert thing.field("b").label.get("fr", "en") == "Both"
    assert thing.field("c").label.get() == "C"


def test_load_workspace_from_a_folder(tmp_path):
    folder = tmp_path / "sales"
    for rel, text in base().items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (folder / "schemas" / "case.yaml").rename(folder / "schemas" / "case.yml")
    (folder / "schemas" / "notes.txt").write_text("not read")
    ws = load_workspace(folder)
    assert ws.root == str(folder.resolve()) and ws.name == "sales"
    assert ws.type("case").field("code").loc.file == "schemas/case.yml"
    assert set(ws.views) == {"clients", "board", "calendar", "case_form", "home"}


def test_a_folder_whose_files_did_not_change_is_loaded_once(tmp_path):
    """Loading the same files again gives the same (immutable) workspace without parsing
    them again; any change to any file is a new load; a failed load is never kept, so that
    the fixed file loads."""
    folder = tmp_path / "sales"
    for rel, text in base().items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    first = load_workspace(folder)
    assert load_workspace(folder) is first
    client = folder / "schemas" / "client.yaml"
    good = client.read_text(encoding="utf-8")
    client.write_text(good.replace("    type: text\n", "    type: txet\n", 1), encoding="utf-8")
    for _ in range(2):  # the failure is reported again, not remembered as a workspace
        with pytest.raises(WorkspaceError, match="'txet' is not a field type"):
            load_workspace(folder)
    client.write_text(good + "  vip: {type: boolean}\n", encoding="utf-8")
    changed = load_workspace(folder)
    assert changed is not first and "vip" in changed.type("client").fields
    client.write_text(good, encoding="utf-8")
    again = load_workspace(folder)
    assert "vip" not in again.type("client").fields
    assert again.type("client").fields.keys() == first.type("client").fields.keys()


def test_folder_problems(tmp_path):
    with pytest.raises(WorkspaceError) as info:
        load_workspace(tmp_path / "nowhere")
    assert str(info.value.problems[0]).startswith(f"{tmp_path / 'nowhere'}: is not a folder")
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "bad.yaml").write_bytes(b"label: \xff\n")
    with pytest.raises(WorkspaceError) as info:
        load_workspace(tmp_path)
    assert [str(p) for p in info.value.problems] == [
        "workspace.yaml: is missing: a workspace folder needs a workspace.yaml (its label, "
        "locales and time zone)",
        "schemas/bad.yaml: is not UTF-8 text (byte 7); save it as UTF-8",
    ]


# ----- the schema pass, in plain words -----

def test_unknown_field_type_suggests_the_close_one():
    assert thing_problems("fields:\n  phone:\n    type: phon\n") == [
        "schemas/thing.yaml:3:11: fields.phone.type: 'phon' is not a field type; "
        "did you mean 'phone'?"]
    [message] = thing_problems("fields:\n  x:\n    type: zzzz\n")
    assert message.startswith("schemas/thing.yaml:3:11: fields.x.type: 'zzzz' is not a field "
                              "type (use one of: ")
    assert "long_text" in message and "'id'" not in message


def test_unknown_option_points_at_the_key():
    options = ", ".join([*COMMON_OPTIONS, "pattern", "pattern_hint"])
    assert thing_problems("fields:\n  phone:\n    type: phone\n    lable: Phone\n") == [
        "schemas/thing.yaml:4:5: fields.phone.lable: 'lable' is not an option of a phone "
        f"field; did you mean 'label'? (options: {options})"]
    assert thing_problems("lable: Thing\nfields:\n  a: {type: text}\n") == [
        "schemas/thing.yaml:1:1: lable: 'lable' is not a setting of a record type; did you "
        "mean 'label'? (settings: label, label_plural, description, icon, title, search, indexes, "
        "fields, locked)"]


def test_missing_required_option_points_at_the_parent():
    assert thing_problems("fields:\n  client:\n    type: link\n") == [
        "schemas/thing.yaml:2:3: fields.client: a link field needs 'target' (the record type "
        "it points at)"]
    assert thing_problems("fields:\n  x: {label: X}\n") == [
        "schemas/thing.yaml:2:3: fields.x: a field needs 'type' (the field type, like text, "
        "select or link)"]
    assert thing_problems("label: Thing\n") == [
        "schemas/thing.yaml:1:1: a record type needs 'fields' (a mapping of field names to "
        "their definitions)"]


def test_wrong_value_types():
    text = "search: name\nfields:\n  name:\n    type: text\n    required: yes please\n"
    assert thing_problems(text) == [
        "schemas/thing.yaml:1:9: search: must be a list",
        "schemas/thing.yaml:5:15: fields.name.required: must be true or false",
    ]
    text = "fields:\n  code:\n    type: text\n    pattern: '[A-Z'\n  stars: {type: rating, max: 11}\n"
    assert thing_problems(text) == [
        "schemas/thing.yaml:4:14: fields.code.pattern: '[A-Z' is not a valid regular expression",
        "schemas/thing.yaml:5:30: fields.stars.max: must be at most 10",
    ]
    assert thing_problems("fields:\n  name: text\n") == [
        "schemas/thing.yaml:2:9: fields.name: must be a mapping with at least a type, like "
        "{type: text}"]


def test_yes_and_no_get_a_quoting_hint():
    text = "fields:\n  ok:\n    type: select\n    options: [yes, 'no']\n"
    assert thing_problems(text) == [
        "schemas/thing.yaml:4:15: fields.ok.options[0]: must be an option value, or a mapping "
        "like {value: walk_in, label: Walk-in}; put it in quotes (YAML reads yes, no, on and "
        "off as true or false)"]


def test_bad_names():
    assert thing_problems("fields:\n  Phone Number: {type: phone}\n") == [
        "schemas/thing.yaml:2:3: fields.Phone Number: 'Phone Number' is not a valid name: use "
        "lower case letters, digits and _ , starting with a letter"]
    text = "fields:\n  s:\n    type: select\n    options:\n      - {value: Walk In}\n"
    assert thing_problems(text) == [
        "schemas/thing.yaml:5:17: fields.s.options[0].value: 'Walk In' is not a valid option "
        "value: use lower case letters, digits and _"]
    text = "fields:\n  s:\n    type: select\n    options:\n      - {value: a, colour: red}\n"
    assert thing_problems(text) == [
        "schemas/thing.yaml:5:20: fields.s.options[0].colour: 'colour' is not a key of an "
        "option; did you mean 'color'? (keys: value, label, color, renamed_from)"]


def test_bad_labels():
    text = "label: 5\nfields:\n  name: {type: text, label: {en: [a]}}\n  x: {type: text, label: {EN: X}}\n"
    assert thing_problems(text) == [
        "schemas/thing.yaml:1:8: label: must be text, or a map of locale to text like "
        "{en: Client, zh: 客户}",
        "schemas/thing.yaml:3:34: fields.name.label.en: must be text",
        "schemas/thing.yaml:4:27: fields.x.label.EN: 'EN' is not a locale code, like en, zh or "
        "zh_CN",
    ]


def test_duplicate_keys_are_reported():
    text = "fields:\n  name: {type: text}\n  name: {type: long_text}\n"
    assert thing_problems(text) == [
        "schemas/thing.yaml:3:3: fields.name: 'name' is given twice (first on line 2); YAML "
        "would keep only the last one, so remove or rename one of them"]


def test_yaml_syntax_error_and_other_files_still_checked():
    files = base(views__broken="type: table\n  record_type: client\n",
                 schemas__thing="fields:\n  phone:\n    type: phon\n")
    assert problems(files) == [
        "schemas/thing.yaml:3:11: fields.phone.type: 'phon' is not a field type; did you mean "
        "'phone'?",
        "views/broken.yaml:2:14: YAML syntax error: mapping values are not allowed here",
    ]


def test_every_problem_of_every_file_in_one_run():
    files = base(workspace=WS.replace("default_locale: zh", "default_locale: fr"),
                 schemas__thing="fields:\n  a:\n    type: txt\n  b:\n    type: link\n",
                 views__clients=CLIENTS_VIEW.replace("phone, source", "phone, sorce"),
                 automations__assign="record_type: case\ntrigger: {kind: created}\n")
    found = problems(files)
    assert found == [
        "workspace.yaml:2:17: default_locale: 'fr' is not one of the locales (zh, en)",
        "schemas/thing.yaml:3:11: fields.a.type: 'txt' is not a field type; did you mean "
        "'text'?",
        "schemas/thing.yaml:4:3: fields.b: a link field needs 'target' (the record type it "
        "points at)",
        "views/clients.yaml:4:24: columns[2]: 'sorce' is not a field of client; did you mean "
        "'source'?",
        "automations/assign.yaml:1:1: a rule needs 'actions' (what the rule does)",
    ]
    with pytest.raises(WorkspaceError) as info:
        load_workspace_from_texts(files)
    assert str(info.value).splitlines() == ["5 problems in the workspace:", *found]
    assert isinstance(info.value.problems[0], Problem)


def test_missing_workspace_yaml_and_bad_file_names():
    files = base(schemas__Things="fields:\n  a: {type: text}\n",
                 schemas__lr_audit="fields:\n  a: {type: text}\n")
    del files["workspace.yaml"]
    assert problems(files) == [
        "workspace.yaml: is missing: a workspace folder needs a workspace.yaml (its label, "
        "locales and time zone)",
        "schemas/Things.yaml: 'Things' (the file name) is not a valid name: use lower case "
        "letters, digits and _ , starting with a letter; rename the file",
        "schemas/client.yaml:19:11: fields.consultant.type: a user field needs `users:` in "
        "workspace.yaml (the record type whose records are the people)",
        "schemas/lr_audit.yaml: 'lr_audit' is reserved for the engine (names starting with "
        "lr_); choose another name (rename the file)",
    ]


def test_problem_str_forms():
    assert str(Problem("schemas/client.yaml", 14, 11, "fields.phone.type", "bad")) == \
        "schemas/client.yaml:14:11: fields.phone.type: bad"
    assert str(Problem("views/x.yaml", 2, 1, "", "bad")) == "views/x.yaml:2:1: bad"
    assert str(Problem("workspace.yaml", 0, 0, "", "is missing")) == "workspace.yaml: is missing"


# ----- cross-checks: record types -----

def test_link_target_and_users_type_must_exist():
    text = "fields:\n  client:\n    type: link\n    target: clinet\n"
    assert thing_problems(text) == [
        "schemas/thing.yaml:4:13: fields.client.target: 'clinet' is not a record type; did "
        "you mean 'client'?"]
    assert problems(base(workspace=WS.replace("users: staff", "users: staf"))) == [
        "workspace.yaml:5:8: users: 'staf' is not a record type; did you mean 'staff'?"]


def test_user_fields_need_a_users_type():
    found = problems(base(workspace=WS.replace("users: staff\n", "")))
    assert found == [
        "schemas/client.yaml:19:11: fields.consultant.type: a user field needs `users:` in "
        "workspace.yaml (the record type whose records are the people)"]


def test_reserved_field_names():
    text = "fields:\n  created_at: {type: datetime}\n  lr_flag: {type: boolean}\n"
    assert thing_problems(text) == [
        "schemas/thing.yaml:2:3: fields.created_at: 'created_at' is a system field every "
        "record type has; choose another name",
        "schemas/thing.yaml:3:3: fields.lr_flag: 'lr_flag' is reserved for the engine (names "
        "starting with lr_); choose another name",
    ]


def test_title_and_search_fields_must_exist():
    text = "title: nme\nsearch: [name, phnoe]\nfields:\n  name: {type: text}\n  phone: {type: phone}\n"
    assert thing_problems(text) == [
        "schemas/thing.yaml:1:8: title: 'nme' is not a field of thing; did you mean 'name'?",
        "schemas/thing.yaml:2:16: search[1]: 'phnoe' is not a field of thing; did you mean "
        "'phone'?",
    ]


def test_duplicate_option_values():
    text = "fields:\n  stage:\n    type: select\n    options:\n      - lead\n      - won\n      - lead\n"
    assert thing_problems(text) == [
        "schemas/thing.yaml:7:9: fields.stage.options[2]: 'lead' is listed twice"]


def test_defaults_must_fit_the_field():
    text = """\
fields:
  n:
    type: integer
    default: abc
  m:
    type: integer
    max: 5
    default: 7
  stage:
    type: select
    options: [lead, won]
    default: wonn
  fee:
    type: formula
    expression: n * 2
    default: 3
  when: {type: date, default: "2024-02-30"}
"""
    assert thing_problems(text) == [
        "schemas/thing.yaml:4:14: fields.n.default: the default does not fit: 'abc' is not a "
        "whole number",
        "schemas/thing.yaml:8:14: fields.m.default: the default does not fit: must be at most 5",
        "schemas/thing.yaml:12:14: fields.stage.default: 'wonn' is not one of the options of "
        "stage; did you mean 'won'? (options: lead, won)",
        "schemas/thing.yaml:16:14: fields.fee.default: takes no default: the field is computed "
        "from other fields and cannot be set",
        "schemas/thing.yaml:17:31: fields.when.default: the default does not fit: '2024-02-30' "
        "is not a date (write it as YYYY-MM-DD)",
    ]


def test_unquoted_dates_stay_text_and_parse():
    text = "fields:\n  when: {type: date, default: 2024-02-01, min: 2020-01-01}\n"
    when = load_workspace_from_texts(base(schemas__thing=text)).type("thing").field("when")
    assert (when.default, when.config["min"]) == ("2024-02-01", "2020-01-01")


def test_formula_names_syntax_and_cycles():
    text = """\
fields:
  amount: {type: decimal}
  fee:
    type: formula
    expression: amout * 0.03
  broken:
    type: formula
    expression: amount *
  a: {type: formula, expression: b + 1}
  b: {type: formula, expression: a * 2 + amount}
  c: {type: formula, expression: c + created_at}
"""
    found = thing_problems(text)
    assert found[0] == ("schemas/thing.yaml:5:17: fields.fee.expression: 'amout' is not a field "
                        "of thing; did you mean 'amount'?")
    assert found[1].startswith("schemas/thing.yaml:8:17: fields.broken.expression: 'amount *' "
                               "does not parse")
    assert found[2:] == [
        "schemas/thing.yaml:9:34: fields.a.expression: formulas depend on each other in a "
        "cycle: a → b → a",
        "schemas/thing.yaml:11:34: fields.c.expression: formulas depend on each other in a "
        "cycle: c → c",
    ]


def test_autonumber_needs_a_counter():
    text = 'fields:\n  a: {type: autonumber}\n  b: {type: autonumber, pattern: "X-{YYYY}"}\n'
    assert thing_problems(text) == [
        "schemas/thing.yaml:2:3: fields.a: an autonumber field needs 'pattern' with a counter, "
        "like CT-{YYYY}-{0000}",
        "schemas/thing.yaml:3:34: fields.b.pattern: 'X-{YYYY}' has no counter: add one like "
        "{0000}, as in CT-{YYYY}-{0000}",
    ]


def test_renamed_from_must_not_name_a_current_field():
    text = "fields:\n  mobile: {type: phone, renamed_from: phone}\n  phone: {type: text}\n"
    assert thing_problems(text) == [
        "schemas/thing.yaml:2:39: fields.mobile.renamed_from: 'phone' is still a field of "
        "thing: renamed_from names this field's old name, one that no longer exists"]


def test_time_zones_are_checked():
    found = problems(base(workspace=WS.replace("Asia/Shanghai", "Asia/Shangai"),
                          schemas__thing="fields:\n  t: {type: datetime, timezone: Mars/Base}\n"))
    assert found == [
        "workspace.yaml:4:11: timezone: 'Asia/Shangai' is not a time zone; did you mean "
        "'Asia/Shanghai'?",
        "schemas/thing.yaml:2:33: fields.t.timezone: 'Mars/Base' is not a time zone (like "
        "Asia/Shanghai or UTC)",
    ]


# ----- cross-checks: views, filters, rules, workspace.yaml -----

def test_view_record_type_and_fields_must_exist():
    view = """\
type: table
record_type: client
columns: [name, phnoe, created_at, version]
sort: [-updated_at, -nme]
"""
    assert problems(base(views__clients=view)) == [
        "views/clients.yaml:3:17: columns[1]: 'phnoe' is not a field of client; did you mean "
        "'phone'?",
        "views/clients.yaml:4:21: sort[1]: 'nme' is not a field of client; did you mean 'name'?",
    ]
    assert problems(base(views__clients="type: table\nrecord_type: clinet\n")) == [
        "views/clients.yaml:2:14: record_type: 'clinet' is not a record type; did you mean "
        "'client'?"]
    form = "type: form\nrecord_type: case\nsections:\n  - fields: [client, stge]\n"
    assert problems(base(views__case_form=form)) == [
        "views/case_form.yaml:4:22: sections[0].fields[1]: 'stge' is not a field of case; did "
        "you mean 'stage'?"]


def test_view_settings_need_the_right_kind_of_field():
    files = base(views__board="type: kanban\nrecord_type: case\ngroup_by: client\nsum: code\n",
                 views__calendar="type: calendar\nrecord_type: case\ndate_field: amount\n",
                 views__clients="type: table\nrecord_type: client\ngroup_by: name\n")
    assert problems(files) == [
        "views/board.yaml:3:11: group_by: 'client' is a link field; a kanban board groups by a "
        "select field (fields that fit: stage)",
        "views/board.yaml:4:6: sum: 'code' is an autonumber field; a kanban board sums a "
        "number field (fields that fit: amount, fee, version)",
        "views/calendar.yaml:3:13: date_field: 'amount' is a decimal field; a calendar places "
        "records by a date or datetime field (fields that fit: opened_on, created_at, "
        "updated_at)",
        "views/clients.yaml:3:11: group_by: 'name' is a text field; a table groups by a "
        "select, link or user field (fields that fit: source, consultant, created_by, "
        "updated_by)",
    ]


def test_view_schema_messages():
    view = "type: tabel\nrecord_type: client\n"
    assert problems(base(views__clients=view)) == [
        "views/clients.yaml:1:7: type: 'tabel' is not a view type; did you mean 'table'?"]
    view = "type: kanban\nrecord_type: case\ngroup_by: stage\ncard_feilds: [code]\npage_size: 0\n"
    assert problems(base(views__board=view)) == [
        "views/board.yaml:4:1: card_feilds: 'card_feilds' is not a setting of a kanban view; "
        "did you mean 'card_fields'? (settings: type, record_type, label, description, default, group_by, "
        "card_fields, card_title, sum, sort, filter, share)",
        "views/board.yaml:5:1: page_size: 'page_size' is not a setting of a kanban view "
        "(settings: type, record_type, label, description, default, group_by, card_fields, "
        "card_title, sum, sort, filter, share)",
    ]
    assert problems(base(views__clients="type: table\ncolumns: name\n")) == [
        "views/clients.yaml:1:1: a table view needs 'record_type' (the record type it shows)",
        "views/clients.yaml:2:10: columns: must be a list",
    ]


def test_filter_fields_paths_and_operators():
    view = """\
type: table
record_type: case
filter:
  all:
    - {field: stge, op: eq, value: lead}
    - {field: client.sorce, op: eq, value: referral}
    - {field: amount.x, op: eq, value: 1}
    - {field: stage, op: contains, value: le}
    - {field: client.consultant.email, op: is_empty}
    - {field: stage, op: equals, value: lead}
    - {op: eq, value: 1}
    - {all: [], any: []}
"""
    assert problems(base(views__clients=view)) == [
        "views/clients.yaml:5:15: filter.all[0].field: 'stge' is not a field of case; did you "
        "mean 'stage'?",
        "views/clients.yaml:6:15: filter.all[1].field: 'sorce' is not a field of client; did "
        "you mean 'source'?",
        "views/clients.yaml:7:15: filter.all[2].field: 'amount' is a decimal field, not a "
        "link: only link and user fields lead to another record type",
        "views/clients.yaml:8:26: filter.all[3].op: 'contains' does not apply to a select "
        "field (stage); use one of: eq, ne, in, not_in, lt, lte, gt, gte, is_empty, "
        "is_not_empty",
        "views/clients.yaml:10:26: filter.all[5].op: 'equals' is not an operator (use one of: "
        "eq, ne, lt, lte, gt, gte, in, not_in, contains, not_contains, starts_with, is_empty, "
        "is_not_empty, between, within)",
        "views/clients.yaml:11:7: filter.all[6]: a filter condition needs 'field' (the field it "
        "tests)",
        "views/clients.yaml:12:7: filter.all[7]: a filter takes one of all, any, not or field, "
        "not several (here: all, any)",
    ]


def test_schema_problem_is_not_repeated_by_the_cross_checks():
    view = "type: table\nrecord_type: client\ncolumns: [Name, phone]\n"
    assert problems(base(views__clients=view)) == [
        "views/clients.yaml:3:11: columns[0]: 'Name' is not a valid name: use lower case "
        "letters, digits and _ , starting with a letter"]


def test_a_broken_field_is_not_also_unknown_elsewhere():
    text = "title: code\nfields:\n  code:\n    type: text\n    lable: Code\n"
    view = "type: table\nrecord_type: thing\ncolumns: [code]\n"
    assert thing_problems(text, views__things=view) == [
        "schemas/thing.yaml:5:5: fields.code.lable: 'lable' is not an option of a text field; "
        "did you mean 'label'? (options: " + ", ".join(
            [*COMMON_OPTIONS, "min_length", "max_length", "pattern", "pattern_hint"]) + ")"]


def test_rules_record_type_and_conditions():
    rule = "record_type: cases\ntrigger: {kind: created}\nactions: [comment: hi]\n"
    assert problems(base(automations__assign=rule)) == [
        "automations/assign.yaml:1:14: record_type: 'cases' is not a record type; did you mean "
        "'case'?"]
    rule = RULE.replace("client.source", "client.sauce")
    assert problems(base(automations__assign=rule)) == [
        "automations/assign.yaml:4:21: conditions.field: 'sauce' is not a field of client; did "
        "you mean 'source'?"]


def test_workspace_yaml_checks():
    ws = WS.replace("  consultant:\n", "  Sales Manager:\n    label: M\n  lr_admin: {}\n"
                    "  consultant:\n").replace("locales: [zh, en]", "locales: [zh, en, EN]")
    assert problems(base(workspace=ws)) == [
        "workspace.yaml:3:19: locales[2]: 'EN' is not a locale code, like en, zh or zh_CN",
        "workspace.yaml:7:3: roles.Sales Manager: 'Sales Manager' is not a valid name: use "
        "lower case letters, digits and _ , starting with a letter",
        "workspace.yaml:9:3: roles.lr_admin: 'lr_admin' is reserved for the engine (names "
        "starting with lr_); choose another name",
    ]


# ----- YAML positions -----

def test_yaml_positions_of_values_and_keys():
    source = parse_yaml("a: 1\nfields:\n  phone:\n    type: phone\n  list: [x, {b: 2}]\n",
                        "f.yaml")
    assert source.data == {"a": 1, "fields": {"phone": {"type": "phone"},
                                              "list": ["x", {"b": 2}]}}
    assert source.positions[("fields", "phone", "type")] == (4, 11)
    assert source.positions[("fields", "phone", "type", KEY)] == (4, 5)
    assert source.positions[("fields", "list", 1, "b")] == (5, 17)
    assert source.where(("fields", "phone", "nothing")) == (4, 5)
    assert source.problems == []


def test_yaml_merge_keys_are_not_duplicates():
    source = parse_yaml("base: &b {type: text, required: true}\nx:\n  <<: *b\n  required: false\n")
    assert source.data["x"] == {"type": "text", "required": False}
    assert source.problems == []


def test_yaml_limits_and_multiple_documents():
    assert [str(p) for p in parse_yaml("a: " + "[" * 45 + "]" * 45, "x.yaml").problems] == [
        "x.yaml:1:44: the data is nested more than 40 levels deep"]
    assert [str(p) for p in parse_yaml("a: " + "[" * 1000 + "]" * 1000, "x.yaml").problems] == [
        "x.yaml:1:1: YAML syntax error: nested too deeply"]
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcde", "bcdef", strict=True))
    assert [str(p) for p in parse_yaml(bomb, "x.yaml").problems] == [
        "x.yaml:1:1: the file holds more than 50000 values once its aliases are expanded; a "
        "workspace file should be far smaller"]
    assert [str(p) for p in parse_yaml("a: &x [*x]\n", "x.yaml").problems] == [
        "x.yaml:1:4: a[0]: a YAML alias refers to itself"]
    assert [str(p) for p in parse_yaml("a: 1\n---\nb: 2\n", "x.yaml").problems] == [
        "x.yaml:2:1: YAML syntax error: a file holds one document; remove the second '---'"]


@pytest.mark.parametrize("view", [
    "type: table\nrecord_type: client\nfilter: 1.5\n",
    "type: table\nrecord_type: client\nfilter: {all: [lr_x, 5, null]}\n",
    "type: table\nrecord_type: client\nfilter: {field: [a], op: {x: 1}}\n",
    "type: form\nrecord_type: client\nsections: [5, {fields: name}]\n",
    "- a list\n",
    "",
])
def test_malformed_views_are_problems_not_crashes(view):
    assert problems(base(views__clients=view))


@pytest.mark.parametrize("schema", [
    "fields: [name]\n", "fields: {a: null, b: [1], c: {type: [text]}}\n",
    "fields:\n  s: {type: select, options: 5, default: [1]}\n",
    "title: [1]\nsearch: {a: 1}\nlabel_plural: 5\nfields: {a: {type: text}}\n",
])
def test_malformed_record_types_are_problems_not_crashes(schema):
    assert problems(base(schemas__thing=schema))


def test_filter_values_are_checked_where_they_are_written():
    files = {
        "workspace.yaml": "label: t\n",
        "schemas/a.yaml": "fields:\n  stage: {type: select, options: [negotiation, won]}\n"
                          "  n: {type: integer}\n",
        "views/v.yaml": "type: table\nrecord_type: a\nfilter:\n  all:\n"
                        "    - {field: stage, op: eq, value: negotation}\n"
                        "    - {field: n, op: gt, value: abc}\n"
                        "    - {field: n, op: lt, value: 5}\n",
    }
    assert problems(files) == [
        "views/v.yaml:5:37: filter.all[0].value: stage: 'negotation' is not one of the options "
        "(negotiation, won)",
        "views/v.yaml:6:33: filter.all[1].value: n: 'abc' is not a whole number",
    ]


def test_a_kanban_card_title_names_a_field_of_its_record_type():
    board = OTHER_VIEWS["views/board.yaml"]
    ws = load_workspace_from_texts(base(views__board=board + "card_title: client\n"))
    assert ws.views["board"].config["card_title"] == "client"
    assert problems(base(views__board=board + "card_title: cleint\n")) == [
        "views/board.yaml:6:13: card_title: 'cleint' is not a field of case; did you mean "
        "'client'?"]
    assert problems(base(views__board=board + "card_title: [client]\n"))[0].startswith(
        "views/board.yaml:6:13: card_title:")  # the shipped schema: one name
