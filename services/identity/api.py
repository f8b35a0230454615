"""identity's published interface: the data of the events it emits and the
commands its RPC methods take.

pydantic only (no SQLAlchemy, no nameko): what other services and other systems
may import from identity.
"""
from datetime import date
from typing import Optional

from pydantic import Field, field_validator, model_validator

from services.common.events import EventData, Moment
from services.common.identifiers import valid_personal_code
from services.common.scopes import SCOPES
from services.common.validation import Shape


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


# -- commands: what its RPC methods take ------------------------------------------

class MandateGrant(Shape):
    """What the grantor asks for online (API.md POST .../mandates)."""
    grantee_person_code: str
    scopes: list[str] = Field(min_length=1)
    consumption_point_ids: list[str] = Field(default_factory=list, max_length=100)
    valid_from: Optional[date] = None
    valid_until: Optional[date] = None

    @field_validator("grantee_person_code")
    @classmethod
    def _person_code(cls, value):
        return valid_personal_code(value)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value):
        unknown = sorted(set(value) - set(SCOPES))
        if unknown:
            raise ValueError(f"unknown scope {', '.join(unknown)}; one of {', '.join(SCOPES)}")
        return sorted(set(value))

    @model_validator(mode="after")
    def _period(self):
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class OfficeMandate(MandateGrant):
    """A mandate signed at the office (POST /api/v1/operator/mandates)."""
    grantor_person_code: str

    @field_validator("grantor_person_code")
    @classmethod
    def _grantor_code(cls, value):
        return valid_personal_code(value)
