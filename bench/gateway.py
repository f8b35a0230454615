"""Scenario (c), readings through the gateway: HTTP -> identity -> metering -> events.

The five services and the gateway run as production runs them (see
bench/system.py). Identity gets a banks file made for the run, with fresh keys
(like tests/banking.py), and the benchmark plays the bank: it logs every customer
in through the gateway's real banklink flow (``/api/v1/auth/banklink/testbank/
start`` and ``.../return``), then N concurrent HTTP clients, each on its own
keep-alive connection, POST readings to
``/api/v1/customers/{cid}/consumption-points/{cp}/readings`` with the customer's
bearer token and a fresh ``Idempotency-Key``: the same readings as (b), only 201
counts.
"""
import contextlib
import json
import math
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import urlencode

import eventlet
import yaml

from services.common import banklink
from services.testbank.bank import TestBank

from bench.infra import free_port
from bench.load import (closed_loop, http_call, http_client, http_ok, open_loop, percentile,
                        send_delay_ms)
from bench.system import Rotation, measure, metered, running_system

BANK_ID = "testbank"
CLIENT_TIMEOUT = 10  # seconds; the gateway answers 503 after VOOL_RPC_TIMEOUT (5 s)
LEGS = ("client send -> reading row written (HTTP in, authorize_customer, RPC in, validate, "
        "lock)",
        "event published -> client has the answer (RPC reply leg, HTTP answer)")


def make_bank(folder):
    """A banks file naming one bank with fresh keys, and that bank (it signs the
    replies): ``(banks_file, TestBank)``."""
    folder.mkdir(parents=True, exist_ok=True)
    vool = banklink.generate_key_pair(folder / "vool.key.pem", folder / "vool.pub.pem")
    bank_key = banklink.generate_key_pair(folder / "bank.key.pem", folder / "bank.pub.pem")
    banks_file = folder / "banks.yaml"
    banks_file.write_text(yaml.safe_dump({"banks": [{
        "id": BANK_ID, "name": "Bench Bank", "version": "009", "service": "4012",
        "url": "http://127.0.0.1:8100/banklink", "snd_id": "VOOL", "rec_id": "TESTBANK",
        "bank_public_key": str(folder / "bank.pub.pem"),
        "our_private_key": str(folder / "vool.key.pem")}]}), encoding="utf-8")
    merchants = {"VOOL": {"public_key": vool.public_key(), "account": "EE38", "name": "Vool"}}
    return banks_file, TestBank("TESTBANK", bank_key, merchants, [])


def log_in(port, bank, point, timeout=60):
    """The customer's token, through the gateway's banklink flow. Identity learns of
    a contract from ``contract_signed``: until then the login is refused (403), and
    the benchmark asks again."""
    deadline = time.monotonic() + timeout
    conn = http_client(port, timeout=CLIENT_TIMEOUT)
    try:
        while True:
            status, data = http_call(conn, "POST", f"/api/v1/auth/banklink/{BANK_ID}/start")
            if status != 200:
                raise RuntimeError(f"banklink start: HTTP {status}: {data[:300]!r}")
            request = json.loads(data)["fields"]
            reply = bank.authentication_reply(request, point.person_code, point.name,
                                              datetime.now(timezone.utc))
            status, data = http_call(
                conn, "POST", f"/api/v1/auth/banklink/{BANK_ID}/return", urlencode(reply),
                {"Content-Type": "application/x-www-form-urlencoded"})
            if status == 200:
                return json.loads(data)["token"]
            if status != 403 or time.monotonic() > deadline:
                raise RuntimeError(f"banklink return for {point.person_code}: HTTP {status}: "
                                   f"{data[:300]!r}")
            time.sleep(0.2)
    finally:
        conn.close()


def log_everyone_in(port, bank, points, concurrency):
    pool = eventlet.GreenPool(concurrency)
    try:
        tokens = list(pool.imap(lambda point: log_in(port, bank, point), points))
    finally:
        for thread in list(pool.coroutines_running):  # interrupted: stop them all
            thread.kill()
    for point, token in zip(points, tokens):
        point.token = token


def post_reading(conn, rotation):
    taken = rotation.take()
    if taken is None:
        return None
    point, command = taken
    body = json.dumps({"reading_date": command["reading_date"],
                       "registers": command["registers"]})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {point.token}",
               "Idempotency-Key": uuid.uuid4().hex}
    path = f"/api/v1/customers/{point.customer_id}/consumption-points/{point.point_id}/readings"
    try:
        status, data = http_call(conn, "POST", path, body, headers)
    except Exception:
        rotation.failed(point)
        raise
    if status != 201:
        rotation.failed(point)
        raise RuntimeError(f"HTTP {status}: {data[:200].decode(errors='replace')}")
    return rotation.accepted(point, command, json.loads(data))


