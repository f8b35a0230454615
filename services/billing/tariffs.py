"""Tariff plans and VAT rates: data with validity dates, managed by operators."""
import uuid

import sqlalchemy as sa

from services.billing import pricing
from services.billing.api import TariffPlan, VatRate
from services.billing.models import tariff_components, tariff_plans, vat_rates
from services.common.errors import Conflict

def add_tariff(uow, plan: TariffPlan):
    """A new plan, or components added to an existing one (API.md). Readings of the
    plan that could not be priced before are priced now if these prices cover them."""
    session = uow.session
    exists = session.execute(sa.select(tariff_plans).where(tariff_plans.c.code == plan.code)
                             ).mappings().first()
    # a new prices version with the prices, in their transaction: every process's
    # cached prices of the plan (pricing.PlanPrices) are stale from its commit on
    if exists is None:
        session.execute(sa.insert(tariff_plans).values(code=plan.code, name=plan.name or plan.code,
                                                       prices_version=str(uuid.uuid4())))
    elif plan.name:
        session.execute(sa.update(tariff_plans).where(tariff_plans.c.code == plan.code)
                        .values(name=plan.name))
    if plan.components:
        session.execute(sa.insert(tariff_components), [
            {"tariff_plan": plan.code, **c.model_dump(by_alias=True)} for c in plan.components])
        session.execute(sa.update(tariff_plans).where(tariff_plans.c.code == plan.code)
                        .values(prices_version=str(uuid.uuid4())))
    pricing.reprice(uow, plan.code)
    return tariff(uow, plan.code)


def tariff(uow, code):
    plan = uow.session.execute(sa.select(tariff_plans).where(tariff_plans.c.code == code)
                               ).mappings().one()
    components = uow.session.execute(
        sa.select(tariff_components).where(tariff_components.c.tariff_plan == code)
        .order_by(tariff_components.c.kind, tariff_components.c.register,
                  tariff_components.c.valid_from)).mappings().all()
    return {"code": plan["code"], "name": plan["name"], "components": [{
        "kind": c["kind"], "register": c["register"], "price": f"{c['price']:.6f}",
        "valid_from": c["valid_from"].isoformat(),
        "valid_until": c["valid_until"].isoformat() if c["valid_until"] else None}
        for c in components]}


def plan_codes(uow):
    """The codes of every tariff plan billing has."""
    return list(uow.session.execute(sa.select(tariff_plans.c.code).order_by(tariff_plans.c.code)
                                    ).scalars())


def tariffs(uow):
    codes = uow.session.execute(sa.select(tariff_plans.c.code).order_by(tariff_plans.c.code)
                                ).scalars().all()
    return [tariff(uow, code) for code in codes]


def add_vat_rate(uow, vat: VatRate):
    if uow.session.execute(sa.select(vat_rates).where(vat_rates.c.valid_from == vat.valid_from)
                           ).first():
        raise Conflict(f"a VAT rate from {vat.valid_from} exists",
                       [{"field": "valid_from", "message": "already has a rate"}])
    uow.session.execute(sa.insert(vat_rates).values(valid_from=vat.valid_from, rate=vat.rate))
    return list_vat_rates(uow)


def list_vat_rates(uow):
    rows = uow.session.execute(sa.select(vat_rates).order_by(vat_rates.c.valid_from)).all()
    return [{"rate": f"{r.rate:.2f}", "valid_from": r.valid_from.isoformat()} for r in rows]
