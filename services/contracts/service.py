"""contracts: customers, contracts, consumption points and claims (entrypoints
only; what each method takes, returns and raises is in services/contracts/api.py)."""
from pathlib import Path

from services.common.correlation import Correlation
from services.common.db import Database
from services.common.ops import OpsPort
from services.common.rpc import rpc
from services.common.rpc_calls import ServiceRpc
from services.contracts import api, customers, demo, linking, signing, tariff_plans
from services.contracts.models import metadata

#: seconds signing waits for billing's plans: within the gateway's own wait for us
BILLING_TIMEOUT = 2.0


class ContractsService:
    name = "contracts"
    correlation = Correlation()   # each worker's request id and span: logs, RPCs, events

    db = Database(metadata, Path(__file__).parent / "migrations")
    ops = OpsPort()   # /metrics and /health on VOOL_OPS_ADDRESS; every worker measured
    services = ServiceRpc()

    @rpc(api.health)
    def health(self):
        return self.db.health()

    # -- at the office -------------------------------------------------------------

    @rpc(api.sign_contract)
    def sign_contract(self, command):
        tariff_plans.make_known(self.db, command.tariff_plan, lambda: self.services.call(
            "billing", "tariff_plans", timeout=BILLING_TIMEOUT))
        with self.db.unit_of_work() as uow:
            return signing.sign_contract(uow, command)

    @rpc(api.get_contract)
    def get_contract(self, contract_no):
        with self.db.unit_of_work() as uow:
            return signing.get_contract(uow, contract_no)

    @rpc(api.terminate_contract)
    def terminate_contract(self, contract_no, command, terminated_by):
        with self.db.unit_of_work() as uow:
            return signing.terminate_contract(uow, contract_no, command, terminated_by)

    @rpc(api.contract_holders)
    def contract_holders(self, contract_no):
        with self.db.unit_of_work() as uow:
            return linking.holders_of(uow, contract_no)

    @rpc(api.load_demo)
    def load_demo(self):
        with self.db.unit_of_work() as uow:
            return demo.load_demo(uow)

    # -- the customer's own view ------------------------------------------------------

    @rpc(api.get_customer)
    def get_customer(self, customer_id):
        with self.db.unit_of_work() as uow:
            return customers.customer_view(uow, customer_id)

    @rpc(api.change_contact)
    def change_contact(self, customer_id, change, changed_by):
        with self.db.unit_of_work() as uow:
            return customers.change_contact(uow, customer_id, change, changed_by)

    @rpc(api.contact_history)
    def contact_history(self, customer_id):
        with self.db.unit_of_work() as uow:
            return customers.contact_history(uow, customer_id)

    @rpc(api.contracts_of)
    def contracts_of(self, customer_id):
        with self.db.unit_of_work() as uow:
            return customers.contracts_of(uow, customer_id)

    @rpc(api.customers_with_contracts)
    def customers_with_contracts(self, customer_ids):
        with self.db.unit_of_work() as uow:
            return customers.customers_with_contracts(uow, customer_ids)

    @rpc(api.consumption_points_of)
    def consumption_points_of(self, customer_id):
        with self.db.unit_of_work() as uow:
            return customers.consumption_points_of(uow, customer_id)

    @rpc(api.customer_overview)
    def customer_overview(self, parts_of):
        parts = {
            "consumption_points": customers.consumption_points_of,
            "contact": lambda uow, customer_id:
                customers.customer_view(uow, customer_id)["contact"],
            "claims": linking.claims_of,
            "contracts": customers.contracts_of,
        }
        with self.db.unit_of_work() as uow:
            return {customer_id: {part: parts[part](uow, customer_id) for part in asked}
                    for customer_id, asked in parts_of.items()}

    # -- linking --------------------------------------------------------------------

    @rpc(api.claim_consumption_point)
    def claim_consumption_point(self, customer_id, claim, claimed_by):
        with self.db.unit_of_work() as uow:
            return linking.claim_point(uow, customer_id, claim, claimed_by)

    @rpc(api.claims_of)
    def claims_of(self, customer_id):
        with self.db.unit_of_work() as uow:
            return linking.claims_of(uow, customer_id)

    @rpc(api.claims_for_desk)
    def claims_for_desk(self, status="pending"):
        with self.db.unit_of_work() as uow:
            return linking.claims_for_desk(uow, status)

    @rpc(api.decide_claim)
    def decide_claim(self, claim_id, decision, operator):
        with self.db.unit_of_work() as uow:
            return linking.decide(uow, claim_id, decision, operator)
