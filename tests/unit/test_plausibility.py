from datetime import date

from services.metering.plausibility import Interval, Thresholds, judge, seasonal_daily

T = Thresholds(factor=5, min_daily_kwh=5, zero_run=3, typical_daily_kwh={"BASIC": 10})


def monthly(year, kwh_by_month):
    """Intervals from the 1st of each month to the next, with the given kWh."""
    result = []
    for month, kwh in enumerate(kwh_by_month, 1):
        end = date(year + (month == 12), month % 12 + 1, 1)
        result.append(Interval(date(year, month, 1), end, kwh))
    return result


def test_without_history_the_tariff_plans_typical_use_is_expected():
    assert judge([], date(2026, 1, 1), date(2026, 1, 31), 300, "BASIC", T) is None
    reason = judge([], date(2026, 1, 1), date(2026, 1, 31), 3000, "BASIC", T)  # 100 a day
    assert "far above the expected 10.0" in reason


def test_a_slipped_decimal_point_is_caught_against_the_points_own_history():
    history = monthly(2025, [310] * 12)
    assert judge(history, date(2026, 1, 1), date(2026, 2, 1), 320, "BASIC", T) is None
    assert judge(history, date(2026, 1, 1), date(2026, 2, 1), 3200, "BASIC", T) is not None


def test_a_summer_cottage_is_judged_by_last_summer_not_by_the_year():
    # almost nothing in winter, a lot in summer
    cottage = monthly(2025, [5, 5, 5, 10, 200, 900, 1200, 1100, 300, 20, 5, 5])
    assert seasonal_daily(cottage, date(2026, 7, 1), date(2026, 8, 1)) > 35
    assert judge(cottage, date(2026, 7, 1), date(2026, 8, 1), 1250, "BASIC", T) is None
    # the same July use would be implausible for a point with no summer history
    assert judge([], date(2026, 7, 1), date(2026, 8, 1), 12500, "BASIC", T) is not None


def test_small_expectations_leave_room_for_a_few_kwh_a_day():
    cottage = monthly(2025, [5] * 12)
    assert judge(cottage, date(2026, 1, 1), date(2026, 2, 1), 120, "BASIC", T) is None


def test_a_long_run_of_zeros_is_held():
    history = [Interval(date(2026, 1, 1), date(2026, 2, 1), 0),
               Interval(date(2026, 2, 1), date(2026, 3, 1), 0)]
    assert "3 readings in a row" in judge(history, date(2026, 3, 1), date(2026, 4, 1), 0,
                                          "BASIC", T)
    assert judge(history[1:], date(2026, 3, 1), date(2026, 4, 1), 0, "BASIC", T) is None
