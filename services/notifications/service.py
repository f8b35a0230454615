"""notifications: reminders, messages and the service desk (entrypoints only)."""
from datetime import date
from pathlib import Path

from nameko.dependency_providers import Config
from nameko.timer import timer

from services.common import config as cfg
from services.common.clock import ClockProvider
from services.common.errors import ValidationFailed
from services.common.rpc import rpc

from services.common.db import Database
from services.common.messaging import event_handler
from services.notifications import desk, inbox, reminders
from services.notifications.models import metadata


class NotificationsService:
    name = "notifications"

    db = Database(metadata, Path(__file__).parent / "migrations")
    config = Config()
    clock = ClockProvider()

    @rpc
    def health(self):
        return self.db.health()

    @event_handler("metering", "reading_submitted")
    def on_reading_submitted(self, event):
        self.db.apply_once(event, "notifications.on_reading_submitted",
                          reminders.reschedule, event.data)

    @event_handler("metering", "reading_schedule_started")
    def on_reading_schedule_started(self, event):
        self.db.apply_once(event, "notifications.on_reading_schedule_started",
                          reminders.reschedule, event.data)

    @event_handler("metering", "reading_held_for_review")
    def on_reading_held_for_review(self, event):
        self.db.apply_once(event, "notifications.on_reading_held_for_review",
                          inbox.deliver, event.data["customer_id"], "reading_held", event.data)

    @event_handler("metering", "reading_rejected")
    def on_reading_rejected(self, event):
        self.db.apply_once(event, "notifications.on_reading_rejected",
                           inbox.deliver, event.data["customer_id"], "reading_decided", event.data)

    @event_handler("contracts", "consumption_point_linked")
    def on_consumption_point_linked(self, event):
        self.db.apply_once(event, "notifications.on_consumption_point_linked",
                          reminders.relink, event.data)

    def _window(self):
        return cfg.int_setting(self.config, "VOOL_READING_WINDOW_DAYS", 3)

    @rpc
    def reminder_sweep(self, as_of=None):
        """Send the reminders whose reading window closed before ``as_of``
        (YYYY-MM-DD, default today). returns ``{reminders_sent}``."""
        try:
            day = date.fromisoformat(as_of) if as_of else self.clock.today()
        except (TypeError, ValueError):
            raise ValidationFailed.field("as_of", "a date, YYYY-MM-DD") from None
        sent = 0
        while True:
            with self.db.unit_of_work() as uow:
                batch = reminders.sweep(uow, day, self._window())
            sent += batch
            if batch == 0:
                return {"reminders_sent": sent}

    @timer(interval=3600)
    def hourly_reminder_sweep(self):
        self.reminder_sweep()

    @rpc
    def inbox(self, customer_id):
        """The customer's notifications, newest first:
        ``[{notification_id, kind, subject, body, created_at, read}]``"""
        with self.db.unit_of_work() as uow:
            return inbox.inbox_of(uow, str(customer_id))

    @rpc
    def reminders(self, consumption_point_id):
        """returns every reminder of a consumption point, oldest first:
        ``[{reminder_id, due_on, status: pending|cancelled|sent}]``"""
        with self.db.unit_of_work() as uow:
            return reminders.reminders_of(uow, str(consumption_point_id))

    @event_handler("contracts", "contact_details_changed")
    def on_contact_details_changed(self, event):
        self.db.apply_once(event, "notifications.on_contact_details_changed",
                          desk.contact_change_case, event)

    @event_handler("contracts", "consumption_point_claimed")
    def on_consumption_point_claimed(self, event):
        self.db.apply_once(event, "notifications.on_consumption_point_claimed",
                          desk.claim_case, event)

    @rpc
    def list_cases(self, status="open"):
        """The desk's queue: ``[{case_id, kind, customer_id, subject, body, status,
        created_at}]``, oldest first; status open|answered|closed|all."""
        with self.db.unit_of_work() as uow:
            return desk.list_cases(uow, str(status))
