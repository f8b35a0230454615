"""billing's published interface: its RPC methods (what each takes, returns and
raises) and the data of the events it emits.

pydantic only (no SQLAlchemy, no nameko): what other services and other systems
may import from billing. Money travels as text with two decimals ("1234.50")
and is a Decimal once parsed (``Money``); unit prices as text with six decimals,
VAT rates as text with two; dates are YYYY-MM-DD.
"""
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.events import EventData, Money
from services.common.job_model import GetJobArguments, Job, RecentJobsArguments
from services.common.rpc_methods import Arguments, Health, RpcMethod
from services.common.validation import Shape


class _RunInvoice(EventData):
    """What every announcement of a billing run's invoice says of it."""
    invoice_no: str
    customer_id: str
    contract_no: str
    period: str            # YYYY-MM
    issued_on: date


class InvoiceIssued(_RunInvoice):
    """An invoice with something to pay (published from the billing run's invoices)."""
    event_type = "invoice_issued"
    version = 1

    due_on: date
    reference_no: str
    total: Money
    #: already paid of it when it was announced (the contract's credit: a payment's
    #: leftover, a credit note; or a payment since); absent from publishers before it
    paid: Optional[Money] = None


class CreditNoteIssued(_RunInvoice):
    """An invoice of the billing run with a negative total: a credit note, nothing to
    pay; its ``amount`` (the total without the sign) pays the contract's open and
    next invoices."""
    event_type = "credit_note_issued"
    version = 1

    reference_no: str
    amount: Money


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


EVENTS = (InvoiceIssued, CreditNoteIssued, PaymentReceived, InvoiceOverdue, InvoicePaid)


# -- RPC ----------------------------------------------------------------------------

ComponentKind = Literal["energy", "network", "renewable", "excise", "monthly_fee"]
InvoiceStatus = Literal["unpaid", "paid", "overdue"]
PaymentSource = Literal["statement", "banklink", "operator"]
#: a price per kWh (or per month) without VAT: text with six decimals on the wire
UnitPrice = Annotated[Decimal, Field(max_digits=12, decimal_places=6)]
#: a VAT rate in percent: text with two decimals on the wire ("24.00")
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]
#: whole kWh as a number; a share of an interval split by a price change as text
#: with up to three decimals ("150.5")
Kwh = Union[int, Decimal]
Id = Annotated[str, Field(min_length=1, max_length=36)]
PointIds = Annotated[list[Id], Field(max_length=1000)]

PERIOD = re.compile(r"^(20\d\d)-(0[1-9]|1[0-2])$")   # from 2000 on (year 0 is no year)


def _period(value):
    if not PERIOD.match(value):
        raise ValueError("a month from 2000 on, YYYY-MM")
    return value


#: a billing period: a month from 2000 on, YYYY-MM
Period = Annotated[str, Field(examples=["2026-02"], json_schema_extra={
    "pattern": PERIOD.pattern}), AfterValidator(_period)]


class Component(Shape):
    """A priced component of a tariff plan, valid from a day (until a day)."""
    kind: ComponentKind
    # "register" on the wire; named otherwise here because pydantic models are
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
    """A tariff plan to add, or components to add to an existing plan."""
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9_-]+$")
    name: Optional[str] = Field(default=None, max_length=200)
    components: list[Component] = Field(default_factory=list, max_length=200)


class VatRate(Shape):
    """A VAT rate valid from a day (until the next one's day)."""
    rate: Percent
    valid_from: date


class _Answer(BaseModel):
    # a field named "register" is read by its name on the wire, its alias
    model_config = ConfigDict(populate_by_name=True)


class TariffComponent(_Answer):
    kind: ComponentKind
    register_code: Optional[str] = Field(default=None, alias="register")
    price: UnitPrice
    valid_from: date
    valid_until: Optional[date] = None


class Tariff(BaseModel):
    code: str
    name: str
    components: list[TariffComponent]


