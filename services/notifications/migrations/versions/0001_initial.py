"""notifications: reminders, outbox, inbox

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

from services.common.tables import create_messaging_tables

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "reminders",
        sa.Column("reminder_id", sa.String(36), primary_key=True),
        sa.Column("consumption_point_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ux_reminders_one_pending", "reminders", ["consumption_point_id"],
                    unique=True, postgresql_where=sa.text("status = 'pending'"),
                    sqlite_where=sa.text("status = 'pending'"))
    create_messaging_tables(op)


def downgrade():
    for table in ("handled_events", "outbox", "reminders"):
        op.drop_table(table)
