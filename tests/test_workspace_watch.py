"""Editing the YAML while the server runs: picked up without a restart; a file with errors
leaves the last good workspace in use and says what is wrong."""

from __future__ import annotations

import os

import pytest

from lowrise.workspace import WorkspaceError
from lowrise.workspace.watch import WorkspaceSource, stamp

WORKSPACE = "label: Shop\nlocales: [en]\n"
CLIENT = "label: Client\nfields:\n  name: {type: text}\n"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def shop(tmp_path):
    (tmp_path / "schemas").mkdir()
    (tmp_path / "workspace.yaml").write_text(WORKSPACE)
    (tmp_path / "schemas" / "client.yaml").write_text(CLIENT)
    return tmp_path


def touch(path, text):
    path.write_text(text)
    st = path.stat()  # a new mtime even on file systems with coarse timestamps
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def test_a_changed_file_is_picked_up_without_a_restart(shop):
    clock = Clock()
    source = WorkspaceSource(shop, interval=1.0, clock=clock)
    first = source.get()
    assert list(first.record_types["client"].fields)[0] == "name"
    touch(shop / "schemas" / "client.yaml", CLIENT + "  phone: {type: phone}\n")
    assert source.get() is first  # not looked at again within the interval
    clock.now = 2
    second = source.get()
    assert "phone" in second.record_types["client"].fields
    assert source.generation == 1 and source.problems == []
    clock.now = 4
    assert source.get() is second  # nothing changed: the same workspace, not reloaded


def test_a_file_with_errors_keeps_the_last_good_workspace(shop):
    clock = Clock()
    source = WorkspaceSource(shop, interval=0, clock=clock)
    good = source.get()
    touch(shop / "schemas" / "client.yaml", CLIENT + "  phone: {type: phon}\n")
    assert source.get() is good
    assert [str(p) for p in source.problems] == [
        "schemas/client.yaml:4:17: fields.phone.type: 'phon' is not a field type; "
        "did you mean 'phone'?"]
    touch(shop / "schemas" / "client.yaml", CLIENT + "  phone: {type: phone}\n")
    fixed = source.get()
    assert "phone" in fixed.record_types["client"].fields and source.problems == []
    (shop / "views").mkdir()
    touch(shop / "views" / "clients.yaml", "type: table\nrecord_type: client\n")
    assert "clients" in source.get().views and source.generation == 2


def test_the_first_load_must_succeed(shop):
    (shop / "schemas" / "client.yaml").write_text("fields: 3\n")
    with pytest.raises(WorkspaceError):
        WorkspaceSource(shop)


def test_the_stamp_covers_the_workspace_files_only(shop):
    before = stamp(shop)
    assert [s[0] for s in before] == ["workspace.yaml", "schemas/client.yaml"]
    (shop / "notes.txt").write_text("not part of the workspace")
    (shop / "instance").mkdir()
    (shop / "instance" / "lowrise.db").write_bytes(b"x")
    assert stamp(shop) == before


def test_a_workspace_adopt_refuses_keeps_the_last_good_one(shop):
    from lowrise.workspace.watch import NotAdopted

    seen = []

    def adopt(ws):
        seen.append(ws)
        if "phone" in ws.record_types["client"].fields:
            raise NotAdopted(["the database says no"])

    source = WorkspaceSource(shop, interval=0, adopt=adopt)
    good = source.get()
    touch(shop / "schemas" / "client.yaml", CLIENT + "  phone: {type: phone}\n")
    assert source.get() is good and source.problems == ["the database says no"]
    assert len(seen) == 1 and source.get() is good and len(seen) == 1  # asked once a change
    assert source.refresh(force=True) is False and len(seen) == 2
    touch(shop / "schemas" / "client.yaml", CLIENT + "  email: {type: email}\n")
    assert "email" in source.get().record_types["client"].fields and source.problems == []


def test_replace_uses_a_workspace_loaded_from_the_texts_on_disk(shop):
    from lowrise.workspace import load_workspace_from_texts
    from lowrise.workspace.edit import read_texts

    source = WorkspaceSource(shop, interval=0)
    touch(shop / "schemas" / "client.yaml", CLIENT + "  phone: {type: phone}\n")
    texts = read_texts(shop)
    ws = load_workspace_from_texts(texts, root=shop)
    assert source.replace(ws, texts) and source.get() is ws and source.generation == 1
    stale = dict(texts, **{"schemas/client.yaml": CLIENT})  # not what the disk holds
    assert source.replace(load_workspace_from_texts(stale, root=shop), stale)
    assert source.get() is not ws and "phone" in source.get().record_types["client"].fields


def test_migrate_for_migrates_once_among_processes(shop, engine):
    from lowrise.storage.tables import build_schema
    from lowrise.workspace import load_workspace
    from lowrise.workspace.watch import migrate_for

    assert migrate_for(engine, build_schema(load_workspace(shop)), actor="first")
    assert migrate_for(engine, build_schema(load_workspace(shop))) == []  # the others
    touch(shop / "schemas" / "client.yaml", CLIENT + "  phone: {type: phone}\n")
    schema = build_schema(load_workspace(shop))
    assert "add column client.phone (phone)" in migrate_for(engine, schema, actor="reload")
    assert migrate_for(engine, schema) == []
