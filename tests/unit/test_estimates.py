"""metering's estimated readings (issue #20), on an in-memory database, no broker:
when an estimate is made and how, that it never is the base of a customer's
reading, that a customer's reading for its day replaces it, and that an actual
reading before the window closed leaves none."""
from datetime import date, datetime, timezone

import pytest

from services.common.errors import ValidationFailed
from services.common.events import parse_event
from services.common.validation import parse
from services.metering import api, estimates, readings
from services.metering.models import metadata
from services.metering.plausibility import Thresholds
from tests.unit.fakes import FakeDatabase

POINT = "cp-1"
THRESHOLDS = Thresholds(typical_daily_kwh={"BASIC": 10})


def at(day):
    return datetime.combine(date.fromisoformat(day), datetime.min.time()).replace(
        hour=12, tzinfo=timezone.utc)


def new_db(start="2025-01-01", plan="BASIC", point=POINT, initial=1000):
    db = FakeDatabase(metadata, "metering")
    db.clock.set(at(start))
    with db.unit_of_work() as uow:
        readings.register_meter(uow, {
            "consumption_point_id": point, "contract_no": "VL-000001", "customer_id": "c-1",
            "eic": "38ZEE-00000001-1", "meter": {"serial": "M1", "registers": [
                {"code": "T1", "digits": 6}]},
            "tariff_plan": plan, "reading_day": 15, "start_date": start,
            "initial_readings": {"T1": initial}}, window_days=3)
    return db


def submit(db, day, value, point=POINT):
    db.clock.set(at(day))
    command = parse(api.SubmitReading, {
        "consumption_point_id": point, "reading_date": day, "registers": {"T1": value},
        "source": "customer", "submitted_by": "person:38001010000"})
    with db.unit_of_work() as uow:
        return readings.submit_reading(uow, command, 3, THRESHOLDS)


def estimate(db, as_of):
    db.clock.set(at(as_of))
    return estimates.estimate_all(db.unit_of_work, date.fromisoformat(as_of), 3, THRESHOLDS)


def history(db, point=POINT):
    with db.unit_of_work() as uow:
        return readings.list_readings(uow, point)


def estimated_events(db):
    return [parse_event(e).data for e in db.events("reading_estimated")]


def test_no_estimate_until_the_window_closes_then_one_from_the_recent_average():
    db = new_db()
    submit(db, "2025-01-15", 1140)      # 10 kWh a day
    submit(db, "2025-02-15", 1450)
    submit(db, "2025-03-15", 1730)
    assert estimate(db, "2025-04-18") == {"readings_estimated": 0}   # window open to 04-18
    assert estimate(db, "2025-04-19") == {"readings_estimated": 1}
    assert estimate(db, "2025-04-20") == {"readings_estimated": 0}   # each day once
    [newest, *_] = history(db)
    assert newest["status"] == "estimated" and newest["estimated"] is True
    assert newest["method"] == "recent_average" and newest["pending"] is True
    assert newest["source"] == "estimate" and newest["reading_date"] == "2025-04-15"
    assert newest["consumption"] == {"T1": 310}          # 31 days × 10 kWh
    assert newest["registers"] == {"T1": 2040}
    [data] = estimated_events(db)
    assert data["method"] == "recent_average"
    assert data["previous_reading_date"] == "2025-03-15"
    assert data["consumption"] == {"T1": 310} and data["next_reading_due"] == "2025-05-15"
    assert data["tariff_plan"] == "BASIC" and data["contract_no"] == "VL-000001"


def test_without_history_the_tariff_plans_typical_use():
    db = new_db()
    estimate(db, "2025-01-19")
    [data] = estimated_events(db)
    assert (data["method"], data["consumption"]) == ("tariff_typical", {"T1": 140})


def test_an_actual_reading_before_the_window_closes_leaves_no_estimate():
    db = new_db()
    submit(db, "2025-01-17", 1100)     # two days late, inside the window
    assert estimate(db, "2025-01-25") == {"readings_estimated": 0}
    assert [r["status"] for r in history(db)] == ["accepted", "accepted"]
    assert estimated_events(db) == []


def test_a_late_run_estimates_each_missed_reading_day_in_a_chain():
    db = new_db()
    submit(db, "2025-01-15", 1140)
    estimate(db, "2025-04-19")
    made = estimated_events(db)
    assert [d["reading_date"] for d in made] == ["2025-02-15", "2025-03-15", "2025-04-15"]
    assert [d["previous_reading_date"] for d in made] == [
        "2025-01-15", "2025-02-15", "2025-03-15"]