@contextlib.contextmanager
def gateway_system(broker, postgres, options, log_dir, say):
    """The five services and the gateway with every customer logged in:
    ``(system, gateway port)``."""
    port = free_port()
    banks_file, bank = make_bank(log_dir / "gateway" / "banks")
    env = {"VOOL_GATEWAY_ADDRESS": f"127.0.0.1:{port}", "VOOL_BANKS_FILE": banks_file}
    with running_system(broker, postgres, options, log_dir, say, "gateway",
                        extra=[("gateway", "services.gateway.service")], env=env,
                        ready=lambda: http_ok(port, "/health")) as system:
        t0 = time.monotonic()
        log_everyone_in(port, bank, system.points, options.concurrency)
        logins = time.monotonic() - t0
        say(f"gateway: {len(system.points)} customers logged in through the banklink flow in "
            f"{logins:.1f}s ({len(system.points) / logins:.0f}/s)")
        system.setup.update(logins_s=logins, gateway_port=port)
        yield system, port


def saturated(system, port, broker, postgres, options, say):
    """(c): ``options.concurrency`` clients back to back, closed loop."""
    say(f"gateway (c) POST readings -> charge + reminder: {options.concurrency} clients, "
        f"{options.warmup:g}s warm-up + {options.duration:g}s")
    rotation = Rotation(system.points, system.today)
    meter, spy = metered(system, options)
    result = closed_loop(lambda n: http_client(port, timeout=CLIENT_TIMEOUT),
                         lambda conn, n: post_reading(conn, rotation),
                         options.concurrency, options.warmup, options.duration,
                         close_client=lambda conn: conn.close(),
                         meter=meter)
    return measure(system, broker, postgres, options, say, result, rotation,
                   "(c) gateway POST reading->charge+reminder", "c", LEGS, spy=spy)


def paced(system, port, broker, postgres, options, say, rate, warmup, duration,
          name="(c) paced, open loop", key="c_paced"):
    """(c) at a fixed ``rate`` of readings per second, open loop: each due reading
    is sent on time whatever the earlier answers do, and its latency counts from
    when it was due (bench/load.py)."""
    say(f"gateway {name}: {rate:.1f} readings/s on a fixed schedule, "
        f"{warmup:g}s warm-up + {duration:g}s")
    rotation = Rotation(system.points, system.today)
    meter, spy = metered(system, options)
    result = open_loop(lambda n: http_client(port, timeout=CLIENT_TIMEOUT),
                       lambda conn, n: post_reading(conn, rotation),
                       rate, warmup, duration, close_client=lambda conn: conn.close(),
                       meter=meter, drain_timeout=CLIENT_TIMEOUT + 5)
    summary = measure(system, broker, postgres, options, say, result, rotation, name, key,
                      LEGS, spy=spy)
    summary["paced"] = {"rate_per_s": rate, "skipped_no_point_free": result.skipped,
                        "senders_made": result.clients, "most_in_flight": result.peak_in_flight,
                        # an error or a timeout is an answer that never came: slower than any
                        "p99_ms_counting_errors": _ms(percentile(
                            [s.latency if s.error is None else math.inf
                             for s in result.measured], 99)),
                        "send_delay_p50_ms": send_delay_ms(result, 50),
                        "send_delay_p99_ms": send_delay_ms(result, 99)}
    if result.skipped:
        summary.setdefault("notes", []).append(
            f"{result.skipped} due reading(s) not sent: every point was still waiting for an "
            "answer (raise --points)")
    return summary


def _ms(seconds):
    return None if seconds is None else seconds * 1000


def run(broker, postgres, options, log_dir, say):
    """(c) saturated, then (with ``options.paced``) at that fraction of its rate."""
    with gateway_system(broker, postgres, options, log_dir, say) as (system, port):
        summaries = [saturated(system, port, broker, postgres, options, say)]
        fraction = getattr(options, "paced", 0)
        if fraction:
            rate = fraction * summaries[0]["throughput_per_s"]
            if rate <= 0:
                raise RuntimeError("(c) answered no reading: no rate to pace at")
            summaries.append(paced(system, port, broker, postgres, options, say, rate,
                                   options.warmup, options.duration,
                                   name=f"(c) paced at {fraction:g} of (c), open loop"))
        return summaries
