"""The metrics' plumbing without a broker: labels stay bounded (a route's template,
never its path), the outbox gauges read a real outbox table (SQLite) and are cached,
a database or broker that is away leaves its samples out instead of breaking a
scrape, and jobs and RPC outcomes are counted as they end."""
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from werkzeug.routing import Map, Rule
from werkzeug.test import Client
from werkzeug.wrappers import Response

from services.common import metrics
from services.common.clock import clock
from services.common.errors import NotFound, ValidationFailed
from services.common.ops import rpc_outcome
from services.common.tables import outbox_table


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def routed_app():
    """A WSGI app that, like the gateway's, names the matched rule's template."""
    url_map = Map([Rule("/api/v1/customers/<cid>/readings", endpoint="readings")])

    def app(environ, start_response):
        try:
            rule, _ = url_map.bind_to_environ(environ).match(return_rule=True)
        except Exception:
            return Response("no", status=404)(environ, start_response)
        environ[metrics.ROUTE_ENVIRON_KEY] = rule.rule
        return Response("ok", status=201)(environ, start_response)
    return Client(metrics.measured_wsgi(app))


def test_a_request_is_counted_by_its_route_template_not_its_path():
    route = "/api/v1/customers/<cid>/readings"
    before = sample("vool_http_requests_total", route=route, method="POST", status="201")
    client = routed_app()
    client.post("/api/v1/customers/3a1f0c2e-aaaa/readings")
    client.post("/api/v1/customers/49001010000/readings")
    assert sample("vool_http_requests_total", route=route, method="POST",
                  status="201") == before + 2
    assert sample("vool_http_request_duration_seconds_count", route=route, method="POST") >= 2
    text = metrics.exposition()[0].decode()
    assert "3a1f0c2e-aaaa" not in text and "49001010000" not in text


def test_unknown_paths_and_invented_methods_share_one_label_each():
    before = sample("vool_http_requests_total", route="unmatched", method="other",
                    status="404")
    client = routed_app()
    client.open("/wp-admin/EE38.php?id=39001010008", method="BREW")
    client.open("/another/random/path", method="PROPFIND")
    assert sample("vool_http_requests_total", route="unmatched", method="other",
                  status="404") == before + 2
    text = metrics.exposition()[0].decode()
    assert "wp-admin" not in text and "BREW" not in text and "39001010008" not in text


def test_an_app_that_raises_counts_as_500_and_the_error_goes_on():
    def broken(environ, start_response):
        raise RuntimeError("bug")
    before = sample("vool_http_requests_total", route="unmatched", method="GET", status="500")
    with pytest.raises(RuntimeError):
        Client(metrics.measured_wsgi(broken)).get("/x")
    assert sample("vool_http_requests_total", route="unmatched", method="GET",
                  status="500") == before + 1


def test_rpc_outcomes_tell_refusals_from_bugs():
    assert rpc_outcome(None) == "ok"
    for refusal in (NotFound("no such invoice"), ValidationFailed.field("x", "bad")):
        assert rpc_outcome((type(refusal), refusal, None)) == "refused"
    bug = KeyError("x")
    assert rpc_outcome((type(bug), bug, None)) == "error"


def test_a_job_run_is_counted_with_its_outcome_and_timed():
    ok = sample("vool_job_runs_total", kind="overdue_sweep", outcome="ok")
    failed = sample("vool_job_runs_total", kind="overdue_sweep", outcome="error")
    refused = sample("vool_job_runs_total", kind="overdue_sweep", outcome="refused")
    timed = sample("vool_job_duration_seconds_count", kind="overdue_sweep")

    @metrics.measured_job("overdue_sweep")
    def sweep(fail=None):
        """docstring kept"""
        if fail:
            raise fail
        return {"invoices_overdue": 3}

    assert sweep() == {"invoices_overdue": 3}
    with pytest.raises(RuntimeError):
        sweep(fail=RuntimeError("database away"))
    with pytest.raises(ValidationFailed):
        sweep(fail=ValidationFailed.field("as_of", "not a date"))
    assert sweep.__doc__ == "docstring kept"
    assert sample("vool_job_runs_total", kind="overdue_sweep", outcome="ok") == ok + 1
    assert sample("vool_job_runs_total", kind="overdue_sweep", outcome="error") == failed + 1
    assert sample("vool_job_runs_total", kind="overdue_sweep",
                  outcome="refused") == refused + 1
    assert sample("vool_job_duration_seconds_count", kind="overdue_sweep") == timed + 3