class ChargeLine(_Answer):
    kind: ComponentKind
    register_code: Optional[str] = Field(default=None, alias="register")
    kwh: Kwh
    unit_price: UnitPrice
    net: Money
    period_from: Optional[date] = None
    period_to: Optional[date] = None
    #: as on an invoice line: an estimate's line, or one taking an estimate back
    estimated: bool = False
    method: Optional[Literal["same_season_last_year", "recent_average",
                             "tariff_typical"]] = None
    corrects_estimate: bool = False
    #: the VAT rate of the line's days (taking an estimate back: the estimate's rate)
    vat_rate: Optional[Percent] = None


class Charge(BaseModel):
    """What a reading's consumption costs, without VAT, line by line."""
    charge_id: str
    reading_id: str
    contract_no: str
    period_from: date
    period_to: date
    net: Money
    lines: list[ChargeLine]
    #: the charge of an estimated reading
    estimated: bool = False


class UnpricedReading(BaseModel):
    reading_id: str
    contract_no: str
    tariff_plan: str
    reading_date: date
    reason: str
    flagged_at: datetime


class UnpriceableContract(BaseModel):
    contract_no: str
    tariff_plan: str
    reason: str


class Unpriceable(BaseModel):
    readings: list[UnpricedReading]
    contracts: list[UnpriceableContract]


class BillingRunReport(BaseModel):
    invoices_issued: int
    total: Money
    #: left out, not billed 0.00: they come again once a tariff covers them
    unpriceable: list[UnpriceableContract]


class InvoiceSummary(BaseModel):
    invoice_no: str
    contract_no: str
    period: str
    issued_on: date
    due_on: date
    net: Money
    vat_rate: Percent
    vat: Money
    total: Money
    paid: Money
    status: InvoiceStatus
    reference_no: str


class InvoiceLine(_Answer):
    kind: ComponentKind
    register_code: Optional[str] = Field(default=None, alias="register")
    kwh: Optional[Decimal] = None
    unit_price: Optional[UnitPrice] = None
    period_from: Optional[date] = None
    period_to: Optional[date] = None
    net: Money
    #: the line charges an estimated reading (``method``: how metering estimated it),
    #: or, with ``corrects_estimate``, takes such a charge back now that the actual
    #: reading came (negative kWh and money)
    estimated: bool = False
    method: Optional[Literal["same_season_last_year", "recent_average",
                             "tariff_typical"]] = None
    corrects_estimate: bool = False
    #: the VAT rate of the line's days; a line taking an estimate back carries the
    #: rate the estimate was taxed at
    vat_rate: Optional[Percent] = None


class VatGroup(BaseModel):
    """The invoice's lines at one VAT rate: their net and its VAT, rounded once."""
    vat_rate: Percent
    net: Money
    vat: Money


class CreditSpent(BaseModel):
    """Part of a credit note paying an invoice."""
    invoice_no: str
    amount: Money


class InvoiceCredit(BaseModel):
    """An invoice with a negative total is a credit note: its ``amount`` (the total
    without the sign) pays the contract's open and next invoices, oldest first."""
    amount: Money
    #: what is not spent yet
    left: Money
    spent_on: list[CreditSpent]


class Invoice(InvoiceSummary):
    lines: list[InvoiceLine]
    #: VAT by rate, lowest rate first: the invoice's ``vat`` is the sum of these
    #: ``vat``, its ``vat_rate`` the rate valid on the period's last day
    vat_by_rate: list[VatGroup] = []
    #: set on a credit note (a negative total)
    credit: Optional[InvoiceCredit] = None
    #: the credit notes that paid (part of) this invoice; the invoice numbers are theirs
    paid_from_credit: list[CreditSpent] = []


class Recipient(Shape):
    """Whom an invoice is addressed to (contracts knows them)."""
    name: str = Field(min_length=1, max_length=200)
    postal_address: Optional[str] = Field(default=None, max_length=500)


class InvoicedPoint(Shape):
    """The consumption point an invoice is for (contracts knows it)."""
    eic: Optional[str] = Field(default=None, max_length=32)
    address: Optional[str] = Field(default=None, max_length=500)


#: a PDF document as base64 text (RFC 4648, no line breaks): RPC answers are JSON
PdfBase64 = Annotated[str, Field(json_schema_extra={
    "contentEncoding": "base64", "contentMediaType": "application/pdf"})]


