"""The real Vool system for scenarios (b) and (c): started, seeded, drained, read back.

The five Vool services (and, for (c), the gateway) run as production runs them
(one ``nameko run`` process each) on a fresh virtual host and fresh databases.
``running_system`` starts them, signs contracts, waits until metering knows every
meter and notifications has scheduled the first reminders, and removes it all
again; the scenario then submits readings (``Rotation`` hands out each point's
next one) and ``measure`` turns the load's result into a summary.

Each submission is stamped by the client; afterwards the benchmark reads
``charges.created_at`` (billing) and ``reminders.created_at`` (notifications)
and the intermediate timestamps the services keep anyway (``readings.submitted_at``,
``outbox.published_at``, ``handled_events.handled_at``) to tell where the time went.
"""
import collections
import contextlib
import math
import time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import eventlet
import sqlalchemy as sa
from eventlet.queue import LightQueue
from nameko.standalone.rpc import ClusterRpcProxy
from stdnum.ee import ik
from stdnum.eu import eic

from services.common import errors  # noqa: F401  typed errors come back as themselves
from services.common.errors import NotFound

from bench.interrupts import shielded
from bench.infra import CpuMeter, ServiceProcesses, Spy, service_env
from bench.load import percentile
from bench.report import scenario_summary, stage
from bench.spy import attach as attach_spy

SERVICES = ("identity", "contracts", "metering", "billing", "notifications")
CLIENT_TIMEOUT = 10  # seconds an RPC client waits for an answer
TALLINN = ZoneInfo("Europe/Tallinn")
PREFERRED_START = date(2026, 1, 1)


# --- valid identifiers, like tests/samples.py makes them ----------------------------

def eic_code(n):
    """A valid EIC, a different one for each n below 10**7. stdnum's check
    character can come out as "-", which no valid EIC ends with (tests/samples.py
    has that problem for n = 66, 92, 100, ...): take the next last digit then."""
    for last in "0123456789":
        base = f"38ZEE-{n:07d}{last}-"
        check = eic.calc_check_digit(base)
        if check != "-":
            return base + check
    raise ValueError(f"no valid EIC for {n}")


def personal_code(n):
    """A valid isikukood, a different one for each n below 336 000."""
    born = f"{3 + n % 2}{50 + (n // 4032) % 50:02d}{1 + (n // 28) % 12:02d}{1 + n % 28:02d}"
    base = born + f"{(n // 336) % 1000:03d}"[-3:]
    return base + ik.calc_check_digit(base + "0")


def contract_command(n, start_date):
    registers = ("T1", "T2") if n % 2 else ("T1",)  # every other point day/night
    return {
        "person_code": personal_code(n),
        "name": f"Bench Customer {n}",
        "contact": {"postal_address": f"Narva mnt {n}, Tallinn", "phone": "+37251234567",
                    "email": f"bench{n}@example.ee", "language": "et"},
        "consumption_point": {
            "eic": eic_code(n),
            "address": f"Narva mnt {n}, Tallinn",
            "meter": {"serial": f"BENCH{n:06d}",
                      "registers": [{"code": c, "digits": 6} for c in registers]},
        },
        "tariff_plan": "DAYNIGHT" if len(registers) == 2 else "BASIC",
        "reading_day": 1 + n % 28,
        "start_date": start_date.isoformat(),
        "initial_readings": {c: 1000 for c in registers},
    }


def choose_start_date(today):
    """2026-01-01 as in the tests, unless that leaves too few past days to read on."""
    return PREFERRED_START if (today - PREFERRED_START).days >= 60 else today - timedelta(days=365)


class Point:
    """One consumption point's reading history as the client knows it."""

    def __init__(self, point_id, registers, start_date, customer_id=None, person_code=None,
                 name=None):
        self.point_id = point_id
        self.registers = registers
        self.start_date = start_date
        self.customer_id = customer_id
        self.person_code = person_code
        self.name = name
        self.token = None  # a session of the customer's, for (c)
        self.round = 0
        self.values = {code: 1000 for code in registers}

    def next_command(self, today):
        day = self.start_date + timedelta(days=self.round + 1)
        if day > today:
            return None
        # a plausible day: 8-12 kWh on T1, 4-6 on T2, never zero (metering holds
        # implausible readings for review, and a point with one held takes no more)
        values = {code: v + (8 + self.round % 5 if code == "T1" else 4 + self.round % 3)
                  for code, v in self.values.items()}
        return {"consumption_point_id": self.point_id, "reading_date": day.isoformat(),
                "registers": values, "source": "customer"}

    def accepted(self, command):
        self.values = command["registers"]
        self.round += 1


