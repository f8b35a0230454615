"""billing's published interface: the data of the events it emits and the
commands its RPC methods take.

pydantic only (no SQLAlchemy, no nameko): what other services and other systems
may import from billing. Money travels as text with two decimals ("1234.50")
and is a Decimal once parsed; dates are YYYY-MM-DD.
"""
from datetime import date
from decimal import Decimal
from typing import Literal, Optional

from pydantic import Field, model_validator

from services.common.events import EventData, Money
from services.common.validation import Shape


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


# -- commands: what its RPC methods take ------------------------------------------

class Component(Shape):
    kind: Literal["energy", "network", "renewable", "excise", "monthly_fee"]
    # "register" in the API; named otherwise here because pydantic models are
    # classes with an ABC ``register`` method the field would shadow
    register_code: Optional[Literal["T1", "T2"]] = Field(default=None, alias="register")
    price: Decimal = Field(ge=0, max_digits=12, decimal_places=6)
    valid_from: date
    valid_until: Optional[date] = None

    @model_validator(mode="after")
    def sensible(self):
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from")
        if self.kind == "monthly_fee" and self.register_code is not None:
            raise ValueError("a monthly fee is not per register")
        return self


class TariffPlan(Shape):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9_-]+$")
    name: Optional[str] = Field(default=None, max_length=200)
    components: list[Component] = Field(default_factory=list, max_length=200)


class VatRate(Shape):
    rate: Decimal = Field(ge=0, le=100, max_digits=5, decimal_places=2)
    valid_from: date
