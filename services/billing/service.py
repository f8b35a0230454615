"""billing: tariffs, charges, invoices and payments (entrypoints only)."""
import base64
from datetime import timedelta
from pathlib import Path

from nameko.dependency_providers import Config
from nameko.timer import timer

from services.billing import invoice_pdf, pricing, runs, tariffs
from services.billing.models import metadata
from services.common import config as cfg
from services.common.clock import ClockProvider
from services.common.db import Database
from services.common.errors import ValidationFailed
from services.common.messaging import event_handler
from services.common.rpc import rpc
from services.common.validation import parse


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
                          pricing.charge_reading, event.data)

    @event_handler("contracts", "contract_signed")
    def on_contract_signed(self, event):
        self.db.apply_once(event, "billing.on_contract_signed", runs.record_contract, event.data)

    @event_handler("contracts", "contract_terminated")
    def on_contract_terminated(self, event):
        self.db.apply_once(event, "billing.on_contract_terminated",
                          runs.record_termination, event.data)

    @event_handler("contracts", "consumption_point_linked")
    def on_consumption_point_linked(self, event):
        self.db.apply_once(event, "billing.on_consumption_point_linked",
                          runs.record_relink, event.data)

    @rpc
    def get_charge(self, reading_id):
        """returns the charge of a reading ``{charge_id, reading_id, contract_no,
        period_from, period_to, net, lines: [{kind, register, kwh, unit_price, net,
        period_from, period_to}]}`` or None while it is not priced yet."""
        with self.db.unit_of_work() as uow:
            return pricing.charge_for_reading(uow, str(reading_id))

    # -- tariffs and VAT -------------------------------------------------------------

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
        twice issues nothing twice. returns ``{invoices_issued, total}``."""
        with self.db.unit_of_work() as uow:
            return runs.run(uow, str(period), cfg.int_setting(
                self.config, "VOOL_INVOICE_DUE_DAYS", 14))

    @timer(interval=3600)
    def monthly_billing_run(self):
        """Hourly, bill last month: a no-op once it is done."""
        today = self.clock.today()
        last_month = today.replace(day=1) - timedelta(days=1)
        self.billing_run(last_month.strftime("%Y-%m"))

    @rpc
    def invoices_of(self, customer_id, status="all"):
        """returns ``[{invoice_no, period, issued_on, due_on, net, vat_rate, vat, total,
        paid, status, reference_no}]``, newest first."""
        with self.db.unit_of_work() as uow:
            return runs.invoices_of(uow, str(customer_id), str(status))

    @rpc
    def get_invoice(self, invoice_no, customer_id=None):
        """returns the invoice with its lines; NotFound (also when not the customer's)."""
        with self.db.unit_of_work() as uow:
            return runs.invoice(uow, str(invoice_no), str(customer_id) if customer_id else None)

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
