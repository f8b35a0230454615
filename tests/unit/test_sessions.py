"""Sessions on SQLite: the idle timeout, last_seen_at written at most every
SEEN_RESOLUTION (not a write per request), how long an answer about a session may
be reused, and logout announced."""
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
    db.clock.advance(timedelta(seconds=14))
    touch(db, token)
    assert last_seen(db) == opened
    db.clock.advance(timedelta(seconds=1))
    touch(db, token)
    assert last_seen(db) == opened + timedelta(seconds=15)


def test_the_idle_timeout_counts_from_the_last_recorded_use(db):
    token = open_session(db)
    db.clock.advance(timedelta(minutes=14))
    touch(db, token)                                   # recorded: idle time restarts
    db.clock.advance(timedelta(seconds=10))
    touch(db, token)                                   # within the resolution: not recorded
    db.clock.advance(timedelta(minutes=14, seconds=50))
    touch(db, token)                                   # 15 min after the recorded use: still in
    db.clock.advance(timedelta(minutes=15, seconds=1))
    with pytest.raises(Unauthenticated) as ended:
        touch(db, token)
    assert ended.value.code == "session-expired"


def test_an_unrecorded_use_does_not_restart_the_idle_time(db):
    token = open_session(db)
    db.clock.advance(timedelta(seconds=10))
    touch(db, token)                                   # not recorded
    db.clock.advance(timedelta(minutes=14, seconds=55))
    with pytest.raises(Unauthenticated):               # 15:05 after the recorded use
        touch(db, token)


def test_a_short_idle_timeout_is_recorded_at_a_quarter_of_it(db):
    policy = sessions.SessionPolicy(idle_timeout=timedelta(seconds=20),
                                    lifetime=timedelta(hours=8))
    with db.unit_of_work() as uow:
        token, _ = sessions.open_session(uow, "customer", "38001010008", policy)
    opened = db.clock.now()
    db.clock.advance(timedelta(seconds=4))
    with db.unit_of_work() as uow:
        sessions.touch(uow, token, policy)
    assert last_seen(db) == opened                     # within 5 s: not recorded
    for _ in range(12):                                # a request every 5 s for a minute
        db.clock.advance(timedelta(seconds=5))
        with db.unit_of_work() as uow:
            sessions.touch(uow, token, policy)
        assert last_seen(db) == db.clock.now()         # each one recorded: still in


def reusable_until(db, token, policy=POLICY):
    with db.unit_of_work() as uow:
        row = sessions.touch(uow, token, policy)
        return sessions.reusable_until(row, policy, db.clock.now())


def test_an_answer_about_a_session_holds_for_the_resolution(db):
    token = open_session(db)
    assert reusable_until(db, token) == db.clock.now() + timedelta(seconds=15)
    short = sessions.SessionPolicy(idle_timeout=timedelta(seconds=20), lifetime=POLICY.lifetime)
    assert reusable_until(db, token, short) == db.clock.now() + timedelta(seconds=5)


def test_an_answer_holds_no_longer_than_the_session(db):
    token = open_session(db)                           # 09:00 UTC, for 8 hours
    db.clock.advance(timedelta(hours=7, minutes=59, seconds=50))
    with db.unit_of_work() as uow:                     # it was kept alive meanwhile
        uow.session.execute(sa.update(sessions.sessions).values(last_seen_at=db.clock.now()))
    assert reusable_until(db, token) == datetime(2026, 3, 2, 17, tzinfo=timezone.utc)


def test_an_answer_holds_no_later_than_midnight_in_tallinn(db):
    # contracts end and mandates start on dates: whom one may act for changes then
    db.clock.set(datetime(2026, 3, 2, 21, 59, 50, tzinfo=timezone.utc))   # 23:59:50 EET
    token = open_session(db)
    assert reusable_until(db, token) == datetime(2026, 3, 2, 22, tzinfo=timezone.utc)


def test_logout_is_announced_once_with_the_session_key_not_the_token(db):
    token = open_session(db)
    for _ in range(2):
        with db.unit_of_work() as uow:
            sessions.end_session(uow, token)
    [ended] = db.events("session_ended")
    assert ended["data"] == {"session": sessions.token_hash(token)}
    assert token not in str(ended)
    with pytest.raises(Unauthenticated):
        touch(db, token)
