"""The AsyncAPI 3.0 document of Vool's events, built from the models that validate.

Every event travels as nameko publishes it (services/common/outbox.py): to the
publisher's topic exchange ``<service>.events`` with the event type as routing
key, persistent, JSON, in the envelope of services/common/events.py around the
``data`` its publisher's EventData model describes. So, per event:

- a channel ``<service>.<event_type>``: address = the routing key, its AMQP
  binding names the exchange;
- a message: the envelope (``event_id``, ``event_type``, ``occurred_at``,
  ``version``, ``source``, ``data``), its ``data`` the EventData model's schema as
  the publisher sends it;
- an operation ``send`` by the publisher and one ``receive`` per consumer (each
  event handler of a service, with the queue it reads and where its dead letters go).

``build(publishers, consumers)`` takes them as data; services/docs.py finds them
(the services' api.py and their @event_handler declarations) and writes
docs/asyncapi.json, which the gateway serves at /api/v1/asyncapi.json.
"""
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import Field, TypeAdapter, create_model

from services.common.events import EventData, EventPart
from services.common.messaging import DEAD_LETTER_SUFFIX

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
SCHEMAS = "#/components/schemas/"

DESCRIPTION = """\
The events Vool's services publish on RabbitMQ, and who listens to them.

Each service publishes to its own topic exchange `<service>.events`; the routing key
is the event type (`reading_submitted`). Messages are JSON, persistent, and each is an
envelope: `event_id` (a uuid, the same on every redelivery: consumers handle each
event once by it), `event_type`, `occurred_at` (ISO 8601, UTC), `version` (of the
`data` shape), `source` (the publishing service) and `data`. Delivery is at least
once (a transactional outbox publishes after commit and re-sends what a crash left
behind). Interfaces change by adding: a consumer ignores fields it does not know;
a new shape is a new `version`.

A consumer reads from a durable queue of its own, bound to the exchange by the
routing key. A message it cannot handle is retried with backoff and then parked in
`<queue>.dead-letter`; one whose envelope or `data` does not parse goes there at
once, with the reason in its `x-vool-error` header (`vool bus dead-letters`).

Beside the envelope, in the message's AMQP headers, an event caused by a request
carries that request's id (`x-request-id`, the `X-Request-ID` the gateway answered
with) and its W3C trace context (`traceparent`, `tracestate`): a consumer handles,
logs and emits under them (see `EventHeaders`).

Generated from the services' `api.py` by `vool docs`; do not edit by hand."""

#: the AMQP headers of an event message (services/common/correlation.py)
EVENT_HEADERS = {
    "title": "EventHeaders",
    "description": "The AMQP headers of an event caused by a request: none of them is "
                   "required (an event of a scheduled sweep may have only its own id).",
    "type": "object",
    "properties": {
        "x-request-id": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$",
                         "description": "The correlation id of the request (or sweep) "
                                        "that caused the event, as in its log lines."},
        "traceparent": {"type": "string", "description": "W3C Trace Context: the span "
                        "that emitted the event (https://www.w3.org/TR/trace-context/)."},
        "tracestate": {"type": "string", "description": "W3C Trace Context, vendor part."},
    },
}


@dataclass(frozen=True)
class Consumer:
    """One event handler: ``service.handler`` reads ``source``'s ``event_type``."""
    service: str
    handler: str
    source: str
    event_type: str
    #: a broadcast handler has a queue per replica (every replica hears each event)
    broadcast: bool = False
    #: the versions of the event's data it reads (others go to its dead letters)
    versions: tuple = (1,)

    @property
    def queue(self):
        # nameko's names (nameko.events.EventHandler.setup)
        name = f"evt-{self.source}-{self.event_type}--{self.service}.{self.handler}"
        return f"{name}-<replica id>" if self.broadcast else name


def envelope_model(service, data_model):
    """The envelope of one event type as a model (``ReadingSubmittedEvent``)."""
    return create_model(
        f"{data_model.__name__}Event",
        __base__=EventPart,
        __doc__=f"The envelope of a {data_model.event_type} event "
                f"(version {data_model.version}) from {service}.",
        event_id=(uuid.UUID, Field(description="The same on every delivery of this event: "
                                               "a consumer handles each event_id once.")),
        event_type=(Literal[data_model.event_type], ...),
        occurred_at=(datetime, Field(description="When it happened (ISO 8601, UTC).")),
        version=(Literal[data_model.version], Field(
            description="The version of the shape of data.")),
        source=(Literal[service], Field(description="The publishing service.")),
        data=(data_model, ...),
    )


def message_name(model):
    """``reading_submitted``; a later version of its data ``reading_submitted.v2``."""
    return model.event_type if model.version == 1 else f"{model.event_type}.v{model.version}"