def test_the_estimate_is_never_the_base_of_the_customers_reading():
    db = new_db()
    submit(db, "2025-01-15", 1140)
    submit(db, "2025-02-15", 1450)
    estimate(db, "2025-03-19")                    # estimated 2025-03-15: 1450 + 280 = 1730
    # the customer's actual reading is below the estimate but above the last actual
    receipt = submit(db, "2025-04-15", 1600)
    assert receipt["status"] == "accepted"
    assert receipt["consumption"] == {"T1": 150}  # since the last actual reading
    data = parse_event(db.events("reading_submitted")[-1]).data
    assert data["previous_reading_date"] == "2025-02-15"
    [estimate_id] = data["settles_estimates"]
    settled = next(r for r in history(db) if r["reading_id"] == estimate_id)
    assert settled["replaced_by"] == receipt["reading_id"] and settled["pending"] is False
    # below the last actual one is still refused as lower than the previous
    with pytest.raises(ValidationFailed) as refused:
        submit(db, "2025-05-15", 1500)
    assert refused.value.errors[0]["code"] == "reading-lower-than-previous"


def test_the_customer_replaces_a_pending_estimate_by_the_reading_of_its_day():
    db = new_db()
    submit(db, "2025-01-15", 1140)
    estimate(db, "2025-02-19")
    [pending] = [r for r in history(db) if r["status"] == "estimated"]
    receipt = submit(db, "2025-02-15", 1400)      # entered on 02-20 for the 15th
    assert receipt["consumption"] == {"T1": 260}
    data = parse_event(db.events("reading_submitted")[-1]).data
    assert data["settles_estimates"] == [pending["reading_id"]]
    assert data["reading_date"] == "2025-02-15"
    replaced = next(r for r in history(db) if r["reading_id"] == pending["reading_id"])
    assert replaced["replaced_by"] == receipt["reading_id"] and not replaced["pending"]
    # the next reading day is March's; nothing is estimated again for February
    assert estimate(db, "2025-02-28") == {"readings_estimated": 0}


def test_the_reading_of_an_earlier_estimates_day_replaces_it_and_the_later_one_stays():
    db = new_db()
    submit(db, "2025-01-15", 1140)
    estimate(db, "2025-04-19")                    # 02-15, 03-15 and 04-15 estimated
    february, march, april = [r for r in reversed(history(db))
                              if r["status"] == "estimated"]
    receipt = submit(db, "2025-03-15", 1400)      # from a photo of the meter
    assert receipt["status"] == "accepted" and receipt["consumption"] == {"T1": 260}
    data = parse_event(db.events("reading_submitted")[-1]).data
    assert data["settles_estimates"] == [february["reading_id"], march["reading_id"]]
    assert data["previous_reading_date"] == "2025-01-15"
    by_id = {r["reading_id"]: r for r in history(db)}
    assert [by_id[e["reading_id"]]["replaced_by"] for e in (february, march)] == [
        receipt["reading_id"]] * 2
    assert by_id[april["reading_id"]]["pending"] is True      # the next actual settles it
    # it continues from the actual reading now, its consumption as estimated
    assert by_id[april["reading_id"]]["registers"] == {
        "T1": 1400 + april["consumption"]["T1"]}
    assert by_id[april["reading_id"]]["consumption"] == april["consumption"]
    assert receipt["next_reading_due"] == "2025-05-15"        # April's day is estimated
    # the next reading: against the last actual one, settling April's estimate
    assert submit(db, "2025-05-15", 1700)["consumption"] == {"T1": 300}
    data = parse_event(db.events("reading_submitted")[-1]).data
    assert data["settles_estimates"] == [april["reading_id"]]
    assert data["previous_reading_date"] == "2025-03-15"


def test_a_reading_between_estimates_or_before_the_only_one_is_refused_by_name():
    db = new_db()
    submit(db, "2025-01-15", 1140)
    estimate(db, "2025-03-19")                    # 02-15 and 03-15 estimated
    with pytest.raises(ValidationFailed) as refused:
        submit(db, "2025-03-01", 1400)
    [error] = refused.value.errors
    assert (error["field"], error["code"]) == ("reading_date", "date-between-estimates")
    assert error["params"] == {"first_date": "2025-02-15", "last_date": "2025-03-15"}

    db = new_db()
    submit(db, "2025-01-15", 1140)
    estimate(db, "2025-02-19")                    # 02-15 estimated
    with pytest.raises(ValidationFailed) as refused:
        submit(db, "2025-02-10", 1400)
    [error] = refused.value.errors
    assert (error["field"], error["code"]) == ("reading_date", "date-before-estimate")
    assert error["params"] == {"last_date": "2025-02-15"}


def test_a_point_whose_reading_is_held_for_review_is_not_estimated():
    db = new_db()
    submit(db, "2025-01-15", 1140)
    held = submit(db, "2025-02-15", 9000)         # implausible
    assert held["status"] == "held_for_review"
    assert estimate(db, "2025-03-19") == {"readings_estimated": 0}