class UnmatchedEntry(BaseModel):
    """A statement entry that matched no contract: kept for the desk, not guessed."""
    entry_id: str
    amount: Money
    currency: str
    booked_on: date
    reference_no: Optional[str] = None
    payer_name: Optional[str] = None
    remittance: Optional[str] = None
    reason: str


class StatementReport(BaseModel):
    entries: int
    matched: int
    #: entries recorded by an earlier import of the statement (nothing changed)
    already_imported: int
    unmatched: list[UnmatchedEntry]


class Payment(BaseModel):
    """A payment received; ``credit`` is what is left of it for later invoices."""
    payment_id: str
    amount: Money
    currency: str
    received_on: date
    reference_no: Optional[str] = None
    source: PaymentSource
    invoice_nos: list[str]
    contract_no: Optional[str] = None
    customer_id: Optional[str] = None
    credit: Money
    payer_name: Optional[str] = None


class UnmatchedPayment(Payment):
    reason: Optional[str] = None
    remittance: Optional[str] = None
    external_id: str


class PaymentBook(BaseModel):
    """Up to which reading the payments under a reference number reach."""
    reference_no: str
    contract_no: str
    customer_id: str
    consumption_point_id: Optional[str] = None
    paid_total: Money
    paid_up_to_reading: dict[str, int]
    paid_up_to_reading_date: Optional[date] = None
    covers_all_readings: bool
    credit: Money
    last_payment_on: Optional[date] = None
    #: once it is terminated, the first day the contract is no longer in force
    contract_end_date: Optional[date] = None
    #: it has ended and is invoiced to its end: its ``credit`` is the customer's, paid
    #: back on request
    credit_to_pay_back: bool = False


class PaymentOrder(BaseModel):
    """A payment order for identity to sign (banklink 1011/1012)."""
    stamp: str
    amount: Money
    reference_no: str
    message: str
    invoice_nos: list[str]


class BankReply(Shape):
    """A bank's reply to a payment order as identity verified it
    (identity's verify_payment_reply): the fields from amount to payer_account are
    null for a 1911 (cancelled)."""
    status: Literal["paid", "cancelled"]
    stamp: str = Field(min_length=1, max_length=40)
    reference_no: Optional[str] = Field(default=None, max_length=40)
    message: Optional[str] = Field(default=None, max_length=500)
    amount: Optional[Money] = None
    currency: Optional[str] = Field(default=None, max_length=3)
    transaction_no: Optional[str] = Field(default=None, max_length=40)
    paid_at: Optional[datetime] = None
    payer_name: Optional[str] = Field(default=None, max_length=140)
    payer_account: Optional[str] = Field(default=None, max_length=64)
    #: the bank itself posted the reply (VK_AUTO=Y), not the customer's browser
    auto: bool = False

    @model_validator(mode="after")
    def paid_has_an_amount(self):
        if self.status == "paid" and self.amount is None:
            raise ValueError("a paid reply names its amount")
        return self


class BankPaymentOutcome(BaseModel):
    status: Literal["paid", "cancelled"]
    payment_id: Optional[str] = None
    invoice_nos: list[str]
    amount: Money


class OverdueSweepReport(BaseModel):
    invoices_overdue: int


class GetChargeArguments(Arguments):
    reading_id: Id


class AddTariffArguments(Arguments):
    plan: TariffPlan


class AddVatRateArguments(Arguments):
    vat: VatRate


class BillingRunArguments(Arguments):
    period: Period


class InvoicesOfArguments(Arguments):
    customer_id: Id
    status: Literal["unpaid", "paid", "overdue", "all"] = "all"
    #: only those of these consumption points (a mandate limited to them)
    consumption_point_ids: Optional[PointIds] = None


class GetInvoiceArguments(Arguments):
    invoice_no: str = Field(min_length=1, max_length=64)
    #: when given, the invoice must be this customer's (else NotFound)
    customer_id: Optional[Id] = None
    consumption_point_ids: Optional[PointIds] = None


class InvoicePdfArguments(Arguments):
    invoice_no: str = Field(min_length=1, max_length=64)
    customer_id: Id
    recipient: Recipient
    consumption_point: InvoicedPoint
    language: Literal["et", "en"]


class ImportStatementArguments(Arguments):
    #: the camt.053 XML, base64
    statement_base64: str


