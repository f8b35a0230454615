"""billing: tariffs, charges, invoices and payments (entrypoints only; what each
method takes, returns and raises is in services/billing/api.py)."""
import base64
import logging
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from nameko.dependency_providers import Config
from nameko.timer import timer

from services.billing import (api, bank_payments, invoice_pdf, issued, overdue, payment_book,
                              payments, pricing, runs, tariffs)
from services.billing import jobs as billing_jobs
from services.billing.models import metadata
from services.common.clock import ClockProvider
from services.common.correlation import Correlation
from services.common.db import Database
from services.common.ops import OpsPort
from services.common.errors import NotFound
from services.common.jobs import JobRunner
from services.common.messaging import batch_event_handler, event_handler
from services.common.metrics import measured_job
from services.common.rpc import rpc
from services.common.validation import operating_date
from services.contracts.api import ConsumptionPointLinked, ContractSigned, ContractTerminated
from services.metering.api import ReadingEstimated, ReadingSubmitted

log = logging.getLogger(__name__)


def _charge(uow, reading):
    pricing.charge_reading(uow, reading.data)


class BillingService:
    name = "billing"
    correlation = Correlation()   # each worker's request id and span: logs, RPCs, events

    db = Database(metadata, Path(__file__).parent / "migrations")
    ops = OpsPort()   # /metrics and /health on VOOL_OPS_ADDRESS; every worker measured
    config = Config()
    clock = ClockProvider()
    jobs = JobRunner("billing", billing_jobs.WORK)

    @rpc(api.health)
    def health(self):
        return self.db.health()

    @batch_event_handler("metering", "reading_submitted")
    def on_reading_submitted(self, events):
        """What was delivered, up to a batch, priced in one transaction."""
        readings = [replace(event, data=ReadingSubmitted.data_of(event)) for event in events]
        self.db.apply_each(readings, "billing.on_reading_submitted", _charge)

    @batch_event_handler("metering", "reading_estimated")
    def on_reading_estimated(self, events):
        """Estimated readings, charged like readings and marked as estimates."""
        estimated = [replace(event, data=ReadingEstimated.data_of(event)) for event in events]
        self.db.apply_each(estimated, "billing.on_reading_estimated", _charge)

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

    @rpc(api.get_charge)
    def get_charge(self, reading_id):
        with self.db.unit_of_work() as uow:
            return pricing.charge_for_reading(uow, reading_id)

    # -- tariffs and VAT -------------------------------------------------------------

    @rpc(api.tariff_plans)
    def tariff_plans(self):
        with self.db.unit_of_work() as uow:
            return tariffs.plan_codes(uow)

    @rpc(api.unpriceable)
    def unpriceable(self):
        with self.db.unit_of_work() as uow:
            return {"readings": pricing.unpriced(uow),
                    "contracts": runs.contracts_on_unknown_plans(uow)}

    @rpc(api.list_tariffs)
    def list_tariffs(self):
        with self.db.unit_of_work() as uow:
            return tariffs.tariffs(uow)

    @rpc(api.add_tariff)
    def add_tariff(self, plan):
        with self.db.unit_of_work() as uow:
            return tariffs.add_tariff(uow, plan)

    @rpc(api.list_vat_rates)
    def list_vat_rates(self):
        with self.db.unit_of_work() as uow:
            return tariffs.list_vat_rates(uow)

    @rpc(api.add_vat_rate)
    def add_vat_rate(self, vat):
        with self.db.unit_of_work() as uow:
            return tariffs.add_vat_rate(uow, vat)

    # -- invoices --------------------------------------------------------------------

    @rpc(api.billing_run)
    def billing_run(self, period):
        settings = billing_jobs.run_settings(self.config)
        with self.db.unit_of_work() as uow:
            return runs.run(uow, period, settings["due_days"], work_mem=settings["work_mem"],
                            chunk=settings["chunk"])

    # -- long jobs (services/billing/jobs.py) -----------------------------------------

    @rpc(api.start_billing_run)
    def start_billing_run(self, period, requested_by):
        return billing_jobs.start_billing_run(self.jobs, self.clock, period, requested_by)

    @rpc(api.start_statement_import)
    def start_statement_import(self, statement_base64, requested_by):
        return billing_jobs.start_statement_import(self.jobs, statement_base64, requested_by)

    @rpc(api.get_job)
    def get_job(self, job_id):
        return self.jobs.get(job_id)

    @rpc(api.recent_jobs)
    def recent_jobs(self, limit=20):
        return self.jobs.recent(limit)

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

    @rpc(api.invoices_of)
    def invoices_of(self, customer_id, status="all", consumption_point_ids=None):
        with self.db.unit_of_work() as uow:
            return runs.invoices_of(uow, customer_id, status, consumption_point_ids)

    @rpc(api.get_invoice)
    def get_invoice(self, invoice_no, customer_id=None, consumption_point_ids=None):
        with self.db.unit_of_work() as uow:
            return runs.invoice(uow, invoice_no, customer_id, consumption_point_ids)

    @rpc(api.invoice_pdf)
    def invoice_pdf(self, invoice_no, customer_id, recipient, consumption_point, language):
        with self.db.unit_of_work() as uow:
            invoice = runs.invoice(uow, invoice_no, customer_id)
        document = invoice_pdf.render_invoice(
            {**invoice, "customer": recipient.model_dump(),
             "consumption_point": consumption_point.model_dump()}, language)
        # RPC answers are JSON: the PDF's bytes travel as base64 text
        return base64.b64encode(document).decode("ascii")

    # -- payments --------------------------------------------------------------------

    @rpc(api.import_statement)
    def import_statement(self, statement_base64):
        with self.db.unit_of_work() as uow:
            return payments.import_statement(uow, statement_base64)

    @rpc(api.payments_of)
    def payments_of(self, customer_id, consumption_point_ids=None):
        with self.db.unit_of_work() as uow:
            return payments.payments_of(uow, customer_id, consumption_point_ids)

    @rpc(api.unmatched_payments)
    def unmatched_payments(self):
        with self.db.unit_of_work() as uow:
            return payments.unmatched_payments(uow)

    @rpc(api.payment_book)
    def payment_book(self, reference_no, customer_ids):
        with self.db.unit_of_work() as uow:
            return payment_book.payment_book(uow, reference_no, customer_ids)

    @rpc(api.invoice_overview)
    def invoice_overview(self, customers, open_only=False):
        overview = {}
        with self.db.unit_of_work() as uow:
            for asked in customers:
                if open_only:   # one narrow query, however many invoices she has
                    overview[asked.customer_id] = {
                        "invoices": [], "paid_up_to": [],
                        "open": runs.open_to_pay(uow, asked.customer_id,
                                                 asked.consumption_point_ids)}
                    continue
                invoices = runs.invoices_of(uow, asked.customer_id, "all",
                                            asked.consumption_point_ids)
                books = []
                for reference_no in sorted({i["reference_no"] for i in invoices}):
                    try:
                        books.append(payment_book.payment_book(uow, reference_no,
                                                               [asked.customer_id]))
                    except NotFound:    # the contract has moved on to another holder
                        pass
                overview[asked.customer_id] = {"invoices": invoices, "paid_up_to": books}
        return overview

    @rpc(api.start_bank_payment)
    def start_bank_payment(self, customer_id, invoice_nos, bank_id, started_by,
                           consumption_point_ids=None):
        with self.db.unit_of_work() as uow:
            return bank_payments.start(uow, customer_id, invoice_nos, bank_id, started_by,
                                       consumption_point_ids)

    @rpc(api.finish_bank_payment)
    def finish_bank_payment(self, bank_id, reply):
        with self.db.unit_of_work() as uow:
            return bank_payments.finish(uow, bank_id, reply)

    @rpc(api.overdue_sweep)
    @measured_job("overdue_sweep")
    def overdue_sweep(self, as_of=None):
        today = self.clock.today()
        day = operating_date(as_of or today, "as_of", today, ahead_days=1)
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
