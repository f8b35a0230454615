"""``make chaos``: break the running system under load and count what came out.

Vool runs as production runs it — one ``python -m nameko run`` process per
service and the gateway — on a PostgreSQL cluster and RabbitMQ node(s) the run
starts for itself (bench/chaos_servers.py: never the machine's shared servers),
with a few hundred contracts signed, invoices issued and the customers logged in
through the banklink flow. Retrying clients (bench/chaos_load.py) send readings,
banklink payments and a camt.053 statement through the gateway while, one
scenario after another, something fails:

  kill         kill -9 of each process in turn (gateway, identity, contracts,
               metering, billing, notifications), restarted a few seconds later
  broker       RabbitMQ restarted
  connections  every broker connection closed through the management API
  database     PostgreSQL killed (immediate shutdown) and started again
  replicas     a second replica of every process; one of each killed at once
  cluster      a three-node RabbitMQ cluster, services on a failover AMQP_URI
               (node 1 first), VOOL_QUEUE_TYPE=quorum; a node they are not
               connected to killed, then the one they are

After each scenario the run waits for the system to drain and counts from the
services' own databases and the broker. It prints one table, writes
bench/results/chaos-<date>.json and the table into docs/reliability.md.
"""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import collections  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from decimal import Decimal  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote  # noqa: E402

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from eventlet.event import Event  # noqa: E402

from bench import chaos_load, interrupts  # noqa: E402
from bench.chaos_report import write_reliability_doc, table  # noqa: E402
from bench.chaos_servers import PrivatePostgres, RabbitCluster, workspace  # noqa: E402
from bench.gateway import log_everyone_in, make_bank  # noqa: E402
from bench.infra import (PROJECT_ROOT, Broker, Postgres, ServiceProcesses, cpu_model,  # noqa: E402
                         free_port, memory_gib, service_env)
from bench.interrupts import shielded  # noqa: E402
from bench.load import http_call, http_client, http_ok  # noqa: E402
from bench.system import (SERVICES, TALLINN, choose_start_date, expected_queues, proxy_pool,  # noqa: E402
                          sign_contracts, wait_meters_known, wait_schedules)
from tests.camt053 import camt, ntry, tx  # noqa: E402

SCENARIOS = ("kill", "broker", "connections", "database", "replicas", "cluster")
PROCESSES = ("gateway",) + SERVICES
RPC_TIMEOUT = 5.0          # the gateway's VOOL_RPC_TIMEOUT: a 503 comes after at most this
RECONNECT_TARGET = 10.0    # s from the broker/database back to every service healthy
FAILOVER_WAIT = 30.0       # s a cluster node stays down at most while the services fail over
OPERATOR = ("chaos-desk", "chaos-desk-password-1")
BILLED_PERIODS = ("2026-09", "2026-10")   # invoices to pay; readings are from January on
STATEMENT_CUSTOMERS = 40   # customers whose invoices statements pay; the rest pay by banklink


def _env(name, default, kind=str):
    value = os.environ.get(name)
    return kind(value) if value not in (None, "") else default


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", default=_env("CHAOS_SCENARIOS", ",".join(SCENARIOS)),
                   help=f"comma-separated, in this order: {', '.join(SCENARIOS)} (env "
                        "CHAOS_SCENARIOS; default all)")
    p.add_argument("--points", type=int, default=_env("CHAOS_POINTS", 200, int),
                   help="contracts signed per system (default 200)")
    p.add_argument("--clients", type=int, default=_env("CHAOS_CLIENTS", 12, int),
                   help="reading clients (default 12)")
    p.add_argument("--think", type=float, default=_env("CHAOS_THINK", 0.15, float),
                   help="pause of a client between two readings, s (default 0.15)")
    p.add_argument("--steady", type=float, default=_env("CHAOS_STEADY", 8.0, float),
                   help="load before and after the faults of a scenario, s (default 8)")
    p.add_argument("--down", type=float, default=_env("CHAOS_DOWN", 4.0, float),
                   help="how long a killed process or server stays down, s (default 4)")
    p.add_argument("--drain-timeout", type=float, default=_env("CHAOS_DRAIN", 200.0, float),
                   help="how long to wait for the drain after a scenario, s (default 200: "
                        "a handler failure is retried after 1, 5, 30 and 120 s)")
    p.add_argument("--payment-interval", type=float, default=1.0,
                   help="pause of the payer between two banklink payments, s (default 1)")
    p.add_argument("--no-doc", action="store_true", help="do not rewrite docs/reliability.md")
    p.add_argument("--json", default=None, help="results file (default "
                                                "bench/results/chaos-<date>.json; '' none)")
    args = p.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    args.scenarios = [s for s in SCENARIOS if s in args.scenarios]
    return args