class StartBillingRunArguments(Arguments):
    period: Period
    #: who asks (``operator:<username>``), recorded with the job
    requested_by: str = Field(min_length=1, max_length=200)


class StartStatementImportArguments(Arguments):
    #: the camt.053 XML, base64
    statement_base64: str
    requested_by: str = Field(min_length=1, max_length=200)


class BillingJob(Job):
    """A billing run (``result``: what billing_run answers) or a statement import
    (``result``: what import_statement answers), run by billing in the background."""
    kind: Literal["billing_run", "statement_import"]
    result: Optional[Union[BillingRunReport, StatementReport]] = None


class PaymentsOfArguments(Arguments):
    customer_id: Id
    consumption_point_ids: Optional[PointIds] = None


class PaymentBookArguments(Arguments):
    #: spaces allowed, as printed in a payment book
    reference_no: str = Field(min_length=1, max_length=40)
    #: whose payment books the caller may see (else NotFound)
    customer_ids: list[Id] = Field(max_length=1000)


class PageCustomer(Shape):
    """A customer a page shows, and the points it may show (None: all)."""
    customer_id: Id
    consumption_point_ids: Optional[PointIds] = None


class InvoiceOverviewArguments(Arguments):
    customers: list[PageCustomer] = Field(max_length=100)
    #: only what is open to pay (the portal's overview): no invoices, no payment books
    open_only: bool = False


class OpenToPay(BaseModel):
    """A customer's invoices not paid yet: how many, and what is left to pay of them."""
    invoices: int
    amount: Money


class CustomerInvoices(BaseModel):
    """A customer's invoices (as invoices_of, all) and the payment book of each
    contract invoiced to them that is still theirs; with ``open_only``, neither
    (empty lists), only ``open``."""
    invoices: list[InvoiceSummary]
    paid_up_to: list[PaymentBook]
    open: Optional[OpenToPay] = None


class StartBankPaymentArguments(Arguments):
    customer_id: Id
    #: one or more (at most 50) open invoices of one contract
    invoice_nos: list[Annotated[str, Field(max_length=32)]] = Field(max_length=1000)
    bank_id: str = Field(min_length=1, max_length=40)
    started_by: str = Field(min_length=1, max_length=200)
    consumption_point_ids: Optional[PointIds] = None


class FinishBankPaymentArguments(Arguments):
    bank_id: str = Field(min_length=1, max_length=40)
    reply: BankReply


class OverdueSweepArguments(Arguments):
    #: default today; at most tomorrow
    as_of: Optional[date] = None


health = RpcMethod("billing", "health", returns=Health,
                   summary="Whether billing's database answers.")
get_charge = RpcMethod(
    "billing", "get_charge", GetChargeArguments, returns=Optional[Charge],
    raises=(ValidationFailed,),
    summary="The charge of a reading, or null while it is not priced (or cannot be: "
            "see unpriceable).")
tariff_plans = RpcMethod(
    "billing", "tariff_plans", returns=list[str],
    summary="The codes of every tariff plan billing has (contracts signs on no other).")
unpriceable = RpcMethod(
    "billing", "unpriceable", returns=Unpriceable,
    summary="What billing cannot price and so does not bill: flagged readings, and "
            "contracts on a plan billing lacks.")
list_tariffs = RpcMethod(
    "billing", "list_tariffs", returns=list[Tariff],
    summary="Every tariff plan with its components.")
add_tariff = RpcMethod(
    "billing", "add_tariff", AddTariffArguments, returns=Tariff, raises=(ValidationFailed,),
    summary="Add a tariff plan, or components to an existing one; readings it could "
            "not price before are priced now if the new prices cover them.")
list_vat_rates = RpcMethod(
    "billing", "list_vat_rates", returns=list[VatRate],
    summary="The VAT rates by the day each is valid from, oldest first.")
add_vat_rate = RpcMethod(
    "billing", "add_vat_rate", AddVatRateArguments, returns=list[VatRate],
    raises=(ValidationFailed, Conflict),
    summary="Add a VAT rate from a day; Conflict when that day has one. Answers every rate.")
