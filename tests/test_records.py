"""The records service on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.errors import BulkValidationError, ConflictError, NotFound, ValidationError
from lowrise.fields.file import FileUpload
from lowrise.storage.files import FileStore
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts

WS = {
    "workspace.yaml": "label: Test\ndefault_locale: en\nlocales: [en, zh]\nusers: staff\n",
    "schemas/staff.yaml": """
fields:
  name: {type: text, required: true}
""",
    "schemas/client.yaml": """
label: {en: Client, zh: 客户}
fields:
  name: {type: text, required: true, max_length: 20}
  phone: {type: phone, unique: true}
  budget: {type: currency, min: 0}
  grade:
    type: select
    default: b
    options:
      - {value: a, label: {en: Top, zh: 优}}
      - b
  tags:
    type: multi_select
    options: [vip, investor, local]
  owner: {type: user}
  since: {type: date}
  met_at: {type: datetime}
  wait: {type: duration}
  active: {type: boolean, default: true}
  stars: {type: rating}
  share: {type: percent}
  email: {type: email}
  site: {type: url}
  notes: {type: long_text}
  code: {type: autonumber, pattern: "CL-{YYYY}-{0000}"}
  double_budget: {type: formula, expression: "budget * 2", result: decimal}
  greeting: {type: formula, expression: "concat('Hi ', name)", result: text}
  contract: {type: attachment, accept: [.pdf], max_size: 1000}
""",
    "schemas/deal.yaml": """
fields:
  client: {type: link, target: client, required: true, on_delete: keep}
  amount: {type: currency}
