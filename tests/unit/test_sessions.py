"""Sessions on SQLite: the idle timeout, and last_seen_at written at most every
SEEN_RESOLUTION (not a write per request)."""
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from services.common.errors import Unauthenticated
from services.identity import sessions
from services.identity.models import metadata
from tests.unit.fakes import FakeDatabase

POLICY = sessions.SessionPolicy(idle_timeout=timedelta(minutes=15), lifetime=timedelta(hours=8))


@pytest.fixture
def db():
    db = FakeDatabase(metadata, "identity")
    db.clock.set(datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    return db


def open_session(db):
    with db.unit_of_work() as uow:
        token, _ = sessions.open_session(uow, "customer", "38001010008", POLICY)
    return token


def touch(db, token):
    with db.unit_of_work() as uow:
        return sessions.touch(uow, token, POLICY)


def last_seen(db):
    with db.engine.connect() as conn:
        return sessions.as_utc(conn.execute(sa.select(sessions.sessions.c.last_seen_at)).scalar())


def test_a_request_within_the_resolution_writes_nothing(db):
    token = open_session(db)
    opened = db.clock.now()
    db.clock.advance(timedelta(seconds=29))
    touch(db, token)
    assert last_seen(db) == opened
    db.clock.advance(timedelta(seconds=1))
    touch(db, token)
    assert last_seen(db) == opened + timedelta(seconds=30)


def test_the_idle_timeout_counts_from_the_last_recorded_use(db):
    token = open_session(db)
    db.clock.advance(timedelta(minutes=14))
    touch(db, token)                                   # recorded: idle time restarts
    db.clock.advance(timedelta(seconds=20))
    touch(db, token)                                   # within the resolution: not recorded
    db.clock.advance(timedelta(minutes=14, seconds=40))
    touch(db, token)                                   # 15 min after the recorded use: still in
    db.clock.advance(timedelta(minutes=15, seconds=1))
    with pytest.raises(Unauthenticated) as ended:
        touch(db, token)
    assert ended.value.code == "session-expired"


def test_an_unrecorded_use_does_not_restart_the_idle_time(db):
    token = open_session(db)
    db.clock.advance(timedelta(seconds=20))
    touch(db, token)                                   # not recorded
    db.clock.advance(timedelta(minutes=14, seconds=50))
    with pytest.raises(Unauthenticated):               # 15:10 after the recorded use
        touch(db, token)


def test_a_short_idle_timeout_is_recorded_at_half_of_it(db):
    policy = sessions.SessionPolicy(idle_timeout=timedelta(seconds=20),
                                    lifetime=timedelta(hours=8))
    with db.unit_of_work() as uow:
        token, _ = sessions.open_session(uow, "customer", "38001010008", policy)
    for _ in range(6):                                 # a request every 10 s for a minute
        db.clock.advance(timedelta(seconds=10))
        with db.unit_of_work() as uow:
            sessions.touch(uow, token, policy)
