"""Signed and archived contracts are immutable (schemas/contract.yaml, `locked:`): on every
write path (a person's update, a bulk or import update, a rule acting as the system, a
delete) only the way on to archiving stays open; an administrator may still correct a
locked contract, and the history says who changed what; the signed file is kept with its
SHA-256 and cannot be replaced once archived, administrators neither. Both databases."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.errors import BulkValidationError, ValidationError
from lowrise.fields.file import FileUpload
from lowrise.i18n import tr
from lowrise.storage.files import FileStore
from lowrise.storage.upsert import bulk_write
from lowrise.workspace import load_workspace
from test_approvals_flagship import SYSTEM, Office

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def office(engine, tmp_path):
    o = Office(engine)
    o.records.files = FileStore(tmp_path / "files")
    return o


def _admin(office: Office) -> Actor:
    return Actor(user=None, name="管理员", roles=frozenset({"admin"}), locale="zh",
                 clock=office.li_.clock)


def _legal(office: Office) -> Actor:
    return office.person(office.fa, "法务小周", "legal")


def _signed(office: Office) -> int:
    rid = office.contract()
    office.submit(rid)
    office.decide(office.boss_)
    office.records.update("contract", rid, {"status": "signed", "signed_on": "2026-12-07"},
                          office.li_)
    return rid


def _archived(office: Office) -> int:
    rid = _signed(office)
    office.records.update("contract", rid, {
        "status": "archived", "archived_on": "2026-12-08", "archive_location": "档案室 A-01 柜",
        "signed_file": [FileUpload("签字版.pdf", PDF, "application/pdf")]}, _legal(office))
    return rid


def test_a_signed_contracts_terms_are_refused_to_everyone_but_an_admin(office):
    rid = _signed(office)
    for who in (office.li_, office.boss_, _legal(office)):
        with pytest.raises(ValidationError) as exc:
            office.records.update("contract", rid, {"amount": "1"}, who)
        assert tr(exc.value.errors["amount"], "zh") == (
            "合同已签约，已锁定：合同总价不能修改；只有系统管理员可以修改已锁定的记录")
        assert tr(exc.value.errors["amount"], "en") == (
            "Contract is Signed and locked: Contract amount cannot change; only "
            "Administrator may change a locked record")
    # a rule acting as the system is refused too
    with pytest.raises(ValidationError):
        office.records.update("contract", rid, {"discount": 9}, SYSTEM)
    assert office.get("contract", rid)["amount"] == 3250000
    # what archiving adds stays open (the online registration number too)
    office.records.update("contract", rid, {"registration_no": "YS2026120001"}, _legal(office))


def test_bulk_edits_imports_and_deletes_are_refused_as_well(office):
    rid = _signed(office)
    with pytest.raises(BulkValidationError) as exc:
        office.records.update_many("contract", [(rid, {"amount": "1"})], SYSTEM)
    assert "amount" in exc.value.rows[0]
    # an import that updates by key goes through the same check, automations or not
    with pytest.raises(BulkValidationError):
        bulk_write(office.records, "contract", [{"id": rid, "amount": "1"}], SYSTEM,
                   op="update", run_hooks=False)
    with pytest.raises(ValidationError) as exc:
        office.records.delete("contract", rid, _legal(office))
    assert tr(exc.value.errors[""], "zh") == "合同已签约，已锁定：只有系统管理员可以删除"
    assert office.get("contract", rid)["amount"] == 3250000


def test_archiving_needs_the_signed_file_and_keeps_its_sha256(office):
    rid = _signed(office)
    with pytest.raises(ValidationError) as exc:
        office.records.update("contract", rid, {"status": "archived",
                                                "archived_on": "2026-12-08"}, _legal(office))
    assert "归档前请上传签字版合同" in tr(exc.value.errors["signed_file"], "zh")
    rid = _archived(office)
    c = office.get("contract", rid)
    assert c["status"] == "archived"
    assert c["signed_file_sha256"] == hashlib.sha256(PDF).hexdigest()
    assert c["signed_file"][0]["key"] == c["signed_file_sha256"]


def test_an_archived_contract_changes_only_by_an_admin_audited_and_never_its_file(office):
    rid = _archived(office)
    with pytest.raises(ValidationError) as exc:
        office.records.update("contract", rid, {"archive_location": "B-03"}, _legal(office))
    assert tr(exc.value.errors["archive_location"], "zh") == (
        "合同已归档，已锁定：纸质档案位置不能修改；只有系统管理员可以修改已锁定的记录")
    admin = _admin(office)
    office.records.update("contract", rid, {"archive_location": "档案室 B-03 柜"}, admin)
    audit = office.records.schema.audit
    with office.engine.connect() as conn:
        last = conn.execute(sa.select(audit).where(
            audit.c.record_type == "contract", audit.c.record_id == rid)
            .order_by(audit.c.id.desc()).limit(1)).mappings().one()
    assert last["actor_name"] == "管理员"
    assert last["changes"]["archive_location"] == ["档案室 A-01 柜", "档案室 B-03 柜"]
    # the signed file is sealed: an administrator is refused too, and nobody deletes it
    with pytest.raises(ValidationError) as exc:
        office.records.update("contract", rid, {
            "signed_file": [FileUpload("另一份.pdf", PDF + b"x", "application/pdf")]}, admin)
    assert tr(exc.value.errors["signed_file"], "zh") == (
        "合同已归档后，签字版合同不能再修改，系统管理员也不例外")
    with pytest.raises(ValidationError):
        office.records.update("contract", rid, {"signed_file": None}, admin)
    with pytest.raises(ValidationError):
        office.records.delete("contract", rid, admin)
    assert office.get("contract", rid)["signed_file_sha256"] == hashlib.sha256(PDF).hexdigest()


def test_check_refuses_a_lock_or_a_same_as_on_what_the_type_does_not_have(tmp_path):
    from shutil import copytree

    from lowrise.workspace.loader import WorkspaceError
    from test_approvals_flagship import ROOT

    ws = tmp_path / "ws"
    copytree(ROOT, ws, ignore=lambda d, names: [n for n in names if n in (
        ".venv", ".git", "tests", "platform", "bench", "docs", "deploy")])
    path = ws / "schemas" / "contract.yaml"
    text = path.read_text("utf-8").replace("      open: [status, registration_no",
                                           "      open: [statuss, registration_no")
    text = text.replace("    archived:\n      sealed", "    archivd:\n      sealed")
    text = text.replace("same_as: case.client", "same_as: case.consultant")
    text = text.replace("same_as: case.unit", "same_as: kind.unit")
    path.write_text(text.replace("  by: [admin]", "  by: [boss]"), "utf-8")
    with pytest.raises(WorkspaceError) as exc:
        load_workspace(ws)
    said = str(exc.value)
    assert "statuss" in said and "'archivd' is not an option of status" in said
    assert "'boss' is not a role" in said
    assert "'consultant' of case is not a link to client" in said
    assert "'kind' is not another link field of contract" in said
