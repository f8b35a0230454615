"""The integration-event envelope every Vool event travels in.

``{event_id, event_type, occurred_at, version, source, data}`` — event_id is a
uuid that consumers record to handle each event once.
"""
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer


class MalformedEvent(ValueError):
    pass


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    occurred_at: datetime
    version: int
    source: str
    data: dict
    #: what its message's headers said of the worker that caused it (request id,
    #: traceparent: services/common/correlation.py); not part of the envelope
    context: dict = field(default=None, compare=False, repr=False)

    def as_message(self):
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at.isoformat(),
            "version": self.version,
            "source": self.source,
            "data": self.data,
        }


def new_event(source, event_type, data, occurred_at, version=1):
    return Event(str(uuid.uuid4()), event_type, occurred_at, version, source, data)


def parse_event(body):
    """The Event in a message body, or MalformedEvent saying what is wrong."""
    if not isinstance(body, dict):
        raise MalformedEvent("the body is not a JSON object")
    missing = [k for k in ("event_id", "event_type", "occurred_at", "data") if k not in body]
    if missing:
        raise MalformedEvent(f"missing {', '.join(missing)}")
    try:
        event_id = str(uuid.UUID(str(body["event_id"])))
    except ValueError:
        raise MalformedEvent("event_id is not a uuid") from None
    try:
        occurred_at = datetime.fromisoformat(str(body["occurred_at"]))
    except ValueError:
        raise MalformedEvent("occurred_at is not an ISO 8601 timestamp") from None
    if not isinstance(body["data"], dict):
        raise MalformedEvent("data is not an object")
    version = body.get("version", 1)
    if not isinstance(version, int):
        raise MalformedEvent("version is not an integer")
    return Event(event_id, str(body["event_type"]), occurred_at, version,
                 str(body.get("source", "")), body["data"])


# -- typed event data --------------------------------------------------------------
#
# Each publisher describes the data of its events in services/<publisher>/api.py
# with a subclass of EventData; consumers parse with it at entry. A payload that
# does not parse raises pydantic.ValidationError, which the event handler treats
# as permanent (straight to the dead letters, naming the field).

def _money_as_text(value):
    # a JSON number is a float on its way in: money travels as text ("12.50")
    if isinstance(value, (bool, int, float)):
        raise ValueError('money is sent as text with two decimals, e.g. "12.50"')
    return value


#: money in event data: text with two decimals on the wire, a Decimal in Python
#: (never more than two: a third would be rounded away on the next hop)
Money = Annotated[Decimal, Field(decimal_places=2), BeforeValidator(_money_as_text),
                  PlainSerializer(lambda amount: f"{amount:.2f}", return_type=str,
                                  when_used="json")]

#: a moment in event data: ISO 8601 text as datetime.isoformat() writes it
Moment = Annotated[datetime, PlainSerializer(lambda moment: moment.isoformat(),
                                             return_type=str, when_used="json")]


class EventPart(BaseModel):
    """A nested part of an event's data: unknown fields ignored, like the whole."""
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


class EventData(EventPart):
    """The ``data`` of one event type at one version.

    Unknown fields are ignored (publishers add fields over time); the input is
    left out of validation errors, which end up in logs and dead-letter headers.
    """
    event_type: ClassVar[str]
    version: ClassVar[int] = 1

    @classmethod
    def parse(cls, event: Event):
        """This event's data as the model; MalformedEvent for another type or version,
        pydantic.ValidationError naming the field for data that does not fit."""
        if event.event_type != cls.event_type:
            raise MalformedEvent(f"a {event.event_type} event is not {cls.event_type}")
        if event.version != cls.version:
            raise MalformedEvent(f"{event.event_type} version {event.version} is not known "
                                 f"here (version {cls.version} is)")
        return cls.model_validate(event.data)

    @classmethod
    def data_of(cls, event: Event):
        """The validated data in the JSON shape it travels in (dates and money as text)."""
        return cls.parse(event).as_data()

    def as_data(self):
        return self.model_dump(mode="json")
