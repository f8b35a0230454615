"""``make bench-sweep``: the reminder sweep over 10,000 consumption points on
SQLite and on PostgreSQL, beside live traffic (issue #14). Method and numbers:
bench/README.md, "The reminder sweep beside live traffic".

Per store: notifications runs as production runs it (``nameko run``, its own
RabbitMQ vhost, a real SMTP server that counts what it receives). The benchmark
publishes, onto the bus, ``contract_signed`` and ``reading_schedule_started`` for
every point (one customer each, with an e-mail address), waits until
notifications has scheduled every reminder and sent every contract mail, then
starts live traffic (health and inbox RPCs, invoice_issued events) and, 5 s later,
calls ``notifications.reminder_sweep`` over RPC. It reports the sweep's duration,
what the traffic saw during it, and counts every reminder from the database and
the SMTP server: each point reminded once, each reminder mailed once.
"""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # nameko's import

import eventlet  # noqa: E402

eventlet.monkey_patch()  # before anything imports socket, threading, time

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import pika  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from bench import interrupts  # noqa: E402
from bench.infra import (PROJECT_ROOT, Broker, Postgres, ServiceProcesses,  # noqa: E402
                         free_port, service_env)
from bench.load import percentile  # noqa: E402
from services.common.events import new_event  # noqa: E402

DUE_ON = "2026-01-15"          # every point's reminder; the window (3 days) closed on the 18th
SWEEP_AS_OF = "2026-01-19"
GATEWAY_ROUTE_TIMEOUT = 120    # POST /api/v1/operator/jobs/reminder-sweep waits this long
HEALTH_TIMEOUT = 2.0           # the gateway's /health waits this long for each service
RPC_TIMEOUT = 5.0              # the gateway's default wait for any other call
REMINDER_SUBJECTS = {"Näidu teatamise meeldetuletus", "Meter reading reminder"}
RESULTS = PROJECT_ROOT / "bench" / "results"


def say(*parts):
    print(*parts, flush=True)


# --- the state before the sweep ---------------------------------------------------------

def customer_of(n):
    return f"00000000-0000-4000-8000-{n:012d}"


def point_of(n):
    return f"00000000-0000-4000-9000-{n:012d}"


def seed_events(n, now, mail_every):
    """The two events that give point ``n`` its customer, address and due reminder;
    every ``mail_every``-th customer has an e-mail address, the others the inbox only."""
    customer, point = customer_of(n), point_of(n)
    signed = new_event("contracts", "contract_signed", {
        "contract_no": f"L{n:07d}", "customer_id": customer, "person_code": None,
        "name": f"Klient {n}", "reference_no": f"{n:07d}", "consumption_point_id": point,
        "eic": None, "address": f"Pikk {n}, Tallinn", "tariff_plan": "BASIC",
        "reading_day": 15, "start_date": "2025-12-15", "initial_readings": {},
        "contact": {"email": f"klient{n}@example.ee" if n % mail_every == 0 else None,
                    "phone": None,
                    "language": "et" if n % 3 else "en"}}, now)
    started = new_event("metering", "reading_schedule_started", {
        "consumption_point_id": point, "customer_id": customer, "contract_no": f"L{n:07d}",
        "reading_day": 15, "next_reading_due": DUE_ON}, now)
    return [("contracts.events", signed), ("metering.events", started)]


def invoice_event(n, serial):
    return new_event("billing", "invoice_issued", {
        "invoice_no": f"2026-{serial:08d}", "customer_id": customer_of(n),
        "contract_no": f"L{n:07d}", "period": "2026-01", "issued_on": "2026-02-01",
        "due_on": "2026-02-15", "reference_no": f"{n:07d}", "total": "42.10"},
        datetime.now(timezone.utc))


class Bus:
    """Publishing with pika (not the services' client), confirmed by the broker."""

    def __init__(self, amqp_uri):
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()

    def publish(self, exchange, event):
        self.channel.basic_publish(
            exchange, event.event_type, json.dumps(event.as_message()).encode(),
            pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                 delivery_mode=2))

    def close(self):
        with contextlib.suppress(Exception):
            self.connection.close()


