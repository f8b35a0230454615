"""One correlation id per request, from the gateway to the last event it caused.

The gateway takes a client's ``X-Request-ID`` (if it is sane: 1-128 of
``[A-Za-z0-9._-]``) or makes one, answers with it, and every worker it causes
carries it on:

- an RPC in the caller's nameko context data (``nameko.request_id`` and
  ``nameko.traceparent`` message headers, nameko's own carrier);
- an event in the AMQP headers ``x-request-id`` and ``traceparent``, stored with
  its outbox row so that the relay sends them too (the envelope stays as it is);
- a log line in ``request_id`` (services/common/logs.py reads ``current()``).

A worker with none (a timer's sweep, a call from the CLI) gets a new one, so the
events of one sweep share an id too. Each green thread has its own contextvars,
so ``current()`` is the id of the worker (or HTTP request) running in it.
"""
import contextlib
import contextvars
import json
import logging
import re
import time
import uuid

from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.web.handlers import HttpRequestHandler

from services.common import tracing
from services.common.tracing import TRACE_HEADERS, SpanKind

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
#: the key in nameko context data (travels as the ``nameko.request_id`` header)
REQUEST_ID = "request_id"
#: the AMQP header of an event
EVENT_REQUEST_ID = "x-request-id"
NAMEKO_PREFIX = "nameko."

#: asked every few seconds by probes and scrapers: their access lines are DEBUG
QUIET_ROUTES = ("/health", "/metrics")

_SANE = re.compile(r"[A-Za-z0-9._-]{1,128}\Z")
_request_id = contextvars.ContextVar("vool_request_id", default=None)
#: the event id of a worker handling exactly one event: its worker's span and
#: request id are already that event's, handling() adds none
_own_event = contextvars.ContextVar("vool_own_event", default=None)


def new_request_id():
    return str(uuid.uuid4())


def accept(value):
    """``value`` if it is a sane request id, else a new one: a client's header ends
    up in every log line, so no spaces, quotes, control characters or novels."""
    if isinstance(value, str) and _SANE.match(value):
        return value
    return new_request_id()


def current():
    """The request id of the worker or request running in this green thread."""
    return _request_id.get()


@contextlib.contextmanager
def bound(request_id):
    """``current()`` is ``request_id`` within the block."""
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)


def rpc_context():
    """The context data an RPC made now carries: the request id and the
    current span's traceparent."""
    data = tracing.inject()
    if current():
        data[REQUEST_ID] = current()
    return data


def event_headers():
    """The AMQP headers of an event emitted now (kept with its outbox row), or None."""
    headers = tracing.inject()
    if current():
        headers[EVENT_REQUEST_ID] = current()
    return headers or None


def event_headers_json():
    """event_headers() as JSON text, for an SQL statement's parameter."""
    headers = event_headers()
    return None if headers is None else json.dumps(headers)


def context_of_event(headers):
    """A worker's context data from an event message's headers: nameko's own
    (``nameko.*``) and the request id and trace context. The bookkeeping of
    retries and dead letters (x-death, x-vool-*) is the broker's, not the worker's."""
    headers = headers or {}
    data = {key[len(NAMEKO_PREFIX):]: value for key, value in headers.items()
            if key.startswith(NAMEKO_PREFIX)}
    if headers.get(EVENT_REQUEST_ID):
        data[REQUEST_ID] = headers[EVENT_REQUEST_ID]
    for key in TRACE_HEADERS:
        if headers.get(key):
            data[key] = headers[key]
    return data


@contextlib.contextmanager
def handling(event, name="process"):
    """Within the block, ``event``'s own request id is current and its trace goes on
    (a span whose parent is the event's traceparent): what a batch's worker does
    for one of its events logs, calls and emits as that event's worker would. A
    worker of one event is already all that (Correlation.worker_setup)."""
    if _own_event.get() == event.event_id:
        yield
        return
    context = event.context or {}
    token = _request_id.set(accept(context.get(REQUEST_ID)))
    activation = tracing.begin(f"{name} {event.source}.{event.event_type}", SpanKind.CONSUMER,
                               context, {"messaging.system": "rabbitmq",
                                         "messaging.message.id": event.event_id})
    try:
        yield
    except Exception as exc:
        activation.failed(exc)
        raise
    finally:
        try:
            activation.end()
        finally:
            _request_id.reset(token)


def _event_alone(worker_ctx):
    """The id of the one event a worker handles (a batching handler's list of one
    too), else None."""
    args = getattr(worker_ctx, "args", None) or ()
    event = args[0] if args else None
    if isinstance(event, list):
        event = event[0] if len(event) == 1 else None
    return getattr(event, "event_id", None)


