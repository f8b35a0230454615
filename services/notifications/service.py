"""notifications: reminders, messages and the service desk (entrypoints only; what
each method takes, returns and raises is in services/notifications/api.py)."""
import time
from dataclasses import replace
from pathlib import Path

import eventlet
from nameko.dependency_providers import Config
from nameko.timer import timer

from services.common.correlation import Correlation
from services.billing.api import CreditNoteIssued, InvoiceIssued, InvoiceOverdue, PaymentReceived
from services.common import config as cfg
from services.common.clock import ClockProvider
from services.common.db import Database
from services.common.ops import OpsPort
from services.common.messaging import batch_event_handler, event_handler
from services.common.metrics import measured_job
from services.common.rpc import rpc
from services.common.validation import operating_date
from services.contracts.api import (ConsumptionPointClaimed, ConsumptionPointClaimRejected,
                                    ConsumptionPointLinked, ContactDetailsChanged,
                                    ContractSigned)
from services.identity.api import MandateExpired, MandateGranted, MandateRevoked
from services.metering.api import (ReadingEstimated, ReadingHeldForReview, ReadingRejected,
                                   ReadingScheduleStarted, ReadingSubmitted)
from services.notifications import api, delivery, desk, inbox, reactions, reminders
from services.notifications.channels import Channels
from services.notifications.models import metadata


