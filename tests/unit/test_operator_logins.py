"""Operators' login limits on SQLite: failures count per (user name, client address)
and per client address, so nobody can lock an operator out by failing for her
name from elsewhere, while a guesser of one name and a sprayer of many names are
both stopped with 429 and told when to come back."""
from datetime import datetime, timedelta, timezone

import pytest

from services.common.errors import TooManyAttempts
from services.identity import operators
from services.identity.models import metadata
from tests.unit.fakes import FakeDatabase

LIMIT = operators.RateLimit(per_account=5, per_address=20, window=timedelta(minutes=15))
ANNA, ANNAS_PASSWORD = "anna", "correct-horse-battery"
ANNAS_DESK, ATTACKER = "192.0.2.10", "198.51.100.66"


@pytest.fixture
def db():
    db = FakeDatabase(metadata, "identity")
    db.clock.set(datetime(2026, 11, 27, 10, tzinfo=timezone.utc))
    with db.unit_of_work() as uow:
        operators.add_operator(uow, ANNA, "desk", ANNAS_PASSWORD)
    return db


def log_in(db, username, password, address):
    """What identity's operator_login does: the operator, or None and a failure
    recorded; TooManyAttempts before the password is looked at."""
    with db.unit_of_work() as uow:
        found = operators.authenticate(uow, username, password, address, LIMIT)
    if found is None:
        with db.unit_of_work() as uow:
            operators.record_failure(uow, username, address)
    return found


def test_others_failing_for_her_name_do_not_lock_the_operator_out(db):
    for _ in range(10):
        try:
            log_in(db, ANNA, "a wrong guess", ATTACKER)
        except TooManyAttempts:
            pass
    assert log_in(db, ANNA, ANNAS_PASSWORD, ANNAS_DESK) == {"username": ANNA, "role": "desk"}


def test_a_client_guessing_one_name_is_stopped_after_the_limit(db):
    for _ in range(LIMIT.per_account):
        assert log_in(db, ANNA, "a wrong guess", ATTACKER) is None
        db.clock.advance(timedelta(seconds=10))
    with pytest.raises(TooManyAttempts) as refused:
        log_in(db, ANNA, ANNAS_PASSWORD, ATTACKER)      # not even the right password
    # the first of the five failures leaves the window 15 min after it: 15 min - 50 s
    assert refused.value.retry_after == 15 * 60 - 50
    assert log_in(db, ANNA, ANNAS_PASSWORD, ANNAS_DESK) is not None


def test_a_client_spraying_many_names_is_stopped_by_its_address(db):
    for n in range(LIMIT.per_address):
        log_in(db, f"user{n}", "a wrong guess", ATTACKER)   # never 5 for one name
    with pytest.raises(TooManyAttempts) as refused:
        log_in(db, "someone-new", "a wrong guess", ATTACKER)
    assert refused.value.retry_after == 15 * 60
    with pytest.raises(TooManyAttempts):
        log_in(db, ANNA, ANNAS_PASSWORD, ATTACKER)
    assert log_in(db, ANNA, ANNAS_PASSWORD, ANNAS_DESK) is not None


def test_the_limit_lifts_as_the_failures_leave_the_window(db):
    for _ in range(LIMIT.per_account):
        log_in(db, ANNA, "a wrong guess", ANNAS_DESK)
    with pytest.raises(TooManyAttempts) as refused:
        log_in(db, ANNA, ANNAS_PASSWORD, ANNAS_DESK)
    db.clock.advance(timedelta(seconds=refused.value.retry_after - 1))
    with pytest.raises(TooManyAttempts):
        log_in(db, ANNA, ANNAS_PASSWORD, ANNAS_DESK)
    db.clock.advance(timedelta(seconds=1))
    assert log_in(db, ANNA, ANNAS_PASSWORD, ANNAS_DESK) is not None


def test_refused_attempts_do_not_extend_the_lockout(db):
    for _ in range(LIMIT.per_account):
        log_in(db, ANNA, "a wrong guess", ATTACKER)
    for _ in range(30):      # hammering while refused records nothing more
        db.clock.advance(timedelta(seconds=20))
        with pytest.raises(TooManyAttempts):
            log_in(db, ANNA, "another guess", ATTACKER)
    db.clock.advance(timedelta(minutes=15) - timedelta(seconds=600))
    assert log_in(db, ANNA, ANNAS_PASSWORD, ATTACKER) is not None
