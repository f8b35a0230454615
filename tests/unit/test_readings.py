"""metering's rules for a reading, on a real (in-memory) database, no broker."""
from datetime import datetime, timezone

import pytest

from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.events import parse_event
from services.common.validation import parse
from services.metering import api, readings
from services.metering.models import metadata
from services.metering.plausibility import Thresholds
from tests.unit.fakes import FakeDatabase

POINT = "cp-1"


@pytest.fixture
def db():
    db = FakeDatabase(metadata, "metering")
    db.clock.set(datetime(2026, 3, 1, 12, tzinfo=timezone.utc))
    with db.unit_of_work() as uow:
        readings.register_meter(uow, {
            "consumption_point_id": POINT, "contract_no": "VL-000001", "customer_id": "c-1",
            "eic": "38ZEE-00000001-1", "meter": {"serial": "M1", "registers": [
                {"code": "T1", "digits": 5}, {"code": "T2", "digits": 5}]},
            "tariff_plan": "DAYNIGHT", "reading_day": 15, "start_date": "2026-01-01",
            "initial_readings": {"T1": 100, "T2": 50}}, window_days=3)
    return db


THRESHOLDS = Thresholds(typical_daily_kwh={"DAYNIGHT": 15})


def submit(db, reading_date, key=None, source="customer", **registers):
    command = parse(api.SubmitReading, {
        "consumption_point_id": POINT, "reading_date": reading_date, "registers": registers,
        "idempotency_key": key, "source": source, "submitted_by": "person:38001010000"})
    with db.unit_of_work() as uow:
        return readings.submit_reading(uow, command, 3, THRESHOLDS)


def errors_of(db, reading_date, **registers):
    with pytest.raises(ValidationFailed) as refused:
        submit(db, reading_date, **registers)
    return refused.value.errors


def test_consumption_is_the_difference_from_the_last_accepted_reading(db):
    first = submit(db, "2026-01-15", T1=300, T2=150)
    assert first["consumption"] == {"T1": 200, "T2": 100}
    second = submit(db, "2026-02-15", T1=350, T2=150)
    assert second["consumption"] == {"T1": 50, "T2": 0}
    [_, event] = db.events("reading_submitted")
    data = parse_event(event).data
    assert data["previous_reading_date"] == "2026-01-15"
    assert data["consumption"] == {"T1": 50, "T2": 0}
    assert data["next_reading_due"] == "2026-03-15"
    assert data["tariff_plan"] == "DAYNIGHT"


def test_the_registers_must_be_the_meters(db):
    assert errors_of(db, "2026-02-15", T1=400) == [
        {"field": "registers.T2", "message": "a value is required for every register",
         "code": "register-missing", "params": {"register": "T2"}}]
    assert {"field": "registers.T3", "message": "this meter has no such register",
            "code": "register-unknown", "params": {"register": "T3"}} in \
        errors_of(db, "2026-02-15", T1=400, T2=60, T3=1)


def test_a_value_must_fit_the_registers_digits(db):
    assert errors_of(db, "2026-02-15", T1=100_000, T2=60) == [
        {"field": "registers.T1", "message": "must be between 0 and 99999 (5 digits)",
         "code": "register-out-of-range", "params": {"register": "T1", "max": "99999",
                                                     "digits": "5"}}]


def test_dates_are_not_in_the_future_nor_before_the_contract_or_the_last_reading(db):
    assert errors_of(db, "2026-03-02", T1=400, T2=60)[0]["field"] == "reading_date"
    assert "before the contract started" in errors_of(db, "2025-12-31", T1=400, T2=60)[0]["message"]
    submit(db, "2026-02-15", T1=400, T2=60)
    assert "before the last reading" in errors_of(db, "2026-02-14", T1=500, T2=70)[0]["message"]


def test_a_value_below_the_previous_reading_says_so_and_shows_it(db):
    # the message for people; the code and its parameters for a client to say it
    # in the customer's language
    assert errors_of(db, "2026-02-15", T1=99, T2=60) == [{
        "field": "registers.T1",
        "message": "is lower than the previous reading (100 on 2026-01-01)",
        "code": "reading-lower-than-previous",
        "params": {"register": "T1", "previous": "100", "previous_date": "2026-01-01"}}]
    assert len(db.events("reading_submitted")) == 0


def test_an_unknown_consumption_point_is_not_found(db):
    command = parse(api.SubmitReading, {
        "consumption_point_id": "nope", "reading_date": "2026-02-15", "registers": {"T1": 1}})
    with pytest.raises(NotFound), db.unit_of_work() as uow:
        readings.submit_reading(uow, command, 3, THRESHOLDS)


def test_the_meter_copy_is_kept_once_with_its_initial_reading(db):
    with db.unit_of_work() as uow:
        history = readings.list_readings(uow, POINT)
    assert [(r["reading_date"], r["registers"], r["source"]) for r in history] == [
        ("2026-01-01", {"T1": 100, "T2": 50}, "initial")]


