"""A contract takes its case's client and unit (`same_as: case.client`, `case.unit`): given
only its case, it takes them (one by one and in bulk); a
contract naming another buyer or unit than its case is refused on create, on update and in
bulk, in the reader's words and without naming any record; the case page's "+ New" contract
fills them. Both databases."""

from __future__ import annotations

import pytest

from lowrise.errors import BulkValidationError, ValidationError
from lowrise.i18n import tr
from test_approvals_flagship import SYSTEM, Office


@pytest.fixture
def office(engine):
    return Office(engine)


def _other_client_and_unit(office: Office) -> tuple[int, int]:
    client = office.mk("client", name="王芳", phone="13900001111", source="walk_in",
                       consultant=office.li)["id"]
    unit = office.mk("property", project="锦绣花园", building="3栋", unit_no="1901",
                     list_price="3500000", status="available", layout="3br",
                     gross_area="125.00")["id"]
    return client, unit


def test_a_contract_names_its_cases_client_and_unit(office):
    client, unit = _other_client_and_unit(office)
    with pytest.raises(ValidationError) as exc:
        office.contract(client=client, unit=unit)
    assert tr(exc.value.errors["client"], "zh") == "买受人必须是所属销售案件的客户"
    assert tr(exc.value.errors["unit"], "zh") == "房源必须是所属销售案件的意向房源"
    assert tr(exc.value.errors["client"], "en") == (
        "Buyer must be the Client of the Sales case it belongs to")
    rid = office.contract()  # the case's own
    with pytest.raises(ValidationError) as exc:
        office.records.update("contract", rid, {"unit": unit}, office.li_)
    assert set(exc.value.errors) == {"unit"}
    with pytest.raises(BulkValidationError):
        office.records.update_many("contract", [(rid, {"client": client})], office.boss_)
    # moving the contract to another case of another client needs that client too
    other = office.mk("case", client=client, unit=unit, consultant=office.li,
                      stage="negotiation", opened_on="2026-11-01")["id"]
    with pytest.raises(ValidationError) as exc:
        office.records.update("contract", rid, {"case": other}, office.li_)
    assert set(exc.value.errors) == {"client", "unit"}
    office.records.update("contract", rid, {"case": other, "client": client, "unit": unit},
                          office.li_)


def test_a_case_without_a_unit_yet_takes_any(office):
    _, unit = _other_client_and_unit(office)
    case = office.mk("case", client=office.client, consultant=office.li, stage="lead",
                     opened_on="2026-11-01")["id"]
    office.contract(case=case, unit=unit)


def test_a_contract_given_only_its_case_takes_the_cases_client_and_unit(office):
    made = office.records.create("contract", {
        "kind": "sale", "case": office.case, "amount": "3250000",
        "payment_method": "mortgage"}, office.li_)
    assert (made["client"], made["unit"]) == (office.client, office.unit)
    # a case without a unit: the unit is still required
    case = office.mk("case", client=office.client, consultant=office.li, stage="lead",
                     opened_on="2026-11-01")["id"]
    with pytest.raises(ValidationError) as exc:
        office.records.create("contract", {"kind": "sale", "case": case, "amount": "1",
                                           "payment_method": "full"}, office.li_)
    assert set(exc.value.errors) == {"unit"}
    # in bulk (an import) each row takes its own case's
    rows = office.records.bulk_create("contract", [
        {"kind": "sale", "case": office.case, "amount": "1", "payment_method": "full"},
        {"kind": "sale", "case": case, "unit": office.unit, "amount": "1",
         "payment_method": "full"}], SYSTEM)
    assert [r["client"] for r in rows] == [office.client, office.client]
