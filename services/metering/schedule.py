"""Reading days: when the next reading of a consumption point is due.

A contract agrees a reading day of the month (1-28). Readings taken within the
reading window around a reading day (± ``window_days``) count for that day, so
the next reading due is the first reading day more than ``window_days`` after
the reading date.
"""
from datetime import date, timedelta

DEFAULT_WINDOW_DAYS = 3


def reading_day_in(year, month, reading_day):
    return date(year, month, reading_day)


def next_reading_due(reading_day: int, after: date, window_days=DEFAULT_WINDOW_DAYS) -> date:
    earliest = after + timedelta(days=window_days + 1)
    candidate = reading_day_in(earliest.year, earliest.month, reading_day)
    if candidate < earliest:
        month = earliest.month % 12 + 1
        year = earliest.year + (1 if month == 1 else 0)
        candidate = reading_day_in(year, month, reading_day)
    return candidate
