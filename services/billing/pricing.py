"""Pricing a reading's consumption with the tariff plan's components (data).

Each register's kWh is priced with every per-kWh component of the plan that
applies to that register (or to all registers) and is valid on the reading date.
One charge per reading: ``charges.reading_id`` is unique and the handler records
the event id in the same transaction.
"""
import uuid
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from services.billing.models import charge_lines, charges, tariff_components, tariff_plans
from services.billing.money import to_cents
from services.common.errors import ValidationFailed

PER_KWH_KINDS = ("energy", "network", "renewable", "excise")


def per_kwh_components(session, plan, day):
    c = tariff_components.c
    return session.execute(
        sa.select(c.kind, c.register, c.price)
        .where(c.tariff_plan == plan, c.kind.in_(PER_KWH_KINDS), c.valid_from <= day,
               sa.or_(c.valid_until.is_(None), c.valid_until >= day))
        .order_by(c.kind, c.register)
    ).all()


def price_lines(components, consumption):
    """Charge lines for ``{register: kWh}``: pure, so unit tests reach it directly."""
    lines = []
    for register in sorted(consumption):
        kwh = int(consumption[register])
        for kind in PER_KWH_KINDS:
            # A register-specific price wins over the plan's all-register price.
            own = [p for k, r, p in components if k == kind and r == register]
            general = [p for k, r, p in components if k == kind and r is None]
            prices = own or general
            if not prices:
                continue
            unit_price = Decimal(prices[0])
            lines.append({"kind": kind, "register": register, "kwh": kwh,
                          "unit_price": unit_price, "net": to_cents(unit_price * kwh)})
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
    lines = price_lines(per_kwh_components(session, plan, reading_date), data["consumption"])
    charge_id = str(uuid.uuid4())
    session.execute(sa.insert(charges).values(
        charge_id=charge_id, reading_id=data["reading_id"],
        consumption_point_id=data["consumption_point_id"], contract_no=data["contract_no"],
        customer_id=data["customer_id"],
        period_from=date.fromisoformat(data["previous_reading_date"]), period_to=reading_date,
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
        "period_to": row["period_to"].isoformat(), "net": f"{row['net']:.2f}",
        "lines": [{"kind": l["kind"], "register": l["register"], "kwh": l["kwh"],
                   "unit_price": f"{l['unit_price']:.6f}", "net": f"{l['net']:.2f}"}
                  for l in lines],
    }
