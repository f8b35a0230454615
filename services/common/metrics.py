"""Prometheus metrics of every Vool process (prometheus-client, its default registry).

The metric objects live here and nowhere else; the places that count call the small
functions below (the gateway's WSGI app, services/common/ops.py's worker hooks,
services/common/messaging.py's event handler, the sweeps and the billing run).
Every label is bounded: a route template, a declared method, event type, job or
queue name, never a customer id, a personal code, an invoice number or a raw path.

Two kinds of gauge are read at scrape time, each cached for a few seconds so that
a storm of scrapes costs the database and the broker next to nothing:

- the outbox of each service in this process (unpublished rows, age of the oldest:
  one query on ``ix_outbox_unpublished``);
- the depth of each dead-letter queue a service owns (a passive ``queue.declare``).

A database or broker that is away leaves its samples out; /metrics still answers.
``process_resident_memory_bytes`` and the other ``process_*`` metrics come from
prometheus-client's default process collector, registered on import.
"""
import contextlib
import functools
import logging
import threading
import time
from datetime import datetime

import sqlalchemy as sa
from prometheus_client import (CONTENT_TYPE_LATEST, PROCESS_COLLECTOR, REGISTRY, Counter, Gauge,
                               Histogram, disable_created_metrics, generate_latest)
from prometheus_client.core import GaugeMetricFamily

from services.common.clock import as_utc, clock as process_clock
from services.common.errors import VoolError
from services.common.events import parse_event

log = logging.getLogger(__name__)

#: what an unknown path counts as (a route template otherwise)
UNMATCHED_ROUTE = "unmatched"
#: the methods counted by name; anything else a client sends is "other"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: where the gateway's WSGI app leaves the matched route's template for the count
ROUTE_ENVIRON_KEY = "vool.route"

# request and RPC latencies: a few milliseconds to the gateway's longest timeouts
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# an event's way from its commit to its handler: milliseconds normally, minutes in
# retries, hours when a service was down
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
               3600.0, 14400.0)
# how many events a batching handler took in one transaction: one when quiet, its
# maximum (200) under a burst
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500)
# sweeps and billing runs: under a second on a quiet day, many minutes at scale
JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)

# the *_created series double what a scrape carries and no panel reads them
disable_created_metrics()

HTTP_REQUESTS = Counter(
    "vool_http_requests", "HTTP requests the gateway answered, by route template and status",
    ["route", "method", "status"])
HTTP_DURATION = Histogram(
    "vool_http_request_duration_seconds", "Time the gateway took to answer a request",
    ["route", "method"], buckets=LATENCY_BUCKETS)
RPC_CALLS = Counter(
    "vool_rpc_calls", "RPC calls a service answered (outcome: ok, refused = an expected "
    "VoolError, error = anything else)", ["service", "method", "outcome"])
RPC_DURATION = Histogram(
    "vool_rpc_call_duration_seconds", "Time a service took to answer an RPC call",
    ["service", "method"], buckets=LATENCY_BUCKETS)
EVENTS_HANDLED = Counter(
    "vool_events_handled", "Events a service's handlers settled (outcome: ok, duplicate "
    "= handled before, retried, dead_lettered)", ["service", "event_type", "outcome"])
EVENT_LAG = Histogram(
    "vool_event_lag_seconds", "From an event's occurred_at to its handling",
    ["service", "event_type"], buckets=LAG_BUCKETS)
EVENT_BATCH_SIZE = Histogram(
    "vool_event_batch_size", "Events a batching handler applied in one transaction",
    ["service", "event_type"], buckets=BATCH_BUCKETS)
EVENT_RETRIES = Counter(
    "vool_event_retries", "Handler failures sent to a retry queue", ["service", "event_type"])
TIMER_RUNS = Counter(
    "vool_timer_runs", "Ticks of a service's timers (outcome: ok, error)",
    ["service", "timer", "outcome"])
TIMER_DURATION = Histogram(
    "vool_timer_duration_seconds", "Time one tick of a timer took", ["service", "timer"],
    buckets=LATENCY_BUCKETS)
# `kind`, not `job`: Prometheus gives every scraped series a `job` label of its own
# (the scrape job) and would rename ours to exported_job
JOB_RUNS = Counter(
    "vool_job_runs", "Runs of the scheduled jobs (kind: reminder_sweep, overdue_sweep, "
    "billing_run) by outcome (ok, refused, error)", ["kind", "outcome"])
JOB_DURATION = Histogram(
    "vool_job_duration_seconds", "Time one run of a job took", ["kind"], buckets=JOB_BUCKETS)
# process_* (RSS, CPU) carry no service label: join on this to name the process
SERVICE_INFO = Gauge(
    "vool_service_info", "1 for the service this process runs", ["service"])

