"""billing: tariffs, charges, invoices and payments (entrypoints only)."""
import base64
import binascii
import logging
import time
from datetime import timedelta
from pathlib import Path

from nameko.dependency_providers import Config
from nameko.timer import timer

from services.billing import (bank_payments, invoice_pdf, issued, overdue, payment_book,
                              payments, pricing, runs, statements, tariffs)
from services.billing.models import metadata
from services.common import config as cfg
from services.common.clock import ClockProvider
from services.common.db import Database
from services.common.errors import NotFound, ValidationFailed
from services.common.messaging import event_handler
from services.common.rpc import rpc
from services.common.validation import parse, sweep_day
from services.contracts.api import ConsumptionPointLinked, ContractSigned, ContractTerminated
from services.metering.api import ReadingSubmitted

log = logging.getLogger(__name__)


class BillingService:
    name = "billing"

    db = Database(metadata, Path(__file__).parent / "migrations")
    config = Config()
    clock = ClockProvider()

    @rpc
    def health(self):
        return self.db.health()

    @event_handler("metering", "reading_submitted")
    def on_reading_submitted(self, event):
        self.db.apply_once(event, "billing.on_reading_submitted",
                          pricing.charge_reading, ReadingSubmitted.data_of(event))

    @event_handler("contracts", "contract_signed")
    def on_contract_signed(self, event):
        self.db.apply_once(event, "billing.on_contract_signed", runs.record_contract,
                          ContractSigned.data_of(event))

    @event_handler("contracts", "contract_terminated")
    def on_contract_terminated(self, event):
        self.db.apply_once(event, "billing.on_contract_terminated",
                          runs.record_termination, ContractTerminated.data_of(event))

    @event_handler("contracts", "consumption_point_linked")
    def on_consumption_point_linked(self, event):
        self.db.apply_once(event, "billing.on_consumption_point_linked",
                          runs.record_relink, ConsumptionPointLinked.data_of(event))

    @rpc
    def get_charge(self, reading_id):
        """returns the charge of a reading ``{charge_id, reading_id, contract_no,
        period_from, period_to, net, lines: [{kind, register, kwh, unit_price, net,
        period_from, period_to}]}`` or None while it is not priced yet."""
        with self.db.unit_of_work() as uow:
            return pricing.charge_for_reading(uow, str(reading_id))

    # -- tariffs and VAT -------------------------------------------------------------

    @rpc
    def tariff_plans(self):
        """returns the codes of every tariff plan billing has (contracts signs on no other)."""
        with self.db.unit_of_work() as uow:
            return tariffs.plan_codes(uow)

    @rpc
    def unpriceable(self):
        """What billing cannot price and so does not bill: ``{readings: [{reading_id,
        contract_no, tariff_plan, reading_date, reason, flagged_at}], contracts:
        [{contract_no, tariff_plan, reason}]}`` (contracts on a plan billing lacks)."""
        with self.db.unit_of_work() as uow:
            return {"readings": pricing.unpriced(uow),
                    "contracts": runs.contracts_on_unknown_plans(uow)}

    @rpc
    def list_tariffs(self):
        """returns ``[{code, name, components: [{kind, register, price, valid_from,
        valid_until}]}]``"""
        with self.db.unit_of_work() as uow:
            return tariffs.tariffs(uow)

    @rpc
    def add_tariff(self, plan):
        """plan: ``{code, name?, components: [...]}``; an existing code gets the
        components added. returns the plan."""
        plan = parse(tariffs.TariffPlan, plan)
        with self.db.unit_of_work() as uow:
            return tariffs.add_tariff(uow, plan)

    @rpc
    def list_vat_rates(self):
        with self.db.unit_of_work() as uow:
            return tariffs.list_vat_rates(uow)

    @rpc
    def add_vat_rate(self, vat):
        """vat: ``{rate: "24.00", valid_from}``; returns every rate."""
        vat = parse(tariffs.VatRate, vat)
        with self.db.unit_of_work() as uow:
            return tariffs.add_vat_rate(uow, vat)

    # -- invoices --------------------------------------------------------------------

    @rpc
    def billing_run(self, period):
        """Invoice every contract for ``period`` (YYYY-MM), set-based; running it
        twice issues nothing twice. returns ``{invoices_issued, total, unpriceable:
        [{contract_no, tariff_plan, reason}]}``: those are left out, not billed 0.00."""
        with self.db.unit_of_work() as uow:
            return runs.run(uow, str(period), cfg.int_setting(
                self.config, "VOOL_INVOICE_DUE_DAYS", 14), work_mem=cfg.setting(
                self.config, "VOOL_BILLING_WORK_MEM", runs.RUN_WORK_MEM))

    @timer(interval=3600)
    def monthly_billing_run(self):
        """Hourly, bill last month: a no-op once it is done."""
        today = self.clock.today()
        last_month = today.replace(day=1) - timedelta(days=1)
        self.billing_run(last_month.strftime("%Y-%m"))

    @timer(interval=1)
    def announce_issued_invoices(self):
        """Publish the invoice_issued events of the runs committed since (the run
        itself only records that it issued them; services/billing/issued.py)."""
        # a bounded share per tick (10,000 events, a few seconds with the broker's
        # confirms), so that stopping the service never waits for a whole big run
        try:
            issued.publish_pending(self.db.engine, self.db.outbox.publisher, self.clock,
                                   max_batches=20)
        except Exception as exc:  # database or broker away: the next tick resumes
            log.warning("publishing invoice_issued failed, retrying: %s", exc)

    @rpc
    def invoices_of(self, customer_id, status="all", consumption_point_ids=None):
        """returns ``[{invoice_no, period, issued_on, due_on, net, vat_rate, vat, total,
        paid, status, reference_no}]``, newest first; only those of
        ``consumption_point_ids`` when given (a mandate limited to them)."""
        with self.db.unit_of_work() as uow:
            return runs.invoices_of(uow, str(customer_id), str(status), consumption_point_ids)

    @rpc
    def get_invoice(self, invoice_no, customer_id=None, consumption_point_ids=None):
        """returns the invoice with its lines; NotFound (also when not the customer's,
        or not of ``consumption_point_ids`` when given)."""
        with self.db.unit_of_work() as uow:
            return runs.invoice(uow, str(invoice_no), str(customer_id) if customer_id else None,
                                consumption_point_ids)

    @rpc
    def invoice_pdf(self, invoice_no, customer_id, recipient, consumption_point, language):
        """The invoice as a PDF, base64: ``recipient`` is ``{name, postal_address}``,
        ``consumption_point`` ``{eic, address}`` (contracts owns both); language et|en.
        NotFound when the invoice is not the customer's."""
        if language not in invoice_pdf.LANGUAGES:
            raise ValidationFailed.field("lang", "et or en")
        with self.db.unit_of_work() as uow:
            invoice = runs.invoice(uow, str(invoice_no), str(customer_id))
        document = invoice_pdf.render_invoice(
            {**invoice, "customer": recipient, "consumption_point": consumption_point}, language)
        return base64.b64encode(document).decode("ascii")

    # -- payments --------------------------------------------------------------------

    @rpc
    def import_statement(self, statement_base64):
        """Payments from a camt.053 bank statement (the XML, base64): matched by
        reference number, spent oldest invoice first. Importing it again changes
        nothing. returns ``{entries, matched, already_imported, unmatched: [{entry_id,
        amount, reference_no, payer_name, reason}]}``."""
        try:
            xml = base64.b64decode(statement_base64, validate=True)
            parsed = statements.parse_statements(xml)
        except (binascii.Error, ValueError) as exc:   # StatementError is a ValueError
            raise ValidationFailed.field("statement", str(exc)) from None
        entries = [(statement, entry) for statement in parsed for entry in statement.entries]
        incoming = [payments.Incoming(
            source="statement", external_id=statements.payment_id(statement, entry),
            amount=entry.amount, currency=entry.currency, received_on=entry.booked_on,
            reference_no=entry.reference_no, payer_name=entry.debtor_name,
            remittance=entry.remittance) for statement, entry in entries]
        with self.db.unit_of_work() as uow:
            outcomes = payments.receive(uow, incoming)
        report = {"entries": len(entries), "matched": 0, "already_imported": 0,
                  "unmatched": []}
        for (_, entry), outcome in zip(entries, outcomes):
            if outcome["duplicate"]:
                report["already_imported"] += 1
            elif outcome["matched"]:
                report["matched"] += 1
            else:
                report["unmatched"].append({
                    "entry_id": entry.entry_id, "amount": f"{entry.amount:.2f}",
                    "currency": entry.currency, "booked_on": entry.booked_on.isoformat(),
                    "reference_no": entry.reference_no, "payer_name": entry.debtor_name,
                    "remittance": entry.remittance, "reason": outcome["reason"]})
        return report

    @rpc
    def payments_of(self, customer_id, consumption_point_ids=None):
        with self.db.unit_of_work() as uow:
            return payments.payments_of(uow, str(customer_id), consumption_point_ids)

    @rpc
    def unmatched_payments(self):
        with self.db.unit_of_work() as uow:
            return payments.unmatched_payments(uow)

    @rpc
    def payment_book(self, reference_no, customer_ids):
        """Up to which reading the payments under ``reference_no`` reach; NotFound
        unless the contract is one of ``customer_ids``'."""
        with self.db.unit_of_work() as uow:
            return payment_book.payment_book(uow, str(reference_no),
                                             [str(c) for c in customer_ids])

    @rpc
    def invoice_overview(self, customers):
        """A page's customers at once: ``customers`` is ``[{customer_id,
        consumption_point_ids}]`` (None: all its points). returns ``{customer_id:
        {invoices: [as invoices_of, all], paid_up_to: [the payment book of each
        contract invoiced to them that is still theirs]}}``."""
        if not isinstance(customers, list) or not all(
                isinstance(c, dict) and "customer_id" in c for c in customers):
            raise ValidationFailed.field("customers", "[{customer_id, consumption_point_ids}]")
        overview = {}
        with self.db.unit_of_work() as uow:
            for asked in customers:
                customer_id = str(asked["customer_id"])
                invoices = runs.invoices_of(uow, customer_id, "all",
                                            asked.get("consumption_point_ids"))
                books = []
                for reference_no in sorted({i["reference_no"] for i in invoices}):
                    try:
                        books.append(payment_book.payment_book(uow, reference_no,
                                                               [customer_id]))
                    except NotFound:    # the contract has moved on to another holder
                        pass
                overview[customer_id] = {"invoices": invoices, "paid_up_to": books}
        return overview

    @rpc
    def start_bank_payment(self, customer_id, invoice_nos, bank_id, started_by,
                           consumption_point_ids=None):
        """A payment order for the customer's invoices: ``{stamp, amount,
        reference_no, message, invoice_nos}`` for identity to sign."""
        if not isinstance(invoice_nos, list):
            raise ValidationFailed.field("invoice_nos", "a list of invoice numbers")
        with self.db.unit_of_work() as uow:
            return bank_payments.start(uow, str(customer_id), invoice_nos, str(bank_id),
                                       started_by, consumption_point_ids)

    @rpc
    def finish_bank_payment(self, bank_id, reply):
        """Records the bank's verified reply; ``{status, payment_id, invoice_nos, amount}``."""
        with self.db.unit_of_work() as uow:
            return bank_payments.finish(uow, str(bank_id), reply)

    @rpc
    def overdue_sweep(self, as_of=None):
        """Unpaid invoices due before ``as_of`` (default today) become overdue."""
        day = sweep_day(as_of, self.clock.today())
        marked = 0
        while True:   # a short transaction per batch, the others' turn between them
            started = time.monotonic()
            with self.db.unit_of_work() as uow:
                batch = overdue.sweep(uow, day)["invoices_overdue"]
            marked += batch
            if batch == 0:
                return {"invoices_overdue": marked}
            self.db.pause_between_batches(started)

    @timer(interval=3600)
    def hourly_overdue_sweep(self):
        self.overdue_sweep()
