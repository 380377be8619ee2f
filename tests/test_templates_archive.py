"""Exporting a workspace as a template archive and importing it elsewhere: the YAML checked
as `lowrise check` does, the records loaded with new ids and every link still pointing at the
same record, never over an existing folder or database."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from conftest import fresh_database
from lowrise.actor import SYSTEM, Actor
from lowrise.cli import main
from lowrise.fields.file import FileUpload
from lowrise.seed import seed
from lowrise.storage.db import create_engine
from lowrise.storage.files import FileStore
from lowrise.storage.migrate import apply, plan
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.template_archive import (
    ArchiveError,
    export_template,
    import_template,
    open_archive,
)
from lowrise.templates import TargetNotEmpty, clone, workspace_files
from lowrise.workspace import WorkspaceError, load_workspace

ADMIN = SYSTEM  # the templates declare permissions: set-up writes are the system's


def migrated(url: str, ws, files: Path | None = None) -> Records:
    engine = create_engine(url, poolclass=sa.NullPool)
    schema = build_schema(ws)
    with engine.connect() as conn:
        apply(engine, plan(conn, schema))
    return Records(engine, schema, files=FileStore(files) if files else None)


@pytest.fixture
def second_url(db_url, tmp_path):
    """Another empty database of the same kind as db_url, to import into."""
    with fresh_database("sqlite" if db_url.startswith("sqlite") else "postgresql",
                        tmp_path / "imported") as url:
        yield url


@pytest.fixture
def desk(tmp_path, db_url):
    """A service desk workspace with demo data, a self-link, a record made by a user and an
    attached file."""
    folder = clone("service_desk", tmp_path / "desk")
    ws = load_workspace(folder)
    records = migrated(db_url, ws, tmp_path / "desk-files")
    seed(records, scale=0.05, seed_value=11)
    staff = [r["id"] for r in records.bulk_create("staff", [
        {"name": "Boss", "role": "supervisor"}, {"name": "Worker", "role": "technician"}],
        ADMIN)]
    records.update("staff", staff[1], {"manager": staff[0]}, ADMIN)
    product = records.create("product", {
        "name": "Manual test", "model_no": "ZZ-0001", "category": "kitchen",
        "manual": [FileUpload("manual.pdf", b"%PDF-1.4 a manual", "application/pdf")]},
        Actor(user=staff[0], name="Boss", roles=frozenset({"supervisor"})))
    yield ws, records, staff, product
    records.engine.dispose()


def rows(records: Records, type_name: str) -> list[dict]:
    with records.engine.connect() as conn:
        t = records.schema.table(type_name)
        return [dict(r) for r in conn.execute(sa.select(t).order_by(t.c.id)).mappings()]


def test_export_then_import_with_data_keeps_counts_links_and_numbers(desk, second_url,
                                                                     tmp_path):
    ws, source, staff, product = desk
    out = tmp_path / "desk.zip"
    manifest = export_template(ws, out, records=source, with_data=True)
    assert manifest.records == {n: len(rows(source, n)) for n in ws.record_types}
    result = import_template(out, tmp_path / "copy", database_url=second_url)
    assert result.records == manifest.records and not result.warnings
    copy_ws = load_workspace(tmp_path / "copy")
    target = migrated(second_url, copy_ws, tmp_path / "copy" / "instance" / "uploads")
    try:
        new_id = {}  # records are loaded in id order: the n-th old record is the n-th new one
        for name in ws.record_types:
            new_id[name] = {b["id"]: a["id"] for b, a in
                            zip(rows(source, name), rows(target, name), strict=True)}
        for rt in ws.record_types.values():
            before, after = rows(source, rt.name), rows(target, rt.name)
            # every value is the same but the id, the links (new ids) and the version (a
            # loaded record starts again at 1: it has no history here)
            for b, a in zip(before, after, strict=True):
                for f in rt.fields.values():
                    if f.type in ("link", "user") and f.target and b[f.name] is not None:
                        assert a[f.name] == new_id[f.target][b[f.name]], (rt.name, f.name)
                    elif f.name not in ("id", "version") and f.type not in ("link", "user"):
                        assert a[f.name] == b[f.name], (rt.name, f.name)
        moved = target.get("staff", new_id["staff"][staff[1]])
        assert moved["manager"] == new_id["staff"][staff[0]]
        copied = target.get("product", new_id["product"][product["id"]])
        assert copied["created_by"] == new_id["staff"][staff[0]]
        key = copied["manual"][0]["key"]
        assert target.files.path(key).read_bytes() == b"%PDF-1.4 a manual"
        # numbering goes on after the highest imported number
        t = target.create("ticket", {"subject": "new", "customer": rows(target, "customer")[0]
                                     ["id"]}, ADMIN)
        numbers = [r["ticket_no"] for r in rows(target, "ticket")]
        assert t["ticket_no"] == max(numbers) and numbers.count(t["ticket_no"]) == 1
    finally:
        target.engine.dispose()


def test_export_without_data_imports_an_empty_migrated_workspace(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    ws = load_workspace(clone("project_tracker", tmp_path / "pt"))
    out = tmp_path / "pt.zip"
    manifest = export_template(ws, out)
    assert not manifest.with_data and manifest.records == {}
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
    assert "manifest.json" in names and "workspace/schemas/task.yaml" in names
    assert not any(n.startswith("data/") for n in names)
    result = import_template(out, tmp_path / "again")
    assert result.database_url.endswith("again/instance/lowrise.db")
    assert workspace_files(tmp_path / "again") == workspace_files(tmp_path / "pt")
    engine = create_engine(result.database_url)
    assert {"task", "milestone", "lr_audit"} <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_import_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    ws = load_workspace(clone("service_desk", tmp_path / "desk"))
    out = tmp_path / "desk.zip"
    export_template(ws, out)
    with pytest.raises(TargetNotEmpty):
        export_template(ws, out)  # nor does export overwrite a file
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(TargetNotEmpty):
        import_template(out, tmp_path / "busy")
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]
    instance = tmp_path / "inst"
    instance.mkdir()
    (instance / "lowrise.db").write_bytes(b"")
    with pytest.raises(TargetNotEmpty, match="already has a database"):
        import_template(out, tmp_path / "fresh", instance=instance)
    assert not (tmp_path / "fresh").exists()


def test_import_refuses_a_database_that_already_has_the_tables(desk, tmp_path, db_url):
    ws, source, *_ = desk
    out = tmp_path / "desk.zip"
    export_template(ws, out, records=source, with_data=True)
    with pytest.raises(TargetNotEmpty, match="already has tables"):
        import_template(out, tmp_path / "copy", database_url=db_url)
    assert not (tmp_path / "copy").exists()


def _rezip(src: Path, dest: Path, change) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        items = {n: zin.read(n) for n in zin.namelist()}
        for name, data in change(items).items():
            zout.writestr(name, data)
    return dest


def test_an_archive_with_broken_yaml_is_refused_with_file_and_line(tmp_path):
    ws = load_workspace(clone("service_desk", tmp_path / "desk"))
    good = tmp_path / "good.zip"
    export_template(ws, good)

    def break_it(items):
        manifest = json.loads(items["manifest.json"])
        manifest["files"].pop("schemas/ticket.yaml")
        items["manifest.json"] = json.dumps(manifest)
        items["workspace/schemas/ticket.yaml"] = items["workspace/schemas/ticket.yaml"].replace(
            b"type: select", b"type: selct", 1)
        return items

    bad = _rezip(good, tmp_path / "bad.zip", break_it)
    with pytest.raises(WorkspaceError) as exc:
        import_template(bad, tmp_path / "copy")
    assert "schemas/ticket.yaml:" in str(exc.value) and "'selct'" in str(exc.value)
    assert not (tmp_path / "copy").exists()
    result = CliRunner().invoke(main, ["import-template", str(bad), str(tmp_path / "copy")])
    assert result.exit_code != 0 and "selct" in result.output


def test_damaged_or_foreign_archives_are_refused(tmp_path):
    ws = load_workspace(clone("service_desk", tmp_path / "desk"))
    good = tmp_path / "good.zip"
    export_template(ws, good)

    def tamper(items):
        items["workspace/views/tickets.yaml"] += b"\n# changed\n"
        return items

    with pytest.raises(ArchiveError, match="damaged"):
        open_archive(_rezip(good, tmp_path / "tampered.zip", tamper))

    def escape(items):
        items["workspace/../../evil.yaml"] = b"x: 1"
        return items

    with pytest.raises(ArchiveError, match="outside the workspace"):
        open_archive(_rezip(good, tmp_path / "escape.zip", escape))
    with pytest.raises(ArchiveError, match="not a Lowrise template"):
        open_archive(_rezip(good, tmp_path / "foreign.zip",
                            lambda items: {**items, "manifest.json": b"{}"}))
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(ArchiveError, match="not a readable"):
        open_archive(tmp_path / "junk.zip")
    assert not (tmp_path / "evil.yaml").exists()


def test_data_that_does_not_fit_names_the_record(desk, tmp_path, second_url):
    ws, source, *_ = desk
    good = tmp_path / "desk.zip"
    export_template(ws, good, records=source, with_data=True)

    def bad_value(items):
        lines = items["data/ticket.jsonl"].splitlines()
        first = json.loads(lines[0])
        first["priority"] = "whenever"
        lines[0] = json.dumps(first).encode()
        items["data/ticket.jsonl"] = b"\n".join(lines) + b"\n"
        return items

    bad = _rezip(good, tmp_path / "bad.zip", bad_value)
    with pytest.raises(ArchiveError, match=r"ticket #\d+: priority"):
        import_template(bad, tmp_path / "copy", database_url=second_url)


def test_export_and_import_from_the_cli(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["new", str(tmp_path / "pt"), "--template",
                                "project_tracker"]).exit_code == 0
    monkeypatch.chdir(tmp_path / "pt")
    assert runner.invoke(main, ["migrate", "--yes"]).exit_code == 0
    assert runner.invoke(main, ["seed", "--scale", "0.05"]).exit_code == 0
    out = runner.invoke(main, ["export-template", str(tmp_path / "pt.zip"), "--with-data"])
    assert out.exit_code == 0, out.output
    assert "records" in out.output
    monkeypatch.chdir(tmp_path)
    made = runner.invoke(main, ["import-template", "pt.zip", "copy"])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "copy" / "instance" / "lowrise.db").is_file()
    src = create_engine(f"sqlite:///{tmp_path / 'pt' / 'instance' / 'lowrise.db'}")
    dst = create_engine(f"sqlite:///{tmp_path / 'copy' / 'instance' / 'lowrise.db'}")
    for table in ("member", "project", "milestone", "task", "time_log"):
        with src.connect() as a, dst.connect() as b:
            count = f"SELECT count(*) FROM {table}"
            assert a.exec_driver_sql(count).scalar() == b.exec_driver_sql(count).scalar() > 0
    src.dispose()
    dst.dispose()
    again = runner.invoke(main, ["import-template", "pt.zip", "copy"])
    assert again.exit_code != 0 and "not empty" in again.output


def test_an_export_taken_while_people_work_imports_whole(desk, second_url, tmp_path,
                                                         monkeypatch):
    """The records are read in one snapshot: tickets created after the customers were read
    are not in the archive either (on PostgreSQL too, where reads default to READ COMMITTED)."""
    import threading
    import time

    from lowrise import template_archive

    ws, source, *_ = desk
    reads = template_archive._rows

    def slow_rows(*args):  # a pause before each type, so that the writers get in between
        time.sleep(0.1)
        yield from reads(*args)

    monkeypatch.setattr(template_archive, "_rows", slow_rows)
    stop, errors, made = threading.Event(), [], []

    def work():
        try:
            for i in range(10_000):
                if stop.is_set():
                    return
                c = source.create("customer", {"name": f"客户{i}", "phone": f"1390000{i:04d}"},
                                  ADMIN)
                source.create("ticket", {"subject": f"报修{i}", "customer": c["id"]}, ADMIN)
                made.append(c["id"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=work)
    writer.start()
    while len(made) < 3 and not errors:
        time.sleep(0.02)
    try:
        manifest = export_template(ws, tmp_path / "busy.zip", records=source, with_data=True)
    finally:
        stop.set()
        writer.join()
    assert not errors
    assert len(rows(source, "ticket")) > manifest.records["ticket"]  # writes went on meanwhile
    result = import_template(tmp_path / "busy.zip", tmp_path / "copy", database_url=second_url)
    assert result.records == manifest.records and not result.warnings


def test_an_export_with_a_link_to_nowhere_is_refused(desk, tmp_path):
    ws, source, staff, _ = desk
    tickets = rows(source, "ticket")
    # a link to a record in the trash is fine (the import leaves it empty, with a warning);
    # deleting a linked customer is refused here (on_delete: refuse), a link `keep` holds it
    customer = source.create("customer", {"name": "Gone", "phone": "13900009999"}, ADMIN)
    source.delete("customer", customer["id"], ADMIN)
    t = source.schema.table("ticket")
    with source.engine.begin() as conn:
        conn.execute(t.update().where(t.c.id == tickets[0]["id"]).values(customer=customer["id"]))
    export_template(ws, tmp_path / "ok.zip", records=source, with_data=True)
    # a link to a record that exists nowhere is refused, and nothing is written
    with source.engine.begin() as conn:
        conn.execute(t.update().where(t.c.id == tickets[1]["id"]).values(customer=999_999))
    with pytest.raises(ArchiveError, match=rf"ticket #{tickets[1]['id']}: customer points at "
                                           r"customer #999999"):
        export_template(ws, tmp_path / "bad.zip", records=source, with_data=True)
    assert not (tmp_path / "bad.zip").exists()
    assert not list(tmp_path.glob(".bad.zip*"))


def test_export_template_help_says_it_is_not_a_backup():
    out = CliRunner().invoke(main, ["export-template", "--help"])
    assert "not a backup" in out.output and "lowrise backup" in out.output
    for lost in ("accounts", "API tokens", "audit history", "comments", "timers", "trash"):
        assert lost in out.output.replace("\n  ", " ")
def _bomb(path: Path, members: dict[str, int], *, base: Path | None = None) -> Path:
    """An archive with `base`'s members plus members of so many zero bytes (which shrink
    about a thousand times), written a megabyte at a time."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        if base is not None:
            with zipfile.ZipFile(base) as zin:
                for name in zin.namelist():
                    zout.writestr(name, zin.read(name))
        for name, size in members.items():
            with zout.open(name, "w", force_zip64=True) as fh:
                for _ in range(size // (1 << 20)):
                    fh.write(bytes(1 << 20))
    return path


@pytest.fixture
def desk_zip(tmp_path):
    ws = load_workspace(clone("service_desk", tmp_path / "desk"))
    out = tmp_path / "desk.zip"
    export_template(ws, out)
    return out


def test_a_zip_bomb_in_the_workspace_is_refused_before_it_is_read(desk_zip, tmp_path):
    """A 200 MB member that zips to 200 KB: refused by its name, or by its size when it
    is named as YAML, with nothing read, decompressed or written."""
    import tracemalloc

    binary = _bomb(tmp_path / "bin.zip", {"workspace/schemas/big.bin": 200 << 20}, base=desk_zip)
    big_yaml = _bomb(tmp_path / "yaml.zip", {"workspace/schemas/big.yaml": 200 << 20},
                     base=desk_zip)
    assert binary.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError, match="not a YAML file"):
            import_template(binary, tmp_path / "copy")
        with pytest.raises(ArchiveError, match=r"is 200\.0 MB uncompressed; at most 4\.0 MB"):
            import_template(big_yaml, tmp_path / "copy")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20, peak
    assert not (tmp_path / "copy").exists()


