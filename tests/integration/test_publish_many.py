"""Publishing a batch with one wait for the broker's confirms (EventPublisher.publish_many)
on the real RabbitMQ: a batch counts as sent only when every message of it was
confirmed; one the broker refused leaves the run's invoices unmarked, to be sent
again later with the same event ids."""
import json
import socket

import pytest
import sqlalchemy as sa

from services.billing import issued
from services.billing.models import invoice_runs
from services.common.outbox import BatchNotConfirmed, EventPublisher
from tests.unit.test_issued_invoices import run, sign
from tests.unit.test_payments import billing_db

pytestmark = pytest.mark.integration


def envelope(n):
    return {"event_id": f"00000000-0000-4000-8000-{n:012d}", "event_type": "invoice_issued",
            "occurred_at": "2026-05-03T09:00:00+00:00", "version": 1, "source": "billing",
            "data": {"n": n}}


def published_through(db):
    with db.engine.connect() as conn:
        return conn.execute(sa.select(invoice_runs.c.published_through,
                                      invoice_runs.c.published_at)).one()


def full_queue(bus, room):
    """A queue on billing's invoice_issued that refuses (nacks) what does not fit."""
    with bus.channel() as channel:
        channel.exchange_declare("billing.events", "topic", durable=True)
        channel.queue_declare("full", durable=True, arguments={
            "x-max-length": room, "x-overflow": "reject-publish"})
        channel.queue_bind("full", "billing.events", "invoice_issued")


def test_a_confirmed_batch_arrives_whole_with_its_headers(amqp_uri, bus):
    publisher = EventPublisher(amqp_uri, "billing")
    tap = bus.bind_tap("billing.events", "invoice_issued")
    publisher.publish_many([envelope(n) for n in range(300)],
                           headers={"x-request-id": "req-1"})
    publisher.publish_many([envelope(n) for n in range(300, 302)],
                           headers=[{"x-request-id": "a"}, {"x-request-id": "b"}])
    got = bus.drain(tap)   # publish_many returned: every message is on the queue already
    assert [json.loads(body)["data"]["n"] for _, body in got] == list(range(302))
    assert [p.headers["x-request-id"] for p, _ in got[-3:]] == ["req-1", "a", "b"]
    assert all(p.delivery_mode == 2 and p.content_type == "application/json" for p, _ in got)


def test_every_invoice_confirmed_is_marked_sent(amqp_uri, bus):
    db = billing_db()
    for n in range(4):
        sign(db, n)
    run(db, "2026-01")
    tap = bus.bind_tap("billing.events", "invoice_issued")
    publisher = EventPublisher(amqp_uri, "billing")
    assert issued.publish_pending(db.engine, publisher, db.clock, batch_size=2) == 5
    through, done = published_through(db)
    assert through == "2026-00000005" and done is not None
    numbers = [json.loads(body)["data"]["invoice_no"] for _, body in bus.drain(tap)]
    assert numbers == [f"2026-0000000{i}" for i in range(1, 6)]


def test_a_refused_batch_is_not_marked_and_goes_again_with_the_same_ids(amqp_uri, bus):
    db = billing_db()
    for n in range(4):
        sign(db, n)
    run(db, "2026-01")
    tap = bus.bind_tap("billing.events", "invoice_issued")
    full_queue(bus, room=3)   # the first batch of two fits, the second does not
    publisher = EventPublisher(amqp_uri, "billing")
    with pytest.raises(BatchNotConfirmed):
        issued.publish_pending(db.engine, publisher, db.clock, batch_size=2)
    assert published_through(db) == ("2026-00000002", None)   # only the confirmed batch
    first_try = {json.loads(body)["data"]["invoice_no"]: json.loads(body)["event_id"]
                 for _, body in bus.drain(tap)}
    assert set(first_try) == {f"2026-0000000{i}" for i in range(1, 5)}

    with bus.channel() as channel:   # room again
        channel.queue_delete("full")
    assert issued.publish_pending(db.engine, publisher, db.clock, batch_size=2) == 3
    through, done = published_through(db)
    assert through == "2026-00000005" and done is not None
    again = [json.loads(body) for _, body in bus.drain(tap)]
    assert [m["data"]["invoice_no"] for m in again] == [
        "2026-00000003", "2026-00000004", "2026-00000005"]
    # what went twice went with the same ids: a consumer applies it once
    assert all(first_try[m["data"]["invoice_no"]] == m["event_id"] for m in again[:2])


def test_a_connection_found_broken_is_replaced_and_the_batch_sent_on_the_new_one(
        amqp_uri, bus):
    publisher = EventPublisher(amqp_uri, "billing")
    tap = bus.bind_tap("billing.events", "invoice_issued")
    publisher.publish_many([envelope(1)])
    [confirmer] = publisher._idle
    confirmer.connection.connection.sock.shutdown(socket.SHUT_RDWR)   # the connection dies
    publisher.publish_many([envelope(2), envelope(3)])
    assert [json.loads(body)["data"]["n"] for _, body in bus.drain(tap)] == [1, 2, 3]
    assert publisher._idle and publisher._idle[0] is not confirmer


def test_no_broker_no_batch(amqp_uri):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    publisher = EventPublisher(f"amqp://guest:guest@127.0.0.1:{port}/", "billing")
    with pytest.raises(BatchNotConfirmed):
        publisher.publish_many([envelope(1)])