# --- the broker seen through whichever node answers ------------------------------------

class NodesBroker(Broker):
    """bench.infra.Broker on a private node, or on the first cluster node that answers."""

    def __init__(self, nodes):
        self.nodes = nodes
        super().__init__(nodes[0].amqp_uri(), nodes[0].management_url)

    def api(self, method, path, **kwargs):
        error = None
        for node in self.nodes:
            self.management_url = node.management_url
            try:
                return super().api(method, path, **kwargs)
            except requests.RequestException as exc:
                error = exc
        raise error

    def close_connections(self, vhost=None):
        rows = self.api("GET", f"vhosts/{quote(vhost, safe='')}/connections" if vhost
                        else "connections")
        for row in rows:
            with contextlib.suppress(requests.RequestException):
                self.api("DELETE", f"connections/{quote(row['name'], safe='')}",
                         headers={"X-Reason": "chaos: connection closed on purpose"})
        return len(rows)


# --- one running Vool ----------------------------------------------------------------

class Fault:
    def __init__(self, what, kind):
        self.what, self.kind = what, kind     # kind: process | broker | database | node
        self.started = time.time()            # the fault is injected
        self.back = None                      # the process / server is up again
        self.healthy = None                   # every service healthy again

    def as_dict(self):
        return {"what": self.what, "kind": self.kind, "started": self.started,
                "back": self.back, "healthy": self.healthy,
                "healthy_after_back_s": (self.healthy - self.back
                                         if self.healthy and self.back else None),
                "healthy_after_fault_s": (self.healthy - self.started
                                          if self.healthy else None)}


