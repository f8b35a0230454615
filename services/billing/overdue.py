"""The overdue sweep: an unpaid invoice past its due date becomes overdue, once.

Set-based like the billing run, a batch per short transaction (the caller goes
on while a batch comes back non-empty): one UPDATE ... RETURNING claims the batch
and marks it overdue, and one INSERT ... SELECT writes its events. A second
sweep, or a second replica's timer running at the same moment, finds nothing to
do: on PostgreSQL it waits on the lock, on SQLite the claim is the transaction's
first write, so it waits for the other's commit and then finds the batch overdue.
"""
from datetime import date

import sqlalchemy as sa

from services.billing.sqltext import date_text, money_text

OVERDUE_LOCK = 7301004
BATCH_SIZE = 1000   # ~50 ms on SQLite: the service answers others between batches


def sweep(uow, as_of: date, batch_size=BATCH_SIZE):
    session = uow.session
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": OVERDUE_LOCK})
    claimed = session.execute(sa.text(
        "UPDATE invoices SET status = 'overdue' WHERE invoice_no IN "
        "(SELECT invoice_no FROM invoices WHERE status = 'unpaid' AND due_on < :as_of "
        " AND paid < total ORDER BY invoice_no LIMIT :limit) RETURNING invoice_no"),
        {"as_of": as_of, "limit": batch_size}).scalars().all()
    if not claimed:
        return {"invoices_overdue": 0}
    numbers = {f"n{i}": invoice_no for i, invoice_no in enumerate(claimed)}
    uow.emit_each("invoice_overdue", {
        "invoice_no": "invoice_no", "customer_id": "customer_id",
        "contract_no": "contract_no", "reference_no": "reference_no",
        "due_on": date_text(dialect, "due_on"), "total": money_text(dialect, "total"),
        "paid": money_text(dialect, "paid"), "as_of": date_text(dialect, ":as_of")},
        f"FROM invoices WHERE invoice_no IN ({', '.join(':' + n for n in numbers)})",
        {"as_of": as_of, **numbers})
    return {"invoices_overdue": len(claimed)}