class Rotation:
    """The points in turn: a point is handed out again only after its previous
    reading was answered (``accepted`` or ``failed``)."""

    def __init__(self, points, today):
        self.ready = collections.deque(points)
        self.today = today
        self.exhausted = []

    def take(self):
        """``(point, command)``, or None when no point is free right now."""
        if not self.ready:
            return None
        point = self.ready.popleft()
        command = point.next_command(self.today)
        if command is None:  # no past day left for this point: it leaves the rotation
            self.exhausted.append(point)
            return None
        return point, command

    def accepted(self, point, command, answer):
        """The point's reading was answered; the sample's result (see ``summarize``)."""
        point.accepted(command)
        status = answer.get("status", "accepted")
        if status != "accepted":  # no charge, no reminder, and the point is blocked
            raise RuntimeError(f"reading {status}: {answer.get('review_reason', '')}")
        self.ready.append(point)
        return answer["reading_id"], point.point_id, point.round, answer["next_reading_due"]

    def failed(self, point):
        self.ready.append(point)  # same reading again later: equal values are fine


# --- RPC helpers -----------------------------------------------------------------------

@contextlib.contextmanager
def proxy_pool(config, size):
    """``size`` started cluster proxies in a queue: ``get()`` one, ``put()`` it back."""
    started = []
    try:
        for _ in range(size):
            standalone = ClusterRpcProxy(config, timeout=CLIENT_TIMEOUT)
            started.append((standalone, standalone.start()))
        pool = LightQueue()
        for _, proxy in started:
            pool.put(proxy)
        yield pool
    finally:
        for standalone, _ in started:
            with contextlib.suppress(Exception):
                standalone.stop()


def _with_proxy(pool, call):
    proxy = pool.get()
    try:
        return call(proxy)
    finally:
        pool.put(proxy)


def expected_queues():
    """The queue of every RPC and event-handler entrypoint of the five services,
    read from their classes: a service is ready when each has a consumer, and an
    event published before its handler's queue exists would be lost."""
    import importlib
    import inspect

    from nameko.events import EventHandler
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
    from nameko.rpc import Rpc

    queues = []
    for name in SERVICES:
        module = importlib.import_module(f"services.{name}.service")
        service = next(c for c in vars(module).values()
                       if inspect.isclass(c) and getattr(c, "name", None) == name)
        for method_name, method in inspect.getmembers(service, inspect.isfunction):
            for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
                if isinstance(entrypoint, EventHandler):
                    queues.append(f"evt-{entrypoint.source_service}-{entrypoint.event_type}"
                                  f"--{name}.{method_name}")
                elif isinstance(entrypoint, Rpc):
                    queues.append(f"rpc-{name}")
    return sorted(set(queues))


def wait_ready(broker, vhost, processes, timeout=120, also=None):
    """Until every service queue has a consumer and ``also()`` (if given) is true."""
    expected = expected_queues()
    deadline = time.monotonic() + timeout
    while True:
        processes.check_alive()
        with contextlib.suppress(Exception):
            queues = broker.queues(vhost)
            if (all(queues.get(q, {}).get("consumers", 0) > 0 for q in expected)
                    and (also is None or also())):
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the services were not ready within {timeout}s "
                               f"(logs in {processes.log_dir})")
        time.sleep(0.3)


def _all_or_raise(concurrency, function, items):
    """``function`` over ``items`` on green threads; every one finishes before the
    first failure, if any, is raised (so no call is left running on a proxy)."""
    def guarded(item):
        try:
            return True, function(item)
        except Exception as exc:
            return False, exc

    outcomes = []
    pool = eventlet.GreenPool(concurrency)
    try:
        outcomes = list(pool.imap(guarded, items))
    finally:
        for thread in list(pool.coroutines_running):  # interrupted: stop them all
            thread.kill()
    for ok, value in outcomes:
        if not ok:
            raise value
    return [value for _, value in outcomes]


