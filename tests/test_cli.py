"""The `lowrise` command end to end: check, migrate, seed, user, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from lowrise.cli import main

ROOT = Path(__file__).resolve().parents[1]

SMALL = {
    "workspace.yaml": "label: Shop\ndefault_locale: en\nlocales: [en]\nusers: staff\n"
                      "roles:\n  admin: {label: Admin}\n"
                      "demo:\n  counts: {staff: 3, client: 20}\n",
    "schemas/staff.yaml": "fields:\n  name: {type: text, required: true, sample: name}\n",
    "schemas/client.yaml": """# clients of the shop
label: Client
fields:
  name: {type: text, required: true, sample: name}
  phone: {type: phone}
  owner: {type: user}
""",
}


def write(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def ws(tmp_path):
    return write(tmp_path / "ws", SMALL)


@pytest.fixture(autouse=True)
def _environment_kept():
    """`lowrise serve` hands its settings to the app through the environment (a server is
    the process's last act); here the process goes on to other tests, which must not read a
    folder or database a serve test named."""
    import os

    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)


def run(ws: Path, db_url: str, *args: str, input: str | None = None):
    result = CliRunner().invoke(
        main, ["-w", str(ws), "--database", db_url, "--instance", str(ws / "instance"), *args],
        input=input, catch_exceptions=False)
    return result


def columns(db_url: str, table: str) -> set[str]:
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"),
                              poolclass=sa.NullPool)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_check_reports_every_problem_with_its_place(ws, db_url):
    assert "OK — 2 record types" in run(ws, db_url, "check").output
    (ws / "schemas/client.yaml").write_text(SMALL["schemas/client.yaml"].replace(
        "type: phone", "type: phon").replace("type: user", "type: usr"), encoding="utf-8")
    result = run(ws, db_url, "check")
    assert result.exit_code == 1
    assert ("schemas/client.yaml:5:17: fields.phone.type: 'phon' is not a field type; "
            "did you mean 'phone'?") in result.output
    assert "schemas/client.yaml:6:17: fields.owner.type: 'usr' is not a field type" in result.output
    assert "2 problems in the workspace" in result.output


def test_migrate_prints_the_plan_then_adds_a_field_without_losing_data(ws, db_url):
    dry = run(ws, db_url, "migrate", "--dry-run")
    assert dry.exit_code == 0 and "create table client" in dry.output
    assert run(ws, db_url, "migrate", "--dry-run").output == dry.output  # nothing applied
    assert run(ws, db_url, "migrate", "--yes").exit_code == 0
    assert "up to date" in run(ws, db_url, "migrate").output
    assert run(ws, db_url, "seed").exit_code == 0

    text = (ws / "schemas/client.yaml").read_text(encoding="utf-8")
    (ws / "schemas/client.yaml").write_text(text + "  wechat: {type: text}\n", encoding="utf-8")
    out = run(ws, db_url, "migrate")
    assert "add column client.wechat (text)" in out.output and out.exit_code == 0
    assert "wechat" in columns(db_url, "client")
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"),
                              poolclass=sa.NullPool)
    with engine.connect() as c:
        assert c.execute(sa.text("select count(*) from client where name is not null")
                         ).scalar() == 20
    engine.dispose()


def test_a_removed_field_is_kept_until_prune_is_confirmed(ws, db_url):
    run(ws, db_url, "migrate", "--yes")
    (ws / "schemas/client.yaml").write_text(
        SMALL["schemas/client.yaml"].replace("  phone: {type: phone}\n", ""), encoding="utf-8")
    out = run(ws, db_url, "migrate")
    assert "keep column client.phone" in out.output
    assert "phone" in columns(db_url, "client")
    refused = run(ws, db_url, "migrate", "--prune", input="n\n")
    assert refused.exit_code == 1 and "phone" in columns(db_url, "client")
    assert run(ws, db_url, "migrate", "--prune", input="y\n").exit_code == 0
    assert "phone" not in columns(db_url, "client")


def test_seed_is_deterministic_and_if_empty_keeps_data(ws, db_url, tmp_path):
    run(ws, db_url, "migrate", "--yes")
    first = run(ws, db_url, "seed", "--seed", "7")
    assert "Loaded 23 demo records" in first.output
    again = run(ws, db_url, "seed", "--if-empty")
    assert "already has records" in again.output
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"),
                              poolclass=sa.NullPool)
    with engine.connect() as c:
        names = c.execute(sa.text("select name from client order by id")).scalars().all()
    engine.dispose()
    assert len(names) == 20
    other = write(tmp_path / "other", SMALL)
    sqlite_url = f"sqlite:///{tmp_path / 'other.db'}"
    run(other, sqlite_url, "migrate", "--yes")
    run(other, sqlite_url, "seed", "--seed", "7")
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as c:
        assert c.execute(sa.text("select name from client order by id")).scalars().all() == names


def test_user_add_checks_roles_and_duplicates(ws, db_url):
    run(ws, db_url, "migrate", "--yes")
    ok = run(ws, db_url, "user", "add", "Boss@Example.com", "--role", "admin",
             "--password", "long enough")
    assert ok.exit_code == 0 and "boss@example.com (admin)" in ok.output
    bad = run(ws, db_url, "user", "add", "x@example.com", "--role", "owner",
              "--password", "long enough")
    assert bad.exit_code == 2 and "owner is not a role" in bad.output
    dup = run(ws, db_url, "user", "add", "boss@example.com", "--password", "long enough")
    assert dup.exit_code == 1 and "already exists" in dup.output
    assert "boss@example.com" in run(ws, db_url, "user", "list").output


def test_user_passwords_follow_the_password_rule(ws, db_url):
    run(ws, db_url, "migrate", "--yes")
    weak = run(ws, db_url, "user", "add", "kim@example.com", "--password", "12345678")
    assert weak.exit_code == 1 and "a repeat or a run of characters" in weak.output
    common = run(ws, db_url, "user", "add", "kim@example.com", "--password", "Password1!")
    assert common.exit_code == 1 and "most commonly used" in common.output
    assert run(ws, db_url, "user", "add", "kim@example.com",
               "--password", "long enough").exit_code == 0
    mine = run(ws, db_url, "user", "password", "kim@example.com", "--password", "kim-kim-kim")
    assert mine.exit_code == 1 and "Traceback" not in mine.output
    assert run(ws, db_url, "user", "password", "kim@example.com",
               "--password", "violet tram at dusk 9").exit_code == 0


@pytest.mark.parametrize("url", [
    "postgresql://postgres@127.0.0.1:1/nowhere",  # nothing listens there
    "postgresql://postgres:secret@127.0.0.1:5432/lowrise_no_such_database",
    "sqlite:////lowrise-no-such-folder/lowrise.db",  # a file SQLite cannot open
])
def test_an_unreachable_database_is_one_line(ws, url):
    for args in (("serve", "--port", "5998"), ("migrate", "--yes"), ("user", "list")):
        result = run(ws, url, *args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: cannot use the database "), lines
        assert "secret" not in result.output and "Traceback" not in result.output


def test_new_copies_a_template_and_never_overwrites(tmp_path):
    runner = CliRunner()
    dest = tmp_path / "office"
    result = runner.invoke(main, ["new", str(dest), "--template", "real_estate"])
    assert result.exit_code == 0, result.output
    assert (dest / "schemas/client.yaml").exists()
    assert runner.invoke(main, ["-w", str(dest), "check"]).exit_code == 0
    (dest / "schemas/client.yaml").write_text("# mine\n", encoding="utf-8")
    again = runner.invoke(main, ["new", str(dest), "--template", "real_estate"])
    assert again.exit_code != 0
    assert (dest / "schemas/client.yaml").read_text(encoding="utf-8") == "# mine\n"
    shutil.rmtree(dest)