billing_run = RpcMethod(
    "billing", "billing_run", BillingRunArguments, returns=BillingRunReport,
    raises=(ValidationFailed, Conflict),
    summary="Invoice every contract for a past month; running it twice issues nothing "
            "twice. Contracts that cannot be priced are left out and listed. Conflict "
            "when no VAT rate is valid in the month.")
start_billing_run = RpcMethod(
    "billing", "start_billing_run", StartBillingRunArguments, returns=BillingJob,
    raises=(ValidationFailed,),
    summary="Start the billing run of a past month as a job (see get_job); while one for "
            "the month is queued or running, that job is the answer.")
start_statement_import = RpcMethod(
    "billing", "start_statement_import", StartStatementImportArguments, returns=BillingJob,
    raises=(ValidationFailed,),
    summary="Start importing a camt.053 statement as a job (progress by entries); the "
            "same statement while its import is queued or running is that job. One that "
            "cannot be read is refused at once (field statement).")
get_job = RpcMethod(
    "billing", "get_job", GetJobArguments, returns=BillingJob,
    raises=(ValidationFailed, NotFound),
    summary="A job of billing's with its state and progress; its result once done.")
recent_jobs = RpcMethod(
    "billing", "recent_jobs", RecentJobsArguments, returns=list[BillingJob],
    raises=(ValidationFailed,),
    summary="Billing's latest jobs, newest first.")
invoices_of = RpcMethod(
    "billing", "invoices_of", InvoicesOfArguments, returns=list[InvoiceSummary],
    raises=(ValidationFailed,),
    summary="A customer's invoices, newest first.")
get_invoice = RpcMethod(
    "billing", "get_invoice", GetInvoiceArguments, returns=Invoice,
    raises=(ValidationFailed, NotFound),
    summary="An invoice with its lines; NotFound also when it is not the customer's.")
invoice_pdf = RpcMethod(
    "billing", "invoice_pdf", InvoicePdfArguments, returns=PdfBase64,
    raises=(ValidationFailed, NotFound),
    summary="The customer's invoice as a PDF document in their language, base64 text; "
            "NotFound when it is not theirs.")
import_statement = RpcMethod(
    "billing", "import_statement", ImportStatementArguments, returns=StatementReport,
    raises=(ValidationFailed,),
    summary="Record the payments of a camt.053 bank statement: matched by reference "
            "number, spent oldest invoice first; importing it again changes nothing. "
            "A statement that cannot be read is refused whole (field statement).")
payments_of = RpcMethod(
    "billing", "payments_of", PaymentsOfArguments, returns=list[Payment],
    raises=(ValidationFailed,),
    summary="A customer's payments, newest first, with the invoices each paid.")
unmatched_payments = RpcMethod(
    "billing", "unmatched_payments", returns=list[UnmatchedPayment],
    summary="Payments that matched no contract, newest first, with why.")
payment_book = RpcMethod(
    "billing", "payment_book", PaymentBookArguments, returns=PaymentBook,
    raises=(ValidationFailed, NotFound),
    summary="Up to which reading the payments under a reference number reach; NotFound "
            "unless its contract is one of the customers'.")
invoice_overview = RpcMethod(
    "billing", "invoice_overview", InvoiceOverviewArguments,
    returns=dict[str, CustomerInvoices], raises=(ValidationFailed,),
    summary="A page's customers in one call: each one's invoices and payment books "
            "(or, open_only, just what is open to pay).")
start_bank_payment = RpcMethod(
    "billing", "start_bank_payment", StartBankPaymentArguments, returns=PaymentOrder,
    raises=(ValidationFailed, NotFound),
    summary="A payment order for a customer's open invoices of one contract, for "
            "identity to sign and the customer to pay at the bank.")
finish_bank_payment = RpcMethod(
    "billing", "finish_bank_payment", FinishBankPaymentArguments, returns=BankPaymentOutcome,
    raises=(ValidationFailed, NotFound, Conflict),
    summary="Record a bank's verified reply to a payment order, once however often it "
            "comes. NotFound for an order not started with that bank, Conflict when the "
            "reply names another reference number.")
overdue_sweep = RpcMethod(
    "billing", "overdue_sweep", OverdueSweepArguments, returns=OverdueSweepReport,
    raises=(ValidationFailed,),
    summary="Unpaid invoices due before as_of (default today) become overdue, once.")
