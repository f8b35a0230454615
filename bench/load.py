"""Load generators on eventlet green threads, and percentiles.

Closed loop (``closed_loop``): ``concurrency`` green threads each send one request,
wait for its answer and send the next, for ``warmup + duration`` seconds. A request
counts when it *completes* inside the measured window (after the warm-up);
throughput is those requests divided by the window's length. It finds the
saturated rate; its latency is mostly queueing that the clients themselves cause.

Open loop (``open_loop``): requests are sent on a fixed schedule (``rate`` per
second, whatever the answers do), each from a green thread of its own, so a slow
answer never delays the next send. A request's latency runs from its *scheduled*
send time, not from when it actually left: a send that is late because the
generator (or the machine) stalled still counts its wait, so coordinated omission
cannot hide queueing. A request counts when it was *scheduled* inside the window,
and the run waits for the answers of the last ones.
"""
import contextlib
import http.client
import math
import time
import traceback

import eventlet
from eventlet.semaphore import Semaphore

from bench.interrupts import shielded


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def http_client(port, timeout=10):
    """One keep-alive HTTP connection to 127.0.0.1:``port`` (it connects on first use)."""
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def http_call(conn, method, path, body=None, headers=None):
    """``(status, body bytes)`` of one request on ``conn``; on a broken connection
    it is closed (the next request reconnects) and the error raised."""
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    except (http.client.HTTPException, OSError):
        conn.close()
        raise


def http_ok(port, path, timeout=2):
    """Does ``GET path`` answer 200 (False also when nobody listens yet)?"""
    conn = http_client(port, timeout=timeout)
    try:
        return http_call(conn, "GET", path)[0] == 200
    except (http.client.HTTPException, OSError):
        return False
    finally:
        conn.close()


class Sample:
    __slots__ = ("sent_wall", "started", "ended", "result", "error", "send_delay")

    def __init__(self, sent_wall, started, ended, result=None, error=None, send_delay=0.0):
        self.sent_wall = sent_wall   # time.time() when the request was sent (open loop: due)
        self.started = started       # time.monotonic() at send (open loop: when it was due)
        self.ended = ended           # time.monotonic() at answer
        self.result = result
        self.error = error
        self.send_delay = send_delay  # open loop: how late it actually left (seconds)

    @property
    def latency(self):
        return self.ended - self.started


class LoadResult:
    """``counted_by``: "ended" (closed loop: answered inside the window) or
    "started" (open loop: due inside the window, however late its answer)."""

    def __init__(self, samples, window_start, window_end, counted_by="ended"):
        self.all = samples
        self.window = window_end - window_start
        if counted_by == "started":
            self.measured = [s for s in samples if window_start <= s.started < window_end]
        else:
            self.measured = [s for s in samples if window_start <= s.ended <= window_end]
        self.ok = [s for s in self.measured if s.error is None]
        self.errors = [s for s in self.measured if s.error is not None]

    @property
    def throughput(self):
        return len(self.ok) / self.window if self.window > 0 else 0.0

    def latency_ms(self, p):
        value = percentile([s.latency for s in self.ok], p)
        return None if value is None else value * 1000

    def error_summary(self, limit=3):
        seen = {}
        for s in self.errors:
            seen[s.error] = seen.get(s.error, 0) + 1
        return sorted(seen.items(), key=lambda kv: -kv[1])[:limit]


def closed_loop(make_client, request, concurrency, warmup, duration, close_client=None,
                meter=None):
    """Run the load; ``request(client, worker_no)`` returns a result or raises.

    ``make_client(worker_no)`` gives each green thread its own client (an HTTP
    connection, an RPC proxy); ``request`` may return None to say "nothing left
    to do right now" (the thread sleeps briefly and asks again). ``meter``
    (start/stop) is started and stopped with the measured window; what its stop
    returns becomes ``result.meter``.
    """
    samples = []
    clients = []
    try:
        for n in range(concurrency):  # failures surface here, not in a green thread
            clients.append(make_client(n))
    except BaseException:
        for client in clients:
            if close_client is not None:
                close_client(client)
        raise

    def worker(worker_no):
        client = clients[worker_no]
        while time.monotonic() < stop_at:
            sent_wall, started = time.time(), time.monotonic()
            try:
                result = request(client, worker_no)
            except Exception as exc:  # counted, never fatal to the run
                error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                samples.append(Sample(sent_wall, started, time.monotonic(), error=error[:300]))
                eventlet.sleep(0.01)
                continue
            if result is None:
                eventlet.sleep(0.005)
                continue
            samples.append(Sample(sent_wall, started, time.monotonic(), result=result))

    start = time.monotonic()
    wall_offset = time.time() - start
    window_start = start + warmup
    stop_at = window_start + duration
    metered = {}

    def watch():
        eventlet.sleep(max(0.0, window_start - time.monotonic()))
        meter.start()
        eventlet.sleep(max(0.0, stop_at - time.monotonic()))
        metered["value"] = meter.stop()

    threads = []
    try:
        if meter is not None:
            threads.append(eventlet.spawn(watch))
        threads.extend(eventlet.spawn(worker, n) for n in range(concurrency))
        for thread in threads:
            thread.wait()
    finally:
        with shielded():
            for thread in threads:  # interrupted: nobody may use a client being closed
                thread.kill()
            if close_client is not None:
                for client in clients:
                    with contextlib.suppress(Exception):
                        close_client(client)
    result = LoadResult(samples, window_start, stop_at)
    result.meter = metered.get("value")
    result.window_wall = (window_start + wall_offset, stop_at + wall_offset)
    return result


