"""One request id per request (services/common/correlation.py) and the W3C trace
context (services/common/tracing.py): taken or made at the gateway, answered on every
response, kept with an event's outbox row and sent as its AMQP headers, restored by
the handler, on every log line; and no tracing cost at all when nothing exports."""
import json
import logging
import subprocess
import sys
import uuid
from dataclasses import replace
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from nameko.events import EventHandler
from nameko.rpc import Rpc
from nameko.timer import Timer
from sqlalchemy.orm import sessionmaker
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, Rule
from werkzeug.test import Client
from werkzeug.wrappers import Response

from services.common import correlation, logs, metrics, tracing
from services.common.clock import Clock
from services.common.config import PROJECT_ROOT
from services.common.db import Database, UnitOfWork
from services.common.events import new_event
from services.common.messaging import ReliableEventHandler
from services.common.outbox import EventPublisher, Outbox
from services.common.tracing import SpanKind
from services.metering.models import metadata

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


# -- the request id a client may send -----------------------------------------------

@pytest.mark.parametrize("sane", ["abc", "A.b_c-9", "x" * 128, str(uuid.uuid4())])
def test_a_sane_request_id_is_kept(sane):
    assert correlation.accept(sane) == sane


@pytest.mark.parametrize("insane", [None, "", "x" * 129, "a b", 'a"b', "a\nb", "ä", "a/b",
                                    "<script>", 12345, ["abc"]])
def test_anything_else_is_replaced_by_a_new_uuid4(insane):
    made = correlation.accept(insane)
    assert made != insane
    assert uuid.UUID(made).version == 4


# -- the gateway: X-Request-ID in and out, the request's span ---------------------

def gateway(seen):
    """RequestIds around a tiny WSGI app with one route that answers 503 and records
    what an RPC made while handling it would carry."""
    url_map = Map([Rule("/api/v1/things/<thing>", endpoint="thing", methods=["GET"])])

    def app(environ, start_response):
        seen.append({"request_id": correlation.current(), **correlation.rpc_context()})
        try:
            url_map.bind_to_environ(environ).match()
        except NotFound:
            return Response("no", status=404)(environ, start_response)
        # an inner answer's own X-Request-ID does not win over the request's
        return Response("down", status=503, headers={"X-Request-ID": "inner"})(
            environ, start_response)
    return Client(correlation.RequestIds(app, url_map))


def test_the_gateway_keeps_a_sane_id_and_answers_with_it_on_errors_too():
    seen = []
    client = gateway(seen)
    answer = client.get("/api/v1/things/1", headers={"X-Request-ID": "order-17"})
    assert answer.status_code == 503
    assert answer.headers.getlist("X-Request-ID") == ["order-17"]
    assert seen[-1]["request_id"] == "order-17"
    assert correlation.current() is None            # not left behind for the next request
    unknown = client.get("/nothing", headers={"X-Request-ID": "order-18"})
    assert unknown.status_code == 404 and unknown.headers["X-Request-ID"] == "order-18"


def test_the_gateway_replaces_an_insane_id_and_makes_one_when_there_is_none():
    seen = []
    client = gateway(seen)
    replaced = client.get("/api/v1/things/1", headers={"X-Request-ID": "a b;c"})
    made = client.get("/api/v1/things/1")
    for answer, inside in zip((replaced, made), seen):
        assert uuid.UUID(answer.headers["X-Request-ID"]).version == 4
        assert inside["request_id"] == answer.headers["X-Request-ID"]
    assert replaced.headers["X-Request-ID"] != made.headers["X-Request-ID"]


def test_the_gateway_passes_a_clients_traceparent_on_even_when_nothing_is_exported():
    seen = []
    gateway(seen).get("/api/v1/things/1", headers={"traceparent": TRACEPARENT})
    assert seen[-1]["traceparent"] == TRACEPARENT      # the no-op tracer keeps the parent
    gateway(seen).get("/api/v1/things/1")
    assert "traceparent" not in seen[-1]                # no trace: nothing made up


