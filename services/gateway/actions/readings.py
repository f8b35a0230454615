"""Submitting a meter reading, by a customer or their delegate."""
from datetime import date

from services.common.validation import Shape
from services.gateway.auth import actor

#: an idempotency key's length: with the customer id in front it fits
#: idempotency_keys.key (200); stored whole, never cut
MAX_KEY = 150


class NewReading(Shape):
    reading_date: date
    registers: dict[str, int]


def source_of(principal):
    """customer, or delegate with the mandate it acts under."""
    acting = principal["acting_for"]
    if acting["relation"] == "self":
        return {"source": "customer", "mandate_id": None}
    return {"source": "delegate", "mandate_id": acting.get("mandate_id")}


def reading_command(principal, cid, cp, reading: NewReading, key):
    """metering.submit_reading's command for a reading sent by ``principal``."""
    return {
        "consumption_point_id": cp, "customer_id": cid,
        "reading_date": reading.reading_date.isoformat(), "registers": reading.registers,
        "submitted_by": actor(principal), **source_of(principal),
        # keys are the client's: scoped to the customer so two cannot collide
        "idempotency_key": f"{cid}:{key}" if key else None,
    }


def submit_reading(services, principal, cid, cp, reading: NewReading, key=None):
    """The reading of consumption point ``cp``, sent for customer ``cid``; ``key``
    (at most MAX_KEY characters, checked by the caller who knows its field) makes a
    retry the same submission. returns metering's answer."""
    return services.call("metering", "submit_reading",
                         reading_command(principal, cid, cp, reading, key))
