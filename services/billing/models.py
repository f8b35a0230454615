import sqlalchemy as sa

from services.common.tables import handled_events_table, outbox_table

metadata = sa.MetaData()

MONEY = sa.Numeric(14, 2)
UNIT_PRICE = sa.Numeric(12, 6)

tariff_plans = sa.Table(
    "tariff_plans", metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
)

# Prices exclude VAT. kind: energy | network | renewable | excise (per kWh, for
# one register or, with register NULL, for all) or monthly_fee (per month).
tariff_components = sa.Table(
    "tariff_components", metadata,
    sa.Column("component_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tariff_plan", sa.String(32), sa.ForeignKey("tariff_plans.code"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("register", sa.String(2)),
    sa.Column("price", UNIT_PRICE, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_until", sa.Date),
)

charges = sa.Table(
    "charges", metadata,
    sa.Column("charge_id", sa.String(36), primary_key=True),
    sa.Column("reading_id", sa.String(36), nullable=False, unique=True),
    sa.Column("consumption_point_id", sa.String(36), nullable=False),
    sa.Column("contract_no", sa.String(20), nullable=False),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("period_from", sa.Date, nullable=False),
    sa.Column("period_to", sa.Date, nullable=False),
    sa.Column("net", MONEY, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

charge_lines = sa.Table(
    "charge_lines", metadata,
    sa.Column("charge_id", sa.String(36), sa.ForeignKey("charges.charge_id"), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("register", sa.String(2), nullable=False),
    sa.Column("kwh", sa.Integer, nullable=False),
    sa.Column("unit_price", UNIT_PRICE, nullable=False),
    sa.Column("net", MONEY, nullable=False),
)

outbox = outbox_table(metadata)
handled_events = handled_events_table(metadata)
