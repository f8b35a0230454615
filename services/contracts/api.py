"""contracts' published interface: the data of the events it emits.

pydantic only (no SQLAlchemy, no nameko): what other services and other systems
may import from contracts. Field types are as contracts sends them; a field no
consumer needs may be absent (older or newer publishers).
"""
from datetime import date
from typing import Optional

from services.common.events import EventData, EventPart


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