def sign_contracts(pool, count, start_date, concurrency):
    def sign(n):
        command = contract_command(n, start_date)
        signed = _with_proxy(pool, lambda p: p.contracts.sign_contract(command))
        return Point(signed["consumption_point_id"],
                     [r["code"] for r in command["consumption_point"]["meter"]["registers"]],
                     start_date, customer_id=signed["customer_id"],
                     person_code=command["person_code"], name=command["name"])

    return _all_or_raise(concurrency, sign, range(1, count + 1))


def wait_meters_known(pool, points, concurrency, timeout=60):
    """Until ``metering.list_readings(cp)`` stops raising NotFound for every point."""
    pending = {p.point_id for p in points}
    deadline = time.monotonic() + timeout

    def known(point_id):
        try:
            _with_proxy(pool, lambda p: p.metering.list_readings(point_id))
            return point_id
        except NotFound:
            return None

    while pending:
        pending -= {pid for pid in _all_or_raise(concurrency, known, list(pending)) if pid}
        if not pending:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"metering did not learn {len(pending)} meter(s) in {timeout}s")
        time.sleep(0.2)


def dump_raw(path, submitted, timings):
    """One CSV row per accepted reading, every timestamp in epoch seconds."""
    import csv
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["reading_id", "sent", "answered", "stored", "emitted", "published",
                      "billing_started", "charged", "notifications_started"])
        for s in sorted(submitted, key=lambda s: s.sent_wall):
            reading_id = s.result[0]
            event_id, emitted, published = timings["outbox"].get(reading_id, (None, None, None))
            out.writerow([reading_id, s.sent_wall, s.sent_wall + s.latency,
                          timings["stored"].get(reading_id), emitted, published,
                          timings["billing_handled"].get(event_id),
                          timings["charges"].get(reading_id),
                          timings["notifications_handled"].get(event_id)])


def start_proxy(config):
    """A started ClusterRpcProxy: ``(standalone, proxy)``."""
    standalone = ClusterRpcProxy(config, timeout=CLIENT_TIMEOUT)
    return standalone, standalone.start()


def wait_schedules(postgres, prefix, timeout=30):
    """Until notifications has applied every ``reading_schedule_started`` metering
    emitted for the new contracts: it travels on its own queue, so a reading
    submitted before it is applied could see its reminder replaced by the
    contract's first one."""
    try:
        expected = _count(postgres, f"{prefix}_metering",
                          "SELECT count(*) FROM outbox "
                          "WHERE event_type = 'reading_schedule_started'")
    except sa.exc.DBAPIError:
        return  # a metering that does not announce schedules
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _count(postgres, f"{prefix}_notifications",
                  "SELECT count(DISTINCT consumption_point_id) FROM reminders") >= expected:
            return
        time.sleep(0.2)
    raise RuntimeError(f"notifications did not schedule the first reminders in {timeout}s")


def _count(postgres, database, sql):
    return _rows(postgres, database, sql)[0][0]


def wait_drained(postgres, prefix, expected, since, timeout):
    """Until billing has a charge and notifications a reminder for every reading
    submitted since ``since`` (epoch seconds)."""
    deadline = time.monotonic() + timeout
    since = datetime.fromtimestamp(since, timezone.utc)
    while True:
        # only since ``since``: a second load on the same system must not count the first's
        charges = _count(postgres, f"{prefix}_billing",
                         f"SELECT count(*) FROM charges WHERE created_at >= '{since.isoformat()}'")
        reminders = _count(postgres, f"{prefix}_notifications",
                           f"SELECT count(*) FROM reminders WHERE created_at >= '{since.isoformat()}'")
        if charges >= expected and reminders >= expected:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def _rows(postgres, database, sql):
    engine = postgres.engine(database)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).all()
    finally:
        engine.dispose()


