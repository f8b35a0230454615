"""billing: the retailer's tariff plans at launch (data, not code)

Operators add and change components through the API; these are the starting
prices, excluding VAT, in EUR per kWh (monthly_fee: EUR per month).

Revision ID: 0002
"""
from datetime import date

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

PLANS = [
    ("BASIC", "Basic single-rate"),
    ("DAYNIGHT", "Day and night"),
]

SINCE = date(2024, 1, 1)
COMPONENTS = [
    # plan, kind, register, price
    ("BASIC", "energy", None, "0.129000"),
    ("BASIC", "network", None, "0.056000"),
    ("BASIC", "renewable", None, "0.008400"),
    ("BASIC", "excise", None, "0.002100"),
    ("BASIC", "monthly_fee", None, "1.990000"),
    ("DAYNIGHT", "energy", "T1", "0.146000"),
    ("DAYNIGHT", "energy", "T2", "0.098000"),
    ("DAYNIGHT", "network", "T1", "0.065000"),
    ("DAYNIGHT", "network", "T2", "0.037000"),
    ("DAYNIGHT", "renewable", None, "0.008400"),
    ("DAYNIGHT", "excise", None, "0.002100"),
    ("DAYNIGHT", "monthly_fee", None, "2.490000"),
]


def upgrade():
    plans = sa.table("tariff_plans", sa.column("code"), sa.column("name"))
    components = sa.table(
        "tariff_components", sa.column("tariff_plan"), sa.column("kind"),
        sa.column("register"), sa.column("price"),   # as text: SQLAlchemy's Numeric
        sa.column("valid_from", sa.Date))              # would bind a float on SQLite
    op.bulk_insert(plans, [{"code": c, "name": n} for c, n in PLANS])
    op.bulk_insert(components, [
        {"tariff_plan": p, "kind": k, "register": r, "price": price, "valid_from": SINCE}
        for p, k, r, price in COMPONENTS])


def downgrade():
    op.execute("DELETE FROM tariff_components")
    op.execute("DELETE FROM tariff_plans")
