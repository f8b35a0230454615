"""Pricing a reading's consumption with the tariff plan's components (data).

Each register's kWh is priced with every per-kWh component of the plan that
applies to that register (or to all registers) and is valid on the reading date.
One charge per reading: ``charges.reading_id`` is unique and the handler records
the event id in the same transaction.
"""
import uuid
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from services.billing.models import charge_lines, charges, tariff_components, tariff_plans
from services.billing.money import exact, money_text, to_cents
from services.common.errors import ValidationFailed

PER_KWH_KINDS = ("energy", "network", "renewable", "excise")
KWH_PLACES = Decimal("0.001")


def per_kwh_components(session, plan, start, end):
    """Every per-kWh component of the plan valid on some day of (start, end]."""
    c = tariff_components.c
    return session.execute(
        sa.select(c.kind, c.register, c.price, c.valid_from, c.valid_until)
        .where(c.tariff_plan == plan, c.kind.in_(PER_KWH_KINDS), c.valid_from <= end,
               sa.or_(c.valid_until.is_(None), c.valid_until > start))
        .order_by(c.kind, c.register, c.valid_from)
    ).all()


def _price_on(components, kind, register, day):
    """A register's own price wins over the plan's all-register price; of two
    prices valid on a day, the one valid from later (a newer price list) wins."""
    valid = sorted(((since, r, p) for k, r, p, since, until in components
                    if k == kind and since <= day and (until is None or day <= until)),
                   key=lambda v: v[0])
    own = [p for _, r, p in valid if r == register]
    general = [p for _, r, p in valid if r is None]
    return (own or general or [None])[-1]


def _segments(components, kind, register, start, end):
    """``[(first_day, last_day, price)]`` over the days (start, end] that carry a price."""
    segments = []
    days = max((end - start).days, 1)
    first = end - timedelta(days=days - 1)
    for offset in range(days):
        day = first + timedelta(days=offset)
        price = _price_on(components, kind, register, day)
        if segments and segments[-1][2] == price and segments[-1][1] == day - timedelta(days=1):
            segments[-1] = (segments[-1][0], day, price)
        else:
            segments.append((day, day, price))
    return [s for s in segments if s[2] is not None], days


def price_lines(components, consumption, start, end):
    """Charge lines for ``{register: kWh}`` consumed over the days (start, end].

    A price change inside the interval splits its kWh by days: each price gets the
    share of its days, to the Wh, the last share taking what rounding left over.
    Pure, so unit tests reach it directly.
    """
    lines = []
    for register in sorted(consumption):
        kwh = exact(consumption[register])
        for kind in PER_KWH_KINDS:
            segments, days = _segments(components, kind, register, start, end)
            priced_every_day = sum((b - a).days + 1 for a, b, _ in segments) == days
            given = Decimal(0)
            for n, (first, last, price) in enumerate(segments):
                if priced_every_day and n == len(segments) - 1:
                    share = kwh - given          # the shares add up to the kWh exactly
                else:
                    share = (kwh * ((last - first).days + 1) / days).quantize(KWH_PLACES)
                given += share
                unit_price = exact(price)
                lines.append({"kind": kind, "register": register, "kwh": share,
                              "unit_price": unit_price, "net": to_cents(unit_price * share),
                              "period_from": first, "period_to": last})
    return lines


def charge_reading(uow, data):
    """From reading_submitted: one charge with its lines for the reading."""
    session = uow.session
    plan = data["tariff_plan"]
    if session.execute(sa.select(tariff_plans.c.code).where(tariff_plans.c.code == plan)).first() is None:
        raise ValidationFailed.field("tariff_plan", f"unknown tariff plan {plan}")
    if session.execute(sa.select(charges.c.charge_id)
                       .where(charges.c.reading_id == data["reading_id"])).first():
        return None  # already charged under another event id (a re-sent reading)
    reading_date = date.fromisoformat(data["reading_date"])
    previous_date = date.fromisoformat(data["previous_reading_date"])
    lines = price_lines(per_kwh_components(session, plan, previous_date, reading_date),
                        data["consumption"], previous_date, reading_date)
    charge_id = str(uuid.uuid4())
    session.execute(sa.insert(charges).values(
        charge_id=charge_id, reading_id=data["reading_id"],
        consumption_point_id=data["consumption_point_id"], contract_no=data["contract_no"],
        customer_id=data["customer_id"],
        period_from=previous_date, period_to=reading_date,
        registers=data.get("registers"), register_digits=data.get("register_digits"),
        consumption=data["consumption"],
        net=sum((line["net"] for line in lines), Decimal("0.00")), created_at=uow.now))
    if lines:
        session.execute(sa.insert(charge_lines), [
            {"charge_id": charge_id, "line_no": n, **line} for n, line in enumerate(lines, 1)])
    return charge_id


def charge_for_reading(uow, reading_id):
    row = uow.session.execute(sa.select(charges).where(charges.c.reading_id == reading_id)
                              ).mappings().first()
    if row is None:
        return None
    lines = uow.session.execute(
        sa.select(charge_lines).where(charge_lines.c.charge_id == row["charge_id"])
        .order_by(charge_lines.c.line_no)).mappings().all()
    return {
        "charge_id": row["charge_id"], "reading_id": row["reading_id"],
        "contract_no": row["contract_no"], "period_from": row["period_from"].isoformat(),
        "period_to": row["period_to"].isoformat(), "net": money_text(row["net"]),
        "lines": [{"kind": l["kind"], "register": l["register"], "kwh": _kwh(l["kwh"]),
                   "unit_price": f"{l['unit_price']:.6f}", "net": money_text(l["net"]),
                   "period_from": _day(l["period_from"]), "period_to": _day(l["period_to"])}
                  for l in lines],
    }


def _kwh(value):
    """Whole kWh as an int, a split share as its decimal string."""
    value = exact(value)
    return int(value) if value == value.to_integral_value() else f"{value.normalize()}"


def _day(value):
    return value.isoformat() if value else None
