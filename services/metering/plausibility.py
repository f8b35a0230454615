"""Is a reading's consumption plausible? Pure functions, no database.

The consumption per day of the new interval is compared with the consumption
point's own history — the same season of the previous year, where readings
cover it, so that a summer cottage's pattern does not trip it — or, without such
history, with the tariff plan's typical use. Far above it (a slipped decimal
point gives ten times the usual) is implausible; so is a long run of zeros.
"""
from dataclasses import dataclass
from datetime import date, timedelta

YEAR = timedelta(days=365)


@dataclass(frozen=True)
class Thresholds:
    factor: float = 5.0             # more than this many times the expected use per day
    min_daily_kwh: float = 5.0      # ... and more than this (tiny expectations are noisy)
    zero_run: int = 3               # this many zero readings in a row
    typical_daily_kwh: dict = None  # tariff plan -> kWh per day
    default_typical_daily_kwh: float = 10.0

    def typical(self, tariff_plan):
        return (self.typical_daily_kwh or {}).get(tariff_plan, self.default_typical_daily_kwh)


@dataclass(frozen=True)
class Interval:
    start: date
    end: date
    kwh: int

    @property
    def days(self):
        return max((self.end - self.start).days, 1)


def intervals(readings):
    """Consecutive accepted readings ``[(date, total_kwh_consumed_since_previous)]``
    (oldest first, the first one the initial reading) as intervals."""
    return [Interval(a[0], b[0], b[1]) for a, b in zip(readings, readings[1:])]


def seasonal_daily(history, start, end):
    """kWh per day in the same period a year earlier, or None when readings do not
    cover at least half of it."""
    season_start, season_end = start - YEAR, end - YEAR
    covered_days, kwh = 0, 0.0
    for interval in history:
        overlap = (min(interval.end, season_end) - max(interval.start, season_start)).days
        if overlap > 0:
            covered_days += overlap
            kwh += interval.kwh * overlap / interval.days
    if covered_days * 2 < max((season_end - season_start).days, 1):
        return None
    return kwh / covered_days


def expected_daily(history, start, end, tariff_plan, thresholds):
    seasonal = seasonal_daily(history, start, end)
    return seasonal if seasonal is not None else thresholds.typical(tariff_plan)


def judge(history, start, end, kwh, tariff_plan, thresholds):
    """None if plausible, else the reason for review."""
    days = max((end - start).days, 1)
    expected = expected_daily(history, start, end, tariff_plan, thresholds)
    daily = kwh / days
    if daily > max(expected * thresholds.factor, thresholds.min_daily_kwh):
        return (f"{daily:.1f} kWh a day is far above the expected {expected:.1f} kWh a day "
                "for this consumption point")
    if kwh == 0 and len(history) >= thresholds.zero_run - 1 and all(
            i.kwh == 0 for i in history[-(thresholds.zero_run - 1):]):
        return f"{thresholds.zero_run} readings in a row without consumption"
    return None
