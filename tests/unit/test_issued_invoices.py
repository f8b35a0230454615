"""A billing run's invoice_issued events: published from the invoices after the run
committed, each invoice once per successful batch, in order, with ids that stay the
same when a batch has to be sent again."""
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from services.billing import issued, runs
from services.billing.models import invoice_runs
from services.common.events import parse_event
from services.common.identifiers import make_reference_number
from tests.unit.test_payments import billing_db


def sign(db, n):
    with db.unit_of_work() as uow:
        runs.record_contract(uow, {
            "contract_no": f"VL-{n + 10}", "customer_id": f"c-{n + 10}",
            "reference_no": make_reference_number(str(2000 + n)), "tariff_plan": "BASIC",
            "start_date": "2026-01-01"})


def run(db, period):
    with db.unit_of_work() as uow:
        return runs.run(uow, period, due_days=14)


def issued_numbers(db):
    return [e["data"]["invoice_no"] for e in db.events("invoice_issued")]


class FailsAfter:
    """A broker connection that breaks after ``n`` messages."""

    def __init__(self, n):
        self.n, self.sent = n, []

    def publish_many(self, messages, headers=None):
        for message in messages:
            if len(self.sent) == self.n:
                raise ConnectionError("broker went away")
            self.sent.append(message)


def test_a_run_is_announced_after_commit_once_per_invoice():
    db = billing_db()
    for n in range(4):
        sign(db, n)
    assert run(db, "2026-01")["invoices_issued"] == 5
    assert db.events("invoice_issued") == []          # the run itself publishes nothing

    assert issued.publish_pending(db.engine, db.published, db.clock, batch_size=2) == 5
    events = [parse_event(m) for m in db.events("invoice_issued")]
    assert [e.data["invoice_no"] for e in events] == [f"2026-0000000{i}" for i in range(1, 6)]
    first = events[0]
    assert (first.event_type, first.source, first.data["period"], first.data["total"],
            first.data["issued_on"], first.data["due_on"]) == (
        "invoice_issued", "billing", "2026-01", "12.40", "2026-05-03", "2026-05-17")
    assert first.data["customer_id"] == "c-1" and first.data["contract_no"] == "VL-1"
    assert len({e.event_id for e in events}) == 5
    with db.engine.connect() as conn:
        recorded = conn.execute(sa.select(invoice_runs)).one()
    assert (recorded.first_no, recorded.last_no, recorded.invoices, f"{recorded.total}") == (
        "2026-00000001", "2026-00000005", 5, "62.00")
    assert recorded.published_through == "2026-00000005" and recorded.published_at

    assert issued.publish_pending(db.engine, db.published, db.clock) == 0   # nothing twice
    assert len(db.events("invoice_issued")) == 5


def test_a_broken_batch_is_sent_again_with_the_same_event_ids():
    db = billing_db()
    for n in range(4):
        sign(db, n)
    run(db, "2026-01")
    broken = FailsAfter(3)
    with pytest.raises(ConnectionError):
        issued.publish_pending(db.engine, broken, db.clock, batch_size=2)
    # the first batch of two was committed as sent; the second broke after one
    assert [m["data"]["invoice_no"] for m in broken.sent] == [
        "2026-00000001", "2026-00000002", "2026-00000003"]

    assert issued.publish_pending(db.engine, db.published, db.clock, batch_size=2) == 3
    assert issued_numbers(db) == ["2026-00000003", "2026-00000004", "2026-00000005"]
    resent = db.events("invoice_issued")[0]
    assert resent["event_id"] == broken.sent[2]["event_id"]    # a consumer handles it once


def test_one_publisher_announces_runs_oldest_first():
    db = billing_db()
    run(db, "2026-01")
    db.clock.set(datetime(2026, 5, 3, 10, tzinfo=timezone.utc))
    sign(db, 1)
    run(db, "2026-02")
    assert issued.publish_pending(db.engine, db.published, db.clock) == 3
    announced = db.events("invoice_issued")
    assert [(e["data"]["period"], e["data"]["invoice_no"]) for e in announced] == [
        ("2026-01", "2026-00000001"), ("2026-02", "2026-00000002"),
        ("2026-02", "2026-00000003")]


def test_a_bounded_share_per_call_and_the_rest_on_the_next():
    db = billing_db()
    for n in range(4):
        sign(db, n)
    run(db, "2026-01")
    assert issued.publish_pending(db.engine, db.published, db.clock,
                                  batch_size=2, max_batches=1) == 2
    assert issued.publish_pending(db.engine, db.published, db.clock,
                                  batch_size=2, max_batches=1) == 2
    assert issued.publish_pending(db.engine, db.published, db.clock, batch_size=2) == 1
    assert issued_numbers(db) == [f"2026-0000000{i}" for i in range(1, 6)]
