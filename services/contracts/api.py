"""contracts' published interface: its RPC methods (what each takes, returns and
raises) and the data of the events it emits.

pydantic only (no SQLAlchemy, no nameko): what other services and other systems
may import from contracts. Event field types are as contracts sends them; a field
no consumer needs may be absent (older or newer publishers).
"""
from datetime import date, datetime
from typing import Annotated, Literal, Optional

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, Field, field_validator, model_validator

from services.common.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from services.common.events import EventData, EventPart
from services.common.identifiers import valid_eic, valid_personal_code
from services.common.registers import Register, check_register_set, register_value_errors
from services.common.rpc_methods import Arguments, Health, RpcMethod
from services.common.validation import Shape, rule_error


class MeterRegister(EventPart):
    code: str      # T1, T2
    digits: int    # the counter passes zero at 10**digits


class Meter(EventPart):
    serial: str
    registers: list[MeterRegister]


class Contact(EventPart):
    """Where and in which language to write to the customer."""
    postal_address: Optional[str] = None
    phone: Optional[str] = None     # E.164
    email: Optional[str] = None
    language: str = "et"            # et | en


class ContractSigned(EventData):
    event_type = "contract_signed"
    version = 1

    contract_no: str
    customer_id: str
    person_code: str
    name: str
    reference_no: str
    consumption_point_id: str
    eic: str
    address: str
    meter: Meter
    tariff_plan: str
    reading_day: int
    start_date: date
    initial_readings: dict[str, int]
    contact: Optional[Contact] = None


class ContractTerminated(EventData):
    """The contract ends from ``end_date`` (its first day out of force)."""
    event_type = "contract_terminated"
    version = 1

    contract_no: str
    end_date: date
    customer_id: Optional[str] = None
    person_code: Optional[str] = None
    consumption_point_id: Optional[str] = None
    terminated_by: Optional[str] = None


class ContactDetailsChanged(EventData):
    """``before`` and ``after`` hold only the changed fields (postal_address,
    phone, email, language); null is a cleared one."""
    event_type = "contact_details_changed"
    version = 1

    customer_id: str
    name: str
    changed_by: str
    before: dict[str, Optional[str]]
    after: dict[str, Optional[str]]


class ConsumptionPointClaimed(EventData):
    """A customer says a consumption point recorded under someone else is theirs."""
    event_type = "consumption_point_claimed"
    version = 1

    claim_id: str
    customer_id: str
    address: str
    name: Optional[str] = None
    claimed_by: Optional[str] = None
    eic: Optional[str] = None
    meter_serial: Optional[str] = None
    contract_no: Optional[str] = None
    note: Optional[str] = None


class ConsumptionPointClaimRejected(EventData):
    event_type = "consumption_point_claim_rejected"
    version = 1

    claim_id: str
    customer_id: str
    reason: str
    decided_by: Optional[str] = None


class ConsumptionPointLinked(EventData):
    """A claim approved: the contract (and its consumption point) moved from
    ``from_customer_id`` to ``customer_id``."""
    event_type = "consumption_point_linked"
    version = 1

    claim_id: str
    contract_no: str
    consumption_point_id: str
    customer_id: str
    person_code: str
    name: str
    from_customer_id: Optional[str] = None
    decided_by: Optional[str] = None


EVENTS = (ContractSigned, ContractTerminated, ContactDetailsChanged, ConsumptionPointClaimed,
          ConsumptionPointClaimRejected, ConsumptionPointLinked)


# -- RPC: contact details -------------------------------------------------------------
# Phone numbers are stored in E.164; Estonian numbers may be typed in local form
# ("5551 2345" becomes "+37255512345"). E-mail addresses are checked for syntax,
# not for deliverability (that needs the network).

#: a customer's contact details, as each answer and each change names them
CONTACT_FIELDS = ("postal_address", "phone", "email", "language")
Language = Literal["et", "en"]


