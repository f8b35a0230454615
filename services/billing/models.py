import sqlalchemy as sa

from services.billing.money import KWH, MONEY, UNIT_PRICE, VAT_RATE
from services.common.jobs import jobs_table
from services.common.tables import handled_events_table, outbox_table

metadata = sa.MetaData()

# Every exact number is one of money.py's ExactNumeric types: Decimal in and out on
# both stores (README, "Money on both stores").

tariff_plans = sa.Table(
    "tariff_plans", metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    # a new token whenever the plan's components change (services/billing/tariffs.py):
    # what a process's cached prices of the plan are checked against
    sa.Column("prices_version", sa.String(36)),
)

# Prices exclude VAT. kind: energy | network | renewable | excise (per kWh, for
# one register or, with register NULL, for all) or monthly_fee (per month).
tariff_components = sa.Table(
    "tariff_components", metadata,
    sa.Column("component_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tariff_plan", sa.String(32), sa.ForeignKey("tariff_plans.code"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("register", sa.String(2)),
    sa.Column("price", UNIT_PRICE, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_until", sa.Date),
)

charges = sa.Table(
    "charges", metadata,
    sa.Column("charge_id", sa.String(36), primary_key=True),
    sa.Column("reading_id", sa.String(36), nullable=False, unique=True),
    sa.Column("consumption_point_id", sa.String(36), nullable=False),
    sa.Column("contract_no", sa.String(20), nullable=False),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("period_from", sa.Date, nullable=False),
    sa.Column("period_to", sa.Date, nullable=False),
    sa.Column("net", MONEY, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("invoice_no", sa.String(20)),   # the invoice it was billed on
    sa.Column("registers", sa.JSON),          # the reading: {"T1": 12345}
    sa.Column("register_digits", sa.JSON),    # {"T1": 6}: where a register rolls over
    sa.Column("consumption", sa.JSON),        # {"T1": 300} kWh since the previous reading
    sa.Column("estimate_method", sa.String(32)),  # an estimated reading's charge: how
)

# Each estimated reading's fate, once (services/billing/estimates.py): ``charged``
# by its reading_estimated, or ``settled`` by the next actual reading before that
# arrived (then it is never charged).
estimate_claims = sa.Table(
    "estimate_claims", metadata,
    sa.Column("estimate_reading_id", sa.String(36), primary_key=True),
    sa.Column("state", sa.String(10), nullable=False),     # charged | settled
    sa.Column("settled_by", sa.String(36)),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

# Readings billing could not price (their plan unknown, or no energy price on some
# day of the interval): flagged instead of charged 0.00, the reading_submitted
# data kept, priced again once a tariff that covers them is added. A contract
# with one of these is left out of the billing run until then.
unpriced_readings = sa.Table(
    "unpriced_readings", metadata,
    sa.Column("reading_id", sa.String(36), primary_key=True),
    sa.Column("contract_no", sa.String(20), nullable=False, index=True),
    sa.Column("tariff_plan", sa.String(32), nullable=False),
    sa.Column("reading_date", sa.Date, nullable=False),
    sa.Column("reason", sa.String(300), nullable=False),
    sa.Column("reading", sa.JSON, nullable=False),    # the reading_submitted data
    sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
)

charge_lines = sa.Table(
    "charge_lines", metadata,
    sa.Column("charge_id", sa.String(36), sa.ForeignKey("charges.charge_id"), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("register", sa.String(2), nullable=False),
    sa.Column("kwh", KWH, nullable=False),
    sa.Column("unit_price", UNIT_PRICE, nullable=False),
    sa.Column("net", MONEY, nullable=False),
    sa.Column("period_from", sa.Date),
    sa.Column("period_to", sa.Date),
    # a line of an estimate's charge (how it was estimated), or one taking it back
    sa.Column("estimate_method", sa.String(32)),
    sa.Column("corrects_estimate", sa.Boolean, nullable=False, server_default=sa.false()),
    # the VAT rate of the line's days (taking an estimate back: the estimate's rate);
    # NULL on lines from before rates were per line: at their invoice's rate
    sa.Column("vat_rate", VAT_RATE),
)

# VAT rates by date (Estonia: 20% from 2009-07-01, 22% from 2024-01-01, 24% from 2025-07-01).
vat_rates = sa.Table(
    "vat_rates", metadata,
    sa.Column("valid_from", sa.Date, primary_key=True),
    sa.Column("rate", VAT_RATE, nullable=False),
)

# billing's own copy of each contract, from contracts' events.
billing_contracts = sa.Table(
    "billing_contracts", metadata,
    sa.Column("contract_no", sa.String(20), primary_key=True),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("reference_no", sa.String(20), nullable=False, unique=True),
    sa.Column("tariff_plan", sa.String(32), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date),
    sa.Column("consumption_point_id", sa.String(36)),
    sa.Column("initial_readings", sa.JSON),     # where the payment book starts
)

invoices = sa.Table(
    "invoices", metadata,
    sa.Column("invoice_no", sa.String(20), primary_key=True),
    sa.Column("contract_no", sa.String(20), nullable=False),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),          # YYYY-MM
    sa.Column("issued_on", sa.Date, nullable=False),
    sa.Column("due_on", sa.Date, nullable=False),
    sa.Column("reference_no", sa.String(20), nullable=False),
    sa.Column("net", MONEY, nullable=False),
    sa.Column("vat_rate", VAT_RATE, nullable=False),
    sa.Column("vat", MONEY, nullable=False),
    sa.Column("total", MONEY, nullable=False),
    sa.Column("paid", MONEY, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),         # unpaid | paid | overdue
    sa.UniqueConstraint("contract_no", "period", name="uq_invoices_contract_period"),
    sa.Index("ix_invoices_customer", "customer_id", "issued_on"),
    # the credit notes, for the run to find any not credited yet (payments.record_credits)
    sa.Index("ix_invoices_credit_notes", "invoice_no", postgresql_where=sa.text("total < 0"),
             sqlite_where=sa.text("total < 0")),
)

invoice_lines = sa.Table(
    "invoice_lines", metadata,
    # no foreign key: written only by the billing run with its invoice (migration 0006)
    sa.Column("invoice_no", sa.String(20), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("register", sa.String(2)),
    sa.Column("kwh", KWH),
    sa.Column("unit_price", UNIT_PRICE),
    sa.Column("period_from", sa.Date),
    sa.Column("period_to", sa.Date),
    sa.Column("net", MONEY, nullable=False),
    sa.Column("estimate_method", sa.String(32)),
    sa.Column("corrects_estimate", sa.Boolean, nullable=False, server_default=sa.false()),
    # the VAT rate of the line's days (taking an estimate back: the estimate's rate);
    # NULL on lines from before rates were per line: at their invoice's rate
    sa.Column("vat_rate", VAT_RATE),
)

# A payment received: from a bank statement, a banklink reply or the desk. One
# without a contract is unmatched (listed for the desk, never guessed); what is
# not yet spent on invoices (``unallocated``) is the contract's credit.
payments = sa.Table(
    "payments", metadata,
    sa.Column("payment_id", sa.String(36), primary_key=True),
    sa.Column("source", sa.String(10), nullable=False),     # statement | banklink | operator
    sa.Column("external_id", sa.String(200), nullable=False, unique=True),
    sa.Column("amount", MONEY, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("received_on", sa.Date, nullable=False),
    sa.Column("reference_no", sa.String(35)),
    sa.Column("contract_no", sa.String(20)),
    sa.Column("customer_id", sa.String(36)),
    sa.Column("unallocated", MONEY, nullable=False),
    sa.Column("payer_name", sa.String(140)),
    sa.Column("remittance", sa.String(500)),
    sa.Column("unmatched_reason", sa.String(200)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

payment_allocations = sa.Table(
    "payment_allocations", metadata,
    sa.Column("payment_id", sa.String(36), sa.ForeignKey("payments.payment_id"),
              primary_key=True),
    sa.Column("invoice_no", sa.String(20), sa.ForeignKey("invoices.invoice_no"),
              primary_key=True),
    sa.Column("amount", MONEY, nullable=False),
)

# A payment started through a bank: VK_STAMP ties the bank's reply to it.
payment_orders = sa.Table(
    "payment_orders", metadata,
    sa.Column("stamp", sa.String(20), primary_key=True),
    sa.Column("bank_id", sa.String(40), nullable=False),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("contract_no", sa.String(20), nullable=False),
    sa.Column("reference_no", sa.String(20), nullable=False),
    sa.Column("amount", MONEY, nullable=False),
    sa.Column("invoice_nos", sa.JSON, nullable=False),
    sa.Column("started_by", sa.String(200)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),     # pending | paid | cancelled
    sa.Column("payment_id", sa.String(36)),
)

number_sequences = sa.Table(
    "number_sequences", metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("last_value", sa.BigInteger, nullable=False),
)

# One row per billing run that issued invoices, written in the run's transaction.
# Its invoices' invoice_issued events are published from the invoices themselves
# after commit (services/billing/issued.py), ``published_through`` the last one
# sent; ``published_at`` is set once all of them are.
invoice_runs = sa.Table(
    "invoice_runs", metadata,
    sa.Column("first_no", sa.String(20), primary_key=True),
    sa.Column("last_no", sa.String(20), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("invoices", sa.Integer, nullable=False),
    sa.Column("total", MONEY, nullable=False),
    sa.Column("published_through", sa.String(20)),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    # the AMQP headers its events are published with (request id, traceparent)
    sa.Column("headers", sa.JSON),
)

outbox = outbox_table(metadata)
handled_events = handled_events_table(metadata)
# long jobs (services/common/jobs.py)
jobs = jobs_table(metadata)
