"""billing: the credit of credit notes issued before they were credited (issue #20)

A negative invoice's amount is credit (a payments row of source credit) that the
next spending pays open and later invoices with; invoices issued negative before
the billing run recorded that get their row here (and every run records any still
missing, over the new partial index of credit notes: an older release's run that
commits after this migration). Idempotent: one row per invoice.

Revision ID: 0013
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade():
    op.create_index("ix_invoices_credit_notes", "invoices", ["invoice_no"],
                    postgresql_where=sa.text("total < 0"), sqlite_where=sa.text("total < 0"))
    op.get_bind().execute(sa.text("""
        INSERT INTO payments (payment_id, source, external_id, amount, currency,
                              received_on, reference_no, contract_no, customer_id,
                              unallocated, remittance, created_at)
        SELECT 'credit-' || invoice_no, 'credit', 'credit:' || invoice_no, ROUND(-total, 2),
               'EUR', issued_on, reference_no, contract_no, customer_id, ROUND(-total, 2),
               'credit of invoice ' || invoice_no, :now
        FROM invoices
        WHERE total < 0 AND NOT EXISTS (SELECT 1 FROM payments p
                                        WHERE p.payment_id = 'credit-' || invoice_no)
    """).bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True))),
        {"now": datetime.now(timezone.utc)})


def downgrade():
    # the credit rows may have paid invoices since: they are the books, kept
    op.drop_index("ix_invoices_credit_notes", table_name="invoices")
