"""A reading moves its point's pending reminder forward — one statement on
PostgreSQL, two on SQLite (services/notifications/reminders.py) — order-proof, with
its history kept and one pending reminder per point, on both stores."""
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from services.common import migrate
from services.common.clock import Clock
from services.common.db import UnitOfWork, make_engine
from services.common.outbox import Outbox
from services.notifications import reminders
from services.notifications.models import metadata
from tests.unit.fakes import PublishedEvents

pytestmark = pytest.mark.both_stores

START = {"consumption_point_id": "cp", "customer_id": "c", "reading_day": 15,
         "next_reading_due": "2026-01-15"}
READINGS = [{**START, "next_reading_due": due}
            for due in ("2026-02-15", "2026-03-15", "2026-04-15")]


@pytest.fixture
def unit_of_work(database_urls):
    engine = make_engine(database_urls["notifications"])
    migrate.upgrade(engine, Path(reminders.__file__).parent / "migrations")
    clock = Clock()
    clock.set(datetime(2026, 1, 14, tzinfo=timezone.utc))
    outbox = Outbox(engine, metadata.tables["outbox"], PublishedEvents(), clock)
    outbox.handled_table = metadata.tables["handled_events"]
    sessions = sessionmaker(engine, expire_on_commit=False)
    yield lambda: UnitOfWork(sessions, outbox, "notifications", clock)
    engine.dispose()


def states_after(unit_of_work, *events, point="cp"):
    for data in events:
        with unit_of_work() as uow:
            reminders.reschedule(uow, data)
    with unit_of_work() as uow:
        return [(r["due_on"], r["status"]) for r in reminders.reminders_of(uow, point)]


def test_each_reading_moves_the_reminder_forward_and_the_history_stays(unit_of_work):
    assert states_after(unit_of_work, START, *READINGS, READINGS[-1]) == [
        ("2026-01-15", "cancelled"), ("2026-02-15", "cancelled"), ("2026-03-15", "cancelled"),
        ("2026-04-15", "cancelled"), ("2026-04-15", "pending")]


def test_an_earlier_date_arriving_late_changes_nothing(unit_of_work):
    assert states_after(unit_of_work, READINGS[1], START, READINGS[0]) == [
        ("2026-03-15", "pending")]


def test_a_point_without_a_pending_reminder_gets_one(unit_of_work):
    other = {**READINGS[0], "consumption_point_id": "cp-2", "reading_day": None}
    assert states_after(unit_of_work, other, point="cp-2") == [("2026-02-15", "pending")]
