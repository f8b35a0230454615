"""W3C trace context with OpenTelemetry: spans exported over OTLP/HTTP only when
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set.

Without it there is no SDK, no exporter, no thread and no span: what comes in as
``traceparent`` (once checked) is carried in a context variable and goes out
unchanged with every RPC and event (another system's trace continues through
Vool) — what the OpenTelemetry API's no-op tracer would do, without its context
objects on every worker and call. The carriers are plain dicts: the HTTP
request's headers, an RPC's nameko context data, an event's AMQP headers.

The standard OTEL_* variables apply (OTEL_SERVICE_NAME, OTEL_BSP_SCHEDULE_DELAY,
OTEL_EXPORTER_OTLP_HEADERS, ...).
"""
import contextlib
import contextvars
import logging
import os

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
#: the W3C headers; also the keys in RPC context data and event headers
TRACE_HEADERS = ("traceparent", "tracestate")

_provider = None

#: without a provider: the trace headers of the request or worker being handled
_carried = contextvars.ContextVar("vool_trace_carried", default=None)
_W3C = TraceContextTextMapPropagator()


def _checked(carrier):
    """The carrier's ``traceparent`` (and ``tracestate``) as the propagator would send
    them on — checked by the propagator itself — or None for no (valid) trace."""
    if not carrier or not isinstance(carrier.get("traceparent"), str):
        return None
    headers = {}
    _W3C.inject(headers, context=_W3C.extract(
        {k: carrier[k] for k in TRACE_HEADERS if isinstance(carrier.get(k), str)}))
    return headers or None


def exporting(environ=None):
    environ = os.environ if environ is None else environ
    return any(environ.get(name) for name in ENDPOINT_VARIABLES)


def configure(service_name, environ=None):
    """Once per process: an SDK tracer provider exporting over OTLP/HTTP when an
    endpoint is set; otherwise nothing at all. Returns whether spans are exported."""
    global _provider
    if _provider is not None:
        return True
    if not exporting(environ):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    install(BatchSpanProcessor(OTLPSpanExporter()), service_name)
    log.info("tracing: spans exported over OTLP/HTTP to %s",
             os.environ.get(ENDPOINT_VARIABLES[1]) or os.environ.get(ENDPOINT_VARIABLES[0]))
    return True


def install(processor, service_name):
    """The SDK provider with this span processor (tests give an in-memory one)."""
    global _provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME")
                                or service_name, "service.namespace": "vool"})
    _provider = TracerProvider(resource=resource)
    _provider.add_span_processor(processor)
    trace.set_tracer_provider(_provider)
    return _provider


def flush(timeout_millis=5000):
    """Send what is batched (a service stopping)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis)


def tracer():
    return trace.get_tracer("vool")


def extract(carrier):
    """The (remote) parent context in a carrier's ``traceparent``/``tracestate``."""
    return propagate.extract({k: carrier[k] for k in TRACE_HEADERS if carrier.get(k)})


def inject():
    """The current span's ``traceparent`` (and ``tracestate``), as a dict; empty
    outside any trace."""
    if _provider is None:
        return dict(_carried.get() or ())
    carrier = {}
    propagate.inject(carrier)
    return carrier


def ids():
    """(trace_id, span_id) in hex of the current span, or (None, None)."""
    if _provider is None:
        carried = _carried.get()
        if carried is None:
            return None, None
        _, trace_id, span_id, _ = carried["traceparent"].split("-")
        return trace_id, span_id
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None, None
    return (trace.format_trace_id(span_context.trace_id),
            trace.format_span_id(span_context.span_id))


class Activation:
    """A span made current in this green thread until ``end()``: for spans that
    begin and end in different callbacks (a nameko worker's setup and teardown)."""

    def __init__(self, span):
        self.span = span
        self._token = otel_context.attach(trace.set_span_in_context(span))

    def failed(self, exc):
        if self.span.is_recording():
            self.span.record_exception(exc)
            self.span.set_status(Status(StatusCode.ERROR, type(exc).__name__))

    def end(self):
        try:
            otel_context.detach(self._token)
        finally:
            self.span.end()


class Carried:
    """An Activation without a provider: the parent's trace headers current until
    ``end()``; its span records nothing."""

    span = trace.INVALID_SPAN

    def __init__(self, headers):
        self._token = _carried.set(headers)

    def failed(self, exc):
        pass

    def end(self):
        _carried.reset(self._token)


def begin(name, kind, parent_carrier=None, attributes=None):
    """Start ``name`` as the current span, continuing the trace in
    ``parent_carrier`` if it names one; returns an Activation."""
    if _provider is None:
        return Carried(_checked(parent_carrier))
    parent = extract(parent_carrier) if parent_carrier else None
    return Activation(tracer().start_span(name, context=parent, kind=kind,
                                          attributes=attributes))


@contextlib.contextmanager
def span(name, kind=SpanKind.INTERNAL, attributes=None):
    """A child span of the current one, current within the block."""
    if _provider is None:   # nothing is recorded: the current trace goes on as it is
        yield trace.INVALID_SPAN
        return
    with tracer().start_as_current_span(name, kind=kind, attributes=attributes) as current:
        yield current


__all__ = ["SpanKind", "begin", "configure", "extract", "flush", "ids", "inject",
           "install", "span", "tracer"]
