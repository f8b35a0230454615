"""The integration-event envelope every Vool event travels in.

``{event_id, event_type, occurred_at, version, source, data}`` — event_id is a
uuid that consumers record to handle each event once.
"""
import uuid
from dataclasses import dataclass
from datetime import datetime


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
