"""metering's published interface: the data of the events it emits.

pydantic only (no SQLAlchemy, no nameko): what other services and other systems
may import from metering. Field types are as metering sends them; a field a
consumer does not need may be absent (older or newer publishers).
"""
from datetime import date
from typing import Optional

from services.common.events import EventData

RegisterValues = dict[str, int]   # {register code: whole kWh}


class ReadingScheduleStarted(EventData):
    """A meter is known: its first reading is due on ``next_reading_due``."""
    event_type = "reading_schedule_started"
    version = 1

    consumption_point_id: str
    customer_id: str
    next_reading_due: date
    contract_no: Optional[str] = None
    reading_day: Optional[int] = None


class ReadingSubmitted(EventData):
    """An accepted reading (also one an operator released from review): bill it."""
    event_type = "reading_submitted"
    version = 1

    reading_id: str
    consumption_point_id: str
    contract_no: str
    customer_id: str
    tariff_plan: str
    reading_date: date
    previous_reading_date: date
    consumption: RegisterValues
    next_reading_due: date
    registers: Optional[RegisterValues] = None
    register_digits: Optional[RegisterValues] = None
    reading_day: Optional[int] = None
    released_from_review: bool = False


class ReadingHeldForReview(EventData):
    """A reading that looks implausible, held until an operator decides."""
    event_type = "reading_held_for_review"
    version = 1

    reading_id: str
    consumption_point_id: str
    customer_id: str
    reading_date: date
    reason: str
    registers: Optional[RegisterValues] = None


class ReadingRejected(EventData):
    """A held reading an operator rejected, with the reason."""
    event_type = "reading_rejected"
    version = 1

    reading_id: str
    consumption_point_id: str
    customer_id: str
    reading_date: date
    reason: str


EVENTS = (ReadingScheduleStarted, ReadingSubmitted, ReadingHeldForReview, ReadingRejected)
