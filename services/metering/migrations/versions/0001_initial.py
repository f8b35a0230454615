"""metering: meters, readings, outbox, inbox

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

from services.common.tables import create_messaging_tables

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "meters",
        sa.Column("consumption_point_id", sa.String(36), primary_key=True),
        sa.Column("contract_no", sa.String(20), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("eic", sa.String(16), nullable=False),
        sa.Column("meter_serial", sa.String(64), nullable=False),
        sa.Column("registers", sa.JSON, nullable=False),
        sa.Column("tariff_plan", sa.String(32), nullable=False),
        sa.Column("reading_day", sa.Integer, nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
    )
    op.create_table(
        "readings",
        sa.Column("reading_id", sa.String(36), primary_key=True),
        sa.Column("consumption_point_id", sa.String(36),
                  sa.ForeignKey("meters.consumption_point_id"), nullable=False),
        sa.Column("reading_date", sa.Date, nullable=False),
        sa.Column("registers", sa.JSON, nullable=False),
        sa.Column("consumption", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("submitted_by", sa.String(64)),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_readings_point_date", "readings",
                    ["consumption_point_id", "reading_date"])
    create_messaging_tables(op)


def downgrade():
    for table in ("handled_events", "outbox", "readings", "meters"):
        op.drop_table(table)
