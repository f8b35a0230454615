"""notifications: reminders, messages and the service desk (entrypoints only)."""
from pathlib import Path

from services.common.rpc import rpc

from services.common.db import Database
from services.common.messaging import event_handler
from services.notifications import desk, reminders
from services.notifications.models import metadata


class NotificationsService:
    name = "notifications"

    db = Database(metadata, Path(__file__).parent / "migrations")

    @rpc
    def health(self):
        return self.db.health()

    @event_handler("metering", "reading_submitted")
    def on_reading_submitted(self, event):
        with self.db.unit_of_work() as uow:
            if not uow.handled_before(event, "notifications.on_reading_submitted"):
                reminders.reschedule(uow, event.data)

    @rpc
    def reminders(self, consumption_point_id):
        """returns every reminder of a consumption point, oldest first:
        ``[{reminder_id, due_on, status: pending|cancelled|sent}]``"""
        with self.db.unit_of_work() as uow:
            return reminders.reminders_of(uow, str(consumption_point_id))

    @event_handler("contracts", "contact_details_changed")
    def on_contact_details_changed(self, event):
        with self.db.unit_of_work() as uow:
            if not uow.handled_before(event, "notifications.on_contact_details_changed"):
                desk.contact_change_case(uow, event)

    @event_handler("contracts", "consumption_point_claimed")
    def on_consumption_point_claimed(self, event):
        with self.db.unit_of_work() as uow:
            if not uow.handled_before(event, "notifications.on_consumption_point_claimed"):
                desk.claim_case(uow, event)

    @rpc
    def list_cases(self, status="open"):
        """The desk's queue: ``[{case_id, kind, customer_id, subject, body, status,
        created_at}]``, oldest first; status open|answered|closed|all."""
        with self.db.unit_of_work() as uow:
            return desk.list_cases(uow, str(status))
