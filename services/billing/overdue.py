"""The overdue sweep: an unpaid invoice past its due date becomes overdue, once.

Set-based like the billing run; a second sweep, or a second replica's timer
running at the same moment (it waits on the lock), finds nothing to do.
"""
from datetime import date

import sqlalchemy as sa

from services.billing.sqltext import date_text, money_text

OVERDUE_LOCK = 7301004


def sweep(uow, as_of: date):
    session = uow.session
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": OVERDUE_LOCK})
    overdue = "FROM invoices WHERE status = 'unpaid' AND due_on < :as_of AND paid < total"
    params = {"as_of": as_of}
    count = uow.emit_each("invoice_overdue", {
        "invoice_no": "invoice_no", "customer_id": "customer_id",
        "contract_no": "contract_no", "reference_no": "reference_no",
        "due_on": date_text(dialect, "due_on"), "total": money_text(dialect, "total"),
        "paid": money_text(dialect, "paid"), "as_of": date_text(dialect, ":as_of")},
        overdue, params)
    session.execute(sa.text(f"UPDATE invoices SET status = 'overdue' WHERE invoice_no IN "
                            f"(SELECT invoice_no {overdue})"), params)
    return {"invoices_overdue": count}
