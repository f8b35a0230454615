"""Each event model accepts exactly what its publisher emits: the publishers' own
code paths run on in-memory databases (contracts signs, metering takes readings,
billing bills and is paid, identity grants mandates), every event they emit is
parsed with its model and comes back from it unchanged, and the consumers run on
the parsed data of the events before them."""
from datetime import date, datetime, timezone
from decimal import Decimal

import pydantic
import pytest

from services.billing import issued, overdue, payments, pricing, runs
from services.billing.api import InvoiceOverdue, PaymentReceived
from services.billing.models import tariff_components
from services.common.events import Event, MalformedEvent, parse_event
from services.common.validation import parse
from services.contracts import customers, linking, signing
from services.contracts.api import Claim, ContactChange, ClaimDecision, SignContract, Terminate
from services.contracts.models import metadata as contracts_metadata
from services.identity import api as identity_api
from services.identity import eligibility, mandates
from services.identity.models import metadata as identity_metadata
from services.metering import api, estimates, readings
from services.metering.models import metadata as metering_metadata
from services.metering.plausibility import Thresholds
from tests.event_samples import event_handlers, event_models, samples
from tests.samples import GRANDCHILD, contract_command
from tests.unit.fakes import FakeDatabase
from tests.unit.test_payments import billing_db

CONSUMED = sorted({(source, event_type) for _, _, source, event_type in event_handlers()})
NOW = datetime(2026, 2, 1, 9, tzinfo=timezone.utc)


def parsed(message):
    """The event's data through its publisher's model: the model, and the data."""
    event = parse_event(message)
    model = event_models(event.source)[event.event_type]
    payload = model.parse(event)
    assert payload.as_data() == event.data    # nothing lost, nothing reshaped
    return payload, event.data


def last(db, event_type):
    db.outbox.relay(grace_seconds=0)          # events built in SQL go out by the relay
    return parsed(db.events(event_type)[-1])


