"""Estimated readings: when a reading window closes without a reading.

The moment the reminder is sent (the reading day's window of ``window_days`` has
closed: the due date is before ``as_of − window_days``), metering stores an
*estimated* reading for that reading day, per register, from the point's own
actual readings — plausibility's rules:

1. ``same_season_last_year``: the kWh per day of the same days a year earlier,
   where actual readings cover at least half of them (a summer cottage is
   estimated from its own last summer);
2. ``recent_average``: else the kWh per day of the actual readings of the last
   ``RECENT_DAYS`` before the last actual reading (at least ``RECENT_MIN_DAYS``);
3. ``tariff_typical``: else the tariff plan's typical use, shared evenly by the
   registers.

An estimate continues from the reading before it (actual or estimated) and is
stored with status ``estimated``, source ``estimate``, its method, and a
``reading_estimated`` event in one transaction. It is never the base of a
customer's reading (that is the last *actual* one, services/metering/readings.py),
and it is not made when an actual reading arrived first (then the next reading
due has moved on) or while the point's reading is held for review.

A point gets at most ``VOOL_MAX_ESTIMATES_IN_A_ROW`` (6) estimates without an actual
reading, none after its contract ended, and none at all when its first missed reading
day closed more than ``VOOL_ESTIMATE_LOOKBACK_DAYS`` (92) before the run (``Limits``).

Several replicas: meters are claimed a batch at a time (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL; a submission of the same point waits on the same row lock),
and one estimate per point and day is all the table takes (a partial unique
index), so each point is estimated once.
"""
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from services.common.errors import NotFound, ValidationFailed
from services.metering import plausibility
from services.metering.api import ReadingEstimated
from services.metering.models import meters, plans_without_estimates, readings
from services.metering.schedule import next_reading_due

RECENT_DAYS = 90
RECENT_MIN_DAYS = 28


@dataclass(frozen=True)
class Limits:
    """A point gets at most ``in_a_row`` estimates without an actual reading (then it
    waits for one: the reminders go on, the desk follows up); and a point whose first
    missed reading day closed more than ``lookback_days`` before the run is not
    estimated at all (long unread — a cottage nobody reads, a run after a long
    outage: an estimate spanning years would bill nonsense)."""
    in_a_row: int = 6
    lookback_days: int = 92

_INSERT_ESTIMATE = {
    "postgresql": postgresql.insert(readings).on_conflict_do_nothing(
        index_elements=["consumption_point_id", "reading_date"],
        index_where=sa.text("status = 'estimated'")),
    "sqlite": sqlite.insert(readings).on_conflict_do_nothing(
        index_elements=["consumption_point_id", "reading_date"],
        index_where=sa.text("status = 'estimated'")),
}


def covered_daily(history, start, end, min_days):
    """kWh per day of ``history`` (intervals) over (start, end], or None when it
    covers fewer than ``min_days`` of those days."""
    covered_days, kwh = 0, 0.0
    for interval in history:
        overlap = (min(interval.end, end) - max(interval.start, start)).days
        if overlap > 0:
            covered_days += overlap
            kwh += interval.kwh * overlap / interval.days
    if covered_days < max(min_days, 1):
        return None
    return kwh / covered_days


def estimate_consumption(actual, start, end, register_codes, tariff_plan, thresholds):
    """``(method, {register: kWh})`` for the days (start, end] from ``actual``: the
    point's accepted readings oldest first (``reading_date``, ``consumption``)."""
    days = max((end - start).days, 1)
    total = plausibility.intervals(
        [(r["reading_date"], sum(r["consumption"].values())) for r in actual])
    per_register = {code: plausibility.intervals(
        [(r["reading_date"], r["consumption"].get(code, 0)) for r in actual])
        for code in register_codes}
    last_actual = actual[-1]["reading_date"]
    if plausibility.seasonal_daily(total, start, end) is not None:
        method = "same_season_last_year"
        daily = {code: plausibility.seasonal_daily(per_register[code], start, end)
                 for code in register_codes}
    elif covered_daily(total, last_actual - timedelta(days=RECENT_DAYS), last_actual,
                       RECENT_MIN_DAYS) is not None:
        method = "recent_average"
        daily = {code: covered_daily(per_register[code],
                                     last_actual - timedelta(days=RECENT_DAYS), last_actual,
                                     RECENT_MIN_DAYS) for code in register_codes}
    else:
        method = "tariff_typical"
        share = thresholds.typical(tariff_plan) / max(len(register_codes), 1)
        daily = {code: share for code in register_codes}
    return method, {code: int((Decimal(str(daily[code] or 0)) * days)
                              .quantize(Decimal(1), rounding=ROUND_HALF_UP))
                    for code in register_codes}


def _point_readings(session, point_id):
    """(actual readings oldest first, pending estimates oldest first, whether a
    reading is held for review)."""
    rows = session.execute(
        sa.select(readings).where(readings.c.consumption_point_id == point_id,
                                  readings.c.status.in_(("accepted", "held_for_review",
                                                         "estimated")))
        .order_by(readings.c.reading_date, readings.c.submitted_at)).mappings().all()
    actual = [r for r in rows if r["status"] == "accepted"]
    last_actual = actual[-1]["reading_date"]
    pending = [r for r in rows if r["status"] == "estimated" and r["replaced_by"] is None
               and r["reading_date"] > last_actual]
    return actual, pending, any(r["status"] == "held_for_review" for r in rows)