def test_the_gateway_logs_one_access_line_with_the_route_not_the_path(caplog):
    caplog.set_level(logging.INFO, logger="services.common.correlation")
    gateway([]).get("/api/v1/things/38001085718?code=38001085718",
                    headers={"X-Request-ID": "order-19"})
    [line] = [r for r in caplog.records if r.name == "services.common.correlation"]
    assert line.getMessage().startswith("GET /api/v1/things/<thing> 503 in ")
    assert "38001085718" not in line.getMessage()


# -- events: the outbox row keeps the headers, the publisher sends them -----------

class RecordingPublisher(list):
    def publish_many(self, messages, headers):
        self.extend(zip(messages, headers))


@pytest.fixture
def store(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'metering.db'}")
    metadata.create_all(engine)
    published = RecordingPublisher()
    outbox = Outbox(engine, metadata.tables["outbox"], published, Clock())
    outbox.handled_table = metadata.tables["handled_events"]
    yield SimpleNamespace(engine=engine, outbox=outbox, published=published,
                          unit_of_work=lambda: UnitOfWork(sessionmaker(engine), outbox,
                                                          "metering", Clock()))
    engine.dispose()


def headers_of_rows(store):
    with store.engine.connect() as conn:
        return [row.headers for row in conn.execute(sa.select(store.outbox.table.c.headers))]


def test_an_event_emitted_in_a_request_keeps_its_id_and_traceparent_and_is_sent_with_them(
        store):
    activation = tracing.begin("metering.submit_reading", SpanKind.SERVER,
                               {"traceparent": TRACEPARENT})
    try:
        with correlation.bound("reading-1"), store.unit_of_work() as uow:
            uow.emit("reading_submitted", {"reading_id": "r-1"})
            uow.emit_each("reading_submitted", {"reading_id": "'r-2'"}, "FROM (SELECT 1)", {})
    finally:
        activation.end()
    wanted = {"x-request-id": "reading-1", "traceparent": TRACEPARENT}
    assert headers_of_rows(store) == [wanted, wanted]
    [(message, headers)] = store.published          # the committing worker's publish
    assert headers == wanted
    assert set(message) == {"event_id", "event_type", "occurred_at", "version", "source",
                            "data"}                 # the envelope is as it was
    store.outbox.relay(grace_seconds=-60)           # and the relay's
    assert [h for _, h in store.published] == [wanted, wanted]


def test_an_event_outside_any_request_has_no_headers(store):
    with store.unit_of_work() as uow:
        uow.emit("reading_submitted", {"reading_id": "r-1"})
    assert headers_of_rows(store) == [None]
    assert store.published[0][1] is None


def test_the_publisher_sends_the_headers_beside_the_envelope():
    sent = []
    publisher = object.__new__(EventPublisher)   # its AMQP publisher replaced below
    publisher.exchange = "metering.events"
    publisher._publisher = SimpleNamespace(publish=lambda message, **kw: sent.append(kw))
    publisher.publish({"event_type": "reading_submitted"}, {"x-request-id": "reading-1"})
    assert sent == [{"exchange": "metering.events", "routing_key": "reading_submitted",
                     "headers": {"x-request-id": "reading-1"}}]