@pytest.fixture(scope="module")
def story():
    """What the publishers emitted, by event type: ``{event_type: data}``."""
    emitted = {}

    def keep(db, event_type):
        emitted[event_type] = last(db, event_type)[1]
        return emitted[event_type]

    contracts = FakeDatabase(contracts_metadata, "contracts")
    contracts.clock.set(NOW)
    with contracts.unit_of_work() as uow:
        signed = signing.sign_contract(uow, parse(SignContract,
                                                  contract_command(n=1, start_date="2026-01-15")))
    contract = keep(contracts, "contract_signed")
    with contracts.unit_of_work() as uow:
        other = signing.sign_contract(uow, parse(SignContract, contract_command(
            n=2, person_code=GRANDCHILD, name="Mari Mäger")))
        customers.change_contact(uow, signed["customer_id"],
                                 parse(ContactChange, {"email": "oie@vool.ee"}), "desk")
    keep(contracts, "contact_details_changed")
    claims = []
    for address in ("Narva mnt 99, Tallinn", "Narva mnt 2, Tallinn"):
        with contracts.unit_of_work() as uow:
            claims.append(linking.claim_point(uow, signed["customer_id"], parse(
                Claim, {"address": address, "note": "my mother's"}), "me"))
    keep(contracts, "consumption_point_claimed")
    with contracts.unit_of_work() as uow:
        linking.decide(uow, claims[0]["claim_id"], parse(ClaimDecision, {
            "approve": False, "reason": "not your meter"}), "desk")
        linking.decide(uow, claims[1]["claim_id"], parse(ClaimDecision, {
            "approve": True, "contract_no": other["contract_no"]}), "desk")
        signing.terminate_contract(uow, signed["contract_no"], Terminate(
            end_date=date(2026, 6, 30)), "operator:desk")
    for event_type in ("consumption_point_claim_rejected", "consumption_point_linked",
                       "contract_terminated"):
        keep(contracts, event_type)

    metering = FakeDatabase(metering_metadata, "metering")
    metering.clock.set(datetime(2026, 3, 1, 9, tzinfo=timezone.utc))
    with metering.unit_of_work() as uow:
        readings.register_meter(uow, contract, window_days=3)
    keep(metering, "reading_schedule_started")
    thresholds = Thresholds(typical_daily_kwh={"BASIC": 10})

    def submit(reading_date, value):
        with metering.unit_of_work() as uow:
            return readings.submit_reading(uow, parse(api.SubmitReading, {
                "consumption_point_id": contract["consumption_point_id"],
                "reading_date": reading_date, "registers": {"T1": value}}), 3, thresholds)
    submit("2026-02-15", 1300)
    reading = keep(metering, "reading_submitted")
    for value, accept in ((90000, False), (95000, True)):
        held = submit("2026-02-20", value)
        assert held["status"] == "held_for_review"
        keep(metering, "reading_held_for_review")
        with metering.unit_of_work() as uow:
            readings.decide(uow, held["reading_id"], api.ReviewDecision(
                accept=accept, reason=None if accept else "a typo"), "operator", 3)
    keep(metering, "reading_rejected")
    assert keep(metering, "reading_submitted")["released_from_review"] is True
    metering.clock.set(datetime(2026, 3, 19, 9, tzinfo=timezone.utc))
    assert estimates.estimate_all(metering.unit_of_work, date(2026, 3, 19), 3,
                                  thresholds) == {"readings_estimated": 1}
    estimated = keep(metering, "reading_estimated")
    settling = submit(estimated["reading_date"], 95001)    # far less than the estimate
    assert settling["status"] == "accepted"
    settled = parse_event(metering.events("reading_submitted")[-1]).data
    assert settled["settles_estimates"] == [estimated["reading_id"]]

    billing = billing_db()
    with billing.engine.begin() as conn:   # the reading is priced: BASIC's energy for T1
        conn.execute(tariff_components.insert().values(
            tariff_plan="BASIC", kind="energy", register="T1", price=Decimal("0.12"),
            valid_from=date(2024, 1, 1)))
    with billing.unit_of_work() as uow:
        runs.record_contract(uow, contract)
        assert pricing.charge_reading(uow, reading)      # a charge id: billed
    with billing.unit_of_work() as uow:
        runs.run(uow, "2026-04", due_days=14)
    issued.publish_pending(billing.engine, billing.published, billing.clock)
    invoice = keep(billing, "invoice_issued")
    with billing.unit_of_work() as uow:
        payments.receive(uow, [payments.Incoming(
            source="statement", external_id="statement:EE00:E1", amount=Decimal("1.00"),
            currency="EUR", received_on=date(2026, 5, 2), reference_no=invoice["reference_no"],
            payer_name="Õie Mäger")])
    keep(billing, "payment_received")
    with billing.unit_of_work() as uow:
        assert overdue.sweep(uow, date(2026, 6, 1))["invoices_overdue"] >= 1
    keep(billing, "invoice_overdue")
    # the estimate billed in May, taken back in June: June's invoice is a credit note
    for event_data, period in ((estimated, "2026-05"), (settled, "2026-06")):
        billing.clock.set(datetime(2026, int(period[-2:]) + 1, 1, 9, tzinfo=timezone.utc))
        with billing.unit_of_work() as uow:
            assert pricing.charge_reading(uow, event_data)
        with billing.unit_of_work() as uow:
            runs.run(uow, period, due_days=14)
    issued.publish_pending(billing.engine, billing.published, billing.clock)
    credit_note = keep(billing, "credit_note_issued")
    assert Decimal(credit_note["amount"]) > 0 and credit_note["period"] == "2026-06"

    identity = FakeDatabase(identity_metadata, "identity")
    identity.clock.set(datetime(2026, 5, 1, 9, tzinfo=timezone.utc))
    with identity.unit_of_work() as uow:
        eligibility.record_contract(uow, contract)
        eligibility.record_contract(uow, {**contract, "contract_no": "VL-2",
                                          "customer_id": "c-gc", "person_code": GRANDCHILD,
                                          "name": "Mari Mäger"})
    for until in (None, date(2026, 5, 20)):
        with identity.unit_of_work() as uow:
            made = mandates.grant(uow, contract["customer_id"], identity_api.MandateGrant(
                grantee_person_code=GRANDCHILD, scopes=["readings:write"],
                valid_until=until), "online", contract["person_code"])
        keep(identity, "mandate_granted")
        if until is None:
            with identity.unit_of_work() as uow:
                mandates.revoke(uow, contract["customer_id"], made["mandate_id"], "me")
            keep(identity, "mandate_revoked")
    with identity.unit_of_work() as uow:
        assert mandates.expire(uow, date(2026, 5, 21)) == 1
    keep(identity, "mandate_expired")
    return emitted


@pytest.mark.parametrize("source, event_type", CONSUMED)
def test_the_model_of_every_consumed_event_accepts_what_its_publisher_emits(
        story, source, event_type):
    model = event_models(source)[event_type]
    assert model.version == 1
    assert model.model_validate(story[event_type]).as_data() == story[event_type]
    # the integration tests' sample has the publisher's fields, no others
    assert set(samples()[event_type]) <= set(story[event_type])


def test_money_travels_as_text_and_is_a_decimal_once_parsed(story):
    late = InvoiceOverdue.model_validate(story["invoice_overdue"])
    assert isinstance(late.total, Decimal) and isinstance(late.due_on, date)
    for amount in (12.4, 12, "12.345", "twelve", "NaN"):
        with pytest.raises(pydantic.ValidationError) as refused:
            InvoiceOverdue.model_validate({**story["invoice_overdue"], "total": amount})
        assert [e["loc"] for e in refused.value.errors()] == [("total",)]
        assert "input_value" not in str(refused.value)  # inputs stay out of logs
    received = PaymentReceived.model_validate(story["payment_received"])
    assert received.as_data()["amount"] == "1.00"


def test_extra_fields_are_ignored_and_another_version_or_type_is_refused(story):
    model = event_models("contracts")["contract_signed"]
    data = {**story["contract_signed"], "added_later": {"by": "a newer publisher"}}
    event = Event("00000000-0000-4000-8000-000000000000", "contract_signed", NOW, 1,
                  "contracts", data)
    assert "added_later" not in model.data_of(event)
    with pytest.raises(MalformedEvent, match="version 2"):
        model.parse(Event(event.event_id, "contract_signed", NOW, 2, "contracts", data))
    with pytest.raises(MalformedEvent, match="not contract_signed"):
        model.parse(Event(event.event_id, "contract_terminated", NOW, 1, "contracts", data))