def test_a_register_that_passed_its_last_digit_rolled_over(db):
    with db.unit_of_work() as uow:   # a 5-digit register close to the end
        uow.session.execute(readings.readings.update().values(registers={"T1": 99_900, "T2": 50}))
    result = submit(db, "2026-01-20", T1=150, T2=100)
    assert result["consumption"] == {"T1": 250, "T2": 50}   # 100000 - 99900 + 150
    assert result["status"] == "accepted"


def test_an_implausible_rollover_is_a_value_below_the_previous_reading(db):
    # 100 -> 50 would be 99950 kWh in 14 days
    [error] = errors_of(db, "2026-01-15", T1=50, T2=60)
    assert (error["field"], error["message"], error["code"]) == (
        "registers.T1", "is lower than the previous reading (100 on 2026-01-01)",
        "reading-lower-than-previous")


def test_a_slipped_decimal_point_is_held_for_review_and_not_billed(db):
    result = submit(db, "2026-02-01", T1=100 + 4650, T2=50)   # 150 a day, typical 15
    assert result["status"] == "held_for_review"
    assert "far above" in result["review_reason"]
    assert db.events("reading_submitted") == []
    assert [e["event_type"] for e in db.events()][-1] == "reading_held_for_review"
    with pytest.raises(Conflict):          # the desk and imports wait for the decision
        submit(db, "2026-02-02", source="import", T1=600, T2=60)
    with db.unit_of_work() as uow:
        released = readings.decide(uow, result["reading_id"], api.ReviewDecision(accept=True),
                                   "operator:anna", 3)
    assert released["status"] == "accepted"
    [event] = db.events("reading_submitted")
    assert event["data"]["consumption"] == {"T1": 4650, "T2": 0}


def test_a_rejected_reading_keeps_its_reason(db):
    result = submit(db, "2026-02-01", T1=5000, T2=50)
    with db.unit_of_work() as uow:
        with pytest.raises(ValidationFailed):
            readings.decide(uow, result["reading_id"], api.ReviewDecision(accept=False), "op", 3)
    with db.unit_of_work() as uow:
        readings.decide(uow, result["reading_id"],
                        api.ReviewDecision(accept=False, reason="Meter photo shows 500"), "op", 3)
    with db.unit_of_work() as uow:
        latest = readings.list_readings(uow, POINT)[0]
    assert (latest["status"], latest["review_reason"]) == ("rejected", "Meter photo shows 500")
    assert submit(db, "2026-02-01", T1=500, T2=60)["consumption"] == {"T1": 400, "T2": 10}


def test_an_idempotency_key_returns_the_first_answer_and_refuses_another_body(db):
    first = submit(db, "2026-01-15", key="k-1", T1=300, T2=150)
    assert submit(db, "2026-01-15", key="k-1", T1=300, T2=150) == first
    with pytest.raises(Conflict) as refused:
        submit(db, "2026-01-15", key="k-1", T1=301, T2=150)
    assert refused.value.code == "idempotency-key-reused"
    with db.unit_of_work() as uow:
        assert len(readings.list_readings(uow, POINT)) == 2   # the initial one and one more


def history(db):
    with db.unit_of_work() as uow:
        return {r["reading_id"]: r for r in readings.list_readings(uow, POINT)}


def test_a_customer_replaces_her_held_reading_with_the_corrected_one(db):
    typo = submit(db, "2026-02-01", T1=100 + 4650, T2=50)      # 465.0 typed as 4650
    assert typo["status"] == "held_for_review"
    corrected = submit(db, "2026-02-01", T1=100 + 465, T2=50)
    assert corrected["status"] == "accepted"
    assert corrected["consumption"] == {"T1": 465, "T2": 0}    # from the last accepted one
    readings_now = history(db)
    assert readings_now[typo["reading_id"]]["status"] == "withdrawn"
    assert readings_now[typo["reading_id"]]["replaced_by"] == corrected["reading_id"]
    with db.unit_of_work() as uow:
        assert readings.review_queue(uow) == []                # gone from the desk's queue
    [withdrawn] = db.events("reading_withdrawn")
    assert withdrawn["data"]["replaced_by"] == corrected["reading_id"]
    [billed] = db.events("reading_submitted")                  # only the correction is billed
    assert billed["data"]["reading_id"] == corrected["reading_id"]


def test_a_held_reading_can_be_withdrawn_but_a_decided_one_stays(db):
    held = submit(db, "2026-02-01", T1=5000, T2=50)
    with db.unit_of_work() as uow:
        with pytest.raises(NotFound):                          # not another customer's
            readings.withdraw(uow, POINT, held["reading_id"], "c-2", "person:1")
    with db.unit_of_work() as uow:
        withdrawn = readings.withdraw(uow, POINT, held["reading_id"], "c-1", "person:1")
    assert withdrawn["status"] == "withdrawn" and "replaced_by" not in withdrawn
    with db.unit_of_work() as uow, pytest.raises(Conflict) as refused:
        readings.withdraw(uow, POINT, held["reading_id"], "c-1", "person:1")
    assert refused.value.code == "reading-decided"
    accepted = submit(db, "2026-02-15", T1=400, T2=60)
    with db.unit_of_work() as uow, pytest.raises(Conflict):
        readings.withdraw(uow, POINT, accepted["reading_id"], "c-1", "person:1")
    assert history(db)[accepted["reading_id"]]["status"] == "accepted"