# --- the store ---------------------------------------------------------------------------

class Store:
    """What the benchmark reads from notifications' database."""

    def __init__(self, url):
        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

    def scalar(self, sql, **params):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def rows(self, sql, **params):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()


def wait_until(what, predicate, timeout, processes, every=1.0):
    started = time.monotonic()
    while True:
        processes.check_alive()
        value = predicate()
        if value:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


# --- live traffic ------------------------------------------------------------------------

class Traffic:
    """Clients that keep using notifications while the sweep runs: each notes
    ``(started, seconds, error)`` per call."""

    def __init__(self, config, points):
        self.config, self.points = config, points
        self.samples = {"health": [], "inbox": []}
        self.published = []        # (event_id, customer_id, published wall time)
        self.running = True
        self.threads = []

    def start(self, amqp_uri, health_clients=2, inbox_clients=4, events_per_s=20):
        for _ in range(health_clients):
            self.threads.append(eventlet.spawn(
                self._calls, "health", HEALTH_TIMEOUT, 0.2, lambda p: p.notifications.health()))
        for _ in range(inbox_clients):
            self.threads.append(eventlet.spawn(
                self._calls, "inbox", RPC_TIMEOUT, 0.05, lambda p: p.notifications.inbox(
                    customer_of(random.randrange(self.points)))))
        self.threads.append(eventlet.spawn(self._events, amqp_uri, events_per_s))

    def _calls(self, name, timeout, pause, call):
        with ClusterRpcProxy(self.config, timeout=timeout) as proxy:
            while self.running:
                started = time.monotonic()
                error = None
                try:
                    call(proxy)
                except Exception as exc:   # what the client saw, counted, not fatal
                    error = f"{type(exc).__name__}: {str(exc)[:80]}"
                self.samples[name].append((started, time.monotonic() - started, error))
                eventlet.sleep(pause)

    def _events(self, amqp_uri, per_second):
        bus = Bus(amqp_uri)
        serial = 0
        try:
            while self.running:
                serial += 1
                n = random.randrange(self.points)
                event = invoice_event(n, serial)
                bus.publish("billing.events", event)
                self.published.append((event.event_id, customer_of(n), time.time()))
                eventlet.sleep(1 / per_second)
        finally:
            bus.close()

    def stop(self):
        self.running = False
        for thread in self.threads:
            thread.wait()

    def summary(self, since, until):
        out = {}
        for name, samples in self.samples.items():
            window = [s for s in samples if since <= s[0] <= until]
            ok = [s[1] for s in window if s[2] is None]
            errors = {}
            for s in window:
                if s[2]:
                    errors[s[2]] = errors.get(s[2], 0) + 1
            out[name] = {"calls": len(window), "errors": sum(errors.values()),
                         "error_examples": errors,
                         "p50_ms": _ms(percentile(ok, 50)), "p99_ms": _ms(percentile(ok, 99)),
                         "max_ms": _ms(max(ok) if ok else None)}
        return out


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


def event_lags(store, published, since_wall, until_wall):
    """Seconds from publishing an invoice_issued event to its notification
    committed, for the events published during the sweep; and how many were not
    handled at all."""
    handled = {}
    for key, created_at in store.rows(
            "SELECT dedupe_key, created_at FROM inbox WHERE kind = 'invoice_issued'"):
        moment = created_at if isinstance(created_at, datetime) else datetime.fromisoformat(
            str(created_at))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        handled[key.split(":")[0]] = moment.timestamp()
    lags, missing = [], 0
    for event_id, _, at in published:
        if not since_wall <= at <= until_wall:
            continue
        if event_id in handled:
            lags.append(max(0.0, handled[event_id] - at))
        else:
            missing += 1
    return {"events": len(lags) + missing, "not_handled": missing,
            "lag_p50_ms": _ms(percentile(lags, 50)), "lag_p99_ms": _ms(percentile(lags, 99)),
            "lag_max_ms": _ms(max(lags) if lags else None)}


# --- one store ---------------------------------------------------------------------------

