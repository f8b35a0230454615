"""Another system (a CRM, a call-centre application) that knows Vool only by its
published interface: VoolClient (services/common/client.py) and the models of the
services' api.py. It signs a contract, submits readings and gets typed answers and
typed refusals back, with the real services running on the real broker.

Only the ``system`` fixture knows the services' classes (it starts them); the
tests themselves use nothing but the client, the api modules and the errors."""
import uuid
from datetime import date, timedelta

import pytest

from services.billing.service import BillingService
from services.common.client import VoolClient
from services.common.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from services.contracts import api as contracts
from services.contracts.service import ContractsService
from services.metering import api as metering
from services.metering.service import MeteringService
from tests.conftest import wait_for
from tests.samples import GRANDMOTHER, eic_code

TODAY = date.today()
START = TODAY - timedelta(days=40)


@pytest.fixture
def system(run_services):
    # contracts asks billing for the tariff plan; metering learns the meter from
    # contracts' contract_signed
    run_services(ContractsService, MeteringService, BillingService)


@pytest.fixture
def vool(config):
    with VoolClient(config["AMQP_URI"], timeout=10) as client:
        yield client


def new_contract(n):
    return contracts.SignContract(
        person_code=GRANDMOTHER, name="Õie Mäger",
        contact={"postal_address": "Pärnu mnt 1, Tallinn", "email": "oie@example.ee"},
        consumption_point={
            "eic": eic_code(n), "address": f"Rapla mnt {n}, Rapla",
            "meter": {"serial": f"CRM{n:06d}", "registers": [{"code": "T1", "digits": 6}]}},
        tariff_plan="BASIC", reading_day=15, start_date=START,
        initial_readings={"T1": 1000})


def sign_and_wait(vool, n):
    signed = vool.call(contracts.sign_contract, new_contract(n))
    # metering copies the meter from contract_signed, asynchronously
    wait_for(lambda: known_to_metering(vool, signed.consumption_point_id), timeout=15,
             message="metering to learn the meter")
    return signed


def known_to_metering(vool, point_id):
    try:
        return vool.call(metering.list_readings, point_id)
    except NotFound:
        return None


def reading(point_id, kwh, day=TODAY - timedelta(days=1), key=None):
    return metering.SubmitReading(
        consumption_point_id=point_id, reading_date=day, registers={"T1": kwh},
        source="import", submitted_by="crm", idempotency_key=key)


def test_another_system_signs_a_contract_and_submits_a_reading(system, vool):
    signed = sign_and_wait(vool, 901)
    assert isinstance(signed, contracts.SignedContract)
    assert signed.contract_no and signed.customer_id and signed.reference_no

    receipt = vool.call(metering.submit_reading, reading(signed.consumption_point_id, 1250))
    assert isinstance(receipt, metering.ReadingReceipt)
    assert receipt.status == "accepted"
    assert receipt.consumption == {"T1": 250}
    assert isinstance(receipt.next_reading_due, date) and receipt.next_reading_due > TODAY

    history = vool.call(metering.list_readings, consumption_point_id=signed.consumption_point_id)
    assert all(isinstance(r, metering.Reading) for r in history)
    assert [(r.reading_id, r.registers, r.source) for r in history] == [
        (receipt.reading_id, {"T1": 1250}, "import"), (history[1].reading_id, {"T1": 1000},
                                                       "initial")]


def test_an_invalid_call_fails_in_the_caller_before_anything_travels(config):
    # no service runs yet: had these calls travelled, they would have come back as
    # ServiceUnavailable (as the last one does)
    with VoolClient(config["AMQP_URI"], timeout=2) as vool:
        with pytest.raises(ValidationFailed) as bad_date:
            vool.call(metering.submit_reading, {
                "consumption_point_id": str(uuid.uuid4()), "reading_date": "2026-13-01",
                "registers": {"T1": 1}})
        assert [e["field"] for e in bad_date.value.errors] == ["reading_date"]

        with pytest.raises(ValidationFailed) as bad_person:
            vool.call(contracts.sign_contract, {
                **new_contract(902).model_dump(mode="json"), "person_code": "12345678901"})
        assert [e["field"] for e in bad_person.value.errors] == ["person_code"]

        with pytest.raises(ValidationFailed) as unknown:
            vool.call(metering.list_readings, str(uuid.uuid4()), colour="red")
        assert [e["field"] for e in unknown.value.errors] == ["colour"]

        # a valid call does travel, and with nobody there it is ServiceUnavailable
        with pytest.raises(ServiceUnavailable, match="metering is not running"):
            vool.call(metering.list_readings, str(uuid.uuid4()))


def test_an_unknown_consumption_point_is_not_found(system, vool):
    with pytest.raises(NotFound):
        vool.call(metering.submit_reading, reading(str(uuid.uuid4()), 1250))
    with pytest.raises(NotFound):
        vool.call(metering.list_readings, str(uuid.uuid4()))


def test_a_reused_idempotency_key_answers_again_or_conflicts(system, vool):
    point = sign_and_wait(vool, 903).consumption_point_id
    first = vool.call(metering.submit_reading, reading(point, 1300, key="crm-4711"))
    # a retry of the same reading (a lost answer) gets the first answer again
    again = vool.call(metering.submit_reading, reading(point, 1300, key="crm-4711"))
    assert again == first

    with pytest.raises(Conflict):
        vool.call(metering.submit_reading, reading(point, 1301, key="crm-4711"))
    assert len(vool.call(metering.list_readings, point)) == 2   # the initial and the first


def test_a_refusal_of_the_service_comes_back_typed_naming_the_field(system, vool):
    point = sign_and_wait(vool, 904).consumption_point_id
    # valid as a model, but this meter has no T9 register: only metering knows that
    with pytest.raises(ValidationFailed) as refused:
        vool.call(metering.submit_reading, metering.SubmitReading(
            consumption_point_id=point, reading_date=TODAY - timedelta(days=1),
            registers={"T9": 5}, source="import", submitted_by="crm"))
    assert refused.value.errors == [
        {"field": "registers.T9", "message": "this meter has no such register"},
        {"field": "registers.T1", "message": "a value is required for every register"}]


def test_a_service_that_stopped_answering_is_unavailable(run_services, config):
    # its queue stays on the broker (durable), nobody takes the call from it
    run_services(MeteringService).kill()
    with VoolClient(config["AMQP_URI"], timeout=1) as vool:
        with pytest.raises(ServiceUnavailable, match="metering did not answer within 1 s"):
            vool.call(metering.health)
