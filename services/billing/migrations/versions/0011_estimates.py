"""billing: estimated readings and their settlement by the next actual one (issue #20)

A charge, a charge line and an invoice line say whether they charge an estimate
(``estimate_method``) or take an estimate's charge back (``corrects_estimate``).
``estimate_claims`` holds each estimate's fate once: charged, or settled by an
actual reading before it was charged (then it never is).

Revision ID: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade():
    op.add_column("charges", sa.Column("estimate_method", sa.String(32)))
    for table in ("charge_lines", "invoice_lines"):
        op.add_column(table, sa.Column("estimate_method", sa.String(32)))
        op.add_column(table, sa.Column("corrects_estimate", sa.Boolean, nullable=False,
                                       server_default=sa.false()))
    op.create_table(
        "estimate_claims",
        sa.Column("estimate_reading_id", sa.String(36), primary_key=True),
        sa.Column("state", sa.String(10), nullable=False),     # charged | settled
        sa.Column("settled_by", sa.String(36)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False))


def downgrade():
    op.drop_table("estimate_claims")
    for table in ("charge_lines", "invoice_lines"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("corrects_estimate")
            batch.drop_column("estimate_method")
    with op.batch_alter_table("charges") as batch:
        batch.drop_column("estimate_method")
