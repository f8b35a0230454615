from datetime import date

import pytest

from services.metering.schedule import next_reading_due


@pytest.mark.parametrize("reading_day, read_on, due", [
    (15, date(2026, 2, 15), date(2026, 3, 15)),   # on the day
    (15, date(2026, 2, 12), date(2026, 3, 15)),   # 3 days early still counts for Feb 15
    (15, date(2026, 2, 11), date(2026, 2, 15)),   # 4 days early does not
    (15, date(2026, 2, 18), date(2026, 3, 15)),   # 3 days late
    (15, date(2026, 2, 19), date(2026, 3, 15)),
    (28, date(2026, 12, 27), date(2027, 1, 28)),  # over the year's end
    (1, date(2026, 12, 30), date(2027, 2, 1)),    # Jan 1 is within 3 days: February's
    (1, date(2026, 12, 28), date(2027, 1, 1)),
])
def test_the_next_reading_due(reading_day, read_on, due):
    assert next_reading_due(reading_day, read_on, window_days=3) == due


def test_the_window_is_configurable():
    assert next_reading_due(15, date(2026, 2, 10), window_days=5) == date(2026, 3, 15)
    assert next_reading_due(15, date(2026, 2, 10), window_days=0) == date(2026, 2, 15)