def test_each_event_of_a_batch_is_applied_and_emits_under_its_own_request_id_and_trace(store):
    """Database.apply_each: one transaction for the batch, each event's change with
    that event's request id and trace current; one handled before is skipped."""
    db = object.__new__(Database)
    db.unit_of_work = store.unit_of_work
    other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    now = Clock().now()

    def arrived(n, context):
        return replace(new_event("contracts", "contract_signed", {"n": n}, now), context=context)

    earlier = arrived(0, None)
    seen = []

    def change(uow, event):
        seen.append((event.data["n"], correlation.current()))
        uow.emit("schedule_started", {"n": event.data["n"]})

    db.apply_each([earlier], "metering.on_contract_signed", change)
    metrics.duplicates_seen()
    seen.clear()
    batch = [arrived(1, {"request_id": "signing-1", "traceparent": TRACEPARENT}),
             earlier, arrived(2, {"request_id": "signing-2", "traceparent": other})]
    with correlation.bound("the-batch"):
        db.apply_each(batch, "metering.on_contract_signed", change)
        assert correlation.current() == "the-batch"
    assert seen == [(1, "signing-1"), (2, "signing-2")]
    assert metrics.duplicates_seen() == {earlier.event_id}
    wanted = [{"x-request-id": "signing-1", "traceparent": TRACEPARENT},
              {"x-request-id": "signing-2", "traceparent": other}]
    assert sorted((h for h in headers_of_rows(store) if h.get("traceparent")),
                  key=lambda h: h["x-request-id"]) == wanted
    assert [headers for _, headers in store.published[1:]] == wanted   # after the commit


# -- the handler restores them ------------------------------------------------------

def message(headers):
    return SimpleNamespace(headers=headers)


def test_an_event_handlers_context_is_the_events_request_id_and_trace():
    handler = ReliableEventHandler("metering", "reading_submitted")
    data = handler.unpack_message_headers(message({
        "x-request-id": "reading-1", "traceparent": TRACEPARENT, "x-vool-attempt": 2,
        "x-death": [{"count": 1}], "nameko.call_id_stack": ["gateway.x.1"]}))
    assert data == {"request_id": "reading-1", "traceparent": TRACEPARENT,
                    "call_id_stack": ["gateway.x.1"]}
    assert handler.unpack_message_headers(message(None)) == {}


@pytest.mark.parametrize("sent, logged", [("reading-1", "reading-1"), (None, None)])
def test_a_message_refused_before_any_worker_is_logged_under_the_senders_id(
        monkeypatch, sent, logged):
    handler = ReliableEventHandler("metering", "reading_submitted")
    handler.queue = SimpleNamespace(name="billing.reading_submitted")
    monkeypatch.setattr(handler, "_measure", lambda *args: None)
    monkeypatch.setattr(handler, "_settle", lambda *args: None)
    seen = []
    monkeypatch.setattr("services.common.messaging.log.error",
                        lambda *args: seen.append(correlation.current()))
    handler._refuse(message({"x-request-id": sent} if sent else None), "event version 9")
    assert seen == [logged] and correlation.current() is None


class WorkerContext(SimpleNamespace):
    __hash__ = object.__hash__     # as nameko's: one per worker


def worker(entrypoint, data, service="billing", method="on_reading_submitted"):
    entrypoint.method_name = method
    return WorkerContext(entrypoint=entrypoint, data=dict(data), service_name=service)


def run_worker(ctx, during=lambda: None):
    provider = correlation.Correlation()
    provider.worker_setup(ctx)
    inside = {"request_id": correlation.current(), "carried": correlation.rpc_context(),
              "event_headers": correlation.event_headers(), "during": during()}
    provider.worker_result(ctx)
    provider.worker_teardown(ctx)
    return inside


def test_a_worker_handling_an_event_runs_logs_calls_and_emits_under_its_id_and_trace(caplog):
    caplog.set_level(logging.INFO, logger="services.common.correlation")
    ctx = worker(EventHandler("metering", "reading_submitted"),
                 {"request_id": "reading-1", "traceparent": TRACEPARENT})
    inside = run_worker(ctx, lambda: tracing.ids())
    assert inside["request_id"] == "reading-1"
    assert inside["carried"] == {"request_id": "reading-1", "traceparent": TRACEPARENT}
    assert inside["event_headers"] == {"x-request-id": "reading-1", "traceparent": TRACEPARENT}
    assert inside["during"][0] == TRACE_ID
    assert correlation.current() is None and tracing.ids() == (None, None)
    [line] = [r for r in caplog.records if r.name == "services.common.correlation"]
    assert line.getMessage().startswith(
        "handled metering.reading_submitted by on_reading_submitted in ")


