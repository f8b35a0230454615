"""The batching event handler (services/common/messaging.py, BatchEventHandler):
what the broker has delivered is applied in one transaction and acked after its
commit, each event still once; a batch that fails is handled one message at a
time, so that only the message that cannot succeed is retried or parked.

A backlog is made by stopping billing, publishing, and starting it again: the
messages are then delivered together, as under load. Injected with pika."""
import json
import logging
import uuid

import eventlet
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from services.billing import pricing
from services.billing.service import BillingService
from services.common import correlation
from services.common.errors import ValidationFailed
from services.common.messaging import ATTEMPT_HEADER, ERROR_HEADER
from tests.conftest import wait_for
from tests.integration.test_reliability import (BILLING_QUEUE, DEAD_LETTERS, charge_count,
                                                reading_submitted)

LABELS = {"service": "billing", "event_type": "reading_submitted"}
OUTCOMES = ("ok", "duplicate", "retried", "dead_lettered")


def counted():
    """``{outcome: n}`` of billing's reading handler, and (batches, events in them)."""
    handled = {outcome: REGISTRY.get_sample_value(
        "vool_events_handled_total", {**LABELS, "outcome": outcome}) or 0.0
        for outcome in OUTCOMES}
    batches = (REGISTRY.get_sample_value("vool_event_batch_size_count", LABELS) or 0.0,
               REGISTRY.get_sample_value("vool_event_batch_size_sum", LABELS) or 0.0)
    return handled, batches


def grown(before, after):
    return ({k: after[0][k] - before[0][k] for k in OUTCOMES},
            tuple(a - b for a, b in zip(after[1], before[1])))


def publish(bus, event, request_id=None):
    bus.publish_raw("metering.events", "reading_submitted", json.dumps(event),
                    headers={correlation.EVENT_REQUEST_ID: request_id} if request_id else None)


def backlog(run_services, bus, messages):
    """Billing's queue declared, then ``messages`` ((event, request id)) waiting on
    it with billing away: returns once they are all there."""
    run_services(BillingService).kill()
    for event, request_id in messages:
        publish(bus, event, request_id)
    wait_for(lambda: bus.depth(BILLING_QUEUE) == len(messages), message="the backlog")


def charged_once(database_urls, events):
    return all(charge_count(database_urls, e["data"]["reading_id"]) == 1 for e in events)


