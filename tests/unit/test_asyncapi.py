"""docs/asyncapi.json (services/common/asyncapi.py, written by `vool docs`):
valid against the official AsyncAPI 3.0.0 JSON Schema, every event on its
exchange and routing key with the envelope and the publisher's data model, sent
by its publisher and received by each of its consumers, and served by the
gateway as it is."""
import copy
import json
import re
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from services import docs
from services.common import asyncapi
from services.common.events import EventData
from services.gateway.service import GatewayService
from tests.event_samples import envelope, event_handlers, samples

ROOT = Path(__file__).resolve().parents[2]
# the official schema, vendored (tests/fixtures/README.md says from where)
ASYNCAPI_SCHEMA = json.loads(
    (ROOT / "tests" / "fixtures" / "asyncapi-3.0.0-schema.json").read_text(encoding="utf-8"))
DOCUMENT_URI = "urn:vool:asyncapi"


@pytest.fixture(scope="module")
def document():
    return json.loads(docs.ASYNCAPI_DOC.read_text(encoding="utf-8"))


def errors_of(document):
    validator = jsonschema.Draft7Validator(ASYNCAPI_SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
            for e in validator.iter_errors(document)]


def test_the_vendored_schema_is_the_asyncapi_3_0_0_schema():
    jsonschema.Draft7Validator.check_schema(ASYNCAPI_SCHEMA)
    assert ASYNCAPI_SCHEMA["properties"]["asyncapi"]["const"] == "3.0.0"


def test_the_document_is_valid_asyncapi_3_0(document):
    assert document["asyncapi"] == "3.0.0"
    assert errors_of(document) == []


@pytest.mark.parametrize("breakage", [
    ("an AsyncAPI 2 document's version", lambda d: d.update(asyncapi="2.6.0")),
    ("an operation without its action",
     lambda d: d["operations"]["metering.send.reading_submitted"].pop("action")),
    ("AsyncAPI 2's publish as an action",
     lambda d: d["operations"]["metering.send.reading_submitted"].update(action="publish")),
    ("a channel address that is not text",
     lambda d: d["channels"]["metering.reading_submitted"].update(address=42)),
    ("an AMQP binding of an unknown kind",
     lambda d: d["channels"]["metering.reading_submitted"]["bindings"]["amqp"].update(
         **{"is": "topic"})),
    ("a field the specification does not have",
     lambda d: d["channels"]["metering.reading_submitted"].update(exchange="metering")),
    ("a message payload that is no schema",
     lambda d: d["components"]["messages"]["metering.reading_submitted"].update(payload=7)),
    ("no info", lambda d: d.pop("info")),
], ids=lambda b: b[0])
def test_a_broken_document_does_not_validate(document, breakage):
    _, breaking = breakage
    broken = copy.deepcopy(document)
    breaking(broken)
    assert errors_of(broken), "the schema let a broken document through"


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document, ref):
    assert ref.startswith("#/"), ref
    node = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves(document):
    # the JSON Schema cannot see where a $ref points: a wrong one is checked here
    found = list(refs(document))
    assert found
    for ref in found:
        resolve(document, ref)


def test_every_event_is_a_channel_on_its_exchange_with_its_routing_key(document):
    for service, module in docs.apis():
        for model in module.EVENTS:
            channel = document["channels"][f"{service}.{model.event_type}"]
            assert channel["address"] == model.event_type   # the routing key
            amqp = channel["bindings"]["amqp"]
            assert amqp["is"] == "routingKey"
            assert amqp["exchange"]["name"] == f"{service}.events"
            assert amqp["exchange"]["type"] == "topic"
            send = document["operations"][f"{service}.send.{model.event_type}"]
            assert send["action"] == "send"
            assert resolve(document, send["channel"]["$ref"]) is channel


def test_the_message_is_the_envelope_around_the_publisher_s_data_model(document):
    schemas = document["components"]["schemas"]
    for service, module in docs.apis():
        for model in module.EVENTS:
            message = resolve(document, document["channels"][
                f"{service}.{model.event_type}"]["messages"][model.event_type]["$ref"])
            payload = resolve(document, message["payload"]["$ref"])
            assert payload["required"] == [
                "event_id", "event_type", "occurred_at", "version", "source", "data"]
            properties = payload["properties"]
            assert properties["event_type"]["const"] == model.event_type
            assert properties["version"]["const"] == model.version
            assert properties["source"]["const"] == service
            assert properties["event_id"]["format"] == "uuid"
            assert properties["occurred_at"]["format"] == "date-time"
            data = resolve(document, properties["data"]["$ref"])
            assert data is schemas[model.__name__]
            assert set(data["properties"]) == set(model.model_fields)


def test_each_consumer_receives_on_the_channel_of_what_it_handles(document):
    handlers = event_handlers()
    assert handlers
    receiving = {name: op for name, op in document["operations"].items()
                 if op["action"] == "receive"}
    for cls, method, source, event_type in handlers:
        operation = receiving.pop(f"{cls.name}.{method}")
        assert operation["channel"]["$ref"] == f"#/channels/{source}.{event_type}"
        queue = f"evt-{source}-{event_type}--{cls.name}.{method}"
        assert operation["x-vool-queue"] == queue
        assert operation["x-vool-dead-letter-queue"] == queue + ".dead-letter"
    # what is left are the gateway's broadcast handlers (a queue per replica)
    assert receiving and all(name.startswith("gateway.") for name in receiving)
    for operation in receiving.values():
        assert operation["x-vool-queue"].endswith("-<replica id>")
        assert operation["channel"]["$ref"].startswith("#/channels/identity.")


