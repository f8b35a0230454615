"""What the bus must never do: lose a message, handle one twice, or let a bad
message stop a service. Messages are injected and observed with pika."""
import json
import time
import uuid

import pytest
import requests
import sqlalchemy as sa
from nameko.exceptions import IncorrectSignature

from services import bustools
from services.billing import pricing
from services.billing.service import BillingService
from services.common.errors import NotFound, ValidationFailed
from services.common.outbox import Outbox
from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from services.notifications.service import NotificationsService
from tests.conftest import wait_for
from tests.samples import contract_command

BILLING_QUEUE = "evt-metering-reading_submitted--billing.on_reading_submitted"
DEAD_LETTERS = BILLING_QUEUE + ".dead-letter"


def reading_submitted(reading_id=None, event_id=None, tariff_plan="BASIC", kwh=100):
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": "reading_submitted",
        "occurred_at": "2026-02-15T10:00:00+00:00",
        "version": 1,
        "source": "metering",
        "data": {
            "reading_id": reading_id or str(uuid.uuid4()),
            "consumption_point_id": str(uuid.uuid4()),
            "contract_no": "VL-000001",
            "customer_id": str(uuid.uuid4()),
            "tariff_plan": tariff_plan,
            "reading_date": "2026-02-15",
            "previous_reading_date": "2026-01-15",
            "registers": {"T1": 1000 + kwh},
            "consumption": {"T1": kwh},
            "next_reading_due": "2026-03-15",
        },
    }


def charge_count(database_urls, reading_id=None):
    engine = sa.create_engine(database_urls["billing"])
    try:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM charges"
            if reading_id:
                return conn.execute(sa.text(query + " WHERE reading_id = :r"),
                                    {"r": reading_id}).scalar()
            return conn.execute(sa.text(query)).scalar()
    finally:
        engine.dispose()


def test_an_event_delivered_twice_is_charged_once(run_services, rpc, bus, database_urls):
    run_services(BillingService)
    event = reading_submitted()
    bus.publish_event("metering", event)
    bus.publish_event("metering", event)
    # and once more under a new event id, as a re-sent reading would arrive
    bus.publish_event("metering", {**event, "event_id": str(uuid.uuid4())})
    reading_id = event["data"]["reading_id"]
    wait_for(lambda: rpc.billing.get_charge(reading_id))
    time.sleep(1.0)  # time for the duplicates to be handled, if they were going to be
    assert charge_count(database_urls, reading_id) == 1
    assert bus.depth(BILLING_QUEUE) == 0


def test_a_failing_handler_is_retried_with_backoff_then_dead_lettered(
        run_services, bus, monkeypatch, database_urls):
    attempts = []

    def broken(uow, data):
        attempts.append(time.monotonic())
        raise RuntimeError("the tariff store is on fire")

    monkeypatch.setattr(pricing, "charge_reading", broken)
    run_services(BillingService)  # VOOL_RETRY_DELAYS = 0.2, 0.4, 0.8
    event = reading_submitted()
    bus.publish_event("metering", event)

    dead = wait_for(lambda: bus.drain(DEAD_LETTERS), message="the dead letter")
    assert len(attempts) == 4  # the first try and three retries
    gaps = [later - earlier for earlier, later in zip(attempts, attempts[1:])]
    for gap, delay in zip(gaps, (0.2, 0.4, 0.8)):
        assert gap >= delay * 0.9
    assert gaps[0] < gaps[1] < gaps[2]

    [(properties, body)] = dead
    assert json.loads(body) == event  # the message itself, unchanged
    assert properties.headers["x-vool-attempt"] == 3
    assert "the tariff store is on fire" in properties.headers["x-vool-error"]
    assert properties.headers["x-vool-queue"] == BILLING_QUEUE
    assert charge_count(database_urls) == 0


def test_dead_letters_are_listed_and_replayed_once_the_cause_is_fixed(
        run_services, bus, rpc, monkeypatch, amqp_uri, config):
    def broken(uow, data):
        raise RuntimeError("tariffs unreachable")

    monkeypatch.setattr(pricing, "charge_reading", broken)
    run_services(BillingService)
    event = reading_submitted()
    bus.publish_event("metering", event)
    wait_for(lambda: bus.depth(DEAD_LETTERS) == 1, message="the dead letter")
    assert (DEAD_LETTERS, 1) in wait_for(
        lambda: [q for q in bustools.dead_letter_queues(amqp_uri) if q[1]])
    [(headers, body)] = bustools.peek(amqp_uri, DEAD_LETTERS)
    assert "tariffs unreachable" in headers["x-vool-error"]
    assert bus.depth(DEAD_LETTERS) == 1   # peeking leaves it there

    # the desk sees it too, through the gateway
    run_services(GatewayService, IdentityService)
    rpc.identity.add_operator("desk", "admin", "correct-horse-battery")
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    token = requests.post(f"{base}/api/v1/operator/login", timeout=10, json={
        "username": "desk", "password": "correct-horse-battery"}).json()["token"]
    listed = requests.get(f"{base}/api/v1/operator/dead-letters", timeout=10,
                          headers={"Authorization": f"Bearer {token}"}).json()
    [parked] = [q for q in listed if q["queue"] == DEAD_LETTERS]
    assert parked["messages"] == 1
    [first] = parked["first"]
    assert (first["event_type"], first["event_id"]) == ("reading_submitted", event["event_id"])
    assert "tariffs unreachable" in first["error"] and first["queue"] == BILLING_QUEUE
    assert bus.depth(DEAD_LETTERS) == 1   # listing leaves it there

    monkeypatch.undo()                    # the cause is fixed
    assert bustools.replay(amqp_uri, DEAD_LETTERS) == 1
    assert wait_for(lambda: rpc.billing.get_charge(event["data"]["reading_id"]))
    assert bus.depth(DEAD_LETTERS) == 0


