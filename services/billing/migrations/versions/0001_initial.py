"""billing: tariffs, charges, outbox, inbox

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

from services.common.tables import create_messaging_tables

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "tariff_plans",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
    )
    op.create_table(
        "tariff_components",
        sa.Column("component_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tariff_plan", sa.String(32), sa.ForeignKey("tariff_plans.code"),
                  nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("register", sa.String(2)),
        sa.Column("price", sa.Numeric(12, 6), nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_until", sa.Date),
    )
    op.create_index("ix_tariff_components_plan", "tariff_components", ["tariff_plan", "kind"])
    op.create_table(
        "charges",
        sa.Column("charge_id", sa.String(36), primary_key=True),
        sa.Column("reading_id", sa.String(36), nullable=False, unique=True),
        sa.Column("consumption_point_id", sa.String(36), nullable=False),
        sa.Column("contract_no", sa.String(20), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("period_from", sa.Date, nullable=False),
        sa.Column("period_to", sa.Date, nullable=False),
        sa.Column("net", sa.Numeric(14, 2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "charge_lines",
        sa.Column("charge_id", sa.String(36), sa.ForeignKey("charges.charge_id"),
                  primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("register", sa.String(2), nullable=False),
        sa.Column("kwh", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.Numeric(12, 6), nullable=False),
        sa.Column("net", sa.Numeric(14, 2), nullable=False),
    )
    create_messaging_tables(op)


def downgrade():
    for table in ("handled_events", "outbox", "charge_lines", "charges",
                  "tariff_components", "tariff_plans"):
        op.drop_table(table)
