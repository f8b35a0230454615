"""notifications: reminders, messages and the service desk (entrypoints only)."""
import time
from dataclasses import replace
from pathlib import Path

import eventlet
from nameko.dependency_providers import Config
from nameko.timer import timer

from services.billing.api import InvoiceIssued, InvoiceOverdue, PaymentReceived
from services.common import config as cfg
from services.common.clock import ClockProvider
from services.common.db import Database
from services.common.errors import ValidationFailed
from services.common.messaging import event_handler
from services.common.rpc import rpc
from services.common.validation import parse, sweep_day
from services.contracts.api import (ConsumptionPointClaimed, ConsumptionPointClaimRejected,
                                    ConsumptionPointLinked, ContactDetailsChanged,
                                    ContractSigned)
from services.identity.api import MandateExpired, MandateGranted, MandateRevoked
from services.metering.api import (ReadingHeldForReview, ReadingRejected,
                                   ReadingScheduleStarted, ReadingSubmitted)
from services.notifications import delivery, desk, inbox, reactions, reminders
from services.notifications.channels import Channels
from services.notifications.models import metadata


class NotificationsService:
    name = "notifications"

    db = Database(metadata, Path(__file__).parent / "migrations")
    config = Config()
    clock = ClockProvider()
    channels = Channels()

    @rpc
    def health(self):
        return self.db.health()

    def _apply(self, event, payload, change):
        """``change(uow, event)`` once per event, its data parsed with the publisher's
        ``payload`` model first (data that does not fit never reaches the database)."""
        event = replace(event, data=payload.data_of(event))
        self.db.apply_once(event, f"notifications.on_{event.event_type}", change, event)

    # -- what other services tell us -------------------------------------------------

    @event_handler("metering", "reading_submitted")
    def on_reading_submitted(self, event):
        self._apply(event, ReadingSubmitted, reactions.reading_submitted)

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

    @event_handler("billing", "invoice_issued")
    def on_invoice_issued(self, event):
        self._apply(event, InvoiceIssued, reactions.invoice_issued)

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

    @rpc
    def deliveries(self, status="failed"):
        """For operators: the latest 500 e-mails and SMS in ``status`` (pending, sent,
        failed or all), newest first: ``[{delivery_id, notification_id, customer_id,
        kind, channel, address, language, subject, status, attempts, last_error,
        created_at, next_attempt_at, sent_at}]``; ValidationFailed."""
        with self.db.unit_of_work() as uow:
            return delivery.deliveries_with(uow, str(status))

    # -- reminders ----------------------------------------------------------------------

    def _window(self):
        return cfg.int_setting(self.config, "VOOL_READING_WINDOW_DAYS", 3)

    @rpc
    def reminder_sweep(self, as_of=None):
        """Send the reminders whose reading window closed before ``as_of``
        (YYYY-MM-DD, default today). returns ``{reminders_sent}``."""
        day = sweep_day(as_of, self.clock.today())
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

    @rpc
    def reminders(self, consumption_point_id):
        """returns every reminder of a consumption point, oldest first:
        ``[{reminder_id, due_on, status: pending|cancelled|sent}]``"""
        with self.db.unit_of_work() as uow:
            return reminders.reminders_of(uow, str(consumption_point_id))

    # -- the customer's inbox -----------------------------------------------------------

    @rpc
    def inbox(self, customer_id):
        """The customer's notifications, newest first:
        ``[{notification_id, kind, subject, body, created_at, read}]``"""
        with self.db.unit_of_work() as uow:
            return inbox.inbox_of(uow, str(customer_id))

    @rpc
    def mark_read(self, customer_id, notification_id):
        """Mark one of the customer's notifications read; NotFound if it is not theirs."""
        with self.db.unit_of_work() as uow:
            inbox.mark_read(uow, str(customer_id), str(notification_id))

    # -- the service desk ---------------------------------------------------------------

    @rpc
    def open_case(self, customer_id, feedback, opened_by):
        """A customer's message to the desk. feedback: ``{kind: proposal|complaint|
        question, subject, body}``; opened_by: who wrote it (a person code).
        returns ``{case_id}``; ValidationFailed."""
        feedback = parse(desk.Feedback, feedback)
        with self.db.unit_of_work() as uow:
            return desk.open_case(uow, str(customer_id), feedback, str(opened_by))

    @rpc
    def cases_of(self, customer_id):
        """What the customer wrote, newest first: ``[{case_id, kind, subject, body,
        status, created_at, replies: [{body, at}]}]``"""
        with self.db.unit_of_work() as uow:
            return desk.cases_of(uow, str(customer_id))

    @rpc
    def customer_messages(self, parts_of):
        """A page's customers at once: ``parts_of`` is ``{customer_id: [part]}``, the
        parts ``inbox`` (as inbox) and ``cases`` (as cases_of). returns
        ``{customer_id: {part: [...]}}``."""
        parts = {"inbox": inbox.inbox_of, "cases": desk.cases_of}
        if not isinstance(parts_of, dict) or not all(
                isinstance(p, list) and set(p) <= set(parts) for p in parts_of.values()):
            raise ValidationFailed.field("parts_of", "{customer_id: [inbox|cases]}")
        with self.db.unit_of_work() as uow:
            return {str(cid): {part: parts[part](uow, str(cid)) for part in asked}
                    for cid, asked in parts_of.items()}

    @rpc
    def list_cases(self, status="open"):
        """The desk's queue, oldest first; status open|answered|closed|all:
        ``[{case_id, kind, customer_id, subject, body, status, created_at, opened_by,
        replies: [{body, at, by}], customer: {customer_id, name, contact: {email,
        phone, language}}}]`` (the customer as this service last heard of them)."""
        with self.db.unit_of_work() as uow:
            return desk.list_cases(uow, str(status))

    @rpc
    def reply_to_case(self, case_id, reply, replied_by):
        """The desk's reply: ``{body}``. The case becomes answered and the customer
        who wrote it gets a case_answered notification. returns the case;
        NotFound, ValidationFailed."""
        reply = parse(desk.Reply, reply)
        with self.db.unit_of_work() as uow:
            return desk.reply(uow, str(case_id), reply, str(replied_by))
