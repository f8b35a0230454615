"""metering: review of held readings, delegates' mandates, idempotency keys

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    with op.batch_alter_table("readings") as batch:
        batch.add_column(sa.Column("mandate_id", sa.String(36)))
        batch.add_column(sa.Column("review_reason", sa.String(300)))
        batch.add_column(sa.Column("decided_by", sa.String(64)))
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True)))
    op.create_index("ix_readings_status", "readings", ["status"])
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response", sa.JSON),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade():
    op.drop_table("idempotency_keys")
    op.drop_index("ix_readings_status", "readings")
    with op.batch_alter_table("readings") as batch:
        for column in ("decided_at", "decided_by", "review_reason", "mandate_id"):
            batch.drop_column(column)
