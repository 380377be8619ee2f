"""`lowrise backup` and `lowrise restore` from the command line: a restore into an empty folder
that people sign in to with their accounts; refusals that change nothing; a damaged or
failing backup that leaves nothing half-restored; `--verify-only`; `--force`."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from lowrise.cli import main
from lowrise.storage.db import create_engine
from test_backup_support import (
    PASSWORD,
    SECRET,
    flagship_instance,
    fresh_database,
    kind_of,
    open_instance,
    rows,
)
from test_web_support import csrf_of

pytest_plugins = ["test_backup_support"]  # other_url


@pytest.fixture
def cli(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("LOWRISE_INSTANCE", raising=False)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, [str(a) for a in args])
    return run


@pytest.fixture
def source(db_url, tmp_path, cli):
    """A flagship instance and its backup (taken with the secret key) from the CLI."""
    src = flagship_instance(tmp_path / "src", db_url, scale=0.03)
    out = tmp_path / "backup.zip"
    done = cli("-w", src.root, "--instance", src.instance, "--database", db_url,
               "backup", out, "--with-secrets")
    assert done.exit_code == 0, done.output
    assert "with the secret key" in done.output
    yield src, out
    src.engine.dispose()


@pytest.fixture
def empty_target(db_url, tmp_path):
    """An empty folder and, for PostgreSQL, an empty database: (folder, --database args)."""
    folder = tmp_path / "restored"
    with fresh_database(kind_of(db_url), tmp_path, "unused.db") as url:
        yield folder, ["--database", url] if kind_of(url) == "postgresql" else []


def target_url(folder: Path, extra: list[str]) -> str:
    return extra[1] if extra else f"sqlite:///{folder / 'instance' / 'lowrise.db'}"


def test_restore_into_an_empty_folder_and_sign_in(source, empty_target, cli):
    from lowrise.web import create_app

    src, out = source
    folder, extra = empty_target
    if extra:  # a database a server has migrated, and nothing else, counts as empty
        open_instance(src.root, extra[1]).engine.dispose()
    done = cli("restore", out, "--workspace", folder, "--instance", folder / "instance", *extra)
    assert done.exit_code == 0, done.output
    assert "Restored" in done.output and "workspace files written" in done.output
    assert (folder / "workspace.yaml").is_file()
    assert (folder / "instance" / "secret_key").read_text() == SECRET
    assert (folder / "instance" / "secret_key").stat().st_mode & 0o077 == 0
    clients = rows(src.engine, "client")
    app = create_app({"TESTING": True, "LOWRISE_WORKSPACE": str(folder),
                      "LOWRISE_INSTANCE": str(folder / "instance"),
                      "DATABASE_URL": target_url(folder, extra), "LOWRISE_NULL_POOL": True})
    try:
        assert app.config["SECRET_KEY"] == SECRET
        web = app.test_client()
        token = csrf_of(web.get("/auth/login").text)
        signed_in = web.post("/auth/login", data={"email": "boss@example.com",
                                                  "password": PASSWORD, "csrf_token": token})
        assert signed_in.status_code == 302
        page = web.get(f"/r/client/{clients[-1]['id']}")
        assert page.status_code == 200 and "张三丰" in page.text
        # the API token of the backup works, and the next client gets the next id
        made = web.post("/api/v1/client", json={"name": "李四", "phone": "13900001111"},
                        headers={"Authorization": f"Bearer {src.token}"})
        assert made.status_code == 201, made.text
        assert made.json["id"] == clients[-1]["id"] + 1
    finally:
        app.extensions["lowrise"].engine.dispose()


def test_restore_refuses_targets_that_hold_something(source, db_url, tmp_path, cli):
    src, out = source
    folder = tmp_path / "new"
    # the source's own instance folder (its secret key, its uploads)
    done = cli("restore", out, "--workspace", folder, "--instance", src.instance,
               "--database", f"sqlite:///{tmp_path / 'x.db'}")
    assert done.exit_code == 1 and "is not empty" in done.output
    # the source's own database
    done = cli("restore", out, "--workspace", folder, "--instance", folder / "instance",
               "--database", db_url)
    assert done.exit_code == 1 and "already holds data" in done.output
    # a folder with another workspace
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "workspace.yaml").write_text("label: Other\n")
    done = cli("restore", out, "--workspace", tmp_path / "other", "--instance", folder / "i")
    assert done.exit_code == 1 and "other workspace files" in done.output
    assert not folder.exists() and not (tmp_path / "x.db").exists()
    assert (tmp_path / "other" / "workspace.yaml").read_text() == "label: Other\n"


def test_force_replaces_the_database_and_the_instance_files(source, db_url, cli):
    src, out = source
    clients = rows(src.engine, "client")
    src.records.update("client", clients[-1]["id"], {"name": "改过的"}, src.boss)
    src.records.delete("client", src.records.create(
        "client", {"name": "删掉的", "phone": "13700002222"}, src.boss)["id"], src.boss)
    src.records.create("client", {"name": "后来的", "phone": "13700001111"}, src.boss)
    (src.instance / "secret_key").write_text("another key")
    (src.instance / "config.py").write_text("# kept\n")
    done = cli("restore", out, "--workspace", src.root, "--instance", src.instance,
               "--database", db_url, "--force")
    assert done.exit_code == 0, done.output
    assert "workspace files written" not in done.output  # the same files: left alone
    assert rows(src.engine, "client") == clients
    assert (src.instance / "secret_key").read_text() == SECRET
    assert (src.instance / "config.py").read_text() == "# kept\n"
    assert not any(p.name.startswith(".") for p in src.instance.parent.iterdir()
                   if "restoring" in p.name)


def rewrite(archive: Path, out: Path, member: str, change) -> Path:
    """A copy of a backup with one member changed and the manifest made to agree with it."""
    with zipfile.ZipFile(archive) as zin, zipfile.ZipFile(out, "w") as zout:
        manifest = json.loads(zin.read("manifest.json"))
        for name in zin.namelist():
            if name == "manifest.json":
                continue
            data = zin.read(name)
            if name == member:
                data = change(data)
                table = manifest["tables"][member[3:-6]]
                table.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                             rows=data.count(b"\n"))
            zout.writestr(name, data)
        zout.writestr("manifest.json", json.dumps(manifest))
    return out


def test_a_damaged_backup_changes_nothing(source, empty_target, tmp_path, cli):
    _, out = source
    folder, extra = empty_target
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(out) as zin, zipfile.ZipFile(damaged, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            zout.writestr(name, data.replace(b"boss@example.com", b"evil@example.com")
                          if name == "db/lr_users.jsonl" else data)
    done = cli("restore", damaged, "--workspace", folder, "--instance", folder / "instance",
               *extra)
    assert done.exit_code == 1
    assert "db/lr_users.jsonl is damaged" in done.output and "nothing was changed" in done.output
    assert not folder.exists()
    checked = cli("restore", damaged, "--verify-only")
    assert checked.exit_code == 1 and "damaged" in checked.output
    sound = cli("restore", out, "--verify-only")
    assert sound.exit_code == 0 and "is sound" in sound.output, sound.output


def test_a_restore_that_fails_half_way_leaves_nothing(source, empty_target, tmp_path, cli):
    _, out = source
    folder, extra = empty_target
    # the first account twice: the checksums agree, the database refuses the second
    twice = rewrite(out, tmp_path / "twice.zip", "db/lr_users.jsonl",
                    lambda data: data + data.splitlines(keepends=True)[0])
    done = cli("restore", twice, "--workspace", folder, "--instance", folder / "instance",
               *extra)
    assert done.exit_code == 1 and "lr_users could not be restored" in done.output
    assert not folder.exists()
    assert not any("restoring" in p.name for p in tmp_path.iterdir())
    if extra:
        engine = create_engine(extra[1], poolclass=sa.NullPool)
        with engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == []
        engine.dispose()
    done = cli("restore", out, "--workspace", folder, "--instance", folder / "instance", *extra)
    assert done.exit_code == 0, done.output