def read_timings(postgres, prefix):
    """Every timestamp the services stored along the reading flow, as epoch seconds."""
    metering, billing, notes = (f"{prefix}_metering", f"{prefix}_billing",
                                f"{prefix}_notifications")
    ts = lambda value: value.timestamp() if value is not None else None  # noqa: E731
    stored = {r[0]: ts(r[1]) for r in _rows(
        postgres, metering, "SELECT reading_id, submitted_at FROM readings WHERE source <> 'initial'")}
    outbox = {r[0]: (r[1], ts(r[2]), ts(r[3])) for r in _rows(
        postgres, metering,
        "SELECT message::json->'data'->>'reading_id', event_id, created_at, published_at "
        "FROM outbox WHERE event_type = 'reading_submitted'")}
    charges = {r[0]: ts(r[1]) for r in _rows(
        postgres, billing, "SELECT reading_id, created_at FROM charges")}
    billing_handled = {r[0]: ts(r[1]) for r in _rows(
        postgres, billing, "SELECT event_id, handled_at FROM handled_events "
                           "WHERE handler = 'billing.on_reading_submitted'")}
    notes_handled = {r[0]: ts(r[1]) for r in _rows(
        postgres, notes, "SELECT event_id, handled_at FROM handled_events "
                         "WHERE handler = 'notifications.on_reading_submitted'")}
    reminders = collections.defaultdict(list)
    for point_id, created_at, status, due_on in _rows(
            postgres, notes, "SELECT consumption_point_id, created_at, status, due_on "
                             "FROM reminders ORDER BY created_at, reminder_id"):
        reminders[point_id].append((ts(created_at), status, due_on.isoformat()))
    return {"stored": stored, "outbox": outbox, "charges": charges,
            "billing_handled": billing_handled, "notifications_handled": notes_handled,
            "reminders": reminders}


#: the stages of (b) whose names say what the client talks to
RPC_LEGS = ("client send -> reading row written (RPC in, validate, lock)",
            "event published -> client has the answer (RPC reply leg)")


