"""The outbox on PostgreSQL: two replicas relaying at once publish every event
exactly once; the publish after commit and a relay never send the same row."""
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import eventlet
import pytest
import sqlalchemy as sa

from services.common import migrate
from services.common.clock import Clock
from services.common.db import make_engine
from services.common.outbox import Outbox, insert_events_sql
from services.contracts.models import outbox

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "contracts" / "migrations"


class SlowRecorder:
    """A publisher that yields while 'publishing', so replicas interleave."""

    def __init__(self, name, sent):
        self.name = name
        self.sent = sent

    def publish(self, message, headers=None):
        eventlet.sleep(0.001)
        self.sent.append((self.name, message["event_id"]))

    def publish_many(self, messages, headers=None):
        for message in messages:
            self.publish(message)


@pytest.fixture
def engine(database_urls):
    engine = make_engine(database_urls["contracts"])
    migrate.upgrade(engine, MIGRATIONS)
    yield engine
    engine.dispose()


def write_events(engine, count, created_at):
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with engine.begin() as conn:
        conn.execute(sa.insert(outbox), [{
            "event_id": i, "event_type": "contract_signed", "created_at": created_at,
            "message": {"event_id": i, "event_type": "contract_signed", "data": {}}}
            for i in ids])
    return ids


def committed(ids):
    """What a unit of work hands the outbox after commit: (event_id, message, headers)."""
    return [(i, {"event_id": i, "event_type": "contract_signed", "data": {}}, None) for i in ids]


def unpublished(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(outbox)
                            .where(outbox.c.published_at.is_(None))).scalar()


def test_two_relays_publish_each_event_once(engine):
    clock = Clock()
    ids = write_events(engine, 300, clock.now() - timedelta(minutes=1))
    sent = []
    replicas = [Outbox(engine, outbox, SlowRecorder(name, sent), clock, batch_size=20)
                for name in ("replica-a", "replica-b")]
    pool = eventlet.GreenPool()
    totals = list(pool.imap(lambda r: r.relay(grace_seconds=0), replicas))

    assert sorted(event_id for _, event_id in sent) == sorted(ids)   # all, none twice
    assert sum(totals) == 300
    assert all(totals), f"both replicas should have taken a share: {totals}"
    assert unpublished(engine) == 0


def test_publish_after_commit_and_relay_do_not_both_send(engine):
    clock = Clock()
    ids = write_events(engine, 100, clock.now() - timedelta(minutes=1))
    sent = []
    committing = Outbox(engine, outbox, SlowRecorder("after-commit", sent), clock)
    relay = Outbox(engine, outbox, SlowRecorder("relay", sent), clock, batch_size=10)
    pool = eventlet.GreenPool()
    pool.spawn(committing.publish, committed(ids))
    pool.spawn(relay.relay, 0)
    pool.waitall()
    assert sorted(event_id for _, event_id in sent) == sorted(ids)


def test_publish_after_commit_sends_more_than_a_batch_in_several(engine):
    # a unit of work with more events than a batch: all go now, none left to the relay
    clock = Clock()
    ids = write_events(engine, 25, clock.now())
    sent = []
    Outbox(engine, outbox, SlowRecorder("after-commit", sent), clock, batch_size=10).publish(committed(ids))
    assert sorted(event_id for _, event_id in sent) == sorted(ids)
    assert unpublished(engine) == 0


def test_the_relay_leaves_fresh_rows_to_the_committing_worker(engine):
    clock = Clock()
    clock.set(datetime(2026, 2, 1, 12, tzinfo=timezone.utc))
    write_events(engine, 3, clock.now())
    sent = []
    relay = Outbox(engine, outbox, SlowRecorder("relay", sent), clock)
    assert relay.relay(grace_seconds=5) == 0
    clock.advance(timedelta(seconds=6))
    assert relay.relay(grace_seconds=5) == 3


def write_events_set_based(engine, count, created_at):
    """``count`` events in one statement, the way the billing run writes them."""
    sql = insert_events_sql("postgresql", "contracts", "contract_signed",
                            {"n": "g.n"}, "FROM generate_series(1, :count) AS g(n)")
    with engine.begin() as conn:
        conn.execute(sa.text(sql), {"count": count, "occurred_at": created_at.isoformat(),
                                    "created_at": created_at, "headers": None})


def test_set_based_events_get_valid_time_ordered_ids(engine):
    with engine.begin() as conn:
        conn.execute(sa.delete(outbox))
    clock = Clock()
    write_events_set_based(engine, 1000, clock.now())
    eventlet.sleep(0.002)   # the next statement's milliseconds are later
    write_events_set_based(engine, 1000, clock.now())
    with engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.event_id, outbox.c.message)).all()
    ids = [r.event_id for r in rows]
    assert len(set(ids)) == 2000
    parsed = [uuid.UUID(i) for i in ids]
    assert {u.version for u in parsed} == {7} and {u.variant for u in parsed} == {uuid.RFC_4122}
    assert all(r.message["event_id"] == r.event_id for r in rows)
    # in the order they were written: numbered within a statement, later statements after
    by_n = [r.event_id for r in sorted(
        rows, key=lambda r: (r.event_id[:13], r.message["data"]["n"]))]
    assert by_n == sorted(ids)
    assert len({i[:13] for i in ids}) == 2      # one millisecond stamp per statement


class HeaderRecorder:
    def __init__(self):
        self.sent = []

    def publish_many(self, messages, headers):
        self.sent.extend((message["event_id"], each) for message, each in zip(messages, headers))


def test_set_based_events_keep_the_requests_headers_and_the_relay_sends_them(engine):
    with engine.begin() as conn:
        conn.execute(sa.delete(outbox))
    clock = Clock()
    headers = {"x-request-id": "billing-run-2026-11",
               "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    sql = insert_events_sql("postgresql", "contracts", "contract_signed",
                            {"n": "g.n"}, "FROM generate_series(1, 3) AS g(n)")
    with engine.begin() as conn:
        conn.execute(sa.text(sql), {"occurred_at": clock.now().isoformat(),
                                    "created_at": clock.now() - timedelta(minutes=1),
                                    "headers": json.dumps(headers)})
    recorder = HeaderRecorder()
    assert Outbox(engine, outbox, recorder, clock).relay(grace_seconds=0) == 3
    assert [h for _, h in recorder.sent] == [headers] * 3
