"""billing: tariffs, charges, invoices and payments (entrypoints only)."""
from pathlib import Path

from services.common.rpc import rpc

from services.billing import pricing
from services.billing.models import metadata
from services.common.db import Database
from services.common.messaging import event_handler


class BillingService:
    name = "billing"

    db = Database(metadata, Path(__file__).parent / "migrations")

    @rpc
    def health(self):
        return self.db.health()

    @event_handler("metering", "reading_submitted")
    def on_reading_submitted(self, event):
        with self.db.unit_of_work() as uow:
            if not uow.handled_before(event, "billing.on_reading_submitted"):
                pricing.charge_reading(uow, event.data)

    @rpc
    def get_charge(self, reading_id):
        """returns the charge of a reading ``{charge_id, reading_id, contract_no,
        period_from, period_to, net, lines: [{kind, register, kwh, unit_price, net}]}``
        or None while it is not priced yet."""
        with self.db.unit_of_work() as uow:
            return pricing.charge_for_reading(uow, str(reading_id))