class Lines(logging.Handler):
    """(request id current, message) of each line, as the services' log filter sees it."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append((correlation.current(), record.getMessage()))


@pytest.fixture
def lines():
    """The lines of a batch's events (messaging's) and of a lone event (its worker's)."""
    handler = Lines()
    loggers = [logging.getLogger(name) for name in
               ("services.common.messaging", "services.common.correlation")]
    saved = [(logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.disabled = False
    yield handler.lines
    for logger, (level, disabled) in zip(loggers, saved):
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.disabled = disabled


@pytest.mark.both_stores
def test_a_backlog_is_charged_in_batches_each_event_once(run_services, bus, rpc, database_urls,
                                                         lines):
    earlier = run_services(BillingService)
    handled_earlier = reading_submitted()
    publish(bus, handled_earlier)
    wait_for(lambda: charge_count(database_urls) == 1, message="the earlier event charged")
    earlier.kill()

    events = [reading_submitted() for _ in range(40)]
    messages = [(event, f"req-{i}") for i, event in enumerate(events)]
    messages.insert(7, (events[3], "req-3-again"))        # twice within the backlog
    messages.append((handled_earlier, "req-redelivered"))  # handled before
    before = counted()
    backlog(run_services, bus, messages)
    run_services(BillingService)
    wait_for(lambda: charge_count(database_urls) == 41, message="every reading charged")
    wait_for(lambda: bus.depth(BILLING_QUEUE) == 0, message="every message acked")
    eventlet.sleep(0.5)   # whatever was going to be charged twice, would have been
    assert charge_count(database_urls) == 41
    assert charged_once(database_urls, events + [handled_earlier])

    handled, (batches, in_batches) = grown(before, wait_for(
        lambda: (lambda now: now if grown(before, now)[1][1] == len(messages) else None)(
            counted()), message="every message counted"))
    assert handled == {"ok": 40, "duplicate": 2, "retried": 0, "dead_lettered": 0}
    assert in_batches == len(messages) and batches < len(messages)   # some batch held several
    # each event's line carries its own request id, its duplicate's too
    told = {request_id for request_id, text in lines
            if text.startswith("handled metering.reading_submitted by on_reading_submitted")}
    assert {request_id for _, request_id in messages} <= told


@pytest.mark.both_stores
def test_the_one_message_that_cannot_succeed_is_parked_alone_and_the_batch_commits(
        run_services, bus, database_urls, monkeypatch):
    good = [reading_submitted() for _ in range(20)]
    poison, flaky = reading_submitted(), reading_submitted()
    malformed = reading_submitted()
    del malformed["data"]["tariff_plan"]                    # fails the publisher's model
    calls = {flaky["data"]["reading_id"]: 0}
    real_charge = pricing.charge_reading

    def charging(uow, data):
        if data["reading_id"] == poison["data"]["reading_id"]:
            raise ValidationFailed.field("consumption.T1", "not a number of kWh")
        if data["reading_id"] in calls:
            calls[data["reading_id"]] += 1
            # twice: in its batch (unless poison failed that batch first) and alone,
            # then after a retry
            if calls[data["reading_id"]] <= 2:
                raise RuntimeError("the tariff store hiccupped")
        return real_charge(uow, data)

    before = counted()
    backlog(run_services, bus, [(e, None) for e in good[:10] + [poison, flaky, malformed]
                                + good[10:]])
    monkeypatch.setattr(pricing, "charge_reading", charging)
    run_services(BillingService)
    wait_for(lambda: charge_count(database_urls) == 21, message="the good and the flaky charged")
    dead = wait_for(lambda: (lambda found: found if len(found) == 2 else None)(
        bus.drain(DEAD_LETTERS)) if bus.depth(DEAD_LETTERS) == 2 else None,
        message="the two that cannot succeed parked")
    assert sorted(json.loads(body)["event_id"] for _, body in dead) == sorted(
        [poison["event_id"], malformed["event_id"]])
    for properties, body in dead:   # at once: no retries
        assert ATTEMPT_HEADER not in properties.headers
        reason = properties.headers[ERROR_HEADER]
        assert ("not a number of kWh" in reason if json.loads(body) == poison
                else "tariff_plan" in reason)
    assert calls[flaky["data"]["reading_id"]] == 3
    assert charged_once(database_urls, good + [flaky])
    assert charge_count(database_urls, poison["data"]["reading_id"]) == 0
    eventlet.sleep(0.5)
    handled, _ = grown(before, counted())
    # only the flaky one was retried: once per attempt that failed alone
    assert handled.pop("retried") in (1, 2)
    assert handled == {"ok": 21, "duplicate": 0, "dead_lettered": 2}
    assert bus.depth(BILLING_QUEUE) == 0


@pytest.mark.both_stores
def test_a_kill_before_the_commit_leaves_every_message_with_the_broker(
        run_services, bus, database_urls, monkeypatch):
    events = [reading_submitted() for _ in range(30)]
    backlog(run_services, bus, [(e, None) for e in events])
    before = counted()
    entered = []
    never = eventlet.event.Event()

    def stuck(uow, data):   # the batch has written its handled ids, not committed
        entered.append(data["reading_id"])
        never.wait()

    monkeypatch.setattr(pricing, "charge_reading", stuck)
    billing = run_services(BillingService)
    wait_for(lambda: entered and bus.depth(BILLING_QUEUE) == 0,
             message="a batch under way, every message delivered")
    assert counted()[1][1] - before[1][1] > 1    # not a lone message: a batch
    billing.kill()   # as a process dies: its connections go, its transaction with them
    wait_for(lambda: bus.depth(BILLING_QUEUE) == len(events), message="all given back")
    assert charge_count(database_urls) == 0

    monkeypatch.undo()
    run_services(BillingService)
    wait_for(lambda: charge_count(database_urls) == len(events), message="charged after all")
    wait_for(lambda: bus.depth(BILLING_QUEUE) == 0)
    eventlet.sleep(0.5)
    assert charged_once(database_urls, events)


def test_a_database_connection_broken_inside_a_batch_charges_each_once(
        run_services, bus, database_urls, monkeypatch, lines):
    """PostgreSQL ends billing's sessions while a batch is under way: the batch
    fails, nothing of it is acked, and each of its events is charged alone, once."""
    events = [reading_submitted() for _ in range(30)]
    backlog(run_services, bus, [(e, None) for e in events])
    real_charge = pricing.charge_reading
    broken = []
    admin = sa.create_engine(database_urls["billing"])

    def breaking(uow, data):
        if not broken:
            broken.append(data["reading_id"])
            with admin.connect() as conn:
                conn.execute(sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    # the batch's connection, just after it recorded the handled ids
                    "AND state = 'idle in transaction' "
                    "AND query LIKE 'INSERT INTO handled_events%'"))
        return real_charge(uow, data)

    before = counted()
    monkeypatch.setattr(pricing, "charge_reading", breaking)
    try:
        run_services(BillingService)
        wait_for(lambda: charge_count(database_urls) == len(events), timeout=20,
                 message="every reading charged")
        wait_for(lambda: bus.depth(BILLING_QUEUE) == 0)
        eventlet.sleep(0.5)
    finally:
        admin.dispose()
    assert broken and charged_once(database_urls, events)
    assert any(text.startswith("a batch of") and "failed" in text for _, text in lines)
    handled, (_, in_batches) = grown(before, counted())
    assert handled == {"ok": len(events), "duplicate": 0, "retried": 0, "dead_lettered": 0}
    assert in_batches == len(events)
    assert bus.depth(DEAD_LETTERS) == 0


@pytest.mark.both_stores
def test_a_graceful_stop_mid_backlog_gives_back_what_it_has_not_applied(
        run_services, bus, database_urls):
    events = [reading_submitted() for _ in range(300)]
    backlog(run_services, bus, [(e, None) for e in events])
    billing = run_services(BillingService)
    wait_for(lambda: charge_count(database_urls) > 0, message="charging under way")
    stopping = eventlet.spawn(billing.stop)
    stopping.wait()     # the batch under way commits; what was only delivered goes back
    charged = charge_count(database_urls)
    assert bus.depth(BILLING_QUEUE) == len(events) - charged
    run_services(BillingService)
    wait_for(lambda: charge_count(database_urls) == len(events), timeout=30,
             message="the rest charged by the next one")
    eventlet.sleep(0.5)
    assert charged_once(database_urls, events)