def run_store(kind, options, broker, postgres, log_dir):
    label = f"sweep-{kind}"
    vhost, amqp_uri = broker.new_vhost(label)
    prefix = None
    tmp = Path(tempfile.mkdtemp(prefix="vool-sweep-", dir=log_dir))
    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'notifications.sqlite3'}"
    else:
        prefix, _ = postgres.new_prefix()
        url = postgres.url.set(drivername="postgresql", database=f"{prefix}_notifications") \
            .render_as_string(hide_password=False)
    sink_file = tmp / "mail.txt"
    sink_file.touch()
    smtp_port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", "bench.mail_sink.Counting",
         str(sink_file), "-l", f"127.0.0.1:{smtp_port}"], cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL, stderr=open(tmp / "smtp.log", "ab"))
    processes = ServiceProcesses(tmp / "logs")
    config = {"AMQP_URI": amqp_uri}
    env = service_env(AMQP_URI=amqp_uri, VOOL_NOTIFICATIONS_DATABASE_URL=url,
                      SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_port,
                      VOOL_MAIL_FROM="Vool <teated@vool.test>")
    result = {"store": kind, "points": options.points, "replicas": options.replicas}
    try:
        for replica in range(options.replicas):
            processes.start(f"notifications-{replica + 1}",
                            "services.notifications.service", env)
        if kind == "postgresql":   # the service creates its database; wait for it
            wait_until("the database", lambda: _exists(postgres, f"{prefix}_notifications"),
                       60, processes, every=0.3)
        wait_until("notifications' queues", lambda: _consuming(broker, vhost, options.replicas),
                   120, processes, every=0.3)
        store = Store(url)

        say(f"[{kind}] seeding {options.points} points through the bus ...")
        started = time.monotonic()
        bus, now = Bus(amqp_uri), datetime.now(timezone.utc)
        for n in range(options.points):
            for exchange, event in seed_events(n, now, options.mail_every):
                bus.publish(exchange, event)
        bus.close()
        points = options.points
        mailed = len(range(0, points, options.mail_every))
        result["customers_with_email"] = mailed
        wait_until("every reminder scheduled", lambda: store.scalar(
            "SELECT count(*) FROM reminders WHERE status = 'pending'") == points
            and store.scalar("SELECT count(*) FROM contacts") == points,
            options.seed_timeout, processes)
        wait_until("every contract mail sent", lambda: store.scalar(
            "SELECT count(*) FROM deliveries WHERE status <> 'sent'") == 0
            and _lines(sink_file) >= mailed, options.seed_timeout, processes)
        result["seed_s"] = round(time.monotonic() - started, 1)
        say(f"[{kind}] seeded in {result['seed_s']} s")

        traffic = Traffic(config, points)
        traffic.start(amqp_uri)
        time.sleep(5)
        say(f"[{kind}] sweeping (as of {SWEEP_AS_OF}) beside live traffic ...")
        sweep_wall, sweep_started = time.time(), time.monotonic()
        answers = sweep(config, options.replicas)
        sweep_s = time.monotonic() - sweep_started
        sweep_end_wall = time.time()
        time.sleep(3)
        traffic.stop()
        result.update(sweep_s=round(sweep_s, 2),
                      within_gateway_route_timeout=sweep_s < GATEWAY_ROUTE_TIMEOUT,
                      reminders_sent_answered=answers)
        say(f"[{kind}] swept in {sweep_s:.1f} s: {answers}")

        drained = wait_until("every reminder mail sent", lambda: store.scalar(
            "SELECT count(*) FROM deliveries WHERE kind = 'reading_reminder' "
            "AND status = 'sent'") == mailed, options.seed_timeout, processes)
        result["mails_drained_s_after_sweep"] = round(drained, 1)
        time.sleep(2)   # anything still on its way to the SMTP server
        result["before_sweep"] = traffic.summary(sweep_started - 5, sweep_started)
        result["before_sweep"]["events"] = event_lags(store, traffic.published,
                                                      sweep_wall - 5, sweep_wall)
        result["during_sweep"] = traffic.summary(sweep_started, sweep_started + sweep_s)
        result["during_sweep"]["events"] = event_lags(store, traffic.published, sweep_wall,
                                                      sweep_end_wall)
        result["counts"] = counts(store, sink_file)
        result["log_problems"] = problems(processes)
        return result
    finally:
        with interrupts.shielded():
            processes.stop()
            sink.terminate()
            with contextlib.suppress(Exception):
                sink.wait(timeout=10)
            broker.drop_vhost(vhost)
            if prefix:
                postgres.drop_prefix(prefix)