# prometheus-client registers it on import; should anyone have unregistered it, the
# memory of every process is wanted all the same
with contextlib.suppress(ValueError):   # already registered
    REGISTRY.register(PROCESS_COLLECTOR)


def serving(service):
    """This process runs ``service`` (vool_service_info)."""
    SERVICE_INFO.labels(service).set(1)


def exposition():
    """``(body, content type)`` of the Prometheus text format for /metrics."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# -- what is counted --------------------------------------------------------------------

def _children(metric):
    """``metric.labels(*values)`` kept per label values: every worker counts through
    it, and ``labels()`` checks, joins and locks on each call. The label sets are
    bounded (see above), so is this."""
    children = {}

    def child(*values):
        found = children.get(values)
        if found is None:
            found = children[values] = metric.labels(*values)
        return found
    return child


_http_requests, _http_duration = _children(HTTP_REQUESTS), _children(HTTP_DURATION)
_rpc_calls, _rpc_duration = _children(RPC_CALLS), _children(RPC_DURATION)
_timer_runs, _timer_duration = _children(TIMER_RUNS), _children(TIMER_DURATION)


def http_method(method):
    method = (method or "").upper()
    return method if method in HTTP_METHODS else "other"


def observe_http(route, method, status, seconds):
    route = route or UNMATCHED_ROUTE
    method = http_method(method)
    _http_requests(route, method, str(int(status))).inc()
    _http_duration(route, method).observe(seconds)


def measured_wsgi(app):
    """``app`` counted: its route template (``environ[ROUTE_ENVIRON_KEY]``, set by
    the app once it matched one), method, status and time."""
    @functools.wraps(app, updated=())
    def measured(environ, start_response):
        started = time.perf_counter()
        status = [500]

        def starting(status_line, headers, exc_info=None):
            with contextlib.suppress(ValueError, IndexError):
                status[0] = int(status_line.split(None, 1)[0])
            return start_response(status_line, headers, exc_info)

        try:
            return app(environ, starting)
        finally:
            observe_http(environ.get(ROUTE_ENVIRON_KEY), environ.get("REQUEST_METHOD"),
                         status[0], time.perf_counter() - started)
    return measured


def observe_rpc(service, method, outcome, seconds):
    _rpc_calls(service, method, outcome).inc()
    _rpc_duration(service, method).observe(seconds)


def observe_timer(service, timer, outcome, seconds):
    _timer_runs(service, timer, outcome).inc()
    _timer_duration(service, timer).observe(seconds)


_handling = threading.local()   # green under eventlet: one per worker


def event_was_duplicate(event_id=None):
    """Said by the inbox (services/common/db.py) when the event being handled was
    handled before: its worker's success then counts as ``duplicate``. A batch's
    worker names each such event (``duplicates_seen``)."""
    _handling.duplicate = True
    if event_id is not None:
        if getattr(_handling, "duplicates", None) is None:
            _handling.duplicates = set()
        _handling.duplicates.add(event_id)


def duplicates_seen():
    """The ids of the events this worker found handled before (and forget them,
    and that it found any: a batch settles each of its events by this)."""
    seen, _handling.duplicates = getattr(_handling, "duplicates", None) or set(), None
    _handling.duplicate = False
    return seen


def batch_taken(service, event_type, size):
    if size:
        EVENT_BATCH_SIZE.labels(service, event_type).observe(size)


def event_settled(service, event_type, outcome, message=None, occurred_at=None):
    """An event handler settled a message: ``ok``, ``duplicate`` (ok, but it had been
    handled before), ``retried`` or ``dead_lettered``. Its lag (occurred_at → now) is
    taken from the envelope when it has one (``occurred_at``: parsed already). Never raises: counting must not stand in
    the way of settling the message."""
    duplicate, _handling.duplicate = getattr(_handling, "duplicate", False), False
    if outcome == "ok" and duplicate:
        outcome = "duplicate"
    try:
        EVENTS_HANDLED.labels(service, event_type, outcome).inc()
        if outcome == "retried":
            EVENT_RETRIES.labels(service, event_type).inc()
        lag = (event_lag(message) if occurred_at is None
               else max(0.0, (process_clock.now() - as_utc(occurred_at)).total_seconds()))
        if lag is not None:
            EVENT_LAG.labels(service, event_type).observe(lag)
    except Exception:   # pragma: no cover
        log.exception("metrics: counting a handled event failed")


def event_lag(message):
    """Seconds since the envelope's occurred_at, or None for a message without one."""
    try:
        occurred = parse_event(message.payload).occurred_at
    except Exception:
        return None
    return max(0.0, (process_clock.now() - as_utc(occurred)).total_seconds())