def pending_estimates(session, point_id):
    return _point_readings(session, point_id)[1]


def estimate_point(uow, meter, as_of, window_days, thresholds, limits=Limits()):
    """The estimates of ``meter`` (a locked row) for the reading days whose window
    closed before ``as_of``; how many were stored."""
    session = uow.session
    actual, pending, held = _point_readings(session, meter["consumption_point_id"])
    if held:
        return 0
    closed_before = as_of - timedelta(days=window_days)
    base = pending[-1] if pending else actual[-1]
    digits = {r["code"]: r["digits"] for r in meter["registers"]}
    insert = _INSERT_ESTIMATE[session.get_bind().dialect.name]
    stored = 0
    for _ in range(max(limits.in_a_row - len(pending), 0)):
        due = next_reading_due(meter["reading_day"], base["reading_date"], window_days)
        if not due < closed_before:
            break
        if meter["end_date"] is not None and due >= meter["end_date"]:
            break   # the contract has ended
        if not pending and not stored and due < closed_before - timedelta(
                days=limits.lookback_days):
            break   # long unread: not for estimates
        method, consumption = estimate_consumption(
            actual, base["reading_date"], due, sorted(digits), meter["tariff_plan"], thresholds)
        registers = {code: (base["registers"][code] + kwh) % 10 ** digits[code]
                     for code, kwh in consumption.items()}
        reading_id = str(uuid.uuid4())
        if not session.execute(insert, dict(
                reading_id=reading_id, consumption_point_id=meter["consumption_point_id"],
                reading_date=due, registers=registers, consumption=consumption,
                status="estimated", source="estimate", submitted_by="metering",
                submitted_at=uow.now, estimate_method=method)).rowcount:
            break   # another replica estimated this day (its commit came first)
        next_due = next_reading_due(meter["reading_day"], due, window_days)
        uow.emit_event(ReadingEstimated(
            reading_id=reading_id, consumption_point_id=meter["consumption_point_id"],
            contract_no=meter["contract_no"], customer_id=meter["customer_id"],
            tariff_plan=meter["tariff_plan"], reading_date=due,
            previous_reading_date=base["reading_date"], consumption=consumption,
            method=method, next_reading_due=next_due, registers=registers,
            register_digits=digits, reading_day=meter["reading_day"]))
        stored += 1
        base = {"reading_date": due, "registers": registers}
    return stored


def estimate_batch(uow, as_of, window_days, thresholds, after="", batch_size=100,
                   limits=Limits()):
    """Estimate a batch of meters (point ids after ``after``, in order); returns
    ``(estimates stored, the batch's last point id or None when there was none)``."""
    session = uow.session
    off_plans = sa.select(plans_without_estimates.c.tariff_plan)
    batch = session.execute(
        sa.select(meters).where(meters.c.consumption_point_id > after,
                                meters.c.estimates_off.is_(False),
                                meters.c.tariff_plan.not_in(off_plans))
        .order_by(meters.c.consumption_point_id).limit(batch_size)
        .with_for_update(skip_locked=True)).mappings().all()
    if not batch:
        return 0, None
    stored = sum(estimate_point(uow, meter, as_of, window_days, thresholds, limits)
                 for meter in batch)
    return stored, batch[-1]["consumption_point_id"]


def switch(uow, consumption_point_id, tariff_plan, estimates, operator):
    """Estimates on or off for a point or a plan."""
    if (consumption_point_id is None) == (tariff_plan is None):
        raise ValidationFailed.field("consumption_point_id",
                                     "give a consumption point or a tariff plan, not both")
    session = uow.session
    if consumption_point_id is not None:
        done = session.execute(sa.update(meters).where(
            meters.c.consumption_point_id == consumption_point_id).values(
            estimates_off=not estimates)).rowcount
        if not done:
            raise NotFound(f"no consumption point {consumption_point_id}")
        return {"consumption_point_id": consumption_point_id, "estimates": estimates}
    session.execute(sa.delete(plans_without_estimates).where(
        plans_without_estimates.c.tariff_plan == tariff_plan))
    if not estimates:
        session.execute(sa.insert(plans_without_estimates).values(
            tariff_plan=tariff_plan, switched_off_by=operator, switched_off_at=uow.now))
    return {"tariff_plan": tariff_plan, "estimates": estimates}


def estimate_all(unit_of_work, as_of, window_days, thresholds, batch_size=100,
                 between_batches=None, limits=Limits()):
    """Every point's estimates as of ``as_of``, a short transaction per batch of
    meters; ``{readings_estimated}``."""
    after, total = "", 0
    while True:
        with unit_of_work() as uow:
            stored, last = estimate_batch(uow, as_of, window_days, thresholds, after,
                                          batch_size, limits)
        if last is None:
            return {"readings_estimated": total}
        total, after = total + stored, last
        if between_batches is not None:
            between_batches()
