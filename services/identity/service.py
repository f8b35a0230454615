"""identity: persons, logins, sessions and mandates (entrypoints only)."""
from pathlib import Path

from services.common.rpc import rpc

from services.common.db import Database
from services.common.messaging import event_handler
from services.identity import eligibility
from services.identity.models import metadata


class IdentityService:
    name = "identity"

    db = Database(metadata, Path(__file__).parent / "migrations")

    @rpc
    def health(self):
        return self.db.health()

    @event_handler("contracts", "contract_signed")
    def on_contract_signed(self, event):
        with self.db.unit_of_work() as uow:
            if not uow.handled_before(event, "identity.on_contract_signed"):
                eligibility.record_contract(uow, event.data)

    @rpc
    def is_eligible(self, person_code):
        """returns True while the person holds an active contract."""
        with self.db.unit_of_work() as uow:
            return eligibility.has_active_contract(uow, str(person_code))