def arrival_schedule(rate, start, duration):
    """The send times of a fixed-rate schedule from ``start`` for ``duration``
    seconds: ``start + i / rate`` (no drift however long the run: each time is
    computed from the start, never by adding intervals up)."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, not {rate}")
    count = max(0, math.ceil(duration * rate - 1e-9))
    return [start + i / rate for i in range(count)]


def open_loop(make_client, request, rate, warmup, duration, close_client=None, meter=None,
              drain_timeout=30.0, max_senders=2000):
    """Send ``request(client, sender_no)`` at ``rate`` per second on a fixed
    schedule for ``warmup + duration`` seconds; ``meter`` as in ``closed_loop``,
    over the measured part of the schedule.

    Every due request gets a green thread of its own and an idle client (one is
    made with ``make_client(n)`` when none is idle), so the sends never wait for
    answers; ``max_senders`` only guards against a runaway (a request due while
    that many are outstanding waits for one, and its wait counts in its latency).
    ``request`` returning None means "nothing to send right now": counted in
    ``result.skipped``, not as a request. After the schedule the run waits up to
    ``drain_timeout`` seconds for the outstanding answers; one still missing then
    counts as an error, never silently left out.
    """
    samples, idle, made = [], [], []
    skipped = [0]
    senders = Semaphore(max_senders)
    in_flight = {}  # due -> wall time it was due, until its sample is taken
    peak = [0]

    def send(due, wall_due):
        in_flight[due] = wall_due
        peak[0] = max(peak[0], len(in_flight))
        with senders:
            if idle:
                sender_no, client = idle.pop()
            else:
                sender_no, client = len(made), make_client(len(made))
                made.append(client)
            left = time.monotonic()
            try:
                result = request(client, sender_no)
            except Exception as exc:  # counted, never fatal to the run
                error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                samples.append(Sample(wall_due, due, time.monotonic(), error=error[:300],
                                      send_delay=left - due))
                del in_flight[due]
                return
            finally:  # killed at the deadline, it stays in flight: counted as unanswered
                idle.append((sender_no, client))
            del in_flight[due]
            if result is None:
                skipped[0] += 1
                return
            samples.append(Sample(wall_due, due, time.monotonic(), result=result,
                                  send_delay=left - due))

    start = time.monotonic() + 0.05
    wall_offset = time.time() - time.monotonic()
    window_start = start + warmup
    stop_at = window_start + duration
    metered = {}
    threads = []

    def watch():
        eventlet.sleep(max(0.0, window_start - time.monotonic()))
        meter.start()
        eventlet.sleep(max(0.0, stop_at - time.monotonic()))
        metered["value"] = meter.stop()

    try:
        if meter is not None:
            threads.append(eventlet.spawn(watch))
        for due in arrival_schedule(rate, start, warmup + duration):
            wait = due - time.monotonic()
            if wait > 0:
                eventlet.sleep(wait)
            threads.append(eventlet.spawn(send, due, due + wall_offset))
        deadline = max(time.monotonic(), stop_at) + drain_timeout
        for thread in threads:
            with eventlet.Timeout(max(0.01, deadline - time.monotonic()), False):
                thread.wait()
    finally:
        with shielded():
            for thread in threads:  # interrupted, or answers still missing at the deadline
                thread.kill()
            now = time.monotonic()
            for due, wall_due in list(in_flight.items()):
                samples.append(Sample(wall_due, due, now, error=f"no answer within "
                                      f"{drain_timeout:g}s after the schedule ended"))
            if close_client is not None:
                for client in made:
                    with contextlib.suppress(Exception):
                        close_client(client)
    result = LoadResult(samples, window_start, stop_at, counted_by="started")
    result.meter = metered.get("value")
    result.window_wall = (window_start + wall_offset, stop_at + wall_offset)
    result.rate = rate
    result.skipped = skipped[0]
    result.peak_in_flight = peak[0]
    result.clients = len(made)
    return result


def send_delay_ms(result, p):
    """How late the open loop's measured requests actually left, p-th percentile (ms):
    large values mean the generator itself could not keep the schedule."""
    value = percentile([s.send_delay for s in result.measured], p)
    return None if value is None else value * 1000
