"""contracts: customers, contracts, consumption points and claims (entrypoints only)."""
from pathlib import Path

from services.common.db import Database
from services.common.errors import ValidationFailed
from services.common.rpc import rpc
from services.common.rpc_calls import ServiceRpc
from services.common.validation import parse
from services.contracts import customers, demo, linking, signing, tariff_plans
from services.contracts.contact import ContactChange
from services.contracts.models import metadata

#: customers one customers_with_contracts call may ask for
MAX_CUSTOMERS_ASKED = 1000
#: what customer_overview gives of a customer
CUSTOMER_PARTS = {
    "consumption_points": customers.consumption_points_of,
    "contact": lambda uow, customer_id: customers.customer_view(uow, customer_id)["contact"],
    "claims": linking.claims_of,
}
#: seconds signing waits for billing's plans: within the gateway's own wait for us
BILLING_TIMEOUT = 2.0


class ContractsService:
    name = "contracts"

    db = Database(metadata, Path(__file__).parent / "migrations")
    services = ServiceRpc()

    @rpc
    def health(self):
        return self.db.health()

    # -- at the office -------------------------------------------------------------

    @rpc
    def sign_contract(self, command):
        """Sign a contract at the office.

        command: ``{person_code, name, contact?: {postal_address, phone, email,
        language}, consumption_point: {eic, address, meter: {serial, registers:
        [{code, digits}]}}, tariff_plan, reading_day, start_date?,
        initial_readings: {code: kWh}, signed_at_office?}``
        returns: ``{customer_id, contract_no, reference_no, consumption_point_id}``
        raises: ValidationFailed (field errors; ``tariff_plan`` when billing has no
        such plan), Conflict (EIC or meter taken), ServiceUnavailable (the plan is
        not known here and billing does not answer)
        """
        command = parse(signing.SignContract, command)
        tariff_plans.make_known(self.db, command.tariff_plan, lambda: self.services.call(
            "billing", "tariff_plans", timeout=BILLING_TIMEOUT))
        with self.db.unit_of_work() as uow:
            return signing.sign_contract(uow, command)

    @rpc
    def get_contract(self, contract_no):
        """returns the contract with its customer and consumption point; NotFound."""
        with self.db.unit_of_work() as uow:
            return signing.get_contract(uow, str(contract_no))

    @rpc
    def terminate_contract(self, contract_no, command, terminated_by):
        """End a contract. command: ``{end_date?}`` (default today).
        returns the contract; NotFound, Conflict (already terminated), ValidationFailed."""
        command = parse(signing.Terminate, command)
        with self.db.unit_of_work() as uow:
            return signing.terminate_contract(uow, str(contract_no), command, str(terminated_by))

    @rpc
    def contract_holders(self, contract_no):
        """returns who held the contract when: ``[{customer_id, held_from, held_until, reason}]``"""
        with self.db.unit_of_work() as uow:
            return linking.holders_of(uow, str(contract_no))

    @rpc
    def load_demo(self):
        """Load the demo into an empty database; returns the contracts signed."""
        with self.db.unit_of_work() as uow:
            return demo.load_demo(uow)

    # -- the customer's own view ------------------------------------------------------

    @rpc
    def get_customer(self, customer_id):
        """returns ``{customer_id, name, person_code, contact: {postal_address, phone,
        email, language}}``; NotFound."""
        with self.db.unit_of_work() as uow:
            return customers.customer_view(uow, str(customer_id))

    @rpc
    def change_contact(self, customer_id, change, changed_by):
        """change: any of ``{postal_address, phone, email, language}``. Kept in the
        history and forwarded to the desk (contact_details_changed). returns the
        customer; ValidationFailed, NotFound."""
        change = parse(ContactChange, change)
        with self.db.unit_of_work() as uow:
            return customers.change_contact(uow, str(customer_id), change, str(changed_by))

    @rpc
    def contact_history(self, customer_id):
        """returns ``[{changed_at, changed_by, before, after}]``, newest first."""
        with self.db.unit_of_work() as uow:
            return customers.contact_history(uow, str(customer_id))

    @rpc
    def contracts_of(self, customer_id):
        """returns the customer's contracts as API.md shows them; NotFound."""
        with self.db.unit_of_work() as uow:
            return customers.contracts_of(uow, str(customer_id))

    @rpc
    def customers_with_contracts(self, customer_ids):
        """customer_ids: a list of at most 1000. returns ``{customer_id: {customer_id,
        name, person_code, contact, contracts: [as contracts_of]}}`` for those that
        exist (an unknown id is left out); ValidationFailed."""
        if not isinstance(customer_ids, list) or len(customer_ids) > MAX_CUSTOMERS_ASKED:
            raise ValidationFailed.field(
                "customer_ids", f"a list of at most {MAX_CUSTOMERS_ASKED} customer ids")
        with self.db.unit_of_work() as uow:
            return customers.customers_with_contracts(uow, [str(c) for c in customer_ids])

    @rpc
    def consumption_points_of(self, customer_id):
        """returns ``[{id, eic, address, contract_no, meter}]`` under contracts not ended."""
        with self.db.unit_of_work() as uow:
            return customers.consumption_points_of(uow, str(customer_id))

    @rpc
    def customer_overview(self, parts_of):
        """A page's worth of customers at once (the portal: one call, not one per
        customer and part). parts_of: ``{customer_id: [part]}`` of at most 1000, the
        parts ``consumption_points`` (as consumption_points_of), ``contact`` (as
        get_customer's) and ``claims`` (as claims_of). returns ``{customer_id: {part:
        ...}}``; NotFound for an unknown customer, ValidationFailed."""
        if (not isinstance(parts_of, dict) or len(parts_of) > MAX_CUSTOMERS_ASKED
                or not all(isinstance(p, list) and set(p) <= set(CUSTOMER_PARTS)
                           for p in parts_of.values())):
            raise ValidationFailed.field("parts_of", "{customer_id: [part]} of at most "
                                         f"{MAX_CUSTOMERS_ASKED}; parts "
                                         f"{', '.join(CUSTOMER_PARTS)}")
        with self.db.unit_of_work() as uow:
            return {str(cid): {part: CUSTOMER_PARTS[part](uow, str(cid)) for part in parts}
                    for cid, parts in parts_of.items()}

    # -- linking --------------------------------------------------------------------

    @rpc
    def claim_consumption_point(self, customer_id, claim, claimed_by):
        """claim: ``{address, eic?, meter_serial?, contract_no?, note?}``.
        returns ``{claim_id, status}`` (the same claim twice is one claim);
        Conflict ``already-linked`` for a point the customer already has."""
        claim = parse(linking.Claim, claim)
        with self.db.unit_of_work() as uow:
            return linking.claim_point(uow, str(customer_id), claim, str(claimed_by))

    @rpc
    def claims_of(self, customer_id):
        """returns the customer's claims with their decisions, newest first."""
        with self.db.unit_of_work() as uow:
            return linking.claims_of(uow, str(customer_id))

    @rpc
    def claims_for_desk(self, status="pending"):
        """returns claims (pending|approved|rejected|all) with their customer and the
        contracts that match them."""
        if status not in ("pending", "approved", "rejected", "all"):
            raise ValidationFailed.field("status", "pending, approved, rejected or all")
        with self.db.unit_of_work() as uow:
            return linking.claims_for_desk(uow, status)

    @rpc
    def decide_claim(self, claim_id, decision, operator):
        """decision: ``{approve: true, contract_no}`` or ``{approve: false, reason}``.
        returns the claim; NotFound, Conflict (decided already), ValidationFailed."""
        decision = parse(linking.Decision, decision)
        with self.db.unit_of_work() as uow:
            return linking.decide(uow, str(claim_id), decision, str(operator))
