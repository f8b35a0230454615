"""Tariff plans and VAT rates: data with validity dates, managed by operators."""
from datetime import date
from decimal import Decimal
from typing import Literal, Optional

import sqlalchemy as sa
from pydantic import Field, model_validator

from services.billing import pricing
from services.billing.models import tariff_components, tariff_plans, vat_rates
from services.common.errors import Conflict
from services.common.validation import Shape

KINDS = ("energy", "network", "renewable", "excise", "monthly_fee")


class Component(Shape):
    kind: Literal["energy", "network", "renewable", "excise", "monthly_fee"]
    # "register" in the API; named otherwise here because pydantic models are
    # classes with an ABC ``register`` method the field would shadow
    register_code: Optional[Literal["T1", "T2"]] = Field(default=None, alias="register")
    price: Decimal = Field(ge=0, max_digits=12, decimal_places=6)
    valid_from: date
    valid_until: Optional[date] = None

    @model_validator(mode="after")
    def sensible(self):
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from")
        if self.kind == "monthly_fee" and self.register_code is not None:
            raise ValueError("a monthly fee is not per register")
        return self


class TariffPlan(Shape):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9_-]+$")
    name: Optional[str] = Field(default=None, max_length=200)
    components: list[Component] = Field(default_factory=list, max_length=200)


class VatRate(Shape):
    rate: Decimal = Field(ge=0, le=100, max_digits=5, decimal_places=2)
    valid_from: date


def add_tariff(uow, plan: TariffPlan):
    """A new plan, or components added to an existing one (API.md). Readings of the
    plan that could not be priced before are priced now if these prices cover them."""
    session = uow.session
    exists = session.execute(sa.select(tariff_plans).where(tariff_plans.c.code == plan.code)
                             ).mappings().first()
    if exists is None:
        session.execute(sa.insert(tariff_plans).values(code=plan.code, name=plan.name or plan.code))
    elif plan.name:
        session.execute(sa.update(tariff_plans).where(tariff_plans.c.code == plan.code)
                        .values(name=plan.name))
    if plan.components:
        session.execute(sa.insert(tariff_components), [
            {"tariff_plan": plan.code, **c.model_dump(by_alias=True)} for c in plan.components])
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
