"""Meters and readings: metering's domain rules, free of nameko.

- ``register_meter`` keeps metering's own copy of a meter's registers from
  ``contract_signed``, with the initial readings as the first accepted reading.
- ``submit_reading`` checks a reading against that copy and the last accepted
  reading, stores it and emits ``reading_submitted`` in the same transaction.
"""
import uuid
from datetime import date
from typing import Literal, Optional

import sqlalchemy as sa
from pydantic import Field

from services.common.errors import NotFound, ValidationFailed
from services.common.registers import register_value_errors
from services.common.validation import Shape
from services.metering.models import meters, readings
from services.metering.schedule import next_reading_due


class SubmitReading(Shape):
    consumption_point_id: str = Field(min_length=1, max_length=36)
    reading_date: date
    registers: dict[str, int]
    source: Literal["customer", "delegate", "operator", "import"] = "customer"
    submitted_by: Optional[str] = Field(default=None, max_length=64)


def register_meter(uow, data):
    """From contract_signed: the meter's registers and its initial readings."""
    session = uow.session
    point_id = data["consumption_point_id"]
    values = dict(
        contract_no=data["contract_no"], customer_id=data["customer_id"], eic=data["eic"],
        meter_serial=data["meter"]["serial"], registers=data["meter"]["registers"],
        tariff_plan=data["tariff_plan"], reading_day=int(data["reading_day"]),
        start_date=date.fromisoformat(data["start_date"]))
    exists = session.execute(sa.select(meters.c.consumption_point_id)
                             .where(meters.c.consumption_point_id == point_id)).first()
    if exists:
        session.execute(sa.update(meters).where(meters.c.consumption_point_id == point_id)
                        .values(**values))
        return
    session.execute(sa.insert(meters).values(consumption_point_id=point_id, **values))
    session.execute(sa.insert(readings).values(
        reading_id=str(uuid.uuid4()), consumption_point_id=point_id,
        reading_date=values["start_date"], registers=data["initial_readings"],
        consumption={code: 0 for code in data["initial_readings"]},
        status="accepted", source="initial", submitted_by=None, submitted_at=uow.now))


def last_accepted_reading(session, point_id):
    return session.execute(
        sa.select(readings)
        .where(readings.c.consumption_point_id == point_id, readings.c.status == "accepted")
        .order_by(readings.c.reading_date.desc(), readings.c.submitted_at.desc())
        .limit(1)
    ).mappings().first()


def submit_reading(uow, command: SubmitReading, window_days):
    session = uow.session
    # The meter row is locked so that two submissions for one consumption point
    # are checked against the previous reading one after the other.
    meter = session.execute(
        sa.select(meters).where(meters.c.consumption_point_id == command.consumption_point_id)
        .with_for_update()
    ).mappings().first()
    if meter is None:
        raise NotFound(f"no consumption point {command.consumption_point_id}")

    errors = register_value_errors(command.registers, meter["registers"], "registers")
    if command.reading_date > uow.clock.today():
        errors.append({"field": "reading_date", "message": "must not be in the future"})
    if command.reading_date < meter["start_date"]:
        errors.append({"field": "reading_date",
                       "message": f"must not be before the contract started ({meter['start_date']})"})
    previous = last_accepted_reading(session, command.consumption_point_id)
    if previous is not None and not errors:
        if command.reading_date < previous["reading_date"]:
            errors.append({"field": "reading_date",
                           "message": f"must not be before the last reading ({previous['reading_date']})"})
        for code, value in sorted(command.registers.items()):
            before = previous["registers"][code]
            if value < before:
                errors.append({"field": f"registers.{code}",
                               "message": f"is lower than the previous reading ({before} "
                                          f"on {previous['reading_date']})"})
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']} {e['message']}" for e in errors), errors)

    consumption = {code: value - previous["registers"][code]
                   for code, value in command.registers.items()}
    reading_id = str(uuid.uuid4())
    session.execute(sa.insert(readings).values(
        reading_id=reading_id, consumption_point_id=command.consumption_point_id,
        reading_date=command.reading_date, registers=command.registers,
        consumption=consumption, status="accepted", source=command.source,
        submitted_by=command.submitted_by, submitted_at=uow.now))
    due = next_reading_due(meter["reading_day"], command.reading_date, window_days)
    uow.emit("reading_submitted", {
        "reading_id": reading_id,
        "consumption_point_id": command.consumption_point_id,
        "contract_no": meter["contract_no"],
        "customer_id": meter["customer_id"],
        "tariff_plan": meter["tariff_plan"],
        "reading_date": command.reading_date.isoformat(),
        "previous_reading_date": previous["reading_date"].isoformat(),
        "registers": command.registers,
        "consumption": consumption,
        "next_reading_due": due.isoformat(),
    })
    return {"reading_id": reading_id, "status": "accepted", "consumption": consumption,
            "next_reading_due": due.isoformat()}


def list_readings(uow, point_id):
    known = uow.session.execute(sa.select(meters.c.consumption_point_id)
                                .where(meters.c.consumption_point_id == point_id)).first()
    if known is None:
        raise NotFound(f"no consumption point {point_id}")
    rows = uow.session.execute(
        sa.select(readings).where(readings.c.consumption_point_id == point_id)
        .order_by(readings.c.reading_date.desc(), readings.c.submitted_at.desc())
    ).mappings().all()
    return [{
        "reading_id": r["reading_id"], "reading_date": r["reading_date"].isoformat(),
        "registers": r["registers"], "consumption": r["consumption"], "status": r["status"],
        "source": r["source"], "submitted_by": r["submitted_by"],
        "submitted_at": r["submitted_at"].isoformat(),
    } for r in rows]


def relink_meter(uow, data):
    """From consumption_point_linked: the meter's readings now belong to another customer."""
    uow.session.execute(sa.update(meters)
                        .where(meters.c.consumption_point_id == data["consumption_point_id"])
                        .values(customer_id=data["customer_id"]))


def reading_overview(uow, point_ids, window_days):
    """For each known consumption point: its last accepted reading and the next
    reading due after it."""
    rows = uow.session.execute(sa.select(meters).where(
        meters.c.consumption_point_id.in_(list(point_ids)))).mappings().all()
    overview = {}
    for meter in rows:
        last = last_accepted_reading(uow.session, meter["consumption_point_id"])
        overview[meter["consumption_point_id"]] = {
            "last_reading": None if last is None else {
                "reading_date": last["reading_date"].isoformat(), "registers": last["registers"]},
            "next_reading_due": next_reading_due(
                meter["reading_day"], last["reading_date"] if last else meter["start_date"],
                window_days).isoformat(),
        }
    return overview
