"""Consumption per calendar month from the accepted readings of a point."""
from datetime import date, datetime, timezone

import pytest

from services.common.errors import NotFound
from services.metering import api, consumption, estimates, readings
from services.metering.models import metadata
from services.metering.plausibility import Thresholds
from tests.unit.fakes import FakeDatabase


def reading(day, **kwh):
    return {"reading_date": date.fromisoformat(day), "consumption": kwh}


def test_an_interval_over_two_months_is_spread_by_days_and_adds_up():
    # 31 days from 16 Jan through 15 Feb: 16 in January, 15 in February
    months = consumption.by_month(
        [reading("2026-01-15", T1=0), reading("2026-02-15", T1=310)],
        date(2026, 1, 1), date(2026, 3, 1))
    assert [(m["month"], m["consumption"], m["covered_days"]) for m in months] == [
        ("2026-01", {"T1": 160}, 16), ("2026-02", {"T1": 150}, 15), ("2026-03", None, 0)]


def test_whole_kwh_by_the_largest_remainder_never_lose_or_add_one():
    # 10 kWh over 30 days: 1 in January, 28 in February, 1 in March (0.3, 9.3, 0.3)
    months = consumption.by_month(
        [reading("2026-01-30", T1=0, T2=0), reading("2026-03-01", T1=10, T2=1)],
        date(2026, 1, 1), date(2026, 3, 1))
    t1 = [m["consumption"]["T1"] for m in months]
    assert sum(t1) == 10 and t1[1] == 9 and sorted(t1[::2]) == [0, 1]
    assert sum(m["consumption"]["T2"] for m in months) == 1


def test_several_readings_in_a_month_are_summed_and_the_month_is_whole():
    history = [reading("2026-01-31", T1=0), reading("2026-02-10", T1=100),
               reading("2026-02-28", T1=50)]
    [february] = consumption.by_month(history, date(2026, 2, 1), date(2026, 2, 1))
    assert february == {"month": "2026-02", "consumption": {"T1": 150},
                        "covered_days": 28, "estimated_days": 0, "days": 28}


@pytest.fixture
def db():
    db = FakeDatabase(metadata, "metering")
    db.clock.set(datetime(2026, 4, 20, 12, tzinfo=timezone.utc))
    with db.unit_of_work() as uow:
        readings.register_meter(uow, {
            "consumption_point_id": "cp-1", "contract_no": "VL-000001", "customer_id": "c-1",
            "eic": "38ZEE-00000001-1", "meter": {"serial": "M1", "registers": [
                {"code": "T1", "digits": 6}]},
            "tariff_plan": "BASIC", "reading_day": 15, "start_date": "2026-01-15",
            "initial_readings": {"T1": 1000}}, window_days=3)
    return db


def test_a_points_months_come_from_its_accepted_readings_only(db):
    for day, value in (("2026-02-15", 1310), ("2026-03-15", 1590), ("2026-04-15", 9000)):
        with db.unit_of_work() as uow:
            readings.submit_reading(uow, api.SubmitReading(
                consumption_point_id="cp-1", reading_date=day, registers={"T1": value}),
                3, Thresholds(typical_daily_kwh={"BASIC": 10}))   # the last one is held
    with db.unit_of_work() as uow:
        months = consumption.consumption_by_month(uow, "cp-1", "c-1", 4, date(2026, 4, 20))
    assert [m["month"] for m in months] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert sum(m["consumption"]["T1"] for m in months if m["consumption"]) == 590
    assert months[-1]["consumption"] is None                  # the held reading does not count
    with db.unit_of_work() as uow, pytest.raises(NotFound):
        consumption.consumption_by_month(uow, "cp-1", "c-2", 4, date(2026, 4, 20))


def test_pending_estimates_count_when_asked_their_days_said_and_never_once_settled(db):
    thresholds = Thresholds(typical_daily_kwh={"BASIC": 10})
    with db.unit_of_work() as uow:
        readings.submit_reading(uow, api.SubmitReading(
            consumption_point_id="cp-1", reading_date="2026-02-15", registers={"T1": 1310}),
            3, thresholds)
    db.clock.set(datetime(2026, 4, 19, 12, tzinfo=timezone.utc))
    assert estimates.estimate_all(db.unit_of_work, date(2026, 4, 19), 3, thresholds) == {
        "readings_estimated": 2}                   # 03-15 and 04-15, at 10 kWh a day

    def months(with_estimates):
        with db.unit_of_work() as uow:
            return {m["month"]: m for m in consumption.consumption_by_month(
                uow, "cp-1", "c-1", 4, date(2026, 4, 20), with_estimates)}

    actual_only = months(False)
    assert actual_only["2026-03"]["consumption"] is None
    assert all(m["estimated_days"] == 0 for m in actual_only.values())
    with_them = months(True)
    # February: 15 actual days and 13 estimated (02-16..02-28); March: all estimated
    assert (with_them["2026-02"]["covered_days"], with_them["2026-02"]["estimated_days"]) == (
        28, 13)
    assert (with_them["2026-03"]["estimated_days"], with_them["2026-04"]["estimated_days"]) == (
        31, 15)
    assert sum(m["consumption"]["T1"] for m in with_them.values() if m["consumption"]) == \
        310 + 280 + 310                            # 02-15..03-15 28 days, then 31

    with db.unit_of_work() as uow:                 # the actual reading settles both
        readings.submit_reading(uow, api.SubmitReading(
            consumption_point_id="cp-1", reading_date="2026-04-15", registers={"T1": 1800}),
            3, thresholds)
    settled = months(True)
    assert all(m["estimated_days"] == 0 for m in settled.values())
    assert sum(m["consumption"]["T1"] for m in settled.values() if m["consumption"]) == 800