def build(publishers, consumers, info_version, servers=None):
    """The document: ``publishers`` is ``[(service, its EventData models)]``,
    ``consumers`` a list of Consumer. A consumer of an event (or of a version of
    it) nobody publishes is an error: the document would describe a queue that
    never gets such a message."""
    published = {}   # (service, event_type) -> {version: model}
    for service, models in publishers:
        for model in models:
            versions = published.setdefault((service, model.event_type), {})
            if model.version in versions:
                raise ValueError(f"{service} publishes two models of {model.event_type} "
                                 f"version {model.version}")
            versions[model.version] = model
    unknown = sorted({f"{c.service}.{c.handler} reads {c.source}.{c.event_type} "
                      f"version {v}" for c in consumers for v in c.versions
                      if v not in published.get((c.source, c.event_type), {})})
    if unknown:
        raise ValueError("consumed but not published: " + "; ".join(unknown))

    envelopes = {(service, model.event_type, model.version): envelope_model(service, model)
                 for (service, _), versions in published.items()
                 for model in versions.values()}
    payloads, schemas = _schemas(envelopes)
    channels, operations, messages = {}, {}, {}
    for (service, event_type), versions in published.items():
        key = f"{service}.{event_type}"
        models = [versions[v] for v in sorted(versions)]
        summary = _summary(models[-1])
        channels[key] = {
            "address": event_type,
            "title": f"{service} {event_type}",
            "description": f"{service} publishes {event_type} to the exchange "
                           f"`{service}.events` with the routing key `{event_type}`.",
            "messages": {message_name(m): {"$ref": f"#/components/messages/{service}."
                                                  f"{message_name(m)}"} for m in models},
            "bindings": {"amqp": {
                "is": "routingKey",
                "exchange": {"name": f"{service}.events", "type": "topic",
                             "durable": True, "autoDelete": False, "vhost": "/"},
                "bindingVersion": AMQP_BINDING_VERSION}},
        }
        for model in models:
            messages[f"{service}.{message_name(model)}"] = {
                "name": message_name(model),
                "title": f"{event_type} (version {model.version})",
                **({"summary": _summary(model)} if _summary(model) else {}),
                "contentType": "application/json",
                "headers": {"$ref": SCHEMAS + "EventHeaders"},
                "payload": payloads[(service, event_type, model.version)],
                "bindings": {"amqp": {"messageType": event_type,
                                      "bindingVersion": AMQP_BINDING_VERSION}},
            }
        operations[f"{service}.send.{event_type}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "title": f"{service} sends {event_type}",
            **({"summary": summary} if summary else {}),
            "messages": [{"$ref": f"#/channels/{key}/messages/{message_name(m)}"}
                         for m in models],
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": AMQP_BINDING_VERSION}},
        }
    order = list(channels)   # each event's receivers after its sender, in the publishers' order
    for consumer in sorted(consumers, key=lambda c: (
            order.index(f"{c.source}.{c.event_type}"), c.service, c.handler)):
        key = f"{consumer.source}.{consumer.event_type}"
        versions = published[(consumer.source, consumer.event_type)]
        how = ("every replica on a queue of its own (a broadcast)" if consumer.broadcast
               else f"from the queue `{consumer.queue}`, shared by its replicas; what it "
                    f"cannot handle ends in `{consumer.queue}{DEAD_LETTER_SUFFIX}`")
        operations[f"{consumer.service}.{consumer.handler}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "title": f"{consumer.service} receives {consumer.event_type}",
            "description": f"`{consumer.service}.{consumer.handler}` handles "
                           f"{consumer.source}'s {consumer.event_type}: {how}.",
            "messages": [{"$ref": f"#/channels/{key}/messages/{message_name(versions[v])}"}
                         for v in sorted(consumer.versions)],
            "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}},
            "x-vool-queue": consumer.queue,
            **({} if consumer.broadcast else
               {"x-vool-dead-letter-queue": consumer.queue + DEAD_LETTER_SUFFIX}),
        }
    document = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": "Vool events", "version": info_version,
                 "description": DESCRIPTION},
        "defaultContentType": "application/json",
    }
    if servers:
        document["servers"] = servers
    document.update({
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages,
                       "schemas": {**schemas, "EventHeaders": EVENT_HEADERS}},
    })
    return document


def _schemas(envelopes):
    """Each envelope's schema (as published: the JSON shape the publisher sends)
    and every model they use, named once under components/schemas."""
    items = [(key, "serialization", TypeAdapter(model)) for key, model in envelopes.items()]
    keys, definitions = TypeAdapter.json_schemas(items, ref_template=SCHEMAS + "{model}")
    payloads = {key: schema for (key, _mode), schema in keys.items()}
    return payloads, definitions.get("$defs", {})


def _summary(model: type[EventData]):
    doc = model.__doc__ if "__doc__" in vars(model) else None
    return " ".join(doc.split()).replace("``", "`") if doc else ""