def test_an_rpc_worker_replaces_a_callers_junk_id_and_a_timer_makes_its_own():
    rpc = run_worker(worker(Rpc(), {"request_id": "no spaces please"}, "metering",
                            "submit_reading"))
    assert uuid.UUID(rpc["request_id"]).version == 4
    first = run_worker(worker(Timer(5), {}, "billing", "sweep_overdue"))["request_id"]
    second = run_worker(worker(Timer(5), {}, "billing", "sweep_overdue"))["request_id"]
    assert first != second and uuid.UUID(first).version == 4


# -- every log line carries it ------------------------------------------------------

def formatted(formatter, during):
    record = logging.LogRecord("services.billing.pricing", logging.INFO, __file__, 1,
                               "priced %s", ("r-1",), None)
    with during:
        logs.RequestContext().filter(record)
    return formatter.format(record)


def test_json_lines_carry_the_request_id_and_inside_a_trace_its_ids(monkeypatch):
    monkeypatch.setenv("VOOL_SERVICE_NAME", "billing")
    line = json.loads(formatted(logs.JsonLines(), correlation.bound("reading-1")))
    assert (line["request_id"], line["message"], line["service"]) == (
        "reading-1", "priced r-1", "billing")
    assert "trace_id" not in line
    activation = tracing.begin("x", SpanKind.CONSUMER, {"traceparent": TRACEPARENT})
    try:
        line = json.loads(formatted(logs.JsonLines(), correlation.bound("reading-2")))
    finally:
        activation.end()
    assert (line["request_id"], line["trace_id"], line["span_id"]) == (
        "reading-2", TRACE_ID, "00f067aa0ba902b7")
    outside = json.loads(formatted(logs.JsonLines(), _nothing()))
    assert "request_id" not in outside


def test_plain_lines_show_the_first_eight_characters_or_a_dash():
    plain = logging.Formatter("%(levelname)s [%(request_id).8s] %(name)s: %(message)s",
                              defaults={"request_id": "-"})
    assert formatted(plain, correlation.bound("0123456789abcdef")) == \
        "INFO [01234567] services.billing.pricing: priced r-1"
    assert formatted(plain, _nothing()) == "INFO [-] services.billing.pricing: priced r-1"


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


# -- OpenTelemetry: nothing without an endpoint, spans with one -------------------

def run_python(code, **env):
    import os
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment.update(env)
    finished = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=environment,
                              capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout.strip().splitlines()[-1])


def test_without_an_endpoint_no_sdk_no_exporter_no_thread_only_propagation():
    result = run_python("""
import json, sys, threading
from services.common import correlation, tracing
from services.common.tracing import SpanKind
before = threading.active_count()
exporting = tracing.configure("metering")
a = tracing.begin("metering.submit_reading", SpanKind.SERVER,
                  {"traceparent": "%s"})
with tracing.span("billing.get_charge", SpanKind.CLIENT):
    carried = tracing.inject()
a.end()
tracing.flush()
print(json.dumps({"exporting": exporting, "threads": threading.active_count() - before,
                  "carried": carried, "recording": a.span.is_recording(),
                  "sdk": sorted(m for m in sys.modules if m.startswith(
                      ("opentelemetry.sdk", "opentelemetry.exporter")))}))
""" % TRACEPARENT)
    assert result == {"exporting": False, "threads": 0, "carried": {"traceparent": TRACEPARENT},
                      "recording": False, "sdk": []}


