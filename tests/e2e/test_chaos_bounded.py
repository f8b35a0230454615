"""`make chaos` in small, for CI: Vool as production runs it (a `nameko run`
process per service and the gateway), a few retrying clients sending readings
through the gateway, and meanwhile one kill -9 of metering (restarted) and every
broker connection of this test's virtual host closed through the management API.
Afterwards every reading answered 201 is stored once and charged once, no day was
stored twice for a point, and no client ever saw a 500 or waited out its timeout.
(The full scenarios, on private servers: `make chaos`, docs/reliability.md.)"""
from datetime import date
from urllib.parse import quote, unquote, urlsplit

import eventlet
import pytest
import sqlalchemy as sa
from eventlet.event import Event

from bench import chaos_load
from bench.gateway import log_in, make_bank
from bench.infra import ServiceProcesses, service_env
from bench.load import http_ok
from bench.system import Point, choose_start_date, contract_command, expected_queues
from services.common.errors import NotFound
from tests.conftest import SERVICE_NAMES, free_port, wait_for

pytestmark = pytest.mark.filterwarnings("ignore:Using fork:DeprecationWarning")

PROCESSES = ("gateway",) + SERVICE_NAMES
CONTRACTS = 8
CLIENTS = 4


@pytest.fixture
def vool(tmp_path, amqp_uri, database_urls, broker):
    banks_file, bank = make_bank(tmp_path / "banks")
    port = free_port()
    env = service_env(AMQP_URI=amqp_uri, VOOL_BANKS_FILE=banks_file, VOOL_RPC_TIMEOUT=5,
                      VOOL_GATEWAY_ADDRESS=f"127.0.0.1:{port}",
                      VOOL_PUBLIC_URL=f"http://127.0.0.1:{port}",
                      VOOL_RETRY_DELAYS="0.5,1,2,4",
                      **{f"VOOL_{s.upper()}_DATABASE_URL": url for s, url in database_urls.items()})
    processes = ServiceProcesses(tmp_path / "logs")
    vhost = unquote(urlsplit(amqp_uri).path[1:])

    def start(label):
        processes.start(label, f"services.{label}.service", env)

    def healthy():
        if not http_ok(port, "/health", timeout=3):
            return False
        queues = {q["name"]: q.get("consumers") or 0 for q in broker.api(
            "GET", f"queues/{quote(vhost, safe='')}?columns=name,consumers")}
        return all(queues.get(q, 0) > 0 for q in expected_queues())

    for label in PROCESSES:
        start(label)
    try:
        wait_for(healthy, timeout=90, interval=0.5, message="every process healthy")
        yield type("Vool", (), {"port": port, "bank": bank, "processes": processes,
                                "start": staticmethod(start), "healthy": staticmethod(healthy),
                                "vhost": vhost})
    finally:
        processes.stop()


def test_a_kill_and_a_broker_connection_drop_lose_no_reading_and_charge_none_twice(
        vool, rpc, broker, database_urls):
    start_date = choose_start_date(date.today())
    points = []
    for n in range(1, CONTRACTS + 1):
        command = contract_command(n, start_date)
        signed = rpc.contracts.sign_contract(command)
        points.append(Point(signed["consumption_point_id"],
                            [r["code"] for r in command["consumption_point"]["meter"]["registers"]],
                            start_date,
                            customer_id=signed["customer_id"], person_code=command["person_code"],
                            name=command["name"]))

    def metering_knows_all():
        for point in points:
            try:
                rpc.metering.list_readings(point.point_id)
            except NotFound:
                return False
        return True
    wait_for(metering_knows_all, timeout=30, message="metering to learn every meter")
    for point in points:
        point.token = log_in(vool.port, vool.bank, point)

    load, stop = chaos_load.Load("bounded"), Event()
    rotation = chaos_load.Points(points, date.today())
    clients = [chaos_load.Client([vool.port], timeout=15) for _ in range(CLIENTS)]
    threads = [eventlet.spawn(chaos_load.reading_client, c, rotation, load, stop, 0.05)
               for c in clients]
    try:
        eventlet.sleep(2)
        metering = vool.processes.processes["metering"]
        metering.kill()                                  # kill -9
        metering.wait()
        eventlet.sleep(2)
        vool.start("metering")
        wait_for(vool.healthy, timeout=60, interval=0.25, message="metering back")
        before_drop = sum(r.status == 201 for r in load.readings)
        connections = broker.api("GET", f"vhosts/{quote(vool.vhost, safe='')}/connections")
        assert connections, "the services' connections are in this test's vhost"
        for connection in connections:                  # only this test's vhost: shared broker
            broker.api("DELETE", f"connections/{quote(connection['name'], safe='')}",
                       headers={"X-Reason": "bounded chaos test"})
        wait_for(vool.healthy, timeout=30, interval=0.25, message="reconnected after the drop")
        eventlet.sleep(3)
    finally:
        stop.send()
        for thread in threads:
            thread.wait()
        for client in clients:
            client.close()

    attempts = load.attempts()
    answered = {r.extra["reading_id"] for r in load.readings if r.status == 201}
    assert sum(r.status == 201 for r in load.readings) > before_drop > 0
    assert [a.outcome for a in attempts if a.status == 500 or a.error == "timeout"] == []
    assert all(a.seconds < 7 for a in attempts if a.status == 503)   # within the RPC timeout
    assert all(r.status == 201 for r in load.readings), sorted(
        {str(r.status) for r in load.readings})                     # every retry got through

    metering_db = sa.create_engine(database_urls["metering"], poolclass=sa.pool.NullPool)
    billing_db = sa.create_engine(database_urls["billing"], poolclass=sa.pool.NullPool)
    try:
        def charged():
            with billing_db.connect() as conn:
                ids = conn.execute(sa.text("SELECT reading_id FROM charges")).scalars().all()
            return answered <= set(ids) and ids
        charge_ids = wait_for(charged, timeout=60, interval=0.5, message="every reading charged")
        with metering_db.connect() as conn:
            stored = conn.execute(sa.text(
                "SELECT reading_id, consumption_point_id, reading_date FROM readings "
                "WHERE source <> 'initial'")).all()
    finally:
        metering_db.dispose()
        billing_db.dispose()
    assert {r.reading_id for r in stored} == answered           # none lost, none extra
    days = [(r.consumption_point_id, r.reading_date) for r in stored]
    assert len(days) == len(set(days))                          # a retry never stored twice
    assert sorted(charge_ids) == sorted(answered)               # each charged exactly once
    assert vool.processes.processes["billing"].poll() is None   # nothing else died
