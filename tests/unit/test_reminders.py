"""Reminder scheduling is order-proof: a contract's start and its first reading
reach notifications on different queues, in either order."""
from datetime import datetime, timezone

from services.notifications import reminders
from services.notifications.models import metadata
from tests.unit.fakes import FakeDatabase

START = {"consumption_point_id": "cp", "customer_id": "c", "reading_day": 15,
         "next_reading_due": "2026-01-15"}
FIRST_READING = {**START, "next_reading_due": "2026-02-15"}


def pending_after(*events):
    db = FakeDatabase(metadata, "notifications")
    db.clock.set(datetime(2026, 1, 14, tzinfo=timezone.utc))
    for data in events:
        with db.unit_of_work() as uow:
            reminders.reschedule(uow, data)
    with db.unit_of_work() as uow:
        return [r["due_on"] for r in reminders.reminders_of(uow, "cp") if r["status"] == "pending"]


def test_the_later_due_date_wins_whatever_the_order():
    assert pending_after(START, FIRST_READING) == ["2026-02-15"]
    assert pending_after(FIRST_READING, START) == ["2026-02-15"]


def test_the_sweep_sends_once_and_schedules_the_following_date():
    db = FakeDatabase(metadata, "notifications")
    db.clock.set(datetime(2026, 1, 20, tzinfo=timezone.utc))
    with db.unit_of_work() as uow:
        reminders.reschedule(uow, START)
    from datetime import date
    with db.unit_of_work() as uow:
        assert reminders.sweep(uow, date(2026, 1, 18), window_days=3) == 0   # window still open
    with db.unit_of_work() as uow:
        assert reminders.sweep(uow, date(2026, 1, 19), window_days=3) == 1
    with db.unit_of_work() as uow:
        assert reminders.sweep(uow, date(2026, 1, 19), window_days=3) == 0
        states = [(r["due_on"], r["status"]) for r in reminders.reminders_of(uow, "cp")]
    assert states == [("2026-01-15", "sent"), ("2026-02-15", "pending")]


def test_a_late_sweep_sends_one_reminder_and_schedules_the_next_open_date():
    """After months without a sweep (the service was down), a point gets one
    reminder naming the first missed date and the next date still ahead — not a
    reminder for every month in between."""
    from datetime import date
    db = FakeDatabase(metadata, "notifications")
    db.clock.set(datetime(2026, 5, 20, tzinfo=timezone.utc))
    with db.unit_of_work() as uow:
        reminders.reschedule(uow, START)
    with db.unit_of_work() as uow:
        assert reminders.sweep(uow, date(2026, 5, 20), window_days=3) == 1
    with db.unit_of_work() as uow:
        assert reminders.sweep(uow, date(2026, 5, 20), window_days=3) == 0
        states = [(r["due_on"], r["status"]) for r in reminders.reminders_of(uow, "cp")]
    assert states == [("2026-01-15", "sent"), ("2026-06-15", "pending")]


def test_a_reading_with_no_reminder_pending_schedules_one():
    assert pending_after(FIRST_READING) == ["2026-02-15"]


def test_the_same_date_again_leaves_one_pending_and_keeps_the_history():
    db = FakeDatabase(metadata, "notifications")
    db.clock.set(datetime(2026, 1, 14, tzinfo=timezone.utc))
    for data in (START, FIRST_READING, FIRST_READING, START):
        with db.unit_of_work() as uow:
            reminders.reschedule(uow, data)
    with db.unit_of_work() as uow:
        states = [(r["due_on"], r["status"]) for r in reminders.reminders_of(uow, "cp")]
    assert states == [("2026-01-15", "cancelled"), ("2026-02-15", "cancelled"),
                      ("2026-02-15", "pending")]
