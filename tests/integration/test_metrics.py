"""Prometheus metrics after one reading through the gateway: the gateway's /metrics
and each backend's ops port (/metrics, /health/live, /health/ready), the services
running in-process on the real broker and PostgreSQL, each ops port its own."""
import socket
from datetime import timedelta

import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from services.billing.service import BillingService
from services.common import metrics
from services.common.messaging import event_handler
from services.common.ops import OpsPort
from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from services.notifications.service import NotificationsService
from tests.banking import customer_token, make_banks
from tests.conftest import free_port, wait_for
from tests.event_samples import envelope
from tests.integration.test_reliability import reading_submitted
from tests.samples import GRANDMOTHER, contract_command

BACKENDS = (IdentityService, ContractsService, MeteringService, BillingService,
            NotificationsService)
READINGS_ROUTE = "/api/v1/customers/<cid>/consumption-points/<cp>/readings"


def samples(url):
    """``{(name, frozenset(labels)): value}`` of a /metrics answer, parsed by
    prometheus-client's own parser (so the text format is valid too)."""
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found, name, **labels):
    """The sample ``name`` whose labels include ``labels`` (summed over the rest)."""
    wanted = set(labels.items())
    matching = [v for (n, ls), v in found.items() if n == name and wanted <= ls]
    return sum(matching) if matching else None


def grown(found, before, name, **labels):
    """How much ``name`` grew since ``before``: the registry is the process's, and the
    tests before this one counted in it too."""
    return (value(found, name, **labels) or 0) - (value(before, name, **labels) or 0)


@pytest.fixture
def system(run_services, config, tmp_path):
    banks = make_banks(tmp_path)
    ops = {}
    for cls in BACKENDS:
        address = f"127.0.0.1:{free_port()}"
        run_services(cls, VOOL_BANKS_FILE=str(banks.banks_file), VOOL_OPS_ADDRESS=address)
        ops[cls.name] = f"http://{address}"
    run_services(GatewayService, VOOL_BANKS_FILE=str(banks.banks_file))
    return f"http://{config['WEB_SERVER_ADDRESS']}", banks, ops


def test_one_reading_shows_in_the_metrics_of_the_gateway_and_every_service(
        system, rpc, real_time_clock):
    base, banks, ops = system
    before = samples(f"{base}/metrics")
    today = real_time_clock.today()
    signed = rpc.contracts.sign_contract(contract_command(
        initial={"T1": 1000}, start_date=(today - timedelta(days=60)).isoformat()))
    wait_for(lambda: rpc.identity.is_eligible(GRANDMOTHER), message="identity's copy")
    token = customer_token(base, banks, GRANDMOTHER, "Õie Mäger", real_time_clock.now())
    wait_for(lambda: _known(rpc, signed["consumption_point_id"]), message="metering's copy")
    reading = requests.post(
        f"{base}/api/v1/customers/{signed['customer_id']}/consumption-points/"
        f"{signed['consumption_point_id']}/readings",
        json={"reading_date": (today - timedelta(days=1)).isoformat(),
              "registers": {"T1": 1300}},
        headers={"Authorization": f"Bearer {token}"}, timeout=15)
    assert reading.status_code == 201, reading.text
    assert reading.json()["status"] == "accepted"
    requests.get(f"{base}/api/v1/no/such/{signed['customer_id']}", timeout=5)   # a 404
    wait_for(lambda: rpc.billing.get_charge(reading.json()["reading_id"]),
             message="billing to charge the reading")

    gateway = samples(f"{base}/metrics")
    assert grown(gateway, before, "vool_http_requests_total", route=READINGS_ROUTE, method="POST",
                 status="201") == 1
    assert grown(gateway, before, "vool_http_request_duration_seconds_count", route=READINGS_ROUTE,
                 method="POST") == 1
    assert grown(gateway, before, "vool_http_request_duration_seconds_sum", route=READINGS_ROUTE,
                 method="POST") > 0
    assert grown(gateway, before, "vool_http_requests_total", route="unmatched", method="GET",
                 status="404") == 1
    # label hygiene: no concrete path, customer id or token reached a label
    labels = " ".join(f"{k}={v}" for (_, ls) in gateway for k, v in ls)
    assert signed["customer_id"] not in labels and signed["consumption_point_id"] not in labels
    assert value(gateway, "process_resident_memory_bytes") > 0

    metering = samples(f"{ops['metering']}/metrics")
    assert grown(metering, before, "vool_rpc_calls_total", service="metering",
                 method="submit_reading", outcome="ok") == 1
    assert grown(metering, before, "vool_rpc_call_duration_seconds_count", service="metering",
                 method="submit_reading") == 1
    assert grown(metering, before, "vool_events_handled_total", service="metering",
                 event_type="contract_signed", outcome="ok") == 1

    for service in ("billing", "notifications"):
        found = wait_for(lambda: _handled(ops[service], service, before),
                         message=f"{service}'s metrics to count the reading")
        assert grown(found, before, "vool_event_lag_seconds_count", service=service,
                     event_type="reading_submitted") == 1
        lag = grown(found, before, "vool_event_lag_seconds_sum", service=service,
                    event_type="reading_submitted")
        assert 0 <= lag < 60

    for service, url in ops.items():
        found = samples(f"{url}/metrics")
        assert value(found, "process_resident_memory_bytes") > 0, service
        # the outbox is read at scrape: present for every service, nothing stuck
        assert value(found, "vool_outbox_backlog_events", service=service) is not None, service
        assert 0 <= value(found, "vool_outbox_oldest_age_seconds", service=service) < 60
        dead = {dict(ls)["queue"]: v for (n, ls), v in found.items()
                if n == "vool_dead_letter_messages" and dict(ls)["service"] == service}
        assert dead.get(f"rpc-{service}.dead-letter") == 0, (service, dead)
    billing = samples(f"{ops['billing']}/metrics")
    assert billing_dead_letter_queues(billing) >= {
        "evt-metering-reading_submitted--billing.on_reading_submitted.dead-letter"}


