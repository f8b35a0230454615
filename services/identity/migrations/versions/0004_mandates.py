"""identity: mandates, the access log, consumption points of contracts

Revision ID: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade():
    with op.batch_alter_table("customer_contracts") as batch:
        batch.add_column(sa.Column("consumption_point_id", sa.String(36)))
    op.create_table(
        "mandates",
        sa.Column("mandate_id", sa.String(36), primary_key=True),
        sa.Column("grantor_customer_id", sa.String(36), nullable=False),
        sa.Column("grantor_person_code", sa.String(11), nullable=False),
        sa.Column("grantee_person_code", sa.String(11), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("consumption_point_ids", sa.JSON, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_until", sa.Date),
        sa.Column("ends_on", sa.Date),
        sa.Column("created_via", sa.String(10), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_by", sa.String(80)),
        sa.Column("expired_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_mandates_grantee", "mandates", ["grantee_person_code"])
    op.create_index("ix_mandates_grantor", "mandates", ["grantor_customer_id"])
    op.create_table(
        "access_log",
        sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("actor_person_code", sa.String(11), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("resource", sa.String(300), nullable=False),
        sa.Column("what", sa.String(200)),
        sa.Column("mandate_id", sa.String(36)),
    )
    op.create_index("ix_access_log_customer", "access_log", ["customer_id", "at"])


def downgrade():
    op.drop_table("access_log")
    op.drop_table("mandates")
    with op.batch_alter_table("customer_contracts") as batch:
        batch.drop_column("consumption_point_id")
