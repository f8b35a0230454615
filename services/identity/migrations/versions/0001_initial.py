"""identity: persons and their customers' contracts, outbox, inbox

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

from services.common.tables import create_messaging_tables

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "persons",
        sa.Column("person_code", sa.String(11), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "customer_contracts",
        sa.Column("contract_no", sa.String(20), primary_key=True),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("person_code", sa.String(11), sa.ForeignKey("persons.person_code"),
                  nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index("ix_customer_contracts_person", "customer_contracts", ["person_code"])
    create_messaging_tables(op)


def downgrade():
    for table in ("handled_events", "outbox", "customer_contracts", "persons"):
        op.drop_table(table)