def _what(worker_ctx):
    """(span kind, span name, attributes, what the log line calls it) of a worker;
    kind None for one that gets no span (a timer: some tick every second)."""
    entrypoint = worker_ctx.entrypoint
    service, method = worker_ctx.service_name, entrypoint.method_name
    if isinstance(entrypoint, Rpc):
        return (SpanKind.SERVER, f"{service}.{method}",
                {"rpc.system": "nameko", "rpc.service": service, "rpc.method": method},
                f"rpc {method}")
    if isinstance(entrypoint, EventHandler):
        event = f"{entrypoint.source_service}.{entrypoint.event_type}"
        if getattr(entrypoint, "batched", False) and len(worker_ctx.args[0]) > 1:
            # a batch: each event's line, with its request id, is the handler's
            return (SpanKind.CONSUMER, f"process {event} (batch)",
                    {"messaging.system": "rabbitmq", "messaging.operation.type": "process",
                     "messaging.destination.name": event, "code.function": method,
                     "messaging.batch.message_count": len(worker_ctx.args[0])}, None)
        return (SpanKind.CONSUMER, f"process {event}",
                {"messaging.system": "rabbitmq", "messaging.operation.type": "process",
                 "messaging.destination.name": event, "code.function": method},
                f"{event} by {method}")
    if isinstance(entrypoint, HttpRequestHandler):   # the request's span is RequestIds'
        return SpanKind.INTERNAL, f"{service}.{method}", None, None
    return None, None, None, None


class Correlation(DependencyProvider):
    """Every service has one: each worker runs with its request id (and span)
    current, and leaves one log line saying what it handled."""

    def __init__(self):
        self._workers = {}

    def setup(self):
        tracing.configure(self.container.service_name)

    def stop(self):
        tracing.flush()

    def kill(self):
        tracing.flush(1000)

    def get_dependency(self, worker_ctx):
        return None

    def worker_setup(self, worker_ctx):
        request_id = accept(worker_ctx.data.get(REQUEST_ID))
        worker_ctx.data[REQUEST_ID] = request_id   # what its own RPCs pass on
        token = _request_id.set(request_id), _own_event.set(_event_alone(worker_ctx))
        kind, name, attributes, told = _what(worker_ctx)
        activation = (tracing.begin(name, kind, worker_ctx.data, attributes)
                      if kind is not None else None)
        self._workers[worker_ctx] = (token, activation, told, time.monotonic())

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        token, activation, told, started = self._workers.get(worker_ctx, (None,) * 4)
        if exc_info is not None and activation is not None:
            activation.failed(exc_info[1])
        if told:
            ms = (time.monotonic() - started) * 1000
            level = logging.DEBUG if worker_ctx.entrypoint.method_name == "health" else logging.INFO
            if exc_info is None:
                log.log(level, "handled %s in %.0f ms", told, ms)
            else:   # what failed and why is logged by nameko and the handler
                log.log(level, "handled %s: %s after %.0f ms", told, exc_info[0].__name__, ms)

    def worker_teardown(self, worker_ctx):
        token, activation, told, started = self._workers.pop(worker_ctx, (None,) * 4)
        try:
            if activation is not None:
                activation.end()
        finally:
            if token is not None:
                _request_id.reset(token[0])
                _own_event.reset(token[1])


class RequestIds:
    """WSGI middleware of the gateway: the request id taken or made, in the answer's
    ``X-Request-ID`` (errors and unknown paths too), current while the request is
    handled; the request's server span, continuing a client's ``traceparent``; and
    one access line (method, route — never the path's ids or the query — status)."""

    def __init__(self, app, url_map):
        self.app = app
        self.url_map = url_map

    def route(self, environ):
        try:
            rule, _ = self.url_map.bind_to_environ(environ).match(return_rule=True)
            return rule.rule
        except Exception:   # no such route, wrong method: the app answers that
            return None

    def __call__(self, environ, start_response):
        request_id = accept(environ.get("HTTP_X_REQUEST_ID"))
        method = environ.get("REQUEST_METHOD", "")
        route = self.route(environ)
        answered = {}

        def start(status, headers, exc_info=None):
            answered["status"] = int(str(status).split(" ", 1)[0])
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        parent = {key: environ[f"HTTP_{key.upper()}"] for key in TRACE_HEADERS
                  if environ.get(f"HTTP_{key.upper()}")}
        started = time.monotonic()
        with bound(request_id):
            activation = tracing.begin(
                f"{method} {route}" if route else method, SpanKind.SERVER, parent,
                {"http.request.method": method, **({"http.route": route} if route else {})})
            try:
                return self.app(environ, start)
            except Exception as exc:
                activation.failed(exc)
                raise
            finally:
                status = answered.get("status", 500)
                if activation.span.is_recording():
                    activation.span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        activation.span.set_status(tracing.Status(tracing.StatusCode.ERROR))
                quiet = route is not None and route.startswith(QUIET_ROUTES)
                log.log(logging.DEBUG if quiet else logging.INFO, "%s %s %s in %.0f ms",
                        method, route or "(no route)", status,
                        (time.monotonic() - started) * 1000)
                activation.end()