class Vool:
    """Vool's processes on one broker (vhost) and the private PostgreSQL (prefix)."""

    def __init__(self, label, root, broker, amqp_uri_of, postgres, options, say, bank_dir):
        self.label, self.root, self.broker, self.postgres = label, root, broker, postgres
        self.options, self.say = options, say
        self.vhost, plain_uri = broker.new_vhost(label)
        self.amqp_uri = amqp_uri_of(self.vhost)
        del plain_uri
        self.prefix, database_url = postgres.new_prefix()
        self.banks_file, self.bank = make_bank(bank_dir)
        self.ports = {"gateway": free_port()}
        self.env = service_env(AMQP_URI=self.amqp_uri, DATABASE_URL=database_url,
                               VOOL_BANKS_FILE=self.banks_file, VOOL_QUEUE_TYPE="quorum"
                               if label == "cluster" else os.environ.get("VOOL_QUEUE_TYPE", ""),
                               VOOL_RPC_TIMEOUT=RPC_TIMEOUT, VOOL_LOG_LEVEL="WARNING")
        self.processes = ServiceProcesses(root / "logs" / label)
        self.points, self.payables, self.statement_invoices = [], None, None
        self.operator_token = None
        self.down_on_purpose = set()   # labels killed by the scenario, not to be healed
        self.deaths = []               # processes that died on their own, restarted
        self._healer = None

    # processes
    def module(self, label):
        return f"services.{label.split('-')[0]}.service"

    def start(self, label):
        env = dict(self.env)
        if label.startswith("gateway"):
            port = self.ports.setdefault(label, free_port())
            env["VOOL_GATEWAY_ADDRESS"] = f"127.0.0.1:{port}"
            env["VOOL_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        self.processes.start(label, self.module(label), env)

    def kill(self, label):
        """kill -9; the process stays down until ``start(label)``."""
        self.down_on_purpose.add(label)
        process = self.processes.processes[label]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)   # nameko runs in its own session
        process.wait()

    def restart(self, label):
        self.start(label)
        self.down_on_purpose.discard(label)

    def heal(self, restart_after=2.0):
        """What production's restart policy does (compose ``restart:``, ``vool run``):
        a process that died on its own is started again — and noted, since a
        process must ride out a broker or database failure, not die of it."""
        def watch():
            while True:
                eventlet.sleep(0.5)
                for label, process in list(self.processes.processes.items()):
                    if process.poll() is None or label in self.down_on_purpose:
                        continue
                    last = [line for line in self.processes.tail(label, 60).splitlines()
                            if line.strip() and not line.startswith(" ")]
                    self.deaths.append({"process": label, "exit": process.returncode,
                                        "at": time.time(),
                                        "last_log_line": last[-1][:300] if last else ""})
                    self.say(f"{self.label}: {label} died on its own (exit "
                             f"{process.returncode}): {self.deaths[-1]['last_log_line']}; "
                             f"restarting it in {restart_after:g}s")
                    eventlet.sleep(restart_after)
                    if label not in self.down_on_purpose:
                        self.start(label)
        if self._healer is None:
            self._healer = eventlet.spawn(watch)

    def gateway_ports(self):
        return [port for label, port in sorted(self.ports.items())]

    def healthy(self):
        """Every gateway's /health is 200 (each backend answered its health RPC,
        its database reached) and every service queue has a consumer."""
        if not all(http_ok(port, "/health", timeout=3) for port in self.gateway_ports()):
            return False
        try:
            queues = self.broker.queues(self.vhost)
        except Exception:
            return False
        return all(queues.get(q, {}).get("consumers", 0) > 0 for q in expected_queues())

    def wait_healthy(self, fault=None, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                if fault is not None:
                    fault.healthy = time.time()
                return True
            eventlet.sleep(0.25)
        return False

    # setup
    def set_up(self):
        say, options = self.say, self.options
        for label in PROCESSES:
            self.start(label)
        t0 = time.monotonic()
        deadline = t0 + 150
        while not self.healthy():
            self.processes.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label}: Vool not healthy in 150 s "
                                   f"(logs in {self.processes.log_dir})")
            time.sleep(0.5)
        say(f"{self.label}: 6 processes healthy in {time.monotonic() - t0:.1f}s "
            f"(vhost {self.vhost}, databases {self.prefix}_*)")
        today = datetime.now(TALLINN).date()
        config = {"AMQP_URI": self.amqp_uri}
        t0 = time.monotonic()
        with proxy_pool(config, 8) as pool:
            self.points = sign_contracts(pool, options.points, choose_start_date(today), 8)
            wait_meters_known(pool, self.points, 8)
            proxy = pool.get()
            try:
                proxy.identity.add_operator(OPERATOR[0], "admin", OPERATOR[1])
            finally:
                pool.put(proxy)
        wait_schedules(self.postgres, self.prefix)
        say(f"{self.label}: {len(self.points)} contracts signed in {time.monotonic() - t0:.1f}s")
        self.today = today
        port = self.ports["gateway"]
        t0 = time.monotonic()
        log_everyone_in(port, self.bank, self.points, 10)
        say(f"{self.label}: {len(self.points)} customers logged in through the banklink flow "
            f"in {time.monotonic() - t0:.1f}s")
        self.operator_token = operator_login(port)
        self._issue_invoices(port)
        self.heal()

    def _issue_invoices(self, port):
        billing = f"{self.prefix}_billing"
        deadline = time.monotonic() + 60
        while rows(self.postgres, billing, "SELECT count(*) FROM billing_contracts")[0][0] < len(
                self.points):
            if time.monotonic() > deadline:
                raise RuntimeError("billing did not learn every contract in 60 s")
            time.sleep(0.3)
        conn = http_client(port, timeout=600)
        try:
            auth = {"Authorization": f"Bearer {self.operator_token}"}
            for period in BILLED_PERIODS:
                status, body = http_call(conn, "POST", "/api/v1/operator/jobs/billing-run",
                                         json.dumps({"period": period}),
                                         {**auth, "Content-Type": "application/json"})
                if status != 202:
                    raise RuntimeError(f"billing run {period}: HTTP {status} {body[:200]!r}")
                job = json.loads(body)
                while job["state"] not in ("done", "failed"):   # billing runs it: follow
                    if time.monotonic() > deadline + 600:
                        raise RuntimeError(f"billing run {period} still {job['state']}")
                    time.sleep(0.3)
                    status, body = http_call(conn, "GET",
                                             f"/api/v1/operator/jobs/{job['job_id']}",
                                             None, auth)
                    if status != 200:
                        raise RuntimeError(f"billing run {period}: HTTP {status} {body[:200]!r}")
                    job = json.loads(body)
                if job["state"] != "done":
                    raise RuntimeError(f"billing run {period} failed: {job.get('error')}")
        finally:
            conn.close()
        by_customer = {p.customer_id: p for p in self.points}
        invoices = rows(self.postgres, billing,
                        "SELECT invoice_no, customer_id, total, reference_no FROM invoices "
                        "WHERE status = 'unpaid' ORDER BY invoice_no")
        statement_customers = {p.customer_id for p in
                               self.points[:min(STATEMENT_CUSTOMERS, len(self.points) // 5)]}
        self.payables = collections.deque(
            (by_customer[c], no) for no, c, _, _ in invoices if c not in statement_customers)
        self.statement_invoices = collections.deque(
            (no, total, ref) for no, c, total, ref in invoices if c in statement_customers)
        self.say(f"{self.label}: {len(invoices)} invoices issued for {', '.join(BILLED_PERIODS)}")

    def tear_down(self):
        with shielded():
            if self._healer is not None:
                self._healer.kill()
            self.processes.stop()
            with contextlib.suppress(Exception):
                self.broker.drop_vhost(self.vhost)
            with contextlib.suppress(Exception):
                self.postgres.drop_prefix(self.prefix)


def operator_login(port):
    conn = http_client(port, timeout=30)
    try:
        status, body = http_call(conn, "POST", "/api/v1/operator/login",
                                 json.dumps({"username": OPERATOR[0], "password": OPERATOR[1]}),
                                 {"Content-Type": "application/json"})
        if status != 200:
            raise RuntimeError(f"operator login: HTTP {status} {body[:200]!r}")
        return json.loads(body)["token"]
    finally:
        conn.close()


def rows(postgres, database, sql, params=None):
    engine = postgres.engine(database)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params or {}).all()
    finally:
        engine.dispose()


# --- the scenarios' faults --------------------------------------------------------------

def fault_kill(vool, servers, options, faults):
    for label in PROCESSES:
        fault = Fault(f"kill -9 {label}", "process")
        faults.append(fault)
        vool.kill(label)
        eventlet.sleep(options.down)
        vool.restart(label)
        fault.back = time.time()
        vool.wait_healthy(fault)
        eventlet.sleep(2)


def fault_broker(vool, servers, options, faults):
    node = servers["rabbit"].nodes[0]
    fault = Fault("RabbitMQ restarted (rabbitmqctl stop, start)", "broker")
    faults.append(fault)
    node.stop()
    eventlet.sleep(options.down)
    node.start()
    fault.back = time.time()
    vool.wait_healthy(fault)


def fault_connections(vool, servers, options, faults):
    fault = Fault("every broker connection closed (management API)", "broker")
    faults.append(fault)
    closed = vool.broker.close_connections()
    fault.what += f": {closed} closed"
    fault.back = time.time()
    vool.wait_healthy(fault)


def fault_database(vool, servers, options, faults):
    postgres = servers["postgres"]
    fault = Fault("PostgreSQL killed (immediate shutdown) and started", "database")
    faults.append(fault)
    postgres.stop("immediate")
    eventlet.sleep(options.down)
    postgres.start()
    fault.back = time.time()
    vool.wait_healthy(fault)


def prepare_replicas(vool):
    for label in PROCESSES:
        vool.start(f"{label}-2")
    deadline = time.monotonic() + 120
    while not vool.healthy() or len(vool.processes.pids()) < 2 * len(PROCESSES):
        if time.monotonic() > deadline:
            raise RuntimeError("the second replicas were not healthy in 120 s")
        eventlet.sleep(0.5)


def fault_replicas(vool, servers, options, faults):
    fault = Fault("one replica of every process killed (-9), the other running", "process")
    faults.append(fault)
    for label in PROCESSES:
        vool.kill(label)
    eventlet.sleep(2 * options.down)   # the survivors serve alone meanwhile
    for label in PROCESSES:
        vool.restart(label)
    fault.back = time.time()
    vool.wait_healthy(fault)


def fault_cluster(vool, servers, options, faults):
    cluster = servers["cluster"]
    for node, what in ((cluster.nodes[2], "a node no service is connected to"),
                       (cluster.nodes[0], "the node the services are connected to")):
        fault = Fault(f"kill -9 of {what} ({node.node})", "node")
        faults.append(fault)
        node.kill()
        eventlet.sleep(1.0)
        # the other two nodes are up all along: how soon is every service healthy
        # on them (failover), with this node still down?
        ok = vool.wait_healthy(timeout=FAILOVER_WAIT)
        fault.failover_s = time.time() - fault.started if ok else None
        eventlet.sleep(max(0.0, 2 * options.down - (time.time() - fault.started)))
        node.start()
        fault.back = time.time()
        vool.wait_healthy(fault)
        eventlet.sleep(3)


FAULTS = {"kill": fault_kill, "broker": fault_broker, "connections": fault_connections,
          "database": fault_database, "replicas": fault_replicas, "cluster": fault_cluster}


# --- one scenario: load, faults, drain, count --------------------------------------------

def statement_document(vool, name, count):
    entries, parts = [], []
    for n in range(count):
        if not vool.statement_invoices:
            break
        invoice_no, total, reference = vool.statement_invoices.popleft()
        entry_id = f"CHAOS-{name}-{n}"
        entries.append({"entry_id": entry_id, "invoice_no": invoice_no, "amount": str(total)})
        parts.append(ntry(f"{Decimal(total):.2f}", booked="<BookgDt><Dt>2026-11-20</Dt></BookgDt>",
                          ids=f"<AcctSvcrRef>{entry_id}</AcctSvcrRef>",
                          details="<NtryDtls>" + tx(
                              debtor="<Dbtr><Nm>Chaos Payer</Nm></Dbtr>",
                              rmt=f"<RmtInf><Strd><CdtrRefInf><Ref>{reference}</Ref></CdtrRefInf>"
                                  "</Strd></RmtInf>") + "</NtryDtls>"))
    return camt(*parts, stmt_id=f"<Id>CHAOS-{name}</Id>"), entries


def run_scenario(vool, servers, name, options, say):
    load = chaos_load.Load(name)
    faults = []
    dead_before = dead_letters(vool)
    stop = Event()
    points = chaos_load.Points([p for p in vool.points if getattr(p, "active", True)],
                               vool.today)
    ports = vool.gateway_ports()
    clients = [chaos_load.Client(ports, start=n) for n in range(options.clients)]
    payer = chaos_load.Client(ports)
    threads = [eventlet.spawn(_reported, say, chaos_load.reading_client, c, points, load, stop,
                              options.think) for c in clients]
    threads.append(eventlet.spawn(_reported, say, chaos_load.payment_client, payer, vool.bank,
                                  vool.payables, load, stop, options.payment_interval))
    started = time.time()
    statement = None
    try:
        eventlet.sleep(options.steady)
        document, entries = statement_document(vool, name, 8)

        def statement_later():
            eventlet.sleep(1.0)   # while the first fault lasts
            return chaos_load.import_statement(ports, vool.operator_token, document, entries,
                                               load)
        statement = eventlet.spawn(statement_later)
        say(f"{name}: faults begin")
        FAULTS[name](vool, servers, options, faults)
        for fault in faults:
            say(f"{name}: {fault.what}: healthy "
                + (f"{fault.healthy - fault.back:.1f}s after it was back"
                   if fault.healthy else "NOT within 120 s"))
        eventlet.sleep(options.steady)
    finally:
        stop.send()
        for thread in threads:
            with contextlib.suppress(Exception):
                thread.wait()
        if statement is not None:
            with contextlib.suppress(Exception):
                statement.wait()
        for client in clients + [payer]:
            client.close()
    for request in load.readings:   # a point whose reading was not answered leaves the rotation
        if request.status != 201:
            request.extra["point"].active = False
    ended = time.time()
    say(f"{name}: load over: {len(load.readings)} readings sent, "
        f"{sum(r.status == 201 for r in load.readings)} answered 201; draining")
    drained_s = drain(vool, load, options.drain_timeout)
    counts = count(vool, load, faults, started, ended, dead_before)
    counts["drained_after_s"] = drained_s
    counts["died"] = [d for d in vool.deaths if d["at"] >= started]
    return counts


def _reported(say, function, *args):
    """A client that fails is a bug of the harness: said, not silently gone."""
    try:
        return function(*args)
    except Exception as exc:
        say(f"a client failed: {type(exc).__name__}: {exc}")
        traceback.print_exc()
        raise


def dead_letters(vool):
    try:
        queues = vool.broker.queues(vool.vhost)
    except Exception:
        return None
    return {q: v["messages"] for q, v in queues.items() if q.endswith(".dead-letter")}


def stored_readings(vool, load):
    """``{client key: reading_id}`` of the readings metering stored under our keys."""
    keys = {f"{r.extra['point'].customer_id}:{r.key}": r.key for r in load.readings}
    if not keys:
        return {}
    found = rows(vool.postgres, f"{vool.prefix}_metering",
                 "SELECT key, response FROM idempotency_keys WHERE key = ANY(:keys) "
                 "AND response IS NOT NULL", {"keys": list(keys)})
    return {keys[k]: (r if isinstance(r, dict) else json.loads(r))["reading_id"]
            for k, r in found}


def drain(vool, load, timeout):
    """Seconds until every stored reading is charged and no work is left on the
    broker or in an outbox; None when that did not happen in ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        with contextlib.suppress(Exception):
            stored = set(stored_readings(vool, load).values())
            charged = {r[0] for r in rows(vool.postgres, f"{vool.prefix}_billing",
                                          "SELECT reading_id FROM charges WHERE reading_id = "
                                          "ANY(:ids)", {"ids": list(stored)})} if stored else set()
            queues = vool.broker.queues(vool.vhost)
            busy = {q: v["messages"] for q, v in queues.items()
                    if v["messages"] and not q.endswith(".dead-letter")
                    # replies to a killed gateway's calls, kept 5 min for it by nameko
                    and not q.startswith("rpc.reply-")}
            unpublished = sum(rows(vool.postgres, f"{vool.prefix}_{s}",
                                   "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]
                              for s in SERVICES)
            if stored <= charged and not busy and not unpublished:
                return time.monotonic() - t0
        time.sleep(1.0)
    return None


def count(vool, load, faults, started, ended, dead_before):
    pg, prefix = vool.postgres, vool.prefix
    answered = {r.key: r.extra["reading_id"] for r in load.readings if r.status == 201}
    stored = stored_readings(vool, load)
    ids = list(set(stored.values()) | set(answered.values()))
    in_table = {r[0] for r in rows(pg, f"{prefix}_metering",
                                   "SELECT reading_id FROM readings WHERE reading_id = ANY(:ids)",
                                   {"ids": ids})} if ids else set()
    # a second reading of a point for a day this scenario sent once
    sent_days = {(r.extra["point"].point_id, r.extra["command"]["reading_date"])
                 for r in load.readings}
    doubled = [(cp, str(day)) for cp, day, n in rows(
        pg, f"{prefix}_metering", "SELECT consumption_point_id, reading_date, count(*) "
                                  "FROM readings WHERE source <> 'initial' "
                                  "GROUP BY 1, 2 HAVING count(*) > 1")]
    doubled = [d for d in doubled if d in sent_days]
    charge_counts = collections.Counter(r[0] for r in rows(
        pg, f"{prefix}_billing", "SELECT reading_id FROM charges WHERE reading_id = ANY(:ids)",
        {"ids": ids})) if ids else collections.Counter()
    stored_ids = set(stored.values())
    once = sum(1 for i in stored_ids if charge_counts[i] == 1)
    twice = sum(1 for i in stored_ids if charge_counts[i] > 1)
    never = sum(1 for i in stored_ids if charge_counts[i] == 0)
    since = datetime.fromtimestamp(started, timezone.utc)
    reminders = rows(pg, f"{prefix}_notifications",
                     "SELECT count(*) FROM reminders WHERE created_at >= :since",
                     {"since": since})[0][0]
    # each point's pending reminder is due when its last 201 said the next reading is
    last_due = {}
    for r in load.readings:
        if r.status == 201:
            last_due[r.extra["point"].point_id] = r.extra["next_reading_due"]
    pending = {cp: str(due) for cp, due in rows(
        pg, f"{prefix}_notifications",
        "SELECT consumption_point_id, due_on FROM reminders WHERE status = 'pending'")}
    reminder_wrong = sum(1 for cp, due in last_due.items() if pending.get(cp) != due)

    stamps = {f"banklink:testbank:{s}": (no, amount) for s, no, amount in load.confirmed}
    recorded = collections.Counter(r[0] for r in rows(
        pg, f"{prefix}_billing", "SELECT external_id FROM payments WHERE external_id = ANY(:e)",
        {"e": list(stamps)})) if stamps else collections.Counter()
    statement_entries = [e for r in load.statements for e in r.extra["entries"]]
    statement_ids = [e["entry_id"] for e in statement_entries]
    statement_recorded = collections.Counter(
        r[0].rsplit(":", 1)[-1] for r in rows(
            pg, f"{prefix}_billing", "SELECT external_id FROM payments WHERE source = 'statement'"
                                     " AND split_part(external_id, ':', 3) = ANY(:e)",
            {"e": statement_ids})) if statement_ids else collections.Counter()
    paid_invoices = [no for no, _ in stamps.values()] + [e["invoice_no"]
                                                           for e in statement_entries]
    overpaid = rows(pg, f"{prefix}_billing",
                    "SELECT count(*) FROM invoices WHERE invoice_no = ANY(:n) AND paid > total",
                    {"n": paid_invoices})[0][0] if paid_invoices else 0
    unpaid = rows(pg, f"{prefix}_billing",
                  "SELECT count(*) FROM invoices WHERE invoice_no = ANY(:n) AND status <> 'paid'",
                  {"n": paid_invoices})[0][0] if paid_invoices else 0

    dead_after = dead_letters(vool)
    dead_new = None
    if dead_after is not None:
        dead_new = {q: n - (dead_before or {}).get(q, 0) for q, n in dead_after.items()
                    if n - (dead_before or {}).get(q, 0)}

    windows = [(f.started, f.healthy or ended) for f in faults]
    during = [a for a in load.attempts() if any(s <= a.at <= e for s, e in windows)]
    seen = collections.Counter(a.outcome for a in during
                               if a.status is None or a.status >= 400)
    every = load.attempts()
    statuses = collections.Counter(a.outcome for a in every)
    slow_503 = sum(1 for a in every if a.status == 503 and a.seconds > RPC_TIMEOUT + 1.5)
    return {
        "readings": {"sent": len(load.readings), "answered_201": len(answered),
                     "stored": len(stored), "stored_not_answered": len(set(stored) - set(answered)),
                     "lost": sum(1 for k, i in answered.items() if i not in in_table
                                 or stored.get(k) != i),
                     "second_reading_same_day": len(doubled), "gave_up": sum(
                         1 for r in load.readings if r.gave_up),
                     "refused_4xx": dict(collections.Counter(
                         str(r.status) for r in load.readings
                         if r.status is not None and 400 <= r.status < 500))},
        "charges": {"once": once, "twice": twice, "never": never},
        "reminders": {"written": reminders, "pending_not_matching_last_answer": reminder_wrong},
        "payments": {"banklink_confirmed": len(stamps),
                     "banklink_recorded": sum(1 for e in stamps if recorded[e]),
                     "banklink_lost": sum(1 for e in stamps if not recorded[e]),
                     "banklink_twice": sum(1 for e in stamps if recorded[e] > 1),
                     "statement_entries": len(statement_ids),
                     "statement_recorded": sum(1 for e in statement_ids if statement_recorded[e]),
                     "statement_lost": sum(1 for e in statement_ids if not statement_recorded[e]),
                     "statement_twice": sum(1 for e in statement_ids if statement_recorded[e] > 1),
                     "statement_status": [r.status for r in load.statements],
                     "invoices_overpaid": overpaid, "paid_invoices_not_paid": unpaid,
                     "auto_replies": sum(1 for r in load.payments if r.kind == "payment-auto")},
        "dead_letters_new": dead_new,
        "clients": {"during_fault": dict(seen), "all_attempts": dict(statuses),
                    "http_500": sum(1 for a in every if a.status == 500),
                    "timeouts": sum(1 for a in every if a.error == "timeout"),
                    "slow_503": slow_503,
                    "longest_request_s": max((a.seconds for a in every), default=0.0),
                    "longest_during_fault_s": max((a.seconds for a in during), default=0.0)},
        "faults": [f.as_dict() | ({"failover_s": f.failover_s}
                                  if hasattr(f, "failover_s") else {})
                   for f in faults],
        "window": {"started": started, "ended": ended},
    }


def targets(name, c):
    """``{target: True/False}`` for one scenario's counts."""
    r, ch, p, cl = c["readings"], c["charges"], c["payments"], c["clients"]
    met = {
        "0 readings lost": r["lost"] == 0,
        "0 charged twice": ch["twice"] == 0,
        "0 uncharged after drain": ch["never"] == 0 and c["drained_after_s"] is not None,
        "0 payments lost or twice": (p["banklink_lost"] == p["banklink_twice"] == 0
                                     and p["statement_lost"] == p["statement_twice"] == 0
                                     and p["invoices_overpaid"] == 0),
        "no 500, no hang, 503 in time": cl["http_500"] == 0 and cl["timeouts"] == 0
        and cl["slow_503"] == 0,
        "same key never a 2nd reading": r["second_reading_same_day"] == 0,
    }
    if name == "cluster":
        met[f"failed over <= {RECONNECT_TARGET:g}s, node down"] = all(
            f.get("failover_s") is not None and f["failover_s"] <= RECONNECT_TARGET
            for f in c["faults"])
    if name in ("broker", "connections", "database", "cluster"):
        met[f"healthy <= {RECONNECT_TARGET:g}s after back"] = all(
            f["healthy_after_back_s"] is not None and f["healthy_after_back_s"] <= RECONNECT_TARGET
            for f in c["faults"])
    else:
        met["healthy again after restart"] = all(f["healthy"] is not None for f in c["faults"])
    if c.get("died"):
        met["no process died on its own"] = False
    return met


# --- the run ---------------------------------------------------------------------------

def machine(servers):
    memory = memory_gib()
    from importlib.metadata import version
    info = {"cpu": cpu_model(), "cores": os.cpu_count(),
            "memory": "?" if memory is None else f"{memory} GiB",
            "python": platform.python_version(), "os": f"{platform.system()} {platform.release()}",
            "nameko": version("nameko"), "kombu": version("kombu")}
    with contextlib.suppress(Exception):
        info["postgresql"] = Postgres(servers["postgres"].url).version()
    return info


def main(argv=None):
    options = parse_args(argv)
    interrupts.install()
    t_start = time.monotonic()

    def say(message):
        print(f"[{time.monotonic() - t_start:6.1f}s] {message}", flush=True)

    root = workspace()
    servers = {}
    results = {}
    info = {}
    try:
        say(f"chaos: scenarios {', '.join(options.scenarios)}; private servers under {root}")
        servers["postgres"] = PrivatePostgres(root).init()
        servers["postgres"].start()
        postgres = Postgres(servers["postgres"].url)
        single = [s for s in options.scenarios if s != "cluster"]
        info = machine(servers)
        if single:
            try:
                _single_node(root, servers, postgres, single, options, say, results, info)
            except KeyboardInterrupt:
                raise
            except Exception as exc:   # a row saying so for each scenario not run
                say(f"single node: failed: {exc}")
                traceback.print_exc()
                for name in single:
                    results.setdefault(name, {"error": f"set-up failed: {exc}"})
            with shielded():
                if "rabbit" in servers:
                    servers.pop("rabbit").remove()
        if "cluster" in options.scenarios:
            try:
                _cluster(root, servers, postgres, options, say, results, info)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                say(f"cluster: failed: {exc}")
                traceback.print_exc()
                results.setdefault("cluster", {"error": f"set-up failed: {exc}"})
    except KeyboardInterrupt:
        say("interrupted; stopping and removing everything the run started")
        return 130
    except Exception as exc:
        say(f"failed: {exc}")
        traceback.print_exc()
    finally:
        with shielded():
            logs = PROJECT_ROOT / "var" / "chaos-logs"
            with contextlib.suppress(Exception):
                shutil.rmtree(logs, ignore_errors=True)
                if (root / "logs").exists():
                    shutil.copytree(root / "logs", logs)
            for server in servers.values():
                with contextlib.suppress(Exception):
                    server.remove()
            shutil.rmtree(root, ignore_errors=True)
    print()
    text = table(results, targets)
    print(text)
    when = datetime.now(timezone.utc)
    out = {"when": when.isoformat(timespec="seconds"), "machine": info,
           "options": {k: v for k, v in vars(options).items()},
           "scenarios": results,
           "targets": {n: targets(n, c) for n, c in results.items() if "error" not in c}}
    path = options.json if options.json is not None else str(
        PROJECT_ROOT / "bench" / "results" / f"chaos-{when:%Y-%m-%d}.json")
    if path:
        Path(path).write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"results written to {path}; service logs in var/chaos-logs/")
    if not options.no_doc and results:
        write_reliability_doc(PROJECT_ROOT / "docs" / "reliability.md", text, info, when)
        print("table written to docs/reliability.md")
    say("total")
    return 0 if results and all(all(targets(n, c).values()) for n, c in results.items()
                                if "error" not in c) and all(
        "error" not in c for c in results.values()) else 1


def _single_node(root, servers, postgres, names, options, say, results, info):
    servers["rabbit"] = RabbitCluster(root, 1)
    servers["rabbit"].start()
    node = servers["rabbit"].nodes[0]
    with contextlib.suppress(Exception):
        info.setdefault("rabbitmq", NodesBroker([node]).version())
    say(f"private PostgreSQL on :{servers['postgres'].port}, RabbitMQ node {node.node} on "
        f":{node.amqp_port}")
    vool = Vool("single", root, NodesBroker([node]),
                lambda v: node.amqp_uri("/" + quote(v, safe="")), postgres, options, say,
                root / "bank-single")
    try:
        vool.set_up()
        for name in names:
            if name == "replicas":
                prepare_replicas(vool)
                say("replicas: a second replica of every process is running")
            results[name] = _scenario(vool, servers, name, options, say)
    finally:
        vool.tear_down()


def _cluster(root, servers, postgres, options, say, results, info):
    say("cluster: starting three RabbitMQ nodes and clustering them")
    cluster = servers["cluster"] = RabbitCluster(root, 3)
    cluster.start()
    say(f"cluster: {', '.join(cluster.members())}")
    with contextlib.suppress(Exception):
        info.setdefault("rabbitmq", NodesBroker(cluster.nodes).version())
    broker = NodesBroker(cluster.nodes)
    vool = Vool("cluster", root, broker, lambda v: cluster.failover_uri("/" + quote(v, safe="")),
                postgres, options, say, root / "bank-cluster")
    try:
        vool.set_up()
        kinds = queue_types(broker, vool.vhost)
        say(f"cluster: service queues by type: {kinds}")
        results["cluster"] = _scenario(vool, servers, "cluster", options, say)
        results["cluster"]["queue_types"] = kinds
    finally:
        vool.tear_down()


def _scenario(vool, servers, name, options, say):
    """One scenario; a failure of the harness itself is a row saying so, not a crash."""
    try:
        return run_scenario(vool, servers, name, options, say)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        say(f"{name}: the scenario itself failed: {exc}")
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}


def queue_types(broker, vhost):
    try:
        queues = broker.api("GET", f"queues/{quote(vhost, safe='')}?columns=name,type")
    except Exception:
        return {}
    wanted = set(expected_queues())
    return dict(collections.Counter(q.get("type", "?") for q in queues if q["name"] in wanted))


if __name__ == "__main__":
    sys.exit(main())