def _exists(postgres, database):
    with postgres.admin.connect() as conn:
        return conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"),
                            {"d": database}).first() is not None


def _consuming(broker, vhost, replicas):
    with contextlib.suppress(Exception):
        queues = broker.queues(vhost)
        wanted = [q for q in queues if q.startswith("evt-") and "--notifications." in q
                  and ".retry-" not in q and not q.endswith(".dead-letter")]
        wanted.append("rpc-notifications")
        return len(wanted) > 10 and all(queues.get(q, {}).get("consumers", 0) >= replicas
                                        for q in wanted)
    return False


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return sum(1 for _ in f)


def sweep(config, replicas):
    """The sweep over RPC, on every replica at once; returns each answer's count."""
    def one(_):
        with ClusterRpcProxy(config, timeout=3600) as proxy:
            return proxy.notifications.reminder_sweep(SWEEP_AS_OF)["reminders_sent"]
    return list(eventlet.GreenPool(replicas).imap(one, range(replicas)))


def counts(store, sink_file):
    mails = [line.rstrip("\n").split("\t", 1) for line in open(sink_file, encoding="utf-8")]
    reminder_ids = [m[0] for m in mails if len(m) == 2 and m[1] in REMINDER_SUBJECTS]
    return {
        "reminders_sent": store.scalar("SELECT count(*) FROM reminders WHERE status = 'sent'"),
        "points_reminded_more_than_once": store.scalar(
            "SELECT count(*) FROM (SELECT consumption_point_id FROM reminders WHERE status = "
            "'sent' GROUP BY consumption_point_id HAVING count(*) > 1) twice"),
        "next_reminders_pending": store.scalar(
            "SELECT count(*) FROM reminders WHERE status = 'pending'"),
        "reminder_notifications": store.scalar(
            "SELECT count(*) FROM inbox WHERE kind = 'reading_reminder'"),
        "reminder_mails_received": len(reminder_ids),
        "reminder_mails_distinct": len(set(reminder_ids)),
    }


def problems(processes):
    lines = [line for found in processes.log_problems().values() for line in found]
    return {"lines": len(lines),
            "database_is_locked": sum("database is locked" in line for line in lines),
            "handler_retries": sum("retrying in" in line for line in lines),
            "examples": lines[:5]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--mail-every", type=int, default=10,
                        help="every n-th customer has an e-mail address (SMTP is slow here)")
    parser.add_argument("--seed-timeout", type=float, default=900)
    parser.add_argument("--record", action="store_true",
                        help="also write bench/results/reminder-sweep-<date>.json")
    options = parser.parse_args(argv)
    interrupts.install()
    broker = Broker(os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"),
                    os.environ.get("RABBIT_MANAGEMENT_URL", "http://127.0.0.1:15672"))
    postgres = Postgres(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/"))
    log_dir = PROJECT_ROOT / "var" / "bench-sweep"
    log_dir.mkdir(parents=True, exist_ok=True)
    report = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "rabbitmq": broker.version(), "postgresql": postgres.version()},
              "runs": []}
    for kind in options.stores.split(","):
        report["runs"].append(run_store(kind.strip(), options, broker, postgres, log_dir))
        say(json.dumps(report["runs"][-1], indent=1, default=str))
    text = json.dumps(report, indent=1, default=str)
    (RESULTS / "reminder-sweep-latest.json").write_text(text)
    if options.record:
        day = datetime.now(timezone.utc).date().isoformat()
        (RESULTS / f"reminder-sweep-{day}.json").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
