"""contracts' published interface: the data of the events it emits and the
commands its RPC methods take.

pydantic only (no SQLAlchemy, no nameko): what other services and other systems
may import from contracts. Field types are as contracts sends them; a field no
consumer needs may be absent (older or newer publishers).
"""
from datetime import date
from typing import Literal, Optional

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import Field, field_validator, model_validator

from services.common.errors import ValidationFailed
from services.common.events import EventData, EventPart
from services.common.identifiers import valid_eic, valid_personal_code
from services.common.registers import Register, check_register_set, register_value_errors
from services.common.validation import Shape


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


# -- commands: what its RPC methods take ------------------------------------------

def e164_phone(value):
    try:
        number = phonenumbers.parse(value, "EE")
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number (international form +372..., or an "
                         "Estonian number)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalised_email(value):
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


class ContactChange(Shape):
    """Any subset of the contact details; null clears an optional one."""
    postal_address: Optional[str] = Field(default=None, max_length=500)
    phone: Optional[str] = Field(default=None, max_length=32)
    email: Optional[str] = Field(default=None, max_length=320)
    language: Optional[Literal["et", "en"]] = None

    @field_validator("phone")
    @classmethod
    def phone_is_valid(cls, value):
        return None if value in (None, "") else e164_phone(value)

    @field_validator("email")
    @classmethod
    def email_is_valid(cls, value):
        return None if value in (None, "") else normalised_email(value)


class ContractContact(ContactChange):
    """The contact details a contract is signed with."""
    language: Literal["et", "en"] = "et"


class ContractMeter(Shape):
    serial: str = Field(min_length=1, max_length=64)
    registers: list[Register] = Field(min_length=1, max_length=2)

    @field_validator("registers")
    @classmethod
    def register_set(cls, registers):
        return check_register_set(registers)


class ContractConsumptionPoint(Shape):
    eic: str
    address: str = Field(min_length=1, max_length=500)
    meter: ContractMeter

    @field_validator("eic")
    @classmethod
    def eic_is_valid(cls, value):
        return valid_eic(value)


class SignContract(Shape):
    person_code: str
    name: str = Field(min_length=1, max_length=200)
    contact: ContractContact = ContractContact()
    consumption_point: ContractConsumptionPoint
    tariff_plan: str = Field(min_length=1, max_length=32)
    reading_day: int = Field(ge=1, le=28)
    start_date: Optional[date] = None
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
    end_date: Optional[date] = None


class Claim(Shape):
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


class Decision(Shape):
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
