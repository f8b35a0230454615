"""billing: a VAT rate per charge line and invoice line (issue #20)

Each line carries the VAT rate of the days it charges (a line taking an estimate
back, the rate the estimate was taxed at); an invoice's VAT is the sum over its
rate groups. Lines written before have none: they are at their invoice's rate.

Revision ID: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade():
    for table in ("charge_lines", "invoice_lines"):
        op.add_column(table, sa.Column("vat_rate", sa.Numeric(5, 2)))


def downgrade():
    for table in ("charge_lines", "invoice_lines"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("vat_rate")