def test_a_permanent_failure_is_dead_lettered_without_retries(run_services, bus, rpc,
                                                               monkeypatch):
    def refused(uow, data):   # data the handler can never use (an unknown plan is flagged)
        raise ValidationFailed.field("consumption.T1", "not a number of kWh")

    monkeypatch.setattr(pricing, "charge_reading", refused)
    run_services(BillingService)
    event = reading_submitted()
    bus.publish_event("metering", event)
    [(properties, body)] = wait_for(lambda: bus.drain(DEAD_LETTERS))
    assert "consumption.T1: not a number of kWh" in properties.headers["x-vool-error"]
    assert "x-vool-attempt" not in properties.headers


@pytest.mark.parametrize("body, content_type, reason", [
    (b"{not json", "application/json", "undecodable"),
    (b"\xff\xfe binary", "application/octet-stream", "undecodable"),
    (json.dumps({"hello": "world"}).encode(), "application/json", "missing event_id"),
    (json.dumps([1, 2, 3]).encode(), "application/json", "not a JSON object"),
    (json.dumps({**reading_submitted(), "event_id": "nope"}).encode(), "application/json",
     "event_id is not a uuid"),
])
def test_a_malformed_message_is_dead_lettered_and_consuming_goes_on(
        run_services, bus, rpc, body, content_type, reason):
    run_services(BillingService)
    bus.publish_raw("metering.events", "reading_submitted", body, content_type=content_type)
    [(properties, dead_body)] = wait_for(lambda: bus.drain(DEAD_LETTERS))
    assert dead_body == body
    assert reason in properties.headers["x-vool-error"]

    good = reading_submitted()
    bus.publish_event("metering", good)
    assert wait_for(lambda: rpc.billing.get_charge(good["data"]["reading_id"]))


def test_an_event_committed_but_not_published_is_sent_by_the_relay_after_restart(
        run_services, rpc, monkeypatch):
    run_services(MeteringService, NotificationsService, BillingService)
    # The contracts service "crashes" between its commit and its publish: the
    # publish after commit never happens, nor does its relay get to run.
    monkeypatch.setattr(Outbox, "publish", lambda self, event_ids: None)
    monkeypatch.setattr(Outbox, "relay", lambda self, grace_seconds: 0)
    crashed = run_services(ContractsService)
    signed = rpc.contracts.sign_contract(contract_command())
    point = signed["consumption_point_id"]
    time.sleep(1.0)
    with pytest.raises(NotFound):
        rpc.metering.list_readings(point)  # metering never heard of it
    crashed.kill()

    monkeypatch.undo()
    run_services(ContractsService)  # restarted: its relay finds the row
    wait_for(lambda: _readings(rpc, point), message="the relayed contract_signed")
    result = rpc.metering.submit_reading({
        "consumption_point_id": point, "reading_date": "2026-02-15", "registers": {"T1": 1100}})
    assert result["consumption"] == {"T1": 100}


def _readings(rpc, point):
    try:
        return rpc.metering.list_readings(point)
    except NotFound:
        return None


@pytest.mark.parametrize("payload, field", [
    ("not an object", "command"),          # the parameter that must be an object
    ({"consumption_point_id": "x", "reading_date": "yesterday", "registers": {"T1": 1}},
     "reading_date"),
    ({"consumption_point_id": "x", "reading_date": "2026-01-01", "registers": {"T1": "many"}},
     "registers.T1"),
    ({"consumption_point_id": "x", "reading_date": "2026-01-01", "registers": {"T1": 1},
      "sneaky": True}, "sneaky"),
])
def test_a_malformed_rpc_payload_gets_a_typed_validation_error(run_services, rpc, payload, field):
    run_services(MeteringService)
    with pytest.raises(ValidationFailed) as refused:
        rpc.metering.submit_reading(payload)
    assert field in [e["field"] for e in refused.value.errors]
    with pytest.raises(IncorrectSignature):
        rpc.metering.submit_reading()
    assert rpc.metering.health() == {"status": "ok", "database": "ok"}  # still serving
