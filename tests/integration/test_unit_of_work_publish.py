"""A unit of work publishes what it emitted right after its commit, from memory,
whichever way the events were written (one by one or many in one statement), and
marks them published: nothing is left for the relay."""
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.common import migrate
from services.common.clock import Clock
from services.common.db import UnitOfWork, make_engine, session_factory
from services.common.outbox import Outbox
from services.notifications.api import NotificationSent
from services.notifications.models import metadata

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "notifications" / "migrations"


class Recorder:
    def __init__(self):
        self.sent = []

    def publish(self, message, headers=None):
        self.sent.append(message)

    def publish_many(self, messages, headers=None):
        self.sent.extend(messages)


@pytest.fixture
def unit_of_work(database_urls):
    engine = make_engine(database_urls["notifications"])
    migrate.upgrade(engine, MIGRATIONS)
    recorder = Recorder()
    outbox = Outbox(engine, metadata.tables["outbox"], recorder, Clock())
    yield (lambda: UnitOfWork(session_factory(engine), outbox, "notifications", Clock())), recorder, engine
    engine.dispose()


def sent_event(n):
    return NotificationSent(notification_id=f"n-{n}", delivery_id=f"d-{n}", customer_id="c-1",
                            kind="invoice_issued", channel="email")


@pytest.mark.both_stores
def test_events_emitted_one_by_one_and_many_at_once_are_published_after_commit(unit_of_work):
    new_unit_of_work, recorder, engine = unit_of_work
    with new_unit_of_work() as uow:
        one = uow.emit_event(sent_event(0))
        many = uow.emit_events([sent_event(1), sent_event(2)])
        assert recorder.sent == []   # nothing before the commit

    assert [m["event_id"] for m in recorder.sent] == [one.event_id, *(e.event_id for e in many)]
    assert [m["data"]["delivery_id"] for m in recorder.sent] == ["d-0", "d-1", "d-2"]
    outbox = metadata.tables["outbox"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)
                            .where(outbox.c.published_at.is_(None))).scalar() == 0


@pytest.mark.both_stores
def test_a_rolled_back_unit_of_work_publishes_nothing(unit_of_work):
    new_unit_of_work, recorder, engine = unit_of_work
    with pytest.raises(RuntimeError):
        with new_unit_of_work() as uow:
            uow.emit_events([sent_event(1)])
            raise RuntimeError("the change failed")
    assert recorder.sent == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count())
                            .select_from(metadata.tables["outbox"])).scalar() == 0