def summarize(result, submitted, timings, queues, problems, name, key, legs_named=RPC_LEGS):
    # k-th reminder of a point written after the load started <-> k-th accepted
    # reading of that point (one per round, each submitted after the previous answer)
    by_point = collections.defaultdict(list)
    for s in submitted:
        by_point[s.result[1]].append(s)
    reminder_of, out_of_order, unmatched_points = {}, 0, 0
    for point_id, samples in by_point.items():
        samples.sort(key=lambda s: s.result[2])
        # only reminders written after this point's first submission: not the one
        # scheduled when the contract started
        first_sent = samples[0].sent_wall
        stored = [r for r in timings["reminders"].get(point_id, []) if r[0] >= first_sent]
        if len(stored) != len(samples):
            unmatched_points += 1
            continue
        for s, (created_at, status, due_on) in zip(samples, stored):
            reminder_of[s.result[0]] = created_at
            if due_on != s.result[3]:
                out_of_order += 1
        if stored and stored[-1][1] != "pending":
            out_of_order += 1

    charge_lags, reminder_lags, both_lags, incomplete = [], [], [], 0
    # the P1 tail: from the client's 201 to the charge / reminder committed
    # (negative when a consumer committed before the answer reached the client)
    charge_after_answer, reminder_after_answer = [], []
    legs = collections.defaultdict(list)
    for s in result.ok:
        reading_id = s.result[0]
        answered_at = s.sent_wall + s.latency
        charged = timings["charges"].get(reading_id)
        reminded = reminder_of.get(reading_id)
        if charged is not None:
            charge_lags.append(charged - s.sent_wall)
            charge_after_answer.append(charged - answered_at)
        if reminded is not None:
            reminder_lags.append(reminded - s.sent_wall)
            reminder_after_answer.append(reminded - answered_at)
        if charged is None:  # never committed in time: counts as slower than any that was
            charge_after_answer.append(math.inf)
        if reminded is None:
            reminder_after_answer.append(math.inf)
        if charged is None or reminded is None:
            incomplete += 1
        else:
            both_lags.append(max(charged, reminded) - s.sent_wall)
        stored = timings["stored"].get(reading_id)
        event_id, emitted, published = timings["outbox"].get(reading_id, (None, None, None))
        if stored is not None:
            legs[legs_named[0]].append(stored - s.sent_wall)
        if stored is not None and published is not None:
            legs["reading row written -> event published (commit, outbox claim + publish)"].append(
                published - stored)
        if published is not None:
            legs[legs_named[1]].append(answered_at - published)
            b_start = timings["billing_handled"].get(event_id)
            n_start = timings["notifications_handled"].get(event_id)
            if b_start is not None:
                legs["event published -> billing handler running"].append(b_start - published)
                if charged is not None:
                    legs["billing handler running -> charge written"].append(charged - b_start)
            if n_start is not None:
                legs["event published -> notifications handler running"].append(
                    n_start - published)
                if reminded is not None:
                    legs["notifications handler running -> reminder written"].append(
                        reminded - n_start)
    stages = [stage(name, values) for name, values in legs.items()]
    stages.append(stage("client send -> charge written", charge_lags))
    stages.append(stage("client send -> reminder written", reminder_lags))
    stages.append(stage("client has the 201 -> charge written",
                        [t for t in charge_after_answer if t != math.inf]))
    stages.append(stage("client has the 201 -> reminder written",
                        [t for t in reminder_after_answer if t != math.inf]))

    # did billing and notifications keep up with the submissions during the window?
    start, end = result.window_wall
    window = end - start
    charged_in_window = sum(1 for t in timings["charges"].values() if start <= t <= end)
    reminded_in_window = sum(1 for rows in timings["reminders"].values()
                             for t, _, _ in rows if start <= t <= end)
    completion = {"submitted_per_s": result.throughput,
                  "charges_committed_per_s": charged_in_window / window,
                  "reminders_written_per_s": reminded_in_window / window}

    retries = {name: q["messages"] for name, q in queues.items()
               if (".retry-" in name or name.endswith(".dead-letter")) and q["messages"]}
    retried = sum(1 for lines in problems.values() for line in lines if "retrying in" in line)
    if retried:
        retries["handler failures retried (from the logs)"] = retried
    notes = []
    if out_of_order:
        notes.append(f"{out_of_order} reminder(s) did not match their reading's next_reading_due "
                     "or the last one was not pending (events applied out of order?)")
    if unmatched_points:
        notes.append(f"{unmatched_points} point(s) had a different number of reminders than "
                     "accepted readings")
    summary = scenario_summary(
        name, result, key=key,
        lag_p50=percentile(both_lags, 50), lag_p99=percentile(both_lags, 99), stages=stages,
        charge_lag_p50_ms=_ms(percentile(charge_lags, 50)),
        charge_lag_p99_ms=_ms(percentile(charge_lags, 99)),
        reminder_lag_p50_ms=_ms(percentile(reminder_lags, 50)),
        reminder_lag_p99_ms=_ms(percentile(reminder_lags, 99)),
        charge_after_answer_p50_ms=_ms(percentile(charge_after_answer, 50)),
        charge_after_answer_p99_ms=_ms(percentile(charge_after_answer, 99)),
        reminder_after_answer_p50_ms=_ms(percentile(reminder_after_answer, 50)),
        reminder_after_answer_p99_ms=_ms(percentile(reminder_after_answer, 99)),
        incomplete=incomplete, retries=retries, notes=notes, completion=completion,
        log_problems={k: len(v) for k, v in problems.items()})
    return summary


def _ms(seconds):
    return None if seconds is None else seconds * 1000


# --- a run of the system -------------------------------------------------------------

def ensure_dev_keys():
    """What ``make run`` does first: the test bank's development keys that identity
    loads on start (generated once under deploy/config/keys/, ignored by git)."""
    try:
        from services.testbank.devkeys import ensure_dev_keys as ensure
    except ImportError:  # a tree without bank login
        return []
    return ensure()


class System:
    """What ``running_system`` started: read by the scenario and by ``measure``."""

    def __init__(self, label, vhost, amqp_uri, prefix, processes):
        self.label = label
        self.vhost = vhost
        self.config = {"AMQP_URI": amqp_uri}
        self.prefix = prefix
        self.processes = processes
        self.points = []
        self.today = None
        self.setup = {}


