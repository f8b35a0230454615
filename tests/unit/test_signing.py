"""Signing a contract: validation names the field; the rows and the event are
written together."""
import copy

import pytest

from services.common.errors import Conflict, ServiceUnavailable, ValidationFailed
from services.common.validation import parse
from services.contracts import demo, signing, tariff_plans
from services.contracts.api import SignContract
from services.contracts.models import DEFAULT_TARIFF_PLANS, metadata
from tests.samples import GRANDMOTHER, contract_command
from tests.unit.fakes import FakeDatabase


def invalid(command, path, value):
    command = copy.deepcopy(command)
    *parents, last = path
    target = command
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return command


@pytest.mark.parametrize("path, value, field", [
    (("person_code",), "37605030290", "person_code"),
    (("person_code",), "hello", "person_code"),
    (("name",), "", "name"),
    (("consumption_point", "eic"), "38ZEE-00000001-A", "consumption_point.eic"),
    (("consumption_point", "address"), KeyError, "consumption_point.address"),
    (("consumption_point", "meter", "registers"), [{"code": "T3", "digits": 6}],
     "consumption_point.meter.registers.0.code"),
    (("consumption_point", "meter", "registers"), [{"code": "T1", "digits": 3}],
     "consumption_point.meter.registers.0.digits"),
    (("consumption_point", "meter", "registers"), [{"code": "T1", "digits": 10}],
     "consumption_point.meter.registers.0.digits"),
    (("consumption_point", "meter", "registers"), [{"code": "T2", "digits": 6}],
     "consumption_point.meter.registers"),
    (("consumption_point", "meter", "registers"),
     [{"code": "T1", "digits": 6}, {"code": "T1", "digits": 6}],
     "consumption_point.meter.registers"),
    (("reading_day",), 0, "reading_day"),
    (("reading_day",), 29, "reading_day"),
    (("start_date",), "2026-02-30", "start_date"),
    (("contact", "language"), "fi", "contact.language"),
    (("initial_readings",), {"T1": -1}, "initial_readings.T1"),
    (("initial_readings",), {"T1": 1_000_000}, "initial_readings.T1"),
    (("initial_readings",), {}, "initial_readings.T1"),
    (("initial_readings",), {"T1": 5, "T2": 5}, "initial_readings.T2"),
    (("initial_readings",), {"T1": "lots"}, "initial_readings.T1"),
    (("surprise",), 1, "surprise"),
])
def test_each_invalid_field_is_named(path, value, field):
    with pytest.raises(ValidationFailed) as refused:
        parse(SignContract, invalid(contract_command(n=1), path, value))
    assert field in [e["field"] for e in refused.value.errors], refused.value.errors


def test_signing_writes_the_contract_and_emits_contract_signed():
    db = FakeDatabase(metadata, "contracts")
    command = parse(SignContract, contract_command(n=7, registers=("T1", "T2"),
                                                           initial={"T1": 10, "T2": 20}))
    with db.unit_of_work() as uow:
        signed = signing.sign_contract(uow, command)
    assert signed["contract_no"] == "VL-000001"
    assert signed["reference_no"] == "1000012"   # 100001 + its 7-3-1 check digit
    [event] = db.events("contract_signed")
    assert event["data"]["person_code"] == GRANDMOTHER
    assert event["data"]["meter"]["registers"] == [{"code": "T1", "digits": 6},
                                                   {"code": "T2", "digits": 6}]
    assert event["data"]["initial_readings"] == {"T1": 10, "T2": 20}

    with db.unit_of_work() as uow:
        second = signing.sign_contract(uow, parse(SignContract, contract_command(n=8)))
    assert second["customer_id"] == signed["customer_id"]   # the same person, one customer
    assert second["contract_no"] == "VL-000002"


def test_a_consumption_point_is_signed_once():
    db = FakeDatabase(metadata, "contracts")
    with db.unit_of_work() as uow:
        signing.sign_contract(uow, parse(SignContract, contract_command(n=9)))
    with pytest.raises(Conflict) as refused, db.unit_of_work() as uow:
        signing.sign_contract(uow, parse(SignContract, contract_command(n=9)))
    assert refused.value.errors[0]["field"] == "consumption_point.eic"
    assert len(db.events("contract_signed")) == 1   # the refused one emitted nothing


def test_a_contract_on_a_plan_billing_lacks_is_refused_naming_tariff_plan():
    db = FakeDatabase(metadata, "contracts")
    asked = []

    def billing():
        asked.append(True)
        return ["BASIC", "DAYNIGHT", "GREEN"]

    command = parse(SignContract, contract_command(n=3, tariff_plan="GHOST"))
    tariff_plans.make_known(db, "GHOST", billing)
    with pytest.raises(ValidationFailed) as refused, db.unit_of_work() as uow:
        signing.sign_contract(uow, command)
    assert refused.value.errors == [{
        "field": "tariff_plan",
        "message": "billing has no tariff plan GHOST (it has BASIC, DAYNIGHT, GREEN)"}]
    assert db.events("contract_signed") == []
    assert asked == [True]


def test_a_plan_known_here_asks_billing_nothing_and_one_learnt_is_kept():
    db = FakeDatabase(metadata, "contracts")

    def billing_down():
        raise ServiceUnavailable("the billing service is not running")

    # the plans billing starts with sign while billing is down (the demo, the samples)
    for n, plan in ((1, "BASIC"), (2, "DAYNIGHT")):
        tariff_plans.make_known(db, plan, billing_down)
        with db.unit_of_work() as uow:
            signing.sign_contract(uow, parse(SignContract,
                                             contract_command(n=n, tariff_plan=plan)))
    with pytest.raises(ServiceUnavailable):     # a plan not known here needs billing
        tariff_plans.make_known(db, "GREEN", billing_down)

    tariff_plans.make_known(db, "GREEN", lambda: ["BASIC", "DAYNIGHT", "GREEN"])
    tariff_plans.make_known(db, "GREEN", billing_down)     # kept: billing not asked again
    with db.unit_of_work() as uow:
        signing.sign_contract(uow, parse(SignContract,
                                         contract_command(n=3, tariff_plan="GREEN")))
    assert [e["data"]["tariff_plan"] for e in db.events("contract_signed")] == [
        "BASIC", "DAYNIGHT", "GREEN"]


def test_the_demo_signs_on_the_plans_billing_starts_with():
    db = FakeDatabase(metadata, "contracts")
    with db.unit_of_work() as uow:
        signed = demo.load_demo(uow)
    assert len(signed) == len(demo.DEMO_CONTRACTS) == 4
    assert {c["tariff_plan"] for c in demo.DEMO_CONTRACTS} <= set(DEFAULT_TARIFF_PLANS)
