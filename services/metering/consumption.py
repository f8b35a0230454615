"""Consumption per calendar month, from the accepted readings of a point.

A reading covers the days since the one before it (the day after the previous
reading through its own day). Its kWh are spread over those days evenly and
summed per month; whole kWh per month by the largest remainder, so that the
months of one interval add up to exactly what was read. A month that no reading
covers is unknown (None), not zero, and a month only partly covered says so.
Asked for, the pending estimates after the last actual reading count too, their
days as ``estimated_days`` (a settled estimate never does: its actual reading
covers its days).
"""
from datetime import date, timedelta

import sqlalchemy as sa

from services.common.errors import NotFound
from services.metering.estimates import pending_estimates
from services.metering.models import meters
from services.metering.readings import accepted_readings


def month_start(day):
    return day.replace(day=1)


def add_months(first, count):
    index = first.year * 12 + first.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def _days_per_month(after, through):
    """{first of month: days} of the days after ``after`` through ``through``."""
    days, day = {}, after + timedelta(days=1)
    while day <= through:
        month = month_start(day)
        end = min(through, add_months(month, 1) - timedelta(days=1))
        days[month] = days.get(month, 0) + (end - day).days + 1
        day = end + timedelta(days=1)
    return days


def _spread(kwh, days):
    """``kwh`` over the months of ``days`` in whole kWh that add up to ``kwh``."""
    total = sum(days.values())
    shares = {month: kwh * count // total for month, count in days.items()}
    left = kwh - sum(shares.values())
    by_remainder = sorted(days, key=lambda m: (-(kwh * days[m] % total), m))
    for month in by_remainder[:left]:
        shares[month] += 1
    return shares


def by_month(history, first, last, estimates=()):
    """``[{month: YYYY-MM, consumption: {register: kWh} | None, covered_days,
    estimated_days, days}]`` for the months ``first`` through ``last`` (firsts of
    months), oldest first.

    ``history``: accepted readings oldest first, each ``{reading_date, consumption}``
    (the first one is where the meter started: its consumption is not counted);
    ``estimates``: the pending estimates after its last, oldest first."""
    totals, covered, estimated = {}, {}, {}
    chain = [(r, False) for r in history] + [(r, True) for r in estimates]
    for (previous, _), (reading, is_estimate) in zip(chain, chain[1:]):
        days = _days_per_month(previous["reading_date"], reading["reading_date"])
        if not days:
            continue
        for month, count in days.items():
            covered[month] = covered.get(month, 0) + count
            if is_estimate:
                estimated[month] = estimated.get(month, 0) + count
        for register, kwh in reading["consumption"].items():
            for month, share in _spread(int(kwh), days).items():
                month_totals = totals.setdefault(month, {})
                month_totals[register] = month_totals.get(register, 0) + share
    months, month = [], first
    while month <= last:
        length = (add_months(month, 1) - month).days
        months.append({"month": f"{month:%Y-%m}", "consumption": totals.get(month),
                       "covered_days": covered.get(month, 0),
                       "estimated_days": estimated.get(month, 0), "days": length})
        month = add_months(month, 1)
    return months


def consumption_by_month(uow, point_id, customer_id, months, today, with_estimates=False):
    """The last ``months`` calendar months of a point through this one; with its
    pending estimates when ``with_estimates``."""
    meter = uow.session.execute(sa.select(meters.c.customer_id).where(
        meters.c.consumption_point_id == point_id)).first()
    if meter is None or (customer_id and meter.customer_id != customer_id):
        raise NotFound(f"no consumption point {point_id}")
    last = month_start(today)
    history = [{"reading_date": r["reading_date"], "consumption": r["consumption"]}
               for r in accepted_readings(uow.session, point_id)]
    estimates = [{"reading_date": r["reading_date"], "consumption": r["consumption"]}
                 for r in pending_estimates(uow.session, point_id)] if with_estimates else []
    return by_month(history, add_months(last, -(months - 1)), last, estimates)
