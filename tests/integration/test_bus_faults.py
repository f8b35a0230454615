"""What one faulty client or a lost connection must not do to the bus: stop a
service, lose a message, or leave a caller waiting. Injected with pika."""
import json
import time
import uuid
from urllib.parse import quote

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


class Management:
    """The broker's management API, for one test's virtual host."""

    def __init__(self, amqp_uri):
        self.base, self.vhost, self.auth = bustools._management(amqp_uri)

    def get(self, path):
        response = requests.get(f"{self.base}/api/{path}", auth=self.auth, timeout=10)
        response.raise_for_status()
        return response.json()

    def connections(self):
        return [c for c in self.get("connections") if c.get("vhost") == self.vhost]

    def close_every_connection(self, at_least):
        """Close them all; the API lists a new connection a few seconds late."""
        listed = wait_for(lambda: (lambda found: len(found) >= at_least and found)(
            self.connections()), timeout=15, message=f"{at_least} connections listed")
        closed = 0
        for connection in listed:
            requests.delete(f"{self.base}/api/connections/{quote(connection['name'], safe='')}",
                            auth=self.auth, timeout=10,
                            headers={"X-Reason": "test: connection reset"})
            closed += 1
        return closed

    def queues(self):
        return self.get(f"queues/{quote(self.vhost, safe='')}")


def test_services_ride_out_every_connection_closed_under_load(
        run_services, bus, config, database_urls, amqp_uri):
    containers = run_services(MeteringService, BillingService, NotificationsService)
    management = Management(amqp_uri)
    events = [reading_submitted() for _ in range(300)]
    answered = []

    def publish(batch):
        for event in batch:
            bus.publish_event("metering", event)

    def ask_health():   # a steady load of RPCs through the outage, errors and all
        with ClusterRpcProxy(config, timeout=2) as proxy:
            for _ in range(40):
                try:
                    answered.append(proxy.billing.health()["status"])
                except Exception:
                    return
                eventlet.sleep(0.05)

    asking = eventlet.spawn(ask_health)
    publish(events[:150])
    wait_for(lambda: charge_count(database_urls) >= 30, message="charging under way")
    assert management.close_every_connection(at_least=4) >= 4
    publishing = eventlet.spawn(publish, events[150:])
    eventlet.sleep(0.5)
    management.close_every_connection(at_least=4)   # and once more while events pour in
    started = time.monotonic()

    def healthy():
        try:
            with ClusterRpcProxy(config, timeout=1) as proxy:
                return all(getattr(proxy, s).health()["status"] == "ok"
                           for s in ("metering", "billing", "notifications"))
        except Exception:
            return False

    wait_for(healthy, timeout=10, interval=0.2, message="every service answering again")
    reconnected_in = time.monotonic() - started
    publishing.wait()
    asking.wait()
    wait_for(lambda: charge_count(database_urls) >= len(events), timeout=60,
             message="every reading charged")
    time.sleep(1.0)   # redeliveries of what was in flight, if any were going to charge twice
    assert charge_count(database_urls) == len(events)
    assert all(charge_count(database_urls, e["data"]["reading_id"]) == 1 for e in events[::15])
    assert alive(containers) == ["metering", "billing", "notifications"]
    assert [q["name"] for q in management.queues()
            if q["name"].endswith(".dead-letter") and q.get("messages")] == []
    assert bus.depth(BILLING_QUEUE) == 0
    print(f"reconnected in {reconnected_in:.1f} s; {len(answered)} health answers during the load")


def test_an_ack_or_requeue_on_a_reset_connection_does_not_stop_the_service(
        run_services, bus, rpc, monkeypatch, database_urls, amqp_uri):
    """The crash the issue saw: ConnectionResetError out of an ack or a requeue in
    a worker. The service stays up; the broker redelivers what was not settled
    once the connection is gone; handling it again charges nothing twice."""
    from kombu.message import Message
    from services.common import messaging

    resets = {"ack": 1, "requeue": 1, "republish": 1}

    def resetting(what, real, message_at):
        def settle(*args):   # once, and only on billing's event messages
            message = args[message_at]
            if resets[what] and message.delivery_info.get("routing_key") == "reading_submitted":
                resets[what] -= 1
                raise ConnectionResetError(104, "Connection reset by peer")
            return real(*args)
        return settle

    monkeypatch.setattr(Message, "ack", resetting("ack", Message.ack, 0))
    monkeypatch.setattr(Message, "requeue", resetting("requeue", Message.requeue, 0))
    monkeypatch.setattr(messaging, "republish",
                        resetting("republish", messaging.republish, 1))
    failed_once = set()
    real_charge = pricing.charge_reading

    def fails_once(uow, data):
        if data["reading_id"] not in failed_once:
            failed_once.add(data["reading_id"])
            raise RuntimeError("a passing hiccup")
        return real_charge(uow, data)

    container = run_services(BillingService)
    acked = reading_submitted()
    bus.publish_event("metering", acked)           # handled; its ack hits a reset
    assert wait_for(lambda: rpc.billing.get_charge(acked["data"]["reading_id"]))
    monkeypatch.setattr(pricing, "charge_reading", fails_once)
    requeued = reading_submitted()
    bus.publish_event("metering", requeued)        # fails; its retry and requeue hit resets
    wait_for(lambda: not resets["requeue"], message="the requeue that hits a reset")
    assert not container._died.ready()

    Management(amqp_uri).close_every_connection(at_least=3)  # what a reset does to the rest
    wait_for(lambda: charge_count(database_urls, requeued["data"]["reading_id"]) == 1,
             message="the requeued reading charged after the reconnection")
    wait_for(lambda: bus.depth(BILLING_QUEUE) == 0, message="the redeliveries handled")
    time.sleep(0.5)
    assert charge_count(database_urls, acked["data"]["reading_id"]) == 1
    assert charge_count(database_urls) == 2
    assert not container._died.ready()
    assert rpc.billing.health()["status"] == "ok"