def test_data_that_shrank_like_a_bomb_or_too_much_in_all_is_refused(desk_zip, tmp_path,
                                                                   monkeypatch):
    import lowrise.template_members as members

    squeezed = _bomb(tmp_path / "data.zip", {"data/ticket.jsonl": 8 << 20}, base=desk_zip)
    with pytest.raises(ArchiveError, match=r"data/ticket\.jsonl' shrank \d+ times"):
        open_archive(squeezed)
    monkeypatch.setattr(members, "MAX_TOTAL", 64 << 10)
    with pytest.raises(ArchiveError, match=r"the archive holds 0\.\d MB uncompressed"):
        open_archive(desk_zip)


def test_members_the_format_does_not_have_are_refused(desk_zip, tmp_path):
    for name in ("run.sh", "data/../x.jsonl", "files/not-a-checksum", "workspace/views/a.py"):
        bad = _rezip(desk_zip, tmp_path / "bad.zip", lambda items, n=name: {**items, n: b"x"})
        with pytest.raises(ArchiveError, match="archive member"):
            open_archive(bad)
    hidden = _rezip(desk_zip, tmp_path / "hidden.zip",
                    lambda items: {**items, "workspace/schemas/.DS_Store": b"\0\1"})
    assert "schemas/.DS_Store" not in open_archive(hidden).files  # skipped, as export does


def test_a_record_line_longer_than_the_limit_is_refused(desk, tmp_path, second_url,
                                                        monkeypatch):
    import lowrise.template_archive as archive

    ws, source, *_ = desk
    good = tmp_path / "desk.zip"
    export_template(ws, good, records=source, with_data=True)
    monkeypatch.setattr(archive, "MAX_LINE", 100)
    with pytest.raises(ArchiveError, match=r"\.jsonl line 1 is longer than"):
        import_template(good, tmp_path / "copy", database_url=second_url)
    assert not (tmp_path / "copy").exists()