def test_estimates_switched_off_for_a_point_or_its_plan():
    db = new_db()
    with db.unit_of_work() as uow:
        estimates.switch(uow, POINT, None, False, "op")
    assert estimate(db, "2025-01-19") == {"readings_estimated": 0}
    with db.unit_of_work() as uow:
        estimates.switch(uow, POINT, None, True, "op")
        estimates.switch(uow, None, "BASIC", False, "op")
    assert estimate(db, "2025-01-19") == {"readings_estimated": 0}
    with db.unit_of_work() as uow:
        estimates.switch(uow, None, "BASIC", True, "op")
    assert estimate(db, "2025-01-19") == {"readings_estimated": 1}
    with db.unit_of_work() as uow, pytest.raises(ValidationFailed):
        estimates.switch(uow, POINT, "BASIC", True, "op")


def test_the_summer_cottage_is_estimated_from_its_own_last_summer():
    """A cottage on Saaremaa: 2 kWh a day in winter, 15 in summer. Its July reading
    forgotten, the estimate is last July's use, not the year-round average."""
    db = new_db(start="2024-01-01", initial=5000)
    value, readings_of_2024 = 5000, []
    daily = {1: 2, 2: 2, 3: 2, 4: 2, 5: 15, 6: 15, 7: 15, 8: 15, 9: 2, 10: 2, 11: 2, 12: 2}
    day = date(2024, 1, 1)
    for month in range(1, 13):
        reading_day = date(2024, month, 15)
        value += daily[month] * (reading_day - day).days
        readings_of_2024.append((reading_day, value))
        day = reading_day
    for month in range(1, 7):      # 2025 through June, then the July reading forgotten
        reading_day = date(2025, month, 15)
        value += daily[month] * (reading_day - day).days
        readings_of_2024.append((reading_day, value))
        day = reading_day
    for reading_day, v in readings_of_2024:
        assert submit(db, reading_day.isoformat(), v)["status"] == "accepted"
    estimate(db, "2025-07-19")
    [data] = estimated_events(db)
    assert data["method"] == "same_season_last_year"
    assert data["consumption"] == {"T1": 15 * 30}     # 2025-06-15 → 07-15, last summer's
    year_round = (value - 5000) / (date(2025, 6, 15) - date(2024, 1, 1)).days
    assert year_round * 30 < 0.6 * data["consumption"]["T1"]


def test_the_overview_shows_the_last_actual_reading_and_the_day_after_the_estimate():
    db = new_db()
    submit(db, "2025-01-15", 1140)
    estimate(db, "2025-03-19")
    with db.unit_of_work() as uow:
        overview = readings.reading_overview(uow, [POINT], 3)[POINT]
    assert overview["last_reading"] == {"reading_date": "2025-01-15", "registers": {"T1": 1140}}
    assert overview["next_reading_due"] == "2025-04-15"


def test_at_most_so_many_estimates_in_a_row_and_none_for_a_long_unread_point():
    db = new_db()
    submit(db, "2025-01-15", 1140)
    limits = estimates.Limits(in_a_row=2, lookback_days=92)
    db.clock.set(at("2025-04-19"))
    assert estimates.estimate_all(db.unit_of_work, date(2025, 4, 19), 3, THRESHOLDS,
                                  limits=limits) == {"readings_estimated": 2}
    assert estimates.estimate_all(db.unit_of_work, date(2025, 5, 19), 3, THRESHOLDS,
                                  limits=limits) == {"readings_estimated": 0}
    assert sorted(d["reading_date"] for d in estimated_events(db)) == ["2025-02-15", "2025-03-15"]
    # a point unread since long before the lookback is not estimated at all
    cottage = new_db(start="2019-06-01")
    assert estimate(cottage, "2025-04-19") == {"readings_estimated": 0}


def test_a_terminated_contracts_meter_is_not_estimated_from_its_end():
    db = new_db()
    submit(db, "2025-01-15", 1140)
    with db.unit_of_work() as uow:
        readings.end_meter(uow, {"contract_no": "VL-000001", "end_date": "2025-03-01"})
    assert estimate(db, "2025-04-19") == {"readings_estimated": 1}     # February's only
    assert [d["reading_date"] for d in estimated_events(db)] == ["2025-02-15"]


def test_a_held_reading_settles_the_estimates_when_an_operator_accepts_it():
    db = new_db()
    submit(db, "2025-01-15", 1140)
    estimate(db, "2025-02-19")
    [pending] = [r for r in history(db) if r["status"] == "estimated"]
    held = submit(db, "2025-03-15", 9000)
    assert held["status"] == "held_for_review"
    assert next(r for r in history(db) if r["reading_id"] == pending["reading_id"])["pending"]
    with db.unit_of_work() as uow:
        readings.decide(uow, held["reading_id"], api.ReviewDecision(accept=True), "op", 3)
    data = parse_event(db.events("reading_submitted")[-1]).data
    assert data["settles_estimates"] == [pending["reading_id"]]
    assert data["previous_reading_date"] == "2025-01-15"
    assert data["consumption"] == {"T1": 9000 - 1140}
