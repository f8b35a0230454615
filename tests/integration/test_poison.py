"""Poison on every queue a service consumes, found from the broker: no process
dies, what can never succeed is parked at once (no retries) where ``vool bus``
shows it with its reason, and every service goes on with the next message.

A service's own queues (``rpc-<service>``, its event handlers' queues) park
poison in ``<queue>.dead-letter``. The gateway's exclusive queues — its broadcast
queue of identity's events and its RPC reply queue (nameko's: not exclusive, but
expiring when unused) — go with the process and
have no dead-letter queue that would outlive them: poison there is logged and
dropped (an unreadable identity event also empties the session cache, as it may
have been a logout)."""
import json
import time
import uuid
from urllib.parse import quote

import requests

from services import cli
from services.gateway.service import GatewayService
from services.common.messaging import ATTEMPT_HEADER, ERROR_HEADER
from tests.conftest import SERVICE_NAMES, wait_for
from tests.integration.test_bus_faults import ALL_SERVICES, Management, alive
from tests.integration.test_reliability import reading_submitted

POISON = {
    "not JSON": (b"{not json", "application/json"),
    "wrong shape": (json.dumps({"hello": "world"}).encode(), "application/json"),
    "unknown version": (json.dumps({
        "event_id": str(uuid.uuid4()), "event_type": "anything", "version": 99,
        "occurred_at": "2026-02-15T10:00:00+00:00", "source": "nowhere",
        "data": {}}).encode(), "application/json"),
    "wrong content type": (b"<reading kwh='100'/>", "application/xml"),
}
PARKING = (".dead-letter", ".retry-")


def transient(queue):
    """One process's own queue: exclusive, auto-deleted or expiring when unused."""
    return bool(queue["exclusive"] or queue["auto_delete"]
                or "x-expires" in (queue.get("arguments") or {}))


def consumed_queues(management):
    """Every queue of the vhost with a consumer, once each one that is not a
    parking queue has one (the API lists consumers a few seconds late)."""
    def settled():
        queues = management.queues()
        work = [q for q in queues if not any(p in q["name"] for p in PARKING)]
        return work if work and all(q.get("consumers") for q in work) else None
    return wait_for(settled, timeout=20, interval=0.5, message="every queue consumed")


def test_poison_on_every_queue_stops_nothing_and_is_parked_with_its_reason(
        run_services, bus, config, amqp_uri, database_urls, monkeypatch, capsys):
    containers = run_services(*ALL_SERVICES, GatewayService)
    management = Management(amqp_uri)
    queues = consumed_queues(management)
    private = [q["name"] for q in queues if transient(q)]
    shared = [q["name"] for q in queues if not transient(q)]
    assert {f"rpc-{s}" for s in SERVICE_NAMES} <= set(shared)
    assert sum(name.startswith("evt-") for name in shared) >= 20
    assert any(name.startswith("evt-identity-") for name in private)   # the broadcast queue
    assert any(name.startswith("rpc.reply-gateway") for name in private)

    for name in shared + private:
        for body, content_type in POISON.values():
            bus.publish_raw("", name, body, content_type=content_type)

    def parked(name):
        return bus.depth(name + ".dead-letter") == len(POISON) and bus.depth(name) == 0
    for name in shared:
        wait_for(lambda: parked(name), message=f"the poison on {name} parked")
    def consumed(name):   # exclusive: only the API can look into it (a few seconds late)
        queue = management.get(f"queues/{quote(management.vhost, safe='')}/{quote(name, safe='')}")
        delivered = (queue.get("message_stats") or {}).get("deliver_get", 0)
        return delivered >= len(POISON) and queue.get("messages") == 0 and queue.get("consumers")
    for name in private:
        wait_for(lambda: consumed(name), timeout=20, interval=0.5,
                 message=f"the poison on {name} taken and dropped")
    time.sleep(1.0)   # past the test's retry delays (0.2, 0.4, 0.8 s): nothing retried
    assert len(alive(containers)) == len(containers)

    every = {q["name"]: q for q in management.queues()}
    retry_queues = [n for n in every if ".retry-" in n]
    assert retry_queues and all(bus.depth(n) == 0 for n in retry_queues)
    assert all(bus.depth(name + ".dead-letter") == len(POISON) for name in shared)

    # what the operator sees: every parking queue with its count, each message with why
    monkeypatch.setenv("AMQP_URI", amqp_uri)
    wait_for(lambda: _listed(capsys) >= {f"{name}.dead-letter": len(POISON) for name in shared}
             .items(), timeout=20, interval=1, message="vool bus dead-letters listing them")
    for name in shared:
        assert cli.main(["bus", "show", f"{name}.dead-letter"]) == 0
        shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(shown) == len(POISON)
        assert all(m["error"] and m["attempts"] is None for m in shown), shown
        reasons = " | ".join(m["error"] for m in shown)
        if name.startswith("evt-"):
            assert "event version 99" in reasons and "undecodable" in reasons
        else:
            assert "no reply_to" in reasons and "undecodable" in reasons
    headers = [p.headers for p, _ in bus.drain(f"{shared[0]}.dead-letter")]
    assert all(ERROR_HEADER in h and ATTEMPT_HEADER not in h for h in headers)

    # and every service handles the next good message
    from nameko.standalone.rpc import ClusterRpcProxy
    with ClusterRpcProxy(config, timeout=5) as proxy:
        assert all(getattr(proxy, s).health()["status"] == "ok" for s in SERVICE_NAMES)
        good = reading_submitted()
        bus.publish_event("metering", good)
        assert wait_for(lambda: proxy.billing.get_charge(good["data"]["reading_id"]))
    health = requests.get(f"http://{config['WEB_SERVER_ADDRESS']}/health", timeout=10)
    assert health.status_code == 200, health.text   # through the gateway's reply queue
    assert len(alive(containers)) == len(containers)


def _listed(capsys):
    cli.main(["bus", "dead-letters"])
    lines = capsys.readouterr().out.splitlines()
    return {line.split()[1]: int(line.split()[0]) for line in lines if line.strip()}.items()
