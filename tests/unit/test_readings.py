"""metering's rules for a reading, on a real (in-memory) database, no broker."""
from datetime import datetime, timezone

import pytest

from services.common.errors import NotFound, ValidationFailed
from services.common.events import parse_event
from services.common.validation import parse
from services.metering import readings
from services.metering.models import metadata
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
            "initial_readings": {"T1": 100, "T2": 50}})
    return db


def submit(db, reading_date, **registers):
    command = parse(readings.SubmitReading, {
        "consumption_point_id": POINT, "reading_date": reading_date, "registers": registers})
    with db.unit_of_work() as uow:
        return readings.submit_reading(uow, command, window_days=3)


def errors_of(db, reading_date, **registers):
    with pytest.raises(ValidationFailed) as refused:
        submit(db, reading_date, **registers)
    return refused.value.errors


def test_consumption_is_the_difference_from_the_last_accepted_reading(db):
    first = submit(db, "2026-01-15", T1=400, T2=150)
    assert first["consumption"] == {"T1": 300, "T2": 100}
    second = submit(db, "2026-02-15", T1=450, T2=150)
    assert second["consumption"] == {"T1": 50, "T2": 0}
    [_, event] = db.events("reading_submitted")
    data = parse_event(event).data
    assert data["previous_reading_date"] == "2026-01-15"
    assert data["consumption"] == {"T1": 50, "T2": 0}
    assert data["next_reading_due"] == "2026-03-15"
    assert data["tariff_plan"] == "DAYNIGHT"


def test_the_registers_must_be_the_meters(db):
    assert errors_of(db, "2026-02-15", T1=400) == [
        {"field": "registers.T2", "message": "a value is required for every register"}]
    assert {"field": "registers.T3", "message": "this meter has no such register"} in \
        errors_of(db, "2026-02-15", T1=400, T2=60, T3=1)


def test_a_value_must_fit_the_registers_digits(db):
    assert errors_of(db, "2026-02-15", T1=100_000, T2=60) == [
        {"field": "registers.T1", "message": "must be between 0 and 99999 (5 digits)"}]


def test_dates_are_not_in_the_future_nor_before_the_contract_or_the_last_reading(db):
    assert errors_of(db, "2026-03-02", T1=400, T2=60)[0]["field"] == "reading_date"
    assert "before the contract started" in errors_of(db, "2025-12-31", T1=400, T2=60)[0]["message"]
    submit(db, "2026-02-15", T1=400, T2=60)
    assert "before the last reading" in errors_of(db, "2026-02-14", T1=500, T2=70)[0]["message"]


def test_a_value_below_the_previous_reading_says_so_and_shows_it(db):
    assert errors_of(db, "2026-02-15", T1=99, T2=60) == [{
        "field": "registers.T1",
        "message": "is lower than the previous reading (100 on 2026-01-01)"}]
    assert len(db.events("reading_submitted")) == 0


def test_an_unknown_consumption_point_is_not_found(db):
    command = parse(readings.SubmitReading, {
        "consumption_point_id": "nope", "reading_date": "2026-02-15", "registers": {"T1": 1}})
    with pytest.raises(NotFound), db.unit_of_work() as uow:
        readings.submit_reading(uow, command, 3)


def test_the_meter_copy_is_kept_once_with_its_initial_reading(db):
    with db.unit_of_work() as uow:
        history = readings.list_readings(uow, POINT)
    assert [(r["reading_date"], r["registers"], r["source"]) for r in history] == [
        ("2026-01-01", {"T1": 100, "T2": 50}, "initial")]