def e164_phone(value):
    try:
        number = phonenumbers.parse(value, "EE")
    except phonenumbers.NumberParseException:
        raise rule_error("phone-invalid", "not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise rule_error("phone-invalid", "not a valid phone number (international form "
                                          "+372..., or an Estonian number)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalised_email(value):
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise rule_error("email-invalid", str(exc)) from None


class ContactChange(Shape):
    """Any subset of the contact details; null clears an optional one."""
    postal_address: Optional[str] = Field(default=None, max_length=500)
    phone: Optional[str] = Field(default=None, max_length=32)
    email: Optional[str] = Field(default=None, max_length=320)
    language: Optional[Language] = None

    @field_validator("phone")
    @classmethod
    def phone_is_valid(cls, value):
        return None if value in (None, "") else e164_phone(value)

    @field_validator("email")
    @classmethod
    def email_is_valid(cls, value):
        return None if value in (None, "") else normalised_email(value)


class ContactDetails(ContactChange):
    """A new customer's contact details, given at signing (``Contact`` is how
    contract_signed carries them on)."""
    language: Language = "et"


# -- RPC: arguments -----------------------------------------------------------------

#: customers one customers_with_contracts call may ask for
MAX_CUSTOMERS_ASKED = 1000

CustomerId = Annotated[str, Field(min_length=1, max_length=36)]
ContractNo = Annotated[str, Field(min_length=1, max_length=20)]   # VL-000123
ClaimId = Annotated[str, Field(min_length=1, max_length=36)]
#: who acts: a person code (a customer or their delegate) or an operator's name
Actor = Annotated[str, Field(min_length=1, max_length=64)]


class NewMeter(Shape):
    serial: str = Field(min_length=1, max_length=64)
    registers: list[Register] = Field(min_length=1, max_length=2)

    @field_validator("registers")
    @classmethod
    def register_set(cls, registers):
        return check_register_set(registers)


class NewConsumptionPoint(Shape):
    """The consumption point a contract is signed for: its EIC and its meter are
    registered to no other consumption point (else Conflict)."""
    eic: str
    address: str = Field(min_length=1, max_length=500)
    meter: NewMeter

    @field_validator("eic")
    @classmethod
    def eic_is_valid(cls, value):
        return valid_eic(value)


class SignContract(Shape):
    """A contract signed at the office. A person who is already a customer gets it
    under the same customer (their name and contact details stay as they are)."""
    person_code: str
    name: str = Field(min_length=1, max_length=200)
    contact: ContactDetails = ContactDetails()
    consumption_point: NewConsumptionPoint
    tariff_plan: str = Field(min_length=1, max_length=32)
    reading_day: int = Field(ge=1, le=28)
    #: when supply begins and the date of the initial readings (default today)
    start_date: Optional[date] = None
    #: whole kWh on each register of the meter at ``start_date``
    initial_readings: dict[str, int]
    signed_at_office: Optional[str] = Field(default=None, max_length=100)

    @field_validator("person_code")
    @classmethod
    def person_code_is_valid(cls, value):
        return valid_personal_code(value)

    @model_validator(mode="after")
    def readings_fit_the_meter(self):
        registers = [r.model_dump() for r in self.consumption_point.meter.registers]
        errors = register_value_errors(self.initial_readings, registers, "initial_readings")
        if errors:
            raise ValidationFailed("; ".join(e["message"] for e in errors), errors)
        return self


class Terminate(Shape):
    """The first day the contract is out of force (default today)."""
    end_date: Optional[date] = None


class Claim(Shape):
    """A consumption point a customer says is theirs: its address and any of the
    identifiers they know."""
    address: str = Field(min_length=3, max_length=500)
    eic: Optional[str] = None
    meter_serial: Optional[str] = Field(default=None, max_length=64)
    contract_no: Optional[str] = Field(default=None, max_length=20)
    note: Optional[str] = Field(default=None, max_length=2000)

    @field_validator("eic")
    @classmethod
    def eic_is_valid(cls, value):
        return None if value in (None, "") else valid_eic(value)

    @field_validator("meter_serial", "contract_no", "note")
    @classmethod
    def blank_is_none(cls, value):
        return value or None


class ClaimDecision(Shape):
    """The desk's decision on a claim: approve naming the contract to link, or
    reject saying why."""
    approve: bool
    contract_no: Optional[str] = Field(default=None, max_length=20)
    reason: Optional[str] = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def what_each_decision_needs(self):
        if self.approve and not self.contract_no:
            raise ValidationFailed.field("contract_no", "name the contract to link")
        if not self.approve and not (self.reason or "").strip():
            raise ValidationFailed.field("reason", "say why the claim is rejected")
        return self


class SignContractArguments(Arguments):
    command: SignContract


class ContractArguments(Arguments):
    contract_no: ContractNo


class TerminateContractArguments(Arguments):
    contract_no: ContractNo
    command: Terminate
    terminated_by: Actor


class CustomerArguments(Arguments):
    customer_id: CustomerId


class ChangeContactArguments(Arguments):
    customer_id: CustomerId
    change: ContactChange
    changed_by: Actor


CustomerPart = Literal["consumption_points", "contact", "claims", "contracts"]


class CustomerOverviewArguments(Arguments):
    #: {customer_id: the parts wanted: consumption_points (as consumption_points_of),
    #: contact (as get_customer's), claims (as claims_of), contracts (as contracts_of)}
    parts_of: dict[str, list[CustomerPart]] = Field(max_length=MAX_CUSTOMERS_ASKED)


class CustomersWithContractsArguments(Arguments):
    customer_ids: list[str] = Field(max_length=MAX_CUSTOMERS_ASKED)


class ClaimConsumptionPointArguments(Arguments):
    customer_id: CustomerId
    claim: Claim
    claimed_by: Actor


class ClaimsForDeskArguments(Arguments):
    status: Literal["pending", "approved", "rejected", "all"] = "pending"


class DecideClaimArguments(Arguments):
    claim_id: ClaimId
    decision: ClaimDecision
    operator: Actor


# -- RPC: results -------------------------------------------------------------------

#: active; ending (terminated from a later date); ended
ContractStatus = Literal["active", "ending", "ended"]
ClaimStatus = Literal["pending", "approved", "rejected"]


class SignedContract(BaseModel):
    customer_id: str
    contract_no: str
    reference_no: str      # the payment reference number of the contract's invoices
    consumption_point_id: str


class ConsumptionPoint(BaseModel):
    id: str
    eic: str
    address: str
    meter: Meter


class Contract(BaseModel):
    """A contract and its terms, as its customer sees it."""
    contract_no: str
    status: ContractStatus
    signed_at: datetime
    signed_at_office: Optional[str] = None
    reference_no: str
    reading_day: int
    tariff_plan: str
    start_date: date
    end_date: Optional[date] = None
    consumption_point: ConsumptionPoint


class CustomerSummary(BaseModel):
    customer_id: str
    name: str
    person_code: str


class ContractWithCustomer(Contract):
    customer: CustomerSummary


class ContractHolder(BaseModel):
    """Who held a contract when: a contract moves when a claim for its consumption
    point is approved; the current holder has no ``held_until``."""
    customer_id: str
    held_from: datetime
    held_until: Optional[datetime] = None
    reason: str


class CustomerContact(BaseModel):
    """Every contact field, null where the customer gave none."""
    postal_address: Optional[str]
    phone: Optional[str]
    email: Optional[str]
    language: Language


class Customer(CustomerSummary):
    contact: CustomerContact


class CustomerWithContracts(Customer):
    contracts: list[Contract]


class ContactChangeRecord(BaseModel):
    """One change of contact details: only the changed fields, before and after."""
    changed_at: datetime
    changed_by: str
    before: dict[str, Optional[str]]
    after: dict[str, Optional[str]]


class SuppliedPoint(ConsumptionPoint):
    """A consumption point supplied under one of the customer's contracts not ended."""
    contract_no: str


class ClaimReceipt(BaseModel):
    claim_id: str
    status: ClaimStatus   # the same claim again answers the first one's status


class ClaimRecord(BaseModel):
    """A claim with its decision: ``reason`` for a rejection, ``linked_contract_no``
    for an approval."""
    claim_id: str
    status: ClaimStatus
    address: str
    eic: Optional[str] = None
    meter_serial: Optional[str] = None
    contract_no: Optional[str] = None
    note: Optional[str] = None
    reason: Optional[str] = None
    created_at: datetime
    decided_at: Optional[datetime] = None
    linked_contract_no: Optional[str] = None


class MatchingContract(BaseModel):
    """Another customer's contract whose consumption point a claim may mean."""
    contract_no: str
    holder: str            # the holder's name
    eic: str
    meter_serial: str
    address: str
    status: ContractStatus


class DeskClaim(ClaimRecord):
    customer: CustomerSummary
    matching_contracts: list[MatchingContract]


class CustomerParts(BaseModel):
    consumption_points: Optional[list[SuppliedPoint]] = None
    contact: Optional[CustomerContact] = None
    claims: Optional[list[ClaimRecord]] = None
    contracts: Optional[list[Contract]] = None


# -- RPC: methods -------------------------------------------------------------------

health = RpcMethod("contracts", "health", returns=Health,
                   summary="Whether contracts' database answers.")
sign_contract = RpcMethod(
    "contracts", "sign_contract", SignContractArguments, returns=SignedContract,
    raises=(ValidationFailed, Conflict, ServiceUnavailable),
    summary="Sign a contract at the office (contract_signed). ValidationFailed names "
            "the field (tariff_plan when billing has no such plan); Conflict when the "
            "EIC or the meter is registered already; ServiceUnavailable when the plan "
            "is not known here and billing does not answer.")
get_contract = RpcMethod(
    "contracts", "get_contract", ContractArguments, returns=ContractWithCustomer,
    raises=(ValidationFailed, NotFound),
    summary="A contract as its customer sees it, with its customer.")
terminate_contract = RpcMethod(
    "contracts", "terminate_contract", TerminateContractArguments,
    returns=ContractWithCustomer, raises=(ValidationFailed, NotFound, Conflict),
    summary="End a contract from a date, default today (contract_terminated); "
            "Conflict when it is terminated already.")
contract_holders = RpcMethod(
    "contracts", "contract_holders", ContractArguments, returns=list[ContractHolder],
    raises=(ValidationFailed,),
    summary="Who held a contract when, the current holder last ([] for no such "
            "contract).")
load_demo = RpcMethod(
    "contracts", "load_demo", returns=list[SignedContract],
    summary="Sign the demo's contracts into a database without customers; [] when it "
            "has some.")
get_customer = RpcMethod(
    "contracts", "get_customer", CustomerArguments, returns=Customer,
    raises=(ValidationFailed, NotFound),
    summary="A customer's name, person code and contact details.")
change_contact = RpcMethod(
    "contracts", "change_contact", ChangeContactArguments, returns=Customer,
    raises=(ValidationFailed, NotFound),
    summary="Change any of the contact details (at least one): kept in the history "
            "and forwarded to the desk (contact_details_changed).")
contact_history = RpcMethod(
    "contracts", "contact_history", CustomerArguments, returns=list[ContactChangeRecord],
    raises=(ValidationFailed, NotFound),
    summary="Every change of a customer's contact details, who and when, newest first.")
contracts_of = RpcMethod(
    "contracts", "contracts_of", CustomerArguments, returns=list[Contract],
    raises=(ValidationFailed, NotFound),
    summary="A customer's contracts (ended ones too), by contract number.")
customers_with_contracts = RpcMethod(
    "contracts", "customers_with_contracts", CustomersWithContractsArguments,
    returns=dict[str, CustomerWithContracts], raises=(ValidationFailed,),
    summary=f"Up to {MAX_CUSTOMERS_ASKED} customers with their contracts, by customer "
            "id; an unknown id is left out.")
consumption_points_of = RpcMethod(
    "contracts", "consumption_points_of", CustomerArguments, returns=list[SuppliedPoint],
    raises=(ValidationFailed, NotFound),
    summary="A customer's consumption points under contracts not ended.")
claim_consumption_point = RpcMethod(
    "contracts", "claim_consumption_point", ClaimConsumptionPointArguments,
    returns=ClaimReceipt, raises=(ValidationFailed, NotFound, Conflict),
    summary="A customer claims a consumption point recorded under someone else "
            "(consumption_point_claimed); the same claim twice is one claim. Conflict "
            "(code already-linked) for a point that is theirs already.")
customer_overview = RpcMethod(
    "contracts", "customer_overview", CustomerOverviewArguments,
    returns=dict[str, CustomerParts], raises=(ValidationFailed, NotFound),
    summary="A page's customers in one call: the parts asked of each; NotFound for a "
            "customer contracts does not know.")
claims_of = RpcMethod(
    "contracts", "claims_of", CustomerArguments, returns=list[ClaimRecord],
    raises=(ValidationFailed,),
    summary="A customer's claims with their decisions, newest first.")
claims_for_desk = RpcMethod(
    "contracts", "claims_for_desk", ClaimsForDeskArguments, returns=list[DeskClaim],
    raises=(ValidationFailed,),
    summary="Claims in a status (default pending), oldest first, each with its "
            "customer and the other customers' contracts that match it.")
decide_claim = RpcMethod(
    "contracts", "decide_claim", DecideClaimArguments, returns=ClaimRecord,
    raises=(ValidationFailed, NotFound, Conflict),
    summary="Approve a claim, moving the contract to the claimant "
            "(consumption_point_linked), or reject it with a reason "
            "(consumption_point_claim_rejected); Conflict when it is decided already.")
