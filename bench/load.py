"""A closed-loop load generator on eventlet green threads, and percentiles.

``concurrency`` green threads each send one request, wait for its answer and send
the next, for ``warmup + duration`` seconds. A request counts when it *completes*
inside the measured window (after the warm-up); throughput is those requests
divided by the window's length.
"""
import contextlib
import http.client
import math
import time
import traceback

import eventlet

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
    __slots__ = ("sent_wall", "started", "ended", "result", "error")

    def __init__(self, sent_wall, started, ended, result=None, error=None):
        self.sent_wall = sent_wall   # time.time() when the request was sent
        self.started = started       # time.monotonic() at send
        self.ended = ended           # time.monotonic() at answer
        self.result = result
        self.error = error

    @property
    def latency(self):
        return self.ended - self.started


class LoadResult:
    def __init__(self, samples, window_start, window_end):
        self.all = samples
        self.window = window_end - window_start
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