class Envelope:
    def __init__(self, payload):
        self.payload = payload


def test_an_event_s_lag_is_from_its_occurred_at_and_junk_has_none():
    occurred = datetime.now(timezone.utc) - timedelta(seconds=30)
    lag = metrics.event_lag(Envelope({
        "event_id": "0b5d7c3e-6a3f-4f0e-9a57-1d2f3c4b5a60", "event_type": "reading_submitted",
        "occurred_at": occurred.isoformat(), "version": 1, "source": "metering", "data": {}}))
    assert 29 < lag < 60
    assert metrics.event_lag(Envelope(b"\xff not json")) is None
    assert metrics.event_lag(Envelope({"occurred_at": "yesterday"})) is None


@pytest.fixture
def outbox(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'outbox.sqlite3'}")
    table = outbox_table(sa.MetaData())
    table.create(engine)
    yield engine, table
    engine.dispose()


def write(engine, table, event_id, created_at, published_at=None):
    with engine.begin() as conn:
        conn.execute(sa.insert(table).values(
            event_id=event_id, event_type="reading_submitted", message={},
            created_at=created_at, published_at=published_at))


def gauges(collector):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in collector.collect() for s in family.samples}


def test_the_outbox_gauges_count_what_is_unpublished_and_its_oldest_age(outbox):
    engine, table = outbox
    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    clock.set(now)
    try:
        collector = metrics.OperationsCollector()
        collector.OUTBOX_CACHE_SECONDS = 0
        collector.watch_outbox("billing", engine, table)
        assert gauges(collector) == {
            ("vool_outbox_backlog_events", (("service", "billing"),)): 0,
            ("vool_outbox_oldest_age_seconds", (("service", "billing"),)): 0}
        write(engine, table, "a", now - timedelta(minutes=5))
        write(engine, table, "b", now - timedelta(seconds=10))
        write(engine, table, "c", now - timedelta(hours=2), published_at=now)  # sent long ago
        assert gauges(collector) == {
            ("vool_outbox_backlog_events", (("service", "billing"),)): 2,
            ("vool_outbox_oldest_age_seconds", (("service", "billing"),)): 300}
    finally:
        clock.reset()


def test_a_scrape_storm_reads_the_outbox_once_per_cache_period(outbox):
    engine, table = outbox
    reads = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: reads.append(1))
    collector = metrics.OperationsCollector()
    collector.watch_outbox("metering", engine, table)
    for _ in range(50):
        gauges(collector)
    assert len(reads) == 1
    write(engine, table, "a", datetime.now(timezone.utc))
    # within the cache period the gauge is what it was
    assert gauges(collector)[("vool_outbox_backlog_events", (("service", "metering"),))] == 0


def test_a_database_or_broker_away_leaves_samples_out_and_the_scrape_answers(outbox):
    engine, table = outbox
    collector = metrics.OperationsCollector()
    collector.watch_outbox("metering", engine, table)
    # nothing listens on port 1
    collector.watch_outbox("billing", sa.create_engine(
        "postgresql+psycopg2://postgres@127.0.0.1:1/none"), table)
    collector.watch_dead_letters("billing", "amqp://guest:guest@127.0.0.1:1/", ["q.dead-letter"])
    started = time.monotonic()
    found = gauges(collector)
    assert time.monotonic() - started < 10
    assert found == {("vool_outbox_backlog_events", (("service", "metering"),)): 0,
                     ("vool_outbox_oldest_age_seconds", (("service", "metering"),)): 0}
    # the failure is cached too: the next scrape does not wait for the broker again
    started = time.monotonic()
    gauges(collector)
    assert time.monotonic() - started < 0.5


def test_the_process_metrics_are_registered():
    names = {family.name for family in REGISTRY.collect()}
    assert {"process_resident_memory_bytes", "process_cpu_seconds"} <= names
    assert sample("process_resident_memory_bytes") > 0
