"""contracts: customers, consumption points, contracts, outbox, inbox

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

from services.common.tables import create_messaging_tables

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(36), primary_key=True),
        sa.Column("person_code", sa.String(11), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("postal_address", sa.String(500)),
        sa.Column("phone", sa.String(32)),
        sa.Column("email", sa.String(320)),
        sa.Column("language", sa.String(2), nullable=False, server_default="et"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "consumption_points",
        sa.Column("consumption_point_id", sa.String(36), primary_key=True),
        sa.Column("eic", sa.String(16), nullable=False, unique=True),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("meter_serial", sa.String(64), nullable=False, unique=True),
        sa.Column("registers", sa.JSON, nullable=False),
    )
    op.create_table(
        "contracts",
        sa.Column("contract_id", sa.String(36), primary_key=True),
        sa.Column("contract_no", sa.String(20), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(36), sa.ForeignKey("customers.customer_id"),
                  nullable=False),
        sa.Column("consumption_point_id", sa.String(36),
                  sa.ForeignKey("consumption_points.consumption_point_id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tariff_plan", sa.String(32), nullable=False),
        sa.Column("reading_day", sa.Integer, nullable=False),
        sa.Column("reference_no", sa.String(20), nullable=False, unique=True),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_at_office", sa.String(100)),
    )
    op.create_index("ix_contracts_customer", "contracts", ["customer_id"])
    op.create_table(
        "number_sequences",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("last_value", sa.BigInteger, nullable=False),
    )
    create_messaging_tables(op)


def downgrade():
    for table in ("handled_events", "outbox", "number_sequences", "contracts",
                  "consumption_points", "customers"):
        op.drop_table(table)
