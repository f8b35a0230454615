"""notifications: reminders know their reading day; the customers' inbox

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade():
    with op.batch_alter_table("reminders") as batch:
        batch.add_column(sa.Column("reading_day", sa.Integer))
    op.create_index("ix_reminders_due", "reminders", ["status", "due_on"])
    op.create_table(
        "inbox",
        sa.Column("notification_id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_inbox_customer", "inbox", ["customer_id", "created_at"])


def downgrade():
    op.drop_table("inbox")
    op.drop_index("ix_reminders_due", "reminders")
    with op.batch_alter_table("reminders") as batch:
        batch.drop_column("reading_day")
