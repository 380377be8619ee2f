"""The template gallery: every template checks, migrates and seeds on SQLite and PostgreSQL;
cloning one makes a new workspace and never overwrites anything."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from lowrise.cli import main
from lowrise.seed import seed
from lowrise.storage.migrate import apply, plan
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.templates import (
    TargetNotEmpty,
    TemplateNotFound,
    clone,
    gallery,
    get_template,
    template_folders,
    workspace_files,
)
from lowrise.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[1]
GALLERY = gallery()
NAMES = list(GALLERY)
ENGINE_CODE = ROOT / "platform" / "lowrise"


def build(engine, ws) -> Records:
    schema = build_schema(ws)
    with engine.connect() as conn:
        the_plan = plan(conn, schema)
    assert not the_plan.refusals, the_plan.text
    apply(engine, the_plan)
    return Records(engine, schema)


# ----- the gallery -----

def test_the_gallery_holds_the_flagship_and_the_templates_folder():
    assert NAMES[0] == "real_estate"
    assert {"real_estate", "service_desk", "project_tracker"} <= set(NAMES)
    assert GALLERY["real_estate"].path == ROOT
    assert GALLERY["service_desk"].path == ROOT / "templates" / "service_desk"
    assert set(template_folders()) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_template_says_what_it_is_in_english_and_chinese(name):
    t = GALLERY[name]
    for label in (t.title, t.summary, *t.tags):
        assert label is not None and {"en", "zh"} <= set(label.texts), (name, label)
    assert t.tags


def test_an_unknown_template_names_the_ones_there_are():
    with pytest.raises(TemplateNotFound, match="service_desk"):
        get_template("service_dsk")


def test_a_folder_without_a_template_block_is_described_by_its_label(tmp_path):
    (tmp_path / "templates" / "crm").mkdir(parents=True)
    (tmp_path / "templates" / "crm" / "workspace.yaml").write_text("label: {en: CRM}\n")
    (tmp_path / "templates" / "notes").mkdir()  # no workspace.yaml: not a template
    found = gallery(tmp_path)
    assert list(found) == ["crm"]
    assert found["crm"].title.get("en") == "CRM" and found["crm"].summary is None


# ----- every template is a complete, well-labelled workspace -----

@pytest.mark.parametrize("name", NAMES)
def test_every_template_passes_lowrise_check(name):
    result = CliRunner().invoke(main, ["-w", str(GALLERY[name].path), "check"])
    assert result.exit_code == 0, result.output
    assert ": OK" in result.output


@pytest.mark.parametrize("name", NAMES)
def test_every_label_is_in_every_locale(name):
    ws = load_workspace(GALLERY[name].path)
    missing = []

    def need(where, label):
        if label is not None and not set(ws.locales) <= set(label.texts):
            missing.append(where)

    for rt in ws.record_types.values():
        need(rt.name, rt.label)
        need(f"{rt.name} (plural)", rt.label_plural)
        for f in rt.user_fields:
            need(f"{rt.name}.{f.name}", f.label)
            need(f"{rt.name}.{f.name} help", f.help)
            for o in f.options:
                need(f"{rt.name}.{f.name}={o.value}", o.label)
    for view in ws.views.values():
        need(f"view {view.name}", view.label)
    for role in ws.roles.values():
        need(f"role {role.name}", role.label)
    assert not missing


@pytest.mark.parametrize("name", NAMES)
def test_every_option_has_a_colour_and_every_type_a_demo_count(name):
    path = GALLERY[name].path
    ws = load_workspace(path)
    counts = ws.config["demo"]["counts"]
    assert set(counts) == set(ws.record_types)
    for rt in ws.record_types.values():
        raw = yaml.safe_load((path / "schemas" / f"{rt.name}.yaml").read_text())
        for fname, fdef in raw["fields"].items():
            for option in fdef.get("options", []):
                assert "color" in option, (rt.name, fname, option)


@pytest.mark.parametrize("name", ["service_desk", "project_tracker"])
def test_the_new_templates_have_the_views_a_team_needs(name):
    ws = load_workspace(GALLERY[name].path)
    kinds = {v.type for v in ws.views.values()}
    assert {"table", "form", "kanban", "calendar", "dashboard"} <= kinds
    assert ws.rules, "automations"
    for rt in ws.record_types.values():
        assert any(v.type == "table" and v.config.get("default") for v in ws.views_of(rt.name))


@pytest.mark.parametrize("name", NAMES)
def test_every_rule_of_every_template_parses(name):
    from lowrise.rules.parse import parse_rules

    ws = load_workspace(GALLERY[name].path)
    rules = parse_rules(ws)
    assert set(rules) == set(ws.rules)


@pytest.mark.parametrize("name", [n for n in NAMES if GALLERY[n].path != ROOT])
def test_every_template_passes_its_rule_fixtures(name):
    # (the flagship's fixtures are run by tests/test_rules_verify.py)
    from lowrise.rules.fixtures import verify

    results = verify(load_workspace(GALLERY[name].path))
    assert len(results) >= 3
    assert [r for r in results if not r.ok] == []


def test_the_gallery_archive_and_schema_edits_import_neither_flask_nor_click():
    import subprocess
    import sys

    code = ("import sys, lowrise.templates, lowrise.template_archive, lowrise.workspace.edit; "
            "print(sorted(m for m in ('flask', 'click') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_nothing_about_a_template_lives_in_the_engine():
    words = re.compile(r"\b(technician|milestone|time_log|service_desk|project_tracker|"
                       r"ticket|sla_\w+)\b")
    for path in ENGINE_CODE.rglob("*.py"):
        hits = words.findall(path.read_text(encoding="utf-8"))
        assert not hits, (path.relative_to(ROOT), sorted(set(hits)))


# ----- on a real database -----

@pytest.mark.parametrize("name", NAMES)
def test_every_template_migrates_seeds_and_then_plans_nothing(name, engine):
    ws = load_workspace(GALLERY[name].path)
    records = build(engine, ws)
    made = seed(records, scale=0.1, seed_value=5)
    assert set(made) == set(ws.record_types) and all(made.values())
    with engine.connect() as conn:
        assert plan(conn, records.schema).steps == []
        for rt in ws.record_types.values():
            table = records.schema.table(rt.name)
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == \
                made[rt.name]
            for f in rt.user_fields:  # every link of the demo data points at a real record
                if f.type in ("link", "user") and f.target:
                    target = records.schema.table(f.target)
                    dangling = conn.execute(
                        sa.select(sa.func.count()).select_from(table).where(
                            table.c[f.name].is_not(None),
                            ~table.c[f.name].in_(sa.select(target.c.id)))).scalar()
                    assert dangling == 0, (rt.name, f.name)


@pytest.mark.parametrize("name", ["service_desk", "project_tracker"])
def test_every_widget_of_the_template_dashboards_computes(name, engine):
    from datetime import date

    from lowrise import dashboards
    from lowrise.actor import Actor

    ws = load_workspace(GALLERY[name].path)
    records = build(engine, ws)
    seed(records, scale=0.1, seed_value=4)
    boards = [v for v in ws.views.values() if v.type == "dashboard"]
    assert boards
    for view in boards:
        board = dashboards.load(view, ws)
        selection = dashboards.select(board, {}, date.today(), ws)
        for locale, roles in (("en", {"admin"}), ("zh", set(ws.roles) - {"admin"})):
            actor = Actor(name="t", roles=frozenset(roles), locale=locale)
            out = dashboards.compute(engine, records.schema, board, selection, actor=actor,
                                     locale=locale)
            assert out and [(d.widget.name, d.error) for d in out if d.error] == []
        assert len(out) == len(board.widgets)


def test_service_desk_demo_data_hangs_together(engine):
    ws = load_workspace(GALLERY["service_desk"].path)
    records = build(engine, ws)
    seed(records, scale=0.2, seed_value=2)
    with engine.connect() as conn:
        t, v, c = (records.schema.table(n) for n in ("ticket", "visit", "customer"))
        rows = conn.execute(sa.select(t)).mappings().all()
        assert rows
        for row in rows:
            hours = {"urgent": (1, 8), "high": (4, 24), "normal": (8, 72), "low": (24, 168)}
            respond, resolve = hours[row["priority"]]
            opened = row["opened_at"]
            assert (row["response_due_at"] - opened).total_seconds() == respond * 3600
            assert (row["resolve_due_at"] - opened).total_seconds() == resolve * 3600
            if row["first_response_at"] is not None:
                assert row["first_response_at"] >= opened
            assert row["ticket_no"].startswith("TK-") and "{" not in row["ticket_no"]
        mismatched = conn.execute(sa.select(sa.func.count()).select_from(
            v.join(t, v.c.ticket == t.c.id)).where(v.c.technician != t.c.technician)).scalar()
        assert mismatched == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(
            t.join(c, t.c.customer == c.c.id)).where(t.c.region != c.c.region)).scalar() == 0


def test_project_tracker_demo_tasks_belong_to_their_milestones_project(engine):
    ws = load_workspace(GALLERY["project_tracker"].path)
    records = build(engine, ws)
    seed(records, scale=0.2, seed_value=2)
    with engine.connect() as conn:
        task, ms = records.schema.table("task"), records.schema.table("milestone")
        assert conn.execute(sa.select(sa.func.count()).select_from(
            task.join(ms, task.c.milestone == ms.c.id)).where(
                task.c.project != ms.c.project)).scalar() == 0
        late = conn.execute(sa.select(sa.func.count()).select_from(task).where(
            task.c.due_date < task.c.start_date)).scalar()
        assert late == 0


# ----- cloning -----

def test_clone_makes_a_workspace_that_loads(tmp_path):
    dest = clone("service_desk", tmp_path / "desk")
    ws = load_workspace(dest)
    assert set(ws.record_types) == {"customer", "product", "staff", "ticket", "visit"}
    source = workspace_files(GALLERY["service_desk"].path)
    assert set(workspace_files(dest)) == set(source)
    # the editor hint now points at the schemas shipped with the package, which exist
    first = (dest / "schemas" / "ticket.yaml").read_text().splitlines()[0]
    hint = Path(first.split("$schema=", 1)[1])
    assert hint.is_absolute() and hint.is_file()
    assert oct(dest.stat().st_mode & 0o777) == "0o755"


def test_clone_of_the_flagship_takes_only_the_workspace(tmp_path):
    dest = clone("real_estate", tmp_path / "sales")
    assert sorted(p.name for p in dest.iterdir()) == ["approvals", "automations", "documents",
                                                      "schemas", "views", "workspace.yaml"]
    assert load_workspace(dest).record_types.keys() == \
        load_workspace(ROOT).record_types.keys()
    # its document templates come along, the Word files with their YAML
    assert load_workspace(dest).documents.keys() == load_workspace(ROOT).documents.keys()
    assert (dest / "documents" / "sale_contract_presale.docx").read_bytes() == \
        (ROOT / "documents" / "sale_contract_presale.docx").read_bytes()


def test_clone_into_an_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    clone("project_tracker", tmp_path / "empty")
    assert (tmp_path / "empty" / "workspace.yaml").is_file()


def test_clone_never_overwrites(tmp_path):
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "workspace.yaml").write_text("label: mine\n")
    with pytest.raises(TargetNotEmpty, match="not empty"):
        clone("service_desk", dest)
    assert (dest / "workspace.yaml").read_text() == "label: mine\n"
    assert [p.name for p in dest.iterdir()] == ["workspace.yaml"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(TargetNotEmpty, match="is a file"):
        clone("service_desk", a_file)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_clone_refuses_an_instance_folder_that_has_a_database(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "lowrise.db").write_bytes(b"SQLite format 3\x00")
    with pytest.raises(TargetNotEmpty, match="already has a database"):
        clone("service_desk", tmp_path / "new", instance=instance)
    assert not (tmp_path / "new").exists()


def test_lowrise_new_and_lowrise_templates(tmp_path):
    runner = CliRunner()
    listed = runner.invoke(main, ["templates"])
    assert listed.exit_code == 0, listed.output
    for name in NAMES:
        assert name in listed.output
    assert "After-sales service desk" in listed.output
    # what each template does, and who does what in it
    assert "the resolution clock stops while the ticket waits" in listed.output
    assert "Guest: A client or stakeholder who follows the projects" in listed.output
    in_zh = runner.invoke(main, ["templates", "--locale", "zh"]).output
    assert "售后服务工单" in in_zh and "等待客户或配件期间解决时限暂停" in in_zh
    assert "维修工程师: 上门安装、检测和维修" in in_zh
    made = runner.invoke(main, ["new", str(tmp_path / "tasks"), "--template",
                                "project_tracker"])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "tasks" / "schemas" / "task.yaml").is_file()
    again = runner.invoke(main, ["new", str(tmp_path / "tasks"), "--template", "service_desk"])
    assert again.exit_code != 0 and "not empty" in again.output
    assert not (tmp_path / "tasks" / "schemas" / "ticket.yaml").exists()
    wrong = runner.invoke(main, ["new", str(tmp_path / "x"), "--template", "nope"])
    assert wrong.exit_code != 0 and "service_desk" in wrong.output


def test_a_cloned_template_migrates_and_seeds_from_the_cli(tmp_path, monkeypatch):
    runner = CliRunner()
    assert runner.invoke(main, ["new", str(tmp_path / "desk"), "--template",
                                "service_desk"]).exit_code == 0
    monkeypatch.chdir(tmp_path / "desk")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    migrated = runner.invoke(main, ["migrate", "--yes"])
    assert migrated.exit_code == 0, migrated.output
    seeded = runner.invoke(main, ["seed", "--scale", "0.05"])
    assert seeded.exit_code == 0, seeded.output
    assert (tmp_path / "desk" / "instance" / "lowrise.db").is_file()
    # and the folder now holds a database: cloning into it is refused
    refused = runner.invoke(main, ["new", str(tmp_path / "desk"), "--template", "service_desk"])
    assert refused.exit_code != 0