def test_with_spans_recorded_a_worker_continues_the_callers_trace_and_its_calls_are_children():
    result = run_python("""
import json
from types import SimpleNamespace
from nameko.rpc import Rpc
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from services.common import correlation, tracing
from services.common.tracing import SpanKind
exporter = InMemorySpanExporter()
tracing.install(SimpleSpanProcessor(exporter), "metering")
entrypoint = Rpc(); entrypoint.method_name = "submit_reading"
class WorkerContext(SimpleNamespace):
    __hash__ = object.__hash__
ctx = WorkerContext(entrypoint=entrypoint, service_name="metering",
                      data={"request_id": "reading-1", "traceparent": "%s"})
provider = correlation.Correlation()
provider.worker_setup(ctx)
with tracing.span("billing.get_charge", SpanKind.CLIENT):
    carried = correlation.rpc_context()
provider.worker_result(ctx, exc_info=(ValueError, ValueError("no"), None))
provider.worker_teardown(ctx)
spans = {s.name: s for s in exporter.get_finished_spans()}
server, client = spans["metering.submit_reading"], spans["billing.get_charge"]
print(json.dumps({
    "trace": {format(s.context.trace_id, "032x") for s in spans.values()} == {"%s"},
    "server_parent": format(server.parent.span_id, "016x"),
    "client_parent_is_server": client.parent.span_id == server.context.span_id,
    "carried_span": carried["traceparent"].split("-")[2] == format(client.context.span_id, "016x"),
    "kinds": [server.kind.name, client.kind.name], "status": server.status.status_code.name,
    "service": server.resource.attributes["service.name"]}))
""" % (TRACEPARENT, TRACE_ID))
    assert result == {"trace": True, "server_parent": "00f067aa0ba902b7",
                      "client_parent_is_server": True, "carried_span": True,
                      "kinds": ["SERVER", "CLIENT"], "status": "ERROR", "service": "metering"}


# -- the safety net -------------------------------------------------------------------

def test_a_personal_code_or_bearer_token_that_slipped_into_a_line_is_hidden():
    record = logging.LogRecord("somewhere", logging.DEBUG, __file__, 1,
                               "reply %s for %s", ({"person": "39001010011"},
                                                   "Authorization: Bearer abc.DEF-123"), None)
    try:
        raise ValueError("no contract for 49001010012")
    except ValueError:
        record.exc_info = sys.exc_info()
    logs.RedactSecrets().filter(record)
    line = logging.Formatter("%(message)s").format(record)
    assert "39001010011" not in line and "49001010012" not in line and "abc.DEF" not in line
    assert "reply {'person': '<personal code>'} for Authorization: Bearer <token>" in line
    assert "ValueError: no contract for <personal code>" in line
    assert json.loads(logs.JsonLines().format(record))["exc_info"].endswith(
        "ValueError: no contract for <personal code>")


def test_numbers_that_are_not_personal_codes_stay():
    assert logs.redacted("invoice 10000000001, amount 12345678901") == \
        "invoice 10000000001, amount 12345678901"


@pytest.mark.parametrize("traceparent", [
    TRACEPARENT, f" 00-{TRACE_ID}-00f067aa0ba902b7-00\t", TRACEPARENT.upper(),
    f"ff-{TRACE_ID}-00f067aa0ba902b7-01", f"01-{TRACE_ID}-00f067aa0ba902b7-01-more",
    f"00-{TRACE_ID}-00f067aa0ba902b7-01-more", f"00-{'0' * 32}-00f067aa0ba902b7-01",
    f"00-{TRACE_ID}-{'0' * 16}-01", "junk", "", 12345, None])
@pytest.mark.parametrize("tracestate", [None, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
                                        "bad key=1", 7])
def test_without_a_provider_a_worker_carries_on_what_the_propagator_would(traceparent,
                                                                          tracestate):
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    carrier = {k: v for k, v in (("traceparent", traceparent), ("tracestate", tracestate))
               if v is not None}
    w3c, expected = TraceContextTextMapPropagator(), {}
    w3c.inject(expected, context=w3c.extract(
        {k: v for k, v in carrier.items() if isinstance(v, str) and v}))
    activation = tracing.begin("metering.submit_reading", SpanKind.SERVER, carrier)
    try:
        assert tracing.inject() == expected
        assert not activation.span.is_recording()
        trace_id, span_id = tracing.ids()
        assert (trace_id is None) == (not expected)
        if expected:
            assert expected["traceparent"].split("-")[1:3] == [trace_id, span_id]
    finally:
        activation.end()
    assert tracing.inject() == {} and tracing.ids() == (None, None)
