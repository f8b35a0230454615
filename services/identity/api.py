"""identity's published interface: the data of the events it emits.

pydantic only (no SQLAlchemy, no nameko): what other services and other systems
may import from identity.
"""
from datetime import date
from typing import Optional

from services.common.events import EventData, Moment


class MandateEvent(EventData):
    """A mandate as it stands after the change the event type names."""
    mandate_id: str
    grantor_customer_id: str
    grantee_person_code: str
    scopes: list[str]
    valid_from: date
    consumption_point_ids: list[str] = []      # none: all of the grantor's
    valid_until: Optional[date] = None
    ends_on: Optional[date] = None             # the grantor's last contract's last day
    grantor_name: Optional[str] = None
    grantee_name: Optional[str] = None
    grantee_customer_id: Optional[str] = None  # when the grantee is a customer too
    created_via: Optional[str] = None          # online | office
    revoked_at: Optional[Moment] = None
    status: Optional[str] = None


class MandateGranted(MandateEvent):
    event_type = "mandate_granted"
    version = 1


class MandateRevoked(MandateEvent):
    event_type = "mandate_revoked"
    version = 1


class MandateExpired(MandateEvent):
    event_type = "mandate_expired"
    version = 1


class SessionEnded(EventData):
    """A session logged out or ended: gateways forget what they kept of it."""
    event_type = "session_ended"
    version = 1

    session: str


class AccessChanged(EventData):
    """Whom these persons may act for has changed (a contract signed, ended, moved)."""
    event_type = "access_changed"
    version = 1

    person_codes: list[str]


EVENTS = (MandateGranted, MandateRevoked, MandateExpired, SessionEnded, AccessChanged)
