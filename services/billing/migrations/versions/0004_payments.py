"""billing: payments and what they paid, banklink payment orders; readings on charges

Revision ID: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade():
    op.create_table(
        "payments",
        sa.Column("payment_id", sa.String(36), primary_key=True),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False, unique=True),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("reference_no", sa.String(35)),
        sa.Column("contract_no", sa.String(20)),
        sa.Column("customer_id", sa.String(36)),
        sa.Column("unallocated", sa.Numeric(14, 2), nullable=False),
        sa.Column("payer_name", sa.String(140)),
        sa.Column("remittance", sa.String(500)),
        sa.Column("unmatched_reason", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_payments_contract", "payments", ["contract_no", "received_on"])
    op.create_index("ix_payments_customer", "payments", ["customer_id", "received_on"])
    op.create_index("ix_payments_credit", "payments", ["contract_no"],
                    postgresql_where=sa.text("unallocated > 0"),
                    sqlite_where=sa.text("unallocated > 0"))
    op.create_table(
        "payment_allocations",
        sa.Column("payment_id", sa.String(36), sa.ForeignKey("payments.payment_id"),
                  primary_key=True),
        sa.Column("invoice_no", sa.String(20), sa.ForeignKey("invoices.invoice_no"),
                  primary_key=True),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
    )
    op.create_index("ix_payment_allocations_invoice", "payment_allocations", ["invoice_no"])
    op.create_table(
        "payment_orders",
        sa.Column("stamp", sa.String(20), primary_key=True),
        sa.Column("bank_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("contract_no", sa.String(20), nullable=False),
        sa.Column("reference_no", sa.String(20), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("invoice_nos", sa.JSON, nullable=False),
        sa.Column("started_by", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("payment_id", sa.String(36)),
    )
    op.create_index("ix_invoices_open", "invoices", ["contract_no", "issued_on"],
                    postgresql_where=sa.text("paid < total"),
                    sqlite_where=sa.text("paid < total"))
    op.create_index("ix_invoices_due", "invoices", ["due_on"],
                    postgresql_where=sa.text("status = 'unpaid'"),
                    sqlite_where=sa.text("status = 'unpaid'"))
    with op.batch_alter_table("charges") as batch:
        batch.add_column(sa.Column("registers", sa.JSON))
        batch.add_column(sa.Column("register_digits", sa.JSON))
        batch.add_column(sa.Column("consumption", sa.JSON))
    op.create_index("ix_charges_contract", "charges", ["contract_no", "period_to"])
    with op.batch_alter_table("billing_contracts") as batch:
        batch.add_column(sa.Column("consumption_point_id", sa.String(36)))
        batch.add_column(sa.Column("initial_readings", sa.JSON))


def downgrade():
    with op.batch_alter_table("billing_contracts") as batch:
        batch.drop_column("initial_readings")
        batch.drop_column("consumption_point_id")
    op.drop_index("ix_charges_contract", "charges")
    with op.batch_alter_table("charges") as batch:
        batch.drop_column("consumption")
        batch.drop_column("register_digits")
        batch.drop_column("registers")
    op.drop_index("ix_invoices_due", "invoices")
    op.drop_index("ix_invoices_open", "invoices")
    op.drop_table("payment_orders")
    op.drop_table("payment_allocations")
    op.drop_table("payments")
