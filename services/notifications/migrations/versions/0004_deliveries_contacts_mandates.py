"""notifications: deliveries by e-mail and SMS, copies of contact details,
consumption points and mandates, replies to desk cases

Revision ID: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade():
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("language", sa.String(2)))
        batch.add_column(sa.Column("dedupe_key", sa.String(120)))
    op.create_index("ux_inbox_dedupe_key", "inbox", ["dedupe_key"], unique=True)
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.String(36), primary_key=True),
        sa.Column("notification_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.String(1000)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("notification_id", "channel", name="ux_deliveries_once"),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "contacts",
        sa.Column("customer_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200)),
        sa.Column("email", sa.String(320)),
        sa.Column("phone", sa.String(32)),
        sa.Column("language", sa.String(2)),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "points",
        sa.Column("consumption_point_id", sa.String(36), primary_key=True),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("contract_no", sa.String(20)),
    )
    op.create_table(
        "mandates",
        sa.Column("mandate_id", sa.String(36), primary_key=True),
        sa.Column("grantor_customer_id", sa.String(36), nullable=False),
        sa.Column("grantor_name", sa.String(200)),
        sa.Column("grantee_person_code", sa.String(11)),
        sa.Column("grantee_name", sa.String(200)),
        sa.Column("grantee_customer_id", sa.String(36)),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("consumption_point_ids", sa.JSON, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_until", sa.Date),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("expired_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_mandates_grantor", "mandates", ["grantor_customer_id"])
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("opened_by", sa.String(100)))
    op.create_index("ix_cases_customer", "cases", ["customer_id", "created_at"])
    op.create_table(
        "case_replies",
        sa.Column("reply_id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("replied_by", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_case_replies_case", "case_replies", ["case_id", "at"])


def downgrade():
    for table in ("case_replies", "mandates", "points", "contacts", "deliveries"):
        op.drop_table(table)
    op.drop_index("ix_cases_customer", "cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("opened_by")
    op.drop_index("ux_inbox_dedupe_key", "inbox")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("dedupe_key")
        batch.drop_column("language")
