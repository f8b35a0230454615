"""contracts: customers, contracts and consumption points (RPC entrypoints only)."""
from pathlib import Path

from services.common.rpc import rpc

from services.common.db import Database
from services.common.validation import parse
from services.contracts import signing
from services.contracts.models import metadata


class ContractsService:
    name = "contracts"

    db = Database(metadata, Path(__file__).parent / "migrations")

    @rpc
    def health(self):
        return self.db.health()

    @rpc
    def sign_contract(self, command):
        """Sign a contract at the office.

        command: ``{person_code, name, contact?: {postal_address, phone, email,
        language}, consumption_point: {eic, address, meter: {serial, registers:
        [{code, digits}]}}, tariff_plan, reading_day, start_date?,
        initial_readings: {code: kWh}, signed_at_office?}``
        returns: ``{customer_id, contract_no, reference_no, consumption_point_id}``
        raises: ValidationFailed (field errors), Conflict (EIC or meter taken)
        """
        command = parse(signing.SignContract, command)
        with self.db.unit_of_work() as uow:
            return signing.sign_contract(uow, command)

    @rpc
    def get_contract(self, contract_no):
        """returns the contract with its customer and consumption point; NotFound."""
        with self.db.unit_of_work() as uow:
            return signing.get_contract(uow, str(contract_no))
