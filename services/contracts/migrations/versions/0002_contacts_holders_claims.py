"""contracts: contact-detail history, contract holders, consumption-point claims

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.create_table(
        "contact_changes",
        sa.Column("change_id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(36), sa.ForeignKey("customers.customer_id"),
                  nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("before", sa.JSON, nullable=False),
        sa.Column("after", sa.JSON, nullable=False),
    )
    op.create_index("ix_contact_changes_customer", "contact_changes",
                    ["customer_id", "changed_at"])
    op.create_table(
        "contract_holders",
        sa.Column("contract_no", sa.String(20), sa.ForeignKey("contracts.contract_no"),
                  primary_key=True),
        sa.Column("customer_id", sa.String(36), sa.ForeignKey("customers.customer_id"),
                  primary_key=True),
        sa.Column("held_from", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("held_until", sa.DateTime(timezone=True)),
        sa.Column("reason", sa.String(200), nullable=False),
    )
    op.execute("INSERT INTO contract_holders (contract_no, customer_id, held_from, reason) "
               "SELECT contract_no, customer_id, signed_at, 'signed' FROM contracts")
    op.create_table(
        "claims",
        sa.Column("claim_id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(36), sa.ForeignKey("customers.customer_id"),
                  nullable=False),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("eic", sa.String(16)),
        sa.Column("meter_serial", sa.String(64)),
        sa.Column("contract_no", sa.String(20)),
        sa.Column("note", sa.String(2000)),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(1000)),
        sa.Column("linked_contract_no", sa.String(20)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decided_by", sa.String(64)),
        sa.UniqueConstraint("customer_id", "fingerprint", name="uq_claims_customer_fingerprint"),
    )


def downgrade():
    for table in ("claims", "contract_holders", "contact_changes"):
        op.drop_table(table)