class NotificationsService:
    name = "notifications"
    correlation = Correlation()   # each worker's request id and span: logs, RPCs, events

    db = Database(metadata, Path(__file__).parent / "migrations")
    ops = OpsPort()   # /metrics and /health on VOOL_OPS_ADDRESS; every worker measured
    config = Config()
    clock = ClockProvider()
    channels = Channels()

    @rpc(api.health)
    def health(self):
        return self.db.health()

    def _apply(self, event, payload, change):
        """``change(uow, event)`` once per event, its data parsed with the publisher's
        ``payload`` model first (data that does not fit never reaches the database)."""
        event = replace(event, data=payload.data_of(event))
        self.db.apply_once(event, f"notifications.on_{event.event_type}", change, event)

    def _parsed(self, events, payload):
        return [replace(event, data=payload.data_of(event)) for event in events]

    # -- what other services tell us -------------------------------------------------

    @batch_event_handler("metering", "reading_submitted")
    def on_reading_submitted(self, events):
        self.db.apply_each(self._parsed(events, ReadingSubmitted),
                           "notifications.on_reading_submitted", reactions.reading_submitted)

    @event_handler("metering", "reading_schedule_started")
    def on_reading_schedule_started(self, event):
        self.db.apply_once(event, "notifications.on_reading_schedule_started",
                           reminders.reschedule, ReadingScheduleStarted.data_of(event))

    @event_handler("metering", "reading_held_for_review")
    def on_reading_held_for_review(self, event):
        self._apply(event, ReadingHeldForReview, reactions.reading_held)

    @event_handler("metering", "reading_rejected")
    def on_reading_rejected(self, event):
        self._apply(event, ReadingRejected, reactions.reading_rejected)

    @event_handler("metering", "reading_estimated")
    def on_reading_estimated(self, event):
        self._apply(event, ReadingEstimated, reactions.reading_estimated)

    @event_handler("contracts", "contract_signed")
    def on_contract_signed(self, event):
        self._apply(event, ContractSigned, reactions.contract_signed)

    @event_handler("contracts", "contact_details_changed")
    def on_contact_details_changed(self, event):
        self._apply(event, ContactDetailsChanged, reactions.contact_details_changed)

    @event_handler("contracts", "consumption_point_claimed")
    def on_consumption_point_claimed(self, event):
        self._apply(event, ConsumptionPointClaimed, desk.claim_case)

    @event_handler("contracts", "consumption_point_linked")
    def on_consumption_point_linked(self, event):
        self._apply(event, ConsumptionPointLinked, reactions.claim_approved)

    @event_handler("contracts", "consumption_point_claim_rejected")
    def on_consumption_point_claim_rejected(self, event):
        self._apply(event, ConsumptionPointClaimRejected, reactions.claim_rejected)

    @batch_event_handler("billing", "invoice_issued")
    def on_invoice_issued(self, events):
        """A billing run's burst: each batch's messages in a few statements."""
        self.db.apply_batch(self._parsed(events, InvoiceIssued),
                            "notifications.on_invoice_issued", reactions.invoices_issued)

    @batch_event_handler("billing", "credit_note_issued")
    def on_credit_note_issued(self, events):
        self.db.apply_batch(self._parsed(events, CreditNoteIssued),
                            "notifications.on_credit_note_issued", reactions.credit_notes_issued)

    @event_handler("billing", "payment_received")
    def on_payment_received(self, event):
        self._apply(event, PaymentReceived, reactions.payment_received)

    @event_handler("billing", "invoice_overdue")
    def on_invoice_overdue(self, event):
        self._apply(event, InvoiceOverdue, reactions.invoice_overdue)

    @event_handler("identity", "mandate_granted")
    def on_mandate_granted(self, event):
        self._apply(event, MandateGranted, reactions.mandate_changed)

    @event_handler("identity", "mandate_revoked")
    def on_mandate_revoked(self, event):
        self._apply(event, MandateRevoked, reactions.mandate_changed)

    @event_handler("identity", "mandate_expired")
    def on_mandate_expired(self, event):
        self._apply(event, MandateExpired, reactions.mandate_changed)

    # -- sending ------------------------------------------------------------------------

    @timer(interval=1)
    def send_deliveries(self):
        """E-mails and SMS queued by committed notifications; every replica sends,
        none the same one twice (delivery.py)."""
        while delivery.send_due(self.db.unit_of_work, self.channels, self.channels.policy):
            eventlet.sleep(0)   # the RPCs and handlers waiting get their turn

    @rpc(api.deliveries)
    def deliveries(self, status="failed"):
        with self.db.unit_of_work() as uow:
            return delivery.deliveries_with(uow, status)

    # -- reminders ----------------------------------------------------------------------

    def _window(self):
        return cfg.int_setting(self.config, "VOOL_READING_WINDOW_DAYS", 3)

    @rpc(api.reminder_sweep)
    @measured_job("reminder_sweep")
    def reminder_sweep(self, as_of=None):
        today = self.clock.today()
        day = operating_date(as_of or today, "as_of", today, ahead_days=1)
        sent = 0
        while True:
            # a short transaction per batch; the RPCs and handlers waiting run
            # between two (and on SQLite the write lock is free)
            started = time.monotonic()
            with self.db.unit_of_work() as uow:
                batch = reminders.sweep(uow, day, self._window())
            sent += batch
            if batch == 0:
                return {"reminders_sent": sent}
            self.db.pause_between_batches(started)

    @timer(interval=3600)
    def hourly_reminder_sweep(self):
        self.reminder_sweep()

    @rpc(api.reminders)
    def reminders(self, consumption_point_id):
        with self.db.unit_of_work() as uow:
            return reminders.reminders_of(uow, consumption_point_id)

    # -- the customer's inbox -----------------------------------------------------------

    @rpc(api.inbox)
    def inbox(self, customer_id):
        with self.db.unit_of_work() as uow:
            return inbox.inbox_of(uow, customer_id)

    @rpc(api.mark_read)
    def mark_read(self, customer_id, notification_id):
        with self.db.unit_of_work() as uow:
            inbox.mark_read(uow, customer_id, notification_id)

    # -- the service desk ---------------------------------------------------------------

    @rpc(api.open_case)
    def open_case(self, customer_id, feedback, opened_by):
        with self.db.unit_of_work() as uow:
            return desk.open_case(uow, customer_id, feedback, opened_by)

    @rpc(api.cases_of)
    def cases_of(self, customer_id):
        with self.db.unit_of_work() as uow:
            return desk.cases_of(uow, customer_id)

    @rpc(api.customer_messages)
    def customer_messages(self, parts_of, newest=None):
        parts = {"inbox": inbox.inbox_of, "cases": desk.cases_of}
        with self.db.unit_of_work() as uow:
            return {customer_id: {part: parts[part](uow, customer_id, newest)
                                  for part in asked}
                    for customer_id, asked in parts_of.items()}

    @rpc(api.list_cases)
    def list_cases(self, status="open"):
        with self.db.unit_of_work() as uow:
            return desk.list_cases(uow, status)

    @rpc(api.reply_to_case)
    def reply_to_case(self, case_id, reply, replied_by):
        with self.db.unit_of_work() as uow:
            return desk.reply(uow, case_id, reply, replied_by)
