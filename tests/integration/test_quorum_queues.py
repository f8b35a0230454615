"""``VOOL_QUEUE_TYPE=quorum``: every queue that holds work is a quorum queue, and
the bus behaves as on classic queues (charged once; retried, then dead-lettered).
On the local single-node broker; the chaos harness runs it on three nodes."""
import time
import uuid

import pytest

from services.billing import pricing
from services.billing.service import BillingService
from services.common import config as cfg
from services.gateway.service import GatewayService
from tests.conftest import wait_for
from tests.integration.test_bus_faults import Management, alive
from tests.integration.test_reliability import (
    BILLING_QUEUE, DEAD_LETTERS, charge_count, reading_submitted)


def test_under_quorum_every_work_queue_is_quorum_and_nothing_is_lost_or_doubled(
        run_services, rpc, bus, amqp_uri, database_urls, monkeypatch):
    failing = str(uuid.uuid4())
    real_charge = pricing.charge_reading
    attempts = []

    def charge(uow, data):
        if data["reading_id"] == failing:
            attempts.append(time.monotonic())
            raise RuntimeError("the tariff store is on fire")
        return real_charge(uow, data)

    monkeypatch.setattr(pricing, "charge_reading", charge)
    containers = run_services(BillingService, GatewayService, VOOL_QUEUE_TYPE="quorum")

    event = reading_submitted()
    bus.publish_event("metering", event)
    bus.publish_event("metering", event)   # delivered twice
    assert wait_for(lambda: rpc.billing.get_charge(event["data"]["reading_id"]))
    bus.publish_event("metering", reading_submitted(reading_id=failing))
    [(properties, _)] = wait_for(lambda: bus.drain(DEAD_LETTERS), message="the dead letter")
    assert properties.headers["x-vool-attempt"] == 3 and len(attempts) == 4
    gaps = [later - earlier for earlier, later in zip(attempts, attempts[1:])]
    assert all(gap >= delay * 0.9 for gap, delay in zip(gaps, (0.2, 0.4, 0.8)))
    assert charge_count(database_urls) == 1
    assert charge_count(database_urls, event["data"]["reading_id"]) == 1
    assert len(alive(containers)) == 2

    queues = {q["name"]: q for q in Management(amqp_uri).queues()}
    work = [n for n in queues if n.startswith("rpc-billing") or n.startswith("evt-")
            and "--billing." in n]
    assert {"rpc-billing", "rpc-billing.dead-letter", BILLING_QUEUE, DEAD_LETTERS,
            BILLING_QUEUE + ".retry-0.2s"} <= set(work)
    for name in work:
        queue = queues[name]
        assert queue["type"] == "quorum", name
        assert queue["durable"] and not queue["exclusive"] and not queue["auto_delete"]
    transient = [n for n in queues if n not in work]
    assert any(n.startswith("evt-identity-") for n in transient)       # the gateway's broadcast
    assert any(n.startswith("rpc.reply-") for n in transient)          # reply queues
    assert all(queues[n]["type"] == "classic" for n in transient)
    # not durable either: a durable one stays homed on a cluster node that is down
    # (the test's own standalone proxy is nameko's, not a service's)
    assert [n for n in transient if queues[n]["durable"]
            and not n.startswith("rpc.reply-standalone_rpc_proxy")] == []


def test_the_queue_type_is_read_in_one_place_and_checked():
    assert cfg.queue_type({}) == "classic"
    assert cfg.queue_type({"VOOL_QUEUE_TYPE": "Quorum"}) == "quorum"
    with pytest.raises(ValueError, match="VOOL_QUEUE_TYPE"):
        cfg.queue_type({"VOOL_QUEUE_TYPE": "mirrored"})
