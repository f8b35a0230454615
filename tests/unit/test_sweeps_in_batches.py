"""The sweeps work in short transactions, a batch each: across batches every
reminder and every overdue invoice is handled once, and a sweep after the last
batch finds nothing."""
from datetime import date, datetime, timezone

import sqlalchemy as sa

from services.billing import overdue
from services.notifications import reminders
from services.notifications.models import inbox
from services.notifications.models import metadata as notifications
from tests.unit.fakes import FakeDatabase
from tests.unit.test_payments import bill, billing_db, statuses


def test_reminders_swept_in_batches_go_out_once_each():
    db = FakeDatabase(notifications, "notifications")
    db.clock.set(datetime(2026, 1, 20, tzinfo=timezone.utc))
    for n in range(5):
        with db.unit_of_work() as uow:
            reminders.reschedule(uow, {"consumption_point_id": f"cp{n}", "customer_id": f"c{n}",
                                       "reading_day": 15, "next_reading_due": "2026-01-15"})
    batches = []
    while not batches or batches[-1]:
        with db.unit_of_work() as uow:
            batches.append(reminders.sweep(uow, date(2026, 1, 19), window_days=3, batch_size=2))
    assert batches == [2, 2, 1, 0]
    with db.unit_of_work() as uow:
        for n in range(5):
            assert [(r["due_on"], r["status"]) for r in reminders.reminders_of(uow, f"cp{n}")] \
                == [("2026-01-15", "sent"), ("2026-02-15", "pending")]
        kinds = uow.session.execute(sa.select(inbox.c.customer_id, inbox.c.kind)).all()
    assert sorted(kinds) == [(f"c{n}", "reading_reminder") for n in range(5)]


def test_invoices_marked_overdue_in_batches_each_once_with_one_event():
    db = billing_db()
    bill(db, "2026-01", "2026-02", "2026-03")
    batches = []
    while not batches or batches[-1]:
        with db.unit_of_work() as uow:
            batches.append(overdue.sweep(uow, date(2026, 5, 18), batch_size=2)
                           ["invoices_overdue"])
    assert batches == [2, 1, 0]
    assert [status for _, status in statuses(db)] == ["overdue"] * 3
    db.outbox.relay(grace_seconds=0)
    late = [e["data"]["invoice_no"] for e in db.events("invoice_overdue")]
    assert len(late) == len(set(late)) == 3
