"""billing: readings it could not price, flagged instead of charged 0.00

Revision ID: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade():
    op.create_table(
        "unpriced_readings",
        sa.Column("reading_id", sa.String(36), primary_key=True),
        sa.Column("contract_no", sa.String(20), nullable=False),
        sa.Column("tariff_plan", sa.String(32), nullable=False),
        sa.Column("reading_date", sa.Date, nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("reading", sa.JSON, nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_unpriced_readings_contract_no", "unpriced_readings", ["contract_no"])


def downgrade():
    op.drop_table("unpriced_readings")
