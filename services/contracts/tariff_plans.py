"""Which tariff plans billing has: a contract is signed on no other (billing
could not price it and would bill nothing).

contracts keeps its own list (services/contracts/models.py) so that signing on a
known plan asks nobody; a plan not on it is asked of billing, whose answer is
kept. Billing down then means 503, never a contract signed on a plan it lacks.
"""
import sqlalchemy as sa

from services.common.errors import ValidationFailed
from services.contracts.models import tariff_plans


def known(uow, code):
    return uow.session.execute(sa.select(tariff_plans.c.code)
                               .where(tariff_plans.c.code == code)).first() is not None


def learn(uow, codes):
    """Keep billing's plans (its answer to ``tariff_plans``) not known here yet."""
    have = set(uow.session.execute(sa.select(tariff_plans.c.code)).scalars())
    new = sorted({str(code) for code in codes} - have)
    if new:
        uow.session.execute(sa.insert(tariff_plans),
                            [{"code": code, "learnt_at": uow.now} for code in new])


def check(uow, code):
    """ValidationFailed naming ``tariff_plan`` unless billing has the plan."""
    if not known(uow, code):
        plans = ", ".join(uow.session.execute(sa.select(tariff_plans.c.code)
                                              .order_by(tariff_plans.c.code)).scalars())
        raise ValidationFailed.field("tariff_plan",
                                     f"billing has no tariff plan {code} (it has {plans})")


def make_known(db, code, ask_billing):
    """Before signing on ``code``: when it is not known here, learn billing's plans
    (``ask_billing()``, which raises ServiceUnavailable when billing does not answer)."""
    with db.unit_of_work() as uow:
        if known(uow, code):
            return
    codes = ask_billing()
    with db.unit_of_work() as uow:
        learn(uow, codes)
