"""billing: VAT rates, billing's copy of contracts, invoices; split charge lines

Revision ID: 0003
"""
from datetime import date

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

ESTONIAN_VAT = [(date(2009, 7, 1), "20.00"), (date(2024, 1, 1), "22.00"),
                (date(2025, 7, 1), "24.00")]


def upgrade():
    with op.batch_alter_table("charge_lines") as batch:
        batch.alter_column("kwh", type_=sa.Numeric(14, 3), existing_nullable=False)
        batch.add_column(sa.Column("period_from", sa.Date))
        batch.add_column(sa.Column("period_to", sa.Date))
    with op.batch_alter_table("charges") as batch:
        batch.add_column(sa.Column("invoice_no", sa.String(20)))
    op.create_index("ix_charges_unbilled", "charges", ["invoice_no", "period_to"])
    op.create_table(
        "vat_rates",
        sa.Column("valid_from", sa.Date, primary_key=True),
        sa.Column("rate", sa.Numeric(5, 2), nullable=False),
    )
    # the rates as text: SQLAlchemy's Numeric would bind a float on SQLite
    rates = sa.table("vat_rates", sa.column("valid_from", sa.Date), sa.column("rate"))
    op.bulk_insert(rates, [{"valid_from": d, "rate": r} for d, r in ESTONIAN_VAT])
    op.create_table(
        "billing_contracts",
        sa.Column("contract_no", sa.String(20), primary_key=True),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("reference_no", sa.String(20), nullable=False, unique=True),
        sa.Column("tariff_plan", sa.String(32), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date),
    )
    op.create_table(
        "invoices",
        sa.Column("invoice_no", sa.String(20), primary_key=True),
        sa.Column("contract_no", sa.String(20), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("issued_on", sa.Date, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("reference_no", sa.String(20), nullable=False),
        sa.Column("net", sa.Numeric(14, 2), nullable=False),
        sa.Column("vat_rate", sa.Numeric(5, 2), nullable=False),
        sa.Column("vat", sa.Numeric(14, 2), nullable=False),
        sa.Column("total", sa.Numeric(14, 2), nullable=False),
        sa.Column("paid", sa.Numeric(14, 2), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.UniqueConstraint("contract_no", "period", name="uq_invoices_contract_period"),
    )
    op.create_index("ix_invoices_customer", "invoices", ["customer_id", "issued_on"])
    op.create_table(
        "invoice_lines",
        sa.Column("invoice_no", sa.String(20), sa.ForeignKey("invoices.invoice_no"),
                  primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("register", sa.String(2)),
        sa.Column("kwh", sa.Numeric(14, 3)),
        sa.Column("unit_price", sa.Numeric(12, 6)),
        sa.Column("period_from", sa.Date),
        sa.Column("period_to", sa.Date),
        sa.Column("net", sa.Numeric(14, 2), nullable=False),
    )
    op.create_table(
        "number_sequences",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("last_value", sa.BigInteger, nullable=False),
    )


def downgrade():
    for table in ("number_sequences", "invoice_lines", "invoices", "billing_contracts",
                  "vat_rates"):
        op.drop_table(table)
    op.drop_index("ix_charges_unbilled", "charges")
    with op.batch_alter_table("charges") as batch:
        batch.drop_column("invoice_no")
    with op.batch_alter_table("charge_lines") as batch:
        batch.drop_column("period_to")
        batch.drop_column("period_from")
        batch.alter_column("kwh", type_=sa.Integer, existing_nullable=False)