@contextlib.contextmanager
def running_system(broker, postgres, options, log_dir, say, label, extra=(), env=None,
                   ready=None):
    """The five services, plus ``extra`` ``(label, module)`` processes, on a fresh
    vhost and databases with ``options.points`` contracts signed; everything is
    stopped and dropped on the way out. ``env``: more settings for every process;
    ``ready()``: what else must be true before the services count as ready."""
    created = ensure_dev_keys()
    if created:
        say(f"{label}: generated development keys for {', '.join(created)}")
    vhost, amqp_uri = broker.new_vhost(label)
    prefix, database_url = postgres.new_prefix()
    processes = ServiceProcesses(log_dir / label)
    try:
        service_settings = service_env(AMQP_URI=amqp_uri, DATABASE_URL=database_url,
                                       **(env or {}))
        modules = [(s, f"services.{s}.service") for s in SERVICES] + list(extra)
        for service, module in modules:
            processes.start(service, module, service_settings,
                            profile=service in options.profile,
                            trace=service in getattr(options, "trace", ()))
        say(f"{label}: starting {len(modules)} services on vhost {vhost}, "
            f"databases {prefix}_*")
        t0 = time.monotonic()
        wait_ready(broker, vhost, processes, also=ready)
        say(f"{label}: services ready in {time.monotonic() - t0:.1f}s")
        system = System(label, vhost, amqp_uri, prefix, processes)

        system.today = datetime.now(TALLINN).date()
        start_date = choose_start_date(system.today)
        with proxy_pool(system.config, options.concurrency) as pool:
            t0 = time.monotonic()
            system.points = sign_contracts(pool, options.points, start_date,
                                           options.concurrency)
            signing = time.monotonic() - t0
            wait_meters_known(pool, system.points, options.concurrency)
            known = time.monotonic() - t0
        wait_schedules(postgres, prefix)
        say(f"{label}: signed {len(system.points)} contracts in {signing:.1f}s "
            f"({len(system.points) / signing:.0f}/s); metering knew every meter after "
            f"{known:.1f}s")
        system.setup = {"contracts": len(system.points), "signing_s": signing,
                        "contracts_per_s": len(system.points) / signing,
                        "meters_known_s": known, "start_date": start_date.isoformat()}
        yield system
    finally:
        with shielded():
            processes.stop()
            broker.drop_vhost(vhost)
            with contextlib.suppress(Exception):
                postgres.drop_prefix(prefix)


def measure(system, broker, postgres, options, say, result, rotation, name, key,
            legs_named=RPC_LEGS, spy=None):
    """After the load: wait for billing and notifications, read every timestamp
    back and summarize."""
    system.processes.check_alive()
    submitted = [s for s in result.all if s.error is None]
    say(f"{system.label}: {len(submitted)} readings accepted; waiting for billing and "
        "notifications")
    load_started = min((s.sent_wall for s in result.all), default=time.time())
    drained = wait_drained(postgres, system.prefix, len(submitted), load_started,
                           options.drain_timeout)
    timings = read_timings(postgres, system.prefix)
    queues = broker.queues(system.vhost)
    problems = system.processes.log_problems()
    summary = summarize(result, submitted, timings, queues, problems, name, key, legs_named)
    if options.raw:
        dump_raw(options.raw, submitted, timings)
    summary["setup"] = {**system.setup, "drained": drained}
    if rotation.exhausted:
        summary.setdefault("notes", []).append(
            f"{len(rotation.exhausted)} point(s) ran out of past days to read on (since "
            f"{system.setup['start_date']}); raise --points for a run this long")
    if not drained:
        summary.setdefault("notes", []).append(
            f"billing/notifications had not caught up {options.drain_timeout:g}s after the "
            "load stopped")
    if options.profile:
        summary.setdefault("notes", []).append(
            f"profiled under cProfile (slower!): {', '.join(options.profile)}; "
            f"stats in {system.processes.log_dir}/<service>.prof")
    if spy is not None:
        attach_spy(summary, spy)
    if problems:
        summary["log_problem_examples"] = {k: v[:3] for k, v in problems.items()}
    return summary


def metered(system, options):
    """The CPU meter of the measured window, with py-spy beside it if ``--spy``:
    ``(meter, spy or None)``."""
    meter = CpuMeter(system.processes.pids())
    if not options.spy:
        return meter, None
    pids = {label: pid for label, pid in system.processes.pids().items()
            if label in options.spy}
    spy = Spy(pids, system.processes.log_dir)
    return spy.wrap(meter), spy