def billing_dead_letter_queues(found):
    return {dict(ls)["queue"] for (n, ls), v in found.items()
            if n == "vool_dead_letter_messages" and dict(ls)["service"] == "billing"}


def _handled(url, service, before):
    found = samples(f"{url}/metrics")
    if grown(found, before, "vool_events_handled_total", service=service,
             event_type="reading_submitted", outcome="ok") == 1:
        return found
    return None


def _known(rpc, point):
    try:
        return rpc.metering.list_readings(point)
    except Exception:
        return None


def test_live_and_ready_apart_on_the_ops_port(run_services, config, postgres):
    name, url = postgres.new_database("metering")
    address = f"127.0.0.1:{free_port()}"
    run_services(MeteringService, VOOL_METERING_DATABASE_URL=url, VOOL_OPS_ADDRESS=address)
    base = f"http://{address}"
    live = requests.get(f"{base}/health/live", timeout=5)
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = requests.get(f"{base}/health/ready", timeout=5)
    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "database": "ok",
                                                       "broker": "ok"})
    # junk is answered, not a crash: unknown path, wrong method, a broken request line
    assert requests.get(f"{base}/nothing", timeout=5).status_code == 404
    assert requests.post(f"{base}/metrics", timeout=5).status_code == 405
    with socket.create_connection(("127.0.0.1", int(address.rsplit(":", 1)[1])), 5) as sock:
        sock.sendall(b"\x00\xff garbage\r\n\r\n")
        sock.recv(1024)

    postgres.drop_database(name)   # its database gone under it: not ready, still alive
    ready = requests.get(f"{base}/health/ready", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable" and ready.json()["broker"] == "ok"
    assert "database" in ready.json()["reason"]
    assert requests.get(f"{base}/health/live", timeout=5).status_code == 200
    # /metrics still answers without its outbox's samples
    assert requests.get(f"{base}/metrics", timeout=10).status_code == 200


class AlwaysFails:
    """A handler that cannot succeed: every attempt fails until it is parked."""
    name = "always_fails"
    ops = OpsPort()

    @event_handler("metering", "reading_submitted")
    def on_reading_submitted(self, event):
        raise RuntimeError("this handler always fails")


def test_retries_and_dead_letters_are_counted_and_the_queue_depth_shown(
        run_services, bus, monkeypatch):
    monkeypatch.setattr(metrics.OPERATIONS, "DEAD_LETTER_CACHE_SECONDS", 0)
    labels = {"service": "always_fails", "event_type": "reading_submitted"}
    before = {outcome: sample_value("vool_events_handled_total", outcome=outcome, **labels)
              for outcome in ("ok", "retried", "dead_lettered")}
    retries = sample_value("vool_event_retries_total", **labels)
    run_services(AlwaysFails)   # three retries (tests/conftest.py: 0.2, 0.4, 0.8 s)
    bus.publish_event("metering", envelope("metering", "reading_submitted", {}))
    queue = "evt-metering-reading_submitted--always_fails.on_reading_submitted.dead-letter"
    wait_for(lambda: bus.depth(queue) == 1, timeout=15, message="the event parked")

    after = {outcome: sample_value("vool_events_handled_total", outcome=outcome, **labels)
             for outcome in before}
    assert {k: after[k] - before[k] for k in after} == {"ok": 0, "retried": 3,
                                                        "dead_lettered": 1}
    assert sample_value("vool_event_retries_total", **labels) - retries == 3
    assert sample_value("vool_event_lag_seconds_count", **labels) >= 4
    depth = {(s.labels["service"], s.labels["queue"]): s.value
             for family in metrics.OPERATIONS.collect() for s in family.samples
             if s.name == "vool_dead_letter_messages"}
    assert depth[("always_fails", queue)] == 1


def sample_value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_dead_letter_depths_are_read_passively_and_a_missing_queue_left_out(amqp_uri, bus):
    with bus.channel() as channel:
        channel.queue_declare("metrics-probe.dead-letter", durable=True)
        for _ in range(3):
            channel.basic_publish("", "metrics-probe.dead-letter", b"parked")
    wait_for(lambda: bus.depth("metrics-probe.dead-letter") == 3)
    depths = metrics.dead_letter_depths(amqp_uri, ["metrics-probe.dead-letter",
                                                   "never-declared.dead-letter"])
    assert depths == {"metrics-probe.dead-letter": 3}
    # passive: reading it neither created the missing queue nor took a message
    assert bus.depth("metrics-probe.dead-letter") == 3
    assert metrics.dead_letter_depths(amqp_uri, ["never-declared.dead-letter"]) == {}


def test_an_event_delivered_twice_counts_once_as_ok_and_once_as_duplicate(run_services, bus):
    labels = {"service": "billing", "event_type": "reading_submitted"}
    before = {outcome: sample_value("vool_events_handled_total", outcome=outcome, **labels)
              for outcome in ("ok", "duplicate")}
    run_services(BillingService)
    event = reading_submitted()
    bus.publish_event("metering", event)
    wait_for(lambda: sample_value("vool_events_handled_total", outcome="ok", **labels)
             == before["ok"] + 1, message="the first delivery handled")
    bus.publish_event("metering", event)
    wait_for(lambda: sample_value("vool_events_handled_total", outcome="duplicate", **labels)
             == before["duplicate"] + 1, message="the second delivery seen as a duplicate")
    assert sample_value("vool_events_handled_total", outcome="ok", **labels) == before["ok"] + 1
