"""Each backend service's ops port: ``/metrics``, ``/health/live``, ``/health/ready``.

``OpsPort`` is a dependency provider every service class declares (``ops = OpsPort()``):

- every worker passes through it, so each RPC call and timer tick is counted and
  timed (services/common/metrics.py) without a line in the handlers; events are
  counted where their outcome is decided (services/common/messaging.py);
- it shows the service's outbox and dead-letter queues to the metrics collector;
- on ``VOOL_OPS_ADDRESS`` (host:port; deploy/config/nameko.yaml gives containers
  ``0.0.0.0:9100``, `vool run` each service its own) it listens with a small WSGI
  app on eventlet's server, beside the service's workers: a probe or a scrape never
  waits for a worker, and junk on the socket is eventlet's to refuse.

``/health/live``: the process answers (asks nothing of anyone). ``/health/ready``:
the database answers ``SELECT 1`` and a fresh broker connection opens; 503 with the
reason otherwise. No setting, no listener (the in-process tests run many services).
"""
import json
import logging
import time

import eventlet
import eventlet.wsgi
from kombu import Connection
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.timer import Timer
from nameko.web.server import parse_address

from services.common import config as cfg
from services.common import metrics
from services.common.db import Database
from services.common.errors import VoolError
from services.common.web import AddressInUse, listen_alone, shown

log = logging.getLogger(__name__)

ADDRESS_SETTING = "VOOL_OPS_ADDRESS"


def rpc_outcome(exc_info):
    if exc_info is None:
        return "ok"
    return "refused" if isinstance(exc_info[1], VoolError) else "error"


class _Quiet:
    """eventlet.wsgi's log: what it says about a broken client goes to debug."""

    def write(self, text):
        log.debug("ops port: %s", text.rstrip())


class OpsPort(DependencyProvider):

    def __init__(self):
        self._began = {}
        self._sock = None
        self._server = None

    def setup(self):
        config = self.container.config
        self.service_name = self.container.service_name
        metrics.serving(self.service_name)
        self.amqp_uri = cfg.amqp_uri(config)
        self.health_timeout = cfg.float_setting(config, "VOOL_HEALTH_TIMEOUT", 2.0)
        address = cfg.setting(config, ADDRESS_SETTING)
        self.address = parse_address(str(address)) if address else None

    def start(self):
        # after every extension's setup: the database is migrated, the queues named
        self.database = next((d for d in self.container.dependencies
                              if isinstance(d, Database)), None)
        if self.database is not None:
            metrics.OPERATIONS.watch_outbox(self.service_name, self.database.engine,
                                            self.database.outbox.table)
        dead_letters = {extension.dead_letter_queue.name
                        for extension in self.container.extensions
                        if getattr(extension, "dead_letter_queue", None) is not None}
        if dead_letters:
            metrics.OPERATIONS.watch_dead_letters(self.service_name, self.amqp_uri, dead_letters)
        if self.address is not None:
            try:
                self._sock = listen_alone(self.address, f"{self.service_name}'s ops port",
                                          ADDRESS_SETTING)
            except AddressInUse as exc:
                log.critical("%s", exc)
                raise
            self._server = self.container.spawn_managed_thread(self._serve,
                                                               identifier="ops-port")
            log.info("%s: /metrics and /health on http://%s", self.service_name,
                     shown(self.address))

    def _serve(self):
        eventlet.wsgi.server(self._sock, self.app, log=_Quiet(), log_output=False,
                             socket_timeout=30, keepalive=False)

    def stop(self):
        metrics.OPERATIONS.forget(self.service_name)
        if self._server is not None:
            self._server.kill()
            self._server = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def kill(self):
        self.stop()

    # -- every worker -----------------------------------------------------------------

    def worker_setup(self, worker_ctx):
        self._began[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        began = self._began.pop(worker_ctx, None)
        if began is None:
            return
        seconds = time.perf_counter() - began
        entrypoint = worker_ctx.entrypoint
        if isinstance(entrypoint, Rpc):
            metrics.observe_rpc(self.service_name, entrypoint.method_name,
                                rpc_outcome(exc_info), seconds)
        elif isinstance(entrypoint, Timer):
            metrics.observe_timer(self.service_name, entrypoint.method_name,
                                  "ok" if exc_info is None else "error", seconds)

    def worker_teardown(self, worker_ctx):
        self._began.pop(worker_ctx, None)

    # -- the ops port -----------------------------------------------------------------

    def app(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path not in ("/metrics", "/health/live", "/health/ready"):
            return _answer(start_response, 404, {"status": "not-found", "detail":
                           "the ops port serves /metrics, /health/live and /health/ready"})
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _answer(start_response, 405, {"status": "method-not-allowed"},
                           [("Allow", "GET, HEAD")])
        try:
            if path == "/metrics":
                body, content_type = metrics.exposition()
                start_response("200 OK", [("Content-Type", content_type),
                                          ("Content-Length", str(len(body)))])
                return [body]
            if path == "/health/live":
                return _answer(start_response, 200, {"status": "ok"})
            return self._ready(start_response)
        except Exception as exc:   # never a traceback to a probe; say it is not ready
            log.exception("the ops port failed to answer %s", path)
            return _answer(start_response, 503, {"status": "unavailable",
                                                 "reason": f"the check failed: {exc!r}"})

    def _ready(self, start_response):
        pool = eventlet.GreenPool(2)
        database = pool.spawn(self._database_state)
        broker = self._broker_state()
        states = {"database": database.wait(), "broker": broker}
        down = [part for part, state in states.items() if state != "ok"]
        if not down:
            return _answer(start_response, 200, {"status": "ok", **states})
        return _answer(start_response, 503, {
            "status": "unavailable", **states,
            "reason": " and ".join(f"the {part} is {states[part]}" for part in down)})

    def _database_state(self):
        if self.database is None:
            return "ok"     # a service without one (none today) is not kept out by it
        try:
            with eventlet.Timeout(self.health_timeout + 1.0):
                return "ok" if self.database.health()["database"] == "ok" else "unreachable"
        except (Exception, eventlet.Timeout):
            return "unreachable"

    def _broker_state(self):
        """A fresh connection, not the consumers': they reconnect on their own and
        say nothing of it."""
        try:
            with eventlet.Timeout(self.health_timeout + 1.0):
                with Connection(self.amqp_uri, connect_timeout=self.health_timeout) as conn:
                    conn.ensure_connection(max_retries=1, interval_start=0)
            return "ok"
        except (Exception, eventlet.Timeout):
            return "unreachable"


def _answer(start_response, status, body, headers=()):
    reasons = {200: "OK", 404: "Not Found", 405: "Method Not Allowed",
               503: "Service Unavailable"}
    data = json.dumps(body).encode()
    start_response(f"{status} {reasons[status]}", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers])
    return [data]