@contextlib.contextmanager
def job_run(job):
    """Count and time one run of ``job``: ok; refused when it raised a VoolError (a
    period not closed, no VAT rate: an operator's mistake, not a page at night);
    error when it raised anything else."""
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    except VoolError:
        outcome = "refused"
        raise
    finally:
        JOB_RUNS.labels(job, outcome).inc()
        JOB_DURATION.labels(job).observe(time.perf_counter() - started)


def measured_job(job):
    """Decorator: every call of the function is one run of ``job``."""
    def decorate(fn):
        @functools.wraps(fn)
        def measured(*args, **kwargs):
            with job_run(job):
                return fn(*args, **kwargs)
        return measured
    return decorate


# -- what is read at scrape time --------------------------------------------------------

class Cached:
    """The value of ``read()``, read again at most every ``seconds``; a read that
    fails counts as ``None`` for as long (an absent broker is not asked per scrape)."""

    def __init__(self, read, seconds):
        self.read = read
        self.seconds = seconds
        self._lock = threading.Lock()   # green under eventlet: one read at a time
        self._at = None
        self._value = None

    def get(self):
        with self._lock:
            now = time.monotonic()
            if self._at is None or now - self._at >= self.seconds:
                try:
                    self._value = self.read()
                except Exception as exc:
                    log.warning("metrics: %s failed: %s", getattr(self.read, "__name__", "a read"),
                                exc)
                    self._value = None
                self._at = now
            return self._value


def outbox_state(engine, table):
    """``(unpublished rows, seconds since the oldest was written)`` of one outbox."""
    with engine.connect() as conn:
        count, oldest = conn.execute(
            sa.select(sa.func.count(), sa.func.min(table.c.created_at))
            .where(table.c.published_at.is_(None))).one()
    if oldest is None:
        return int(count), 0.0
    if isinstance(oldest, str):     # SQLite without the column's type applied
        oldest = datetime.fromisoformat(oldest)
    return int(count), max(0.0, (process_clock.now() - as_utc(oldest)).total_seconds())


def dead_letter_depths(amqp_uri, queue_names, timeout=2.0):
    """``{queue: messages}`` by passive declares; a queue that does not exist (yet)
    is left out. Raises when the broker cannot be reached."""
    from kombu import Connection
    depths = {}
    with Connection(amqp_uri, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
        channel = conn.channel()
        try:
            for name in queue_names:
                try:
                    _, messages, _ = channel.queue_declare(queue=name, passive=True)
                except conn.channel_errors:   # 404: the broker closed the channel
                    channel = conn.channel()
                    continue
                depths[name] = messages
        finally:
            with contextlib.suppress(Exception):
                channel.close()
    return depths


class OperationsCollector:
    """The outbox and dead-letter gauges of every service in this process
    (one in production; several in the in-process tests)."""

    OUTBOX_CACHE_SECONDS = 5.0
    DEAD_LETTER_CACHE_SECONDS = 15.0

    def __init__(self):
        self._outboxes = {}      # service -> Cached outbox_state
        self._dead_letters = {}  # service -> Cached dead_letter_depths

    def watch_outbox(self, service, engine, table):
        read = functools.partial(outbox_state, engine, table)
        read.__name__ = f"reading {service}'s outbox"
        self._outboxes[service] = Cached(read, self.OUTBOX_CACHE_SECONDS)

    def watch_dead_letters(self, service, amqp_uri, queue_names):
        read = functools.partial(dead_letter_depths, amqp_uri, tuple(sorted(set(queue_names))))
        read.__name__ = f"reading {service}'s dead-letter queues"
        self._dead_letters[service] = Cached(read, self.DEAD_LETTER_CACHE_SECONDS)

    def forget(self, service):
        self._outboxes.pop(service, None)
        self._dead_letters.pop(service, None)

    def describe(self):
        return self._families()

    def _families(self):
        return (GaugeMetricFamily("vool_outbox_backlog_events",
                                  "Events in a service's outbox not yet published",
                                  labels=["service"]),
                GaugeMetricFamily("vool_outbox_oldest_age_seconds",
                                  "Age of the oldest unpublished event in a service's outbox "
                                  "(0 when there is none)", labels=["service"]),
                GaugeMetricFamily("vool_dead_letter_messages",
                                  "Messages parked in a dead-letter queue a service owns",
                                  labels=["service", "queue"]))

    def collect(self):
        backlog, oldest, dead = self._families()
        for service, cached in list(self._outboxes.items()):
            state = cached.get()
            if state is not None:
                backlog.add_metric([service], state[0])
                oldest.add_metric([service], state[1])
        for service, cached in list(self._dead_letters.items()):
            for queue, depth in sorted((cached.get() or {}).items()):
                dead.add_metric([service, queue], depth)
        return backlog, oldest, dead


OPERATIONS = OperationsCollector()
REGISTRY.register(OPERATIONS)
