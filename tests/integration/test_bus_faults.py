"""What one faulty client or a lost connection must not do to the bus: stop a
service, lose a message, or leave a caller waiting. Injected with pika."""
import json
import time
import uuid
from urllib.parse import quote, unquote, urlsplit

import eventlet
import pika
import pydantic
import pytest
import requests
from nameko.exceptions import MalformedRequest, deserialize
from nameko.standalone.rpc import ClusterRpcProxy

from services import bustools
from services.billing import pricing
from services.billing.service import BillingService
from services.common.messaging import ATTEMPT_HEADER, ERROR_HEADER, QUEUE_HEADER
from services.contracts.service import ContractsService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from services.notifications.service import NotificationsService
from tests.conftest import SERVICE_NAMES, wait_for
from tests.integration.test_reliability import (
    BILLING_QUEUE, DEAD_LETTERS, charge_count, reading_submitted)

ALL_SERVICES = (IdentityService, ContractsService, MeteringService, BillingService,
                NotificationsService)
HEALTH = json.dumps({"args": [], "kwargs": {}}).encode()


class RpcCaller:
    """An RPC client on pika: a reply queue of its own, requests as we make them."""

    def __init__(self, bus):
        self.connection = pika.BlockingConnection(bus.params)
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()
        self.channel.exchange_declare("nameko-rpc", "topic", durable=True)
        self.reply_queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.reply_queue, "nameko-rpc", self.reply_queue)

    def send(self, routing_key, body, content_type="application/json", reply=True):
        correlation_id = str(uuid.uuid4())
        self.channel.basic_publish("nameko-rpc", routing_key, body, pika.BasicProperties(
            content_type=content_type, correlation_id=correlation_id,
            reply_to=self.reply_queue if reply else None))
        return correlation_id

    def reply(self, correlation_id, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            method, properties, body = self.channel.basic_get(self.reply_queue, auto_ack=True)
            if method is None:
                self.connection.sleep(0.05)
            elif properties.correlation_id == correlation_id:
                return json.loads(body)
        raise AssertionError(f"no reply within {timeout} s")

    def close(self):
        self.connection.close()


@pytest.fixture
def caller(bus):
    rpc_caller = RpcCaller(bus)
    yield rpc_caller
    rpc_caller.close()


def alive(containers):
    return [c.service_name for c in containers if not c._died.ready()]


@pytest.mark.parametrize("case, body, content_type, reply, reason", [
    ("no reply_to", HEALTH, "application/json", False, "no reply_to"),
    ("no content_type", HEALTH, None, True, "no content_type"),
    ("not JSON", b"{args: [", "application/json", True, "undecodable"),
])
def test_a_malformed_rpc_request_is_parked_answered_where_it_can_be_and_stops_no_one(
        run_services, bus, caller, amqp_uri, case, body, content_type, reply, reason):
    containers = run_services(*ALL_SERVICES)
    for service in SERVICE_NAMES:
        correlation_id = caller.send(f"{service}.health", body, content_type, reply=reply)
        dead = f"rpc-{service}.dead-letter"
        wait_for(lambda: bus.depth(dead) == 1, message=f"{case} parked")
        [(headers, parked)] = bustools.peek(amqp_uri, dead)   # as `vool bus show` sees it
        assert parked == body
        assert reason in headers[ERROR_HEADER]
        assert headers[QUEUE_HEADER] == f"rpc-{service}"
        if reply:   # the caller is told at once, as a typed error its proxy raises
            answer = caller.reply(correlation_id, timeout=2)
            assert answer["result"] is None
            error = deserialize(answer["error"])
            assert isinstance(error, MalformedRequest) and reason in str(error)
        # the service is alive and consuming: a good request is answered
        good = caller.send(f"{service}.health", HEALTH)
        assert caller.reply(good)["result"]["status"] == "ok"
    assert alive(containers) == list(SERVICE_NAMES)
    time.sleep(0.5)   # time to die, if anything were going to
    assert alive(containers) == list(SERVICE_NAMES)
    assert all(bus.depth(f"rpc-{s}") == 0 for s in SERVICE_NAMES)
    parked = {f"rpc-{s}.dead-letter": 1 for s in SERVICE_NAMES}
    wait_for(lambda: parked.items() <= dict(bustools.dead_letter_queues(amqp_uri)).items(),
             timeout=15, message="vool bus dead-letters listing them")   # stats lag ~5 s


def test_an_rpc_request_of_the_wrong_shape_gets_malformed_request(run_services, caller):
    run_services(MeteringService)
    for body in (b'[1, 2]', b'{"args": "x", "kwargs": {}}', b'"hello"'):
        answer = caller.reply(caller.send("metering.health", body))
        assert isinstance(deserialize(answer["error"]), MalformedRequest)
    assert caller.reply(caller.send("metering.health", HEALTH))["result"]["status"] == "ok"


def test_an_event_version_the_handler_does_not_read_is_dead_lettered_at_once(
        run_services, bus, rpc, database_urls):
    run_services(BillingService)
    event = {**reading_submitted(), "version": 2}
    bus.publish_event("metering", event)
    [(properties, body)] = wait_for(lambda: bus.drain(DEAD_LETTERS))
    assert json.loads(body) == event
    assert "event version 2 is not one this handler reads (1)" in properties.headers[ERROR_HEADER]
    assert ATTEMPT_HEADER not in properties.headers
    assert charge_count(database_urls) == 0
    good = reading_submitted()
    bus.publish_event("metering", good)
    assert wait_for(lambda: rpc.billing.get_charge(good["data"]["reading_id"]))


def test_a_pydantic_validation_failure_is_dead_lettered_without_retries(
        run_services, bus, monkeypatch):
    attempts = []

    class Reading(pydantic.BaseModel):
        kwh: int

    def validating(uow, data):
        attempts.append(data)
        Reading.model_validate({"kwh": "lots"})

    monkeypatch.setattr(pricing, "charge_reading", validating)
    run_services(BillingService)   # retries would come after 0.2, 0.4, 0.8 s
    bus.publish_event("metering", reading_submitted())
    [(properties, _)] = wait_for(lambda: bus.drain(DEAD_LETTERS))
    assert "ValidationError" in properties.headers[ERROR_HEADER]
    assert "kwh" in properties.headers[ERROR_HEADER]
    assert ATTEMPT_HEADER not in properties.headers
    time.sleep(1.6)
    assert len(attempts) == 1
    assert all(bus.depth(f"{BILLING_QUEUE}.retry-{d}s") == 0 for d in ("0.2", "0.4", "0.8"))
