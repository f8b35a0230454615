"""billing's published interface: the data of the events it emits.

pydantic only (no SQLAlchemy, no nameko): what other services and other systems
may import from billing. Money travels as text with two decimals ("1234.50")
and is a Decimal once parsed; dates are YYYY-MM-DD.
"""
from datetime import date
from typing import Optional

from services.common.events import EventData, Money


class InvoiceIssued(EventData):
    """An invoice with something to pay (published from the billing run's invoices)."""
    event_type = "invoice_issued"
    version = 1

    invoice_no: str
    customer_id: str
    contract_no: str
    period: str            # YYYY-MM
    issued_on: date
    due_on: date
    reference_no: str
    total: Money


class PaymentReceived(EventData):
    """A payment recorded; ``customer_id`` and ``contract_no`` are null while it
    matches no contract."""
    event_type = "payment_received"
    version = 1

    payment_id: str
    amount: Money
    received_on: date
    credit: Money          # what is left of it for later invoices
    invoice_nos: list[str]
    currency: str = "EUR"
    reference_no: Optional[str] = None
    source: Optional[str] = None
    contract_no: Optional[str] = None
    customer_id: Optional[str] = None
    payer_name: Optional[str] = None


class InvoiceOverdue(EventData):
    """An unpaid invoice past its due date (built in SQL by the overdue sweep)."""
    event_type = "invoice_overdue"
    version = 1

    invoice_no: str
    customer_id: str
    due_on: date
    total: Money
    paid: Money
    reference_no: str
    contract_no: Optional[str] = None
    as_of: Optional[date] = None


class InvoicePaid(EventData):
    """An invoice paid in full (no Vool service consumes it yet)."""
    event_type = "invoice_paid"
    version = 1

    invoice_no: str
    customer_id: str
    contract_no: str
    reference_no: str
    total: Money
    paid: Money


EVENTS = (InvoiceIssued, PaymentReceived, InvoiceOverdue, InvoicePaid)