""",
}

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def records(engine, tmp_path):
    ws = load_workspace_from_texts(WS)
    schema = build_schema(ws)
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
    return Records(engine, schema, files=FileStore(tmp_path / "uploads"))


@pytest.fixture
def actor(records):
    staff = records.create("staff", {"name": "Wang Fang"}, Actor(name="setup", clock=lambda: NOW))
    return Actor(user=staff["id"], name="Wang Fang", clock=lambda: NOW)


def test_create_parses_every_type_and_fills_system_fields(records, actor):
    rec = records.create("client", {
        "name": " Li Lei ", "phone": "138 0013 8000", "budget": "1,234,567.89", "grade": "Top",
        "tags": "investor, vip", "owner": "me", "since": "2025-12-31", "met_at": "2026-02-01 10:00",
        "wait": "1h30m", "stars": 4, "share": "12.5%", "email": "LI@Example.com",
        "site": "example.com", "notes": "a\r\nb",
    }, actor)
    assert rec["name"] == "Li Lei"
    assert rec["phone"] == "13800138000"
    assert rec["budget"] == Decimal("1234567.89")
    assert rec["grade"] == "a"
    assert rec["tags"] == ["vip", "investor"]  # option order
    assert rec["owner"] == actor.user
    assert rec["since"] == date(2025, 12, 31)
    assert rec["wait"] == 5400
    assert rec["share"] == Decimal("12.50")
    assert rec["email"] == "li@example.com"
    assert rec["site"] == "https://example.com"
    assert rec["notes"] == "a\nb"
    assert rec["active"] is True  # default
    assert rec["code"] == "CL-2026-0001"
    assert rec["double_budget"] == Decimal("2469135.78")
    assert rec["greeting"] == "Hi Li Lei"
    assert (rec["version"], rec["created_by"], rec["created_at"]) == (1, actor.user, NOW)
    again = records.get("client", rec["id"])
    assert again == rec


def test_money_stays_exact_in_sums(records, actor, engine):
    for amount in ["0.10", "0.20", "0.30"] * 100:
        records.create("client", {"name": "x", "budget": amount}, actor)
    t = records.schema.table("client")
    with engine.connect() as c:
        total = c.execute(sa.select(sa.func.sum(t.c.budget))).scalar_one()
    assert Decimal(total) == Decimal("60.00")


def test_every_bad_value_is_named(records, actor):
    with pytest.raises(ValidationError) as err:
        records.create("client", {
            "name": "x" * 21, "budget": "-1", "grade": "z", "since": "31/12/2025",
            "email": "nope", "stars": 9, "owner": 999, "code": "X", "nope": 1,
        }, actor)
    e = err.value.errors
    assert e["name"] == "must be at most 20 characters (is 21)"
    assert e["budget"] == "must be at least ¥0.00" or e["budget"].startswith("must be at least")
    assert e["grade"] == "'z' is not one of the options (a, b)"
    assert "YYYY-MM-DD" in e["since"]
    assert "e-mail" in e["email"]
    assert e["stars"] == "must be between 0 and 5"
    assert e["owner"] == "there is no Staff #999"
    assert "automatically" in e["code"]
    assert "not a field" in e["nope"]
    with pytest.raises(ValidationError) as err:
        records.create("client", {}, actor)
    assert err.value.errors == {"name": "is required"}


def test_unique_values_are_refused_with_the_holder(records, actor):
    first = records.create("client", {"name": "a", "phone": "13800000001"}, actor)
    with pytest.raises(ValidationError) as err:
        records.create("client", {"name": "b", "phone": "138-0000-0001"}, actor)
    # named by its title (the record's id where it has none)
    assert err.value.errors["phone"] == ("'13800000001' is already used by Client 'a'; it "
                                         "must be unique")
    # updating a record to its own value is fine
    records.update("client", first["id"], {"phone": "13800000001", "name": "a2"}, actor)


def test_update_records_audit_and_refuses_stale_versions(records, actor):
    rec = records.create("client", {"name": "a", "budget": 100}, actor)
    updated = records.update("client", rec["id"], {"budget": "250.5"}, actor,
                             expected_version=1)
    assert updated["version"] == 2
    assert updated["double_budget"] == Decimal("501.00")
    with pytest.raises(ConflictError) as err:
        records.update("client", rec["id"], {"budget": 1}, actor, expected_version=1)
    assert err.value.current_version == 2
    assert records.get("client", rec["id"])["budget"] == Decimal("250.50")
    history = records.history("client", rec["id"])
    assert [h["action"] for h in history] == ["update", "create"]
    assert history[0]["changes"] == {"budget": ["100.00", "250.50"],
                                     "double_budget": ["200.00", "501.00"]}
    assert history[0]["actor"] == actor.user


def test_a_version_that_is_not_a_number_is_a_conflict_never_a_crash(records, actor):
    """A form's hidden version tampered with or lost ("abc", "", "1e3", a full-width digit)
    refuses the change with a message saying to reload; a number given as text is fine."""
    from lowrise.i18n import tr

    rec = records.create("client", {"name": "a"}, actor)
    for bad in ("abc", "", " ", "1e3", "-1", "１", "9" * 40, True):
        with pytest.raises(ConflictError) as err:
            records.update("client", rec["id"], {"name": "b"}, actor, expected_version=bad)
        assert "reload the record" in str(err.value)
        assert "没有任何内容被修改" in tr(err.value.message, "zh")
        with pytest.raises(ConflictError):
            records.delete("client", rec["id"], actor, expected_version=bad)
    assert records.get("client", rec["id"])["name"] == "a"
    assert records.update("client", rec["id"], {"name": "b"}, actor,
                          expected_version=" 1 ")["version"] == 2
    records.delete("client", rec["id"], actor, expected_version="2")


def test_an_update_that_changes_nothing_keeps_the_version(records, actor):
    rec = records.create("client", {"name": "a"}, actor)
    same = records.update("client", rec["id"], {"name": "a"}, actor)
    assert same["version"] == 1
    assert len(records.history("client", rec["id"])) == 1


def test_clearing_a_required_field_is_refused(records, actor):
    rec = records.create("client", {"name": "a"}, actor)
    with pytest.raises(ValidationError) as err:
        records.update("client", rec["id"], {"name": ""}, actor)
    assert err.value.errors == {"name": "is required"}


def test_delete_goes_to_trash_and_restore_brings_it_back(records, actor):
    client = records.create("client", {"name": "a", "phone": "13900000000", "tags": ["vip"],
                                       "budget": "10.5"}, actor)
    deal = records.create("deal", {"client": client["id"], "amount": 5}, actor)
    records.delete("client", client["id"], actor)
    with pytest.raises(NotFound):
        records.get("client", client["id"])
    assert records.trash("client")[0]["record_id"] == client["id"]
    assert records.get("deal", deal["id"])["client"] == client["id"]  # on_delete: keep
    restored = records.restore("client", client["id"], actor)
    assert restored["id"] == client["id"]
    assert restored["tags"] == ["vip"] and restored["budget"] == Decimal("10.50")
    assert restored["version"] == 2
    assert records.trash("client") == []
    assert [h["action"] for h in records.history("client", client["id"])] == [
        "restore", "delete", "create"]


def test_restore_refuses_when_a_unique_value_was_taken_meanwhile(records, actor):
    a = records.create("client", {"name": "a", "phone": "13900000000"}, actor)
    records.delete("client", a["id"], actor)
    records.create("client", {"name": "b", "phone": "13900000000"}, actor)
    with pytest.raises(ValidationError) as err:
        records.restore("client", a["id"], actor)
    assert "already used" in err.value.errors["phone"]
    assert records.trash("client")[0]["record_id"] == a["id"]


def test_bulk_create_is_all_or_nothing_with_errors_per_row(records, actor, engine):
    rows = [{"name": "ok"}, {"name": None}, {"name": "x", "phone": "13800000009"},
            {"name": "y", "phone": "13800000009"}]
    with pytest.raises(BulkValidationError) as err:
        records.bulk_create("client", rows, actor)
    assert set(err.value.rows) == {1, 3}
    with engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(
            records.schema.table("client"))).scalar_one() == 0
    made = records.bulk_create("client", [{"name": f"n{i}"} for i in range(2500)], actor,
                               batch_size=1000)
    assert len(made) == 2500
    assert made[-1]["code"] == "CL-2026-2500"
    assert len({m["id"] for m in made}) == 2500


def test_bulk_update_is_all_or_nothing(records, actor):
    a = records.create("client", {"name": "a"}, actor)
    b = records.create("client", {"name": "b"}, actor)
    with pytest.raises(BulkValidationError):
        records.bulk_update("client", [(a["id"], {"name": "a2"}), (b["id"], {"stars": 99})],
                            actor)
    assert records.get("client", a["id"])["name"] == "a"
    out = records.bulk_update("client", [(a["id"], {"name": "a2"}), (b["id"], {"stars": 3})],
                              actor)
    assert [r["version"] for r in out] == [2, 2]


def test_attachments_are_stored_and_limited(records, actor, tmp_path):
    rec = records.create("client", {"name": "a", "contract": FileUpload(
        "合同.pdf", b"%PDF-1.4 test", "application/pdf")}, actor)
    stored = rec["contract"][0]
    assert stored["name"] == "合同.pdf" and stored["size"] == 13
    assert records.files.open(stored["key"]).read() == b"%PDF-1.4 test"
    with pytest.raises(ValidationError) as err:
        records.create("client", {"name": "b", "contract": FileUpload("x.exe", b"MZ")}, actor)
    assert "not an allowed file type" in err.value.errors["contract"]
    with pytest.raises(ValidationError) as err:
        records.create("client", {"name": "b", "contract": FileUpload("x.pdf", b"0" * 2000)},
                       actor)
    assert "the limit is" in err.value.errors["contract"]


def test_hooks_run_inside_the_transaction_and_can_refuse(records, actor):
    seen = []

    def hook(conn, change, who, recs):
        seen.append((change.action, change.changed))
        if change.after and change.after.get("name") == "refuse me":
            raise ValidationError({"name": "refused by a rule"})

    records.hooks.append(hook)
    rec = records.create("client", {"name": "a"}, actor)
    with pytest.raises(ValidationError):
        records.update("client", rec["id"], {"name": "refuse me"}, actor)
    assert records.get("client", rec["id"])["name"] == "a"
    assert records.history("client", rec["id"])[0]["action"] == "create"  # no audit leaked
    assert seen[0][0] == "create" and seen[1] == ("update", ("name", "greeting"))


def test_an_id_is_never_reused_after_the_newest_record_is_deleted(records, actor):
    a = records.create("client", {"name": "a"}, actor)
    b = records.create("client", {"name": "b"}, actor)
    records.delete("client", b["id"], actor)
    c = records.create("client", {"name": "c"}, actor)
    assert c["id"] > b["id"] > a["id"]
    assert records.restore("client", b["id"], actor)["name"] == "b"
    more = records.bulk_create("client", [{"name": "d"}, {"name": "e"}], actor)
    assert [m["id"] for m in more] == [c["id"] + 1, c["id"] + 2]


def test_a_nul_character_is_refused_on_every_database(records, actor):
    with pytest.raises(ValidationError) as err:
        records.create("client", {"name": "a\x00b"}, actor)
    assert "NUL character" in err.value.errors["name"]


def _count(engine, table) -> int:
    with engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_one_bad_row_in_a_thousand_is_named_and_nothing_is_written(records, actor, engine):
    rows = [{"name": f"c{i}", "budget": "100", "since": "2025-01-02"} for i in range(1000)]
    rows[536]["budget"] = "lots"
    with pytest.raises(BulkValidationError) as err:
        records.bulk_create("client", rows, actor, batch_size=100)
    assert err.value.rows == {536: {"budget": "'lots' is not a number"}}  # row 537 of 1,000
    assert _count(engine, records.schema.table("client")) == 0
    assert _count(engine, records.schema.audit) == 1  # the staff member's, nothing else
    # The same bad value given again in other rows is refused in each of them.
    rows[10]["budget"] = rows[900]["budget"] = "lots"
    rows[20]["budget"] = "-1"
    with pytest.raises(BulkValidationError) as err:
        records.bulk_create("client", rows, actor)
    assert sorted(err.value.rows) == [10, 20, 536, 900]
    assert err.value.rows[20] == {"budget": "must be at least CN¥0.00"}


def test_bulk_unique_values_clash_within_the_batch_and_with_the_table(records, actor, engine):
    records.create("client", {"name": "held", "phone": "13800000001"}, actor)
    rows = [{"name": f"n{i}", "phone": f"139{i:08d}"} for i in range(300)]
    rows[5]["phone"] = "13800000001"  # already stored
    rows[250]["phone"] = rows[7]["phone"]  # twice in the batch
    with pytest.raises(BulkValidationError) as err:
        records.bulk_create("client", rows, actor)
    assert set(err.value.rows) == {5, 250}
    assert "already used by Client 'held'" in err.value.rows[5]["phone"]
    assert err.value.rows[250]["phone"] == ("'13900000007' is also given to row 8; "
                                            "it must be unique")
    assert _count(engine, records.schema.table("client")) == 1


def test_bulk_links_to_missing_records_are_refused(records, actor, engine):
    made = records.bulk_create("client", [{"name": f"n{i}"} for i in range(3)], actor)
    rows = [{"client": made[i % 3]["id"], "amount": "1"} for i in range(200)]
    rows[42]["client"] = 999_999
    rows[43]["client"] = {"id": made[0]["id"]}
    with pytest.raises(BulkValidationError) as err:
        records.bulk_create("deal", rows, actor)
    assert err.value.rows == {42: {"client": "there is no Client #999999"}}
    assert _count(engine, records.schema.table("deal")) == 0


def test_bulk_create_fills_every_system_field_and_audits_every_record(records, actor, engine):
    rows = [{"name": f"n{i}", "budget": str(i), "met_at": "2026-02-01 10:00",
             "tags": ["vip"] if i % 2 else "local, investor", "owner": "me"} for i in range(1500)]
    made = records.bulk_create("client", rows, actor, batch_size=400)
    ids = [m["id"] for m in made]
    assert ids == list(range(ids[0], ids[0] + 1500))
    assert [m["code"] for m in made[:2]] == ["CL-2026-0001", "CL-2026-0002"]
    assert made[-1]["code"] == "CL-2026-1500"
    last = made[-1]
    assert list(last) == list(records.schema.workspace.type("client").fields)
    assert (last["version"], last["created_by"], last["updated_by"], last["created_at"],
            last["updated_at"]) == (1, actor.user, actor.user, NOW, NOW)
    assert (last["grade"], last["active"], last["owner"]) == ("b", True, actor.user)
    assert last["double_budget"] == Decimal("2998.00")
    assert last["greeting"] == "Hi n1499"
    assert made[0]["tags"] == ["investor", "local"] and made[1]["tags"] == ["vip"]
    made[0]["tags"].append("changed")  # each record has its own list
    assert made[2]["tags"] == ["investor", "local"]
    for m in (made[0], made[777], last):
        assert records.get("client", m["id"]) == {**m, "tags": m["tags"][:2]}
    a = records.schema.audit
    with engine.connect() as c:
        entries = c.execute(sa.select(a).where(a.c.record_type == "client")
                            .order_by(a.c.id)).mappings().all()
    assert [e["record_id"] for e in entries] == ids
    first = entries[0]
    assert (first["action"], first["actor"], first["actor_name"], first["version"],
            first["changes"]) == ("create", actor.user, "Wang Fang", 1, None)
    assert first["at"] == NOW.replace(tzinfo=None) or first["at"] == NOW
    assert records.history("client", ids[3])[0]["action"] == "create"


def test_bulk_hooks_see_every_created_record_of_each_batch(records, actor):
    seen = []
    records.hooks.append(lambda conn, change, who, recs: seen.append(
        (change.action, change.record_id, change.after["name"], change.after["code"])))
    made = records.bulk_create("client", [{"name": f"n{i}"} for i in range(250)], actor,
                               batch_size=100)
    assert seen == [("create", m["id"], m["name"], m["code"]) for m in made]
    seen.clear()
    records.bulk_create("client", [{"name": "quiet"}], actor, run_hooks=False)
    assert seen == []


def _entries(records, rid):
    return [{k: h[k] for k in ("action", "actor", "actor_name", "at", "version", "changes")}
            for h in records.history("client", rid)]


def test_update_many_writes_and_audits_as_single_updates_do(records, actor):
    made = records.bulk_create("client", [{"name": n, "budget": 100} for n in "abcd"], actor)
    ids = [r["id"] for r in made]
    seen = []
    records.hooks.append(lambda conn, change, who, recs: seen.append(
        (change.record_id, change.action, change.changed, change.after["version"])))
    values = [{"budget": "250.5"}, {"name": "b2", "tags": ["vip"]}, {"name": "c"}]
    out = records.update_many("client", list(zip(ids[:3], values, strict=True)), actor)
    records.update("client", ids[3], values[0], actor)  # the same change, alone
    assert [r["version"] for r in out] == [2, 2, 1]  # "c" as it was: nothing to write
    assert out[0]["double_budget"] == Decimal("501.00") and out[1]["greeting"] == "Hi b2"
    for rid in ids[:3]:
        assert records.get("client", rid) == out[ids.index(rid)]
    assert _entries(records, ids[0]) == _entries(records, ids[3])
    assert _entries(records, ids[1])[0]["changes"] == {
        "name": ["b", "b2"], "tags": [None, ["vip"]], "greeting": ["Hi b", "Hi b2"]}
    assert len(records.history("client", ids[2])) == 1
    assert seen[:2] == [(ids[0], "update", ("budget", "double_budget"), 2),
                        (ids[1], "update", ("name", "tags", "greeting"), 2)]


def test_update_many_refuses_per_record_and_writes_nothing(records, actor):
    a, b, c = (records.create("client", {"name": n, "phone": p}, actor)
               for n, p in (("a", "13800000001"), ("b", "13800000002"), ("c", None)))
    deal = records.create("deal", {"client": a["id"]}, actor)
    with pytest.raises(BulkValidationError) as err:
        records.update_many("client", [(a["id"], {"name": "a2"}), (b["id"], {"stars": 99}),
                                       (999_999, {"name": "x"}),
                                       (c["id"], {"phone": "13800000001"}),
                                       (a["id"], {"notes": "twice"})], actor)
    rows = err.value.rows
    assert sorted(rows) == [1, 2, 3, 4]
    assert "stars" in rows[1] and "does not exist" in rows[2][""]
    assert "Client 'a'" in rows[3]["phone"] and "row 1" in rows[4][""]
    assert records.get("client", a["id"])["name"] == "a"
    assert len(records.history("client", a["id"])) == 1
    with pytest.raises(BulkValidationError) as err:
        records.update_many("deal", [(deal["id"], {"client": 999_999})], actor)
    assert "no Client #999999" in err.value.rows[0]["client"]


def test_update_many_takes_the_callers_rows_and_refuses_a_stale_one(records, actor, engine):
    a = records.create("client", {"name": "a"}, actor)
    b = records.create("client", {"name": "b"}, actor)
    with engine.begin() as conn:  # read in the caller's transaction, handed over
        held = {r["id"]: r for r in (records.get("client", i, conn=conn, for_update=True)
                                     for i in (a["id"], b["id"]))}
        out = records.update_many("client", [(a["id"], {"name": "a2"}),
                                             (b["id"], {"name": "b2"})],
                                  actor, conn=conn, current=held)
    assert [r["version"] for r in out] == [2, 2]
    assert records.get("client", b["id"])["name"] == "b2"
    # a record changed since the caller read it: the version check refuses it, and the
    # transaction (records' own here) writes nothing of the others either
    with pytest.raises(ConflictError):
        records.update_many("client", [(b["id"], {"name": "b3"}), (a["id"], {"name": "a3"})],
                            actor, current={a["id"]: a})
    assert records.get("client", b["id"])["name"] == "b2"
    assert records.get("client", a["id"])["version"] == 2