def payload_validator(document, message_key):
    registry = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT7))
    ref = document["components"]["messages"][message_key]["payload"]["$ref"]
    return jsonschema.Draft7Validator({"$ref": DOCUMENT_URI + ref}, registry=registry,
                                      format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_what_publishers_send_fits_the_documented_payload(document):
    # tests/unit/test_event_models.py checks the samples are what publishers emit
    sources = {model.event_type: service
               for service, module in docs.apis() for model in module.EVENTS}
    consumed = {event_type for _, _, _, event_type in event_handlers()}
    given = samples()
    assert consumed <= set(given)
    for event_type, data in given.items():
        key = f"{sources[event_type]}.{event_type}"
        validator = payload_validator(document, key)
        sent = envelope(sources[event_type], event_type, data)
        assert [e.message for e in validator.iter_errors(sent)] == [], key


def test_a_payload_that_breaks_the_model_does_not_fit():
    document = json.loads(docs.ASYNCAPI_DOC.read_text(encoding="utf-8"))
    validator = payload_validator(document, "metering.reading_submitted")
    good = envelope("metering", "reading_submitted", samples()["reading_submitted"])
    assert validator.is_valid(good)
    no_reading_id = copy.deepcopy(good)
    del no_reading_id["data"]["reading_id"]
    wrong_type = {**good, "event_type": "reading_rejected"}
    no_event_id = {k: v for k, v in good.items() if k != "event_id"}
    kwh_as_text = copy.deepcopy(good)
    kwh_as_text["data"]["consumption"] = {"T1": "many"}
    no_such_day = copy.deepcopy(good)
    no_such_day["data"]["reading_date"] = "2026-02-30"
    for bad in (no_reading_id, wrong_type, no_event_id, kwh_as_text, no_such_day):
        assert not validator.is_valid(bad)


def test_the_gateway_serves_the_document_as_written(document):
    request = SimpleNamespace()
    assert GatewayService.asyncapi_document(None, request) == document


def test_the_image_carries_the_document_the_gateway_serves():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^COPY docs/asyncapi\.json \./docs/asyncapi\.json$", dockerfile, re.M)


# -- the builder, on events of its own -----------------------------------------------

class MeterSealed(EventData):
    event_type = "meter_sealed"
    version = 1

    serial: str


class MeterSealedV2(EventData):
    """A sealed meter, with who sealed it."""
    event_type = "meter_sealed"
    version = 2

    serial: str
    sealed_by: str


def test_a_second_version_of_an_event_is_a_second_message_on_its_channel():
    document = asyncapi.build(
        [("metering", (MeterSealed, MeterSealedV2))],
        [asyncapi.Consumer("billing", "on_sealed", "metering", "meter_sealed",
                           versions=(1, 2)),
         asyncapi.Consumer("notifications", "on_sealed", "metering", "meter_sealed")],
        "1.0.0")
    assert errors_of(document) == []
    channel = document["channels"]["metering.meter_sealed"]
    assert list(channel["messages"]) == ["meter_sealed", "meter_sealed.v2"]
    operations = document["operations"]
    assert [m["$ref"] for m in operations["metering.send.meter_sealed"]["messages"]] == [
        "#/channels/metering.meter_sealed/messages/meter_sealed",
        "#/channels/metering.meter_sealed/messages/meter_sealed.v2"]
    assert len(operations["billing.on_sealed"]["messages"]) == 2
    assert len(operations["notifications.on_sealed"]["messages"]) == 1
    v2 = resolve(document, resolve(document, channel["messages"]["meter_sealed.v2"]["$ref"])[
        "payload"]["$ref"])
    assert v2["properties"]["version"]["const"] == 2
    assert set(resolve(document, v2["properties"]["data"]["$ref"])["required"]) == {
        "serial", "sealed_by"}
    for ref in refs(document):
        resolve(document, ref)


def test_a_consumer_of_what_nobody_publishes_is_refused():
    with pytest.raises(ValueError, match="billing.on_sealed reads metering.meter_sealed "
                                         "version 2"):
        asyncapi.build([("metering", (MeterSealed,))], [asyncapi.Consumer(
            "billing", "on_sealed", "metering", "meter_sealed", versions=(2,))], "1.0.0")
    with pytest.raises(ValueError, match="consumed but not published"):
        asyncapi.build([], [asyncapi.Consumer(
            "billing", "on_sealed", "metering", "meter_sealed")], "1.0.0")


def test_two_models_of_one_version_are_refused():
    with pytest.raises(ValueError, match="two models of meter_sealed version 1"):
        asyncapi.build([("metering", (MeterSealed, MeterSealed))], [], "1.0.0")


def test_without_the_document_the_gateway_says_so_instead_of_failing(monkeypatch, tmp_path):
    from services.common.errors import ServiceUnavailable
    from services.gateway import asyncapi as served
    monkeypatch.setattr(served, "DOCUMENT", tmp_path / "asyncapi.json")
    served._text.cache_clear()
    try:
        with pytest.raises(ServiceUnavailable, match="docs/asyncapi.json"):
            served.document()
    finally:
        served._text.cache_clear()
