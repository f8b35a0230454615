"""Event data that does not fit the publisher's model never reaches a handler's
database and is never retried: every event handler of every service, found on
the service classes, gets a wrong-typed and an incomplete payload on its own
queue (with pika), dead-letters both after one attempt with the field named,
writes nothing, and then handles a good event."""
import importlib
import json
import re

import pytest
import sqlalchemy as sa

from services.common.messaging import DEAD_LETTER_SUFFIX, retry_delays, retry_queue_name
from tests.conftest import wait_for
from tests.event_samples import envelope, event_handlers, event_models, queue_name, samples

HANDLERS = event_handlers()
#: what the services consumed when this test was written; a new handler is tested
#: as well (it is found above) — update the number once it is
HANDLER_COUNT = 28   # + billing's and notifications' reading_estimated, metering's
#                      contract_terminated, notifications' credit_note_issued (#20)


def test_every_event_handler_is_found():
    assert len(HANDLERS) == HANDLER_COUNT


def _required(model):
    return [name for name, field in model.model_fields.items() if field.is_required()]


def wrong_typed_field(model):
    """A required field that is not plain text (dates, numbers, money, lists,
    objects: what reached the databases as SQL errors), else the first."""
    required = _required(model)
    typed = [n for n in required if model.model_fields[n].annotation is not str]
    return (typed or required)[0]


def missing_field(model, besides):
    """The last required field other than ``besides`` (when there is another)."""
    return ([n for n in _required(model) if n != besides] or _required(model))[-1]


def table_counts(url, metadata):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                    for t in metadata.sorted_tables}
    finally:
        engine.dispose()


@pytest.mark.parametrize("cls, method_name, source, event_type", HANDLERS,
                         ids=[f"{h[0].name}.{h[1]}" for h in HANDLERS])
def test_event_data_that_does_not_fit_is_dead_lettered_at_once(
        run_services, bus, config, database_urls, monkeypatch, cls, method_name, source,
        event_type):
    model = event_models(source)[event_type]   # the publisher's model of this event
    good = samples()[event_type]
    model.model_validate(good)                 # the sample itself fits
    attempts = []
    parse = model.parse.__func__
    monkeypatch.setattr(model, "parse", classmethod(
        lambda m, event: attempts.append(event.event_id) or parse(m, event)))

    run_services(cls)
    queue = queue_name(cls, method_name, source, event_type)
    metadata = importlib.import_module(f"services.{cls.name}.models").metadata
    url = database_urls[cls.name]
    before = table_counts(url, metadata)

    wrong = wrong_typed_field(model)
    missing = missing_field(model, besides=wrong)
    bad = [
        (wrong, envelope(source, event_type, {**good, wrong: [["not", "this"]]})),
        (missing, envelope(source, event_type,
                           {k: v for k, v in good.items() if k != missing})),
    ]
    for _, message in bad:
        bus.publish_raw("", queue, json.dumps(message))

    dead_letters = queue + DEAD_LETTER_SUFFIX
    wait_for(lambda: bus.depth(dead_letters) == 2, message="both dead letters")
    parked = {json.loads(body)["event_id"]: properties.headers
              for properties, body in bus.drain(dead_letters)}
    for field, message in bad:
        headers = parked[message["event_id"]]
        assert not headers.get("x-vool-attempt")
        assert model.__name__ in headers["x-vool-error"]
        # pydantic names the field by its path: "scopes.0" for an item of scopes
        assert re.search(rf"\n{field}(\.\S+)?\n", headers["x-vool-error"]), headers

        assert "[['not', 'this']]" not in headers["x-vool-error"]   # the input stays out
        assert headers["x-vool-queue"] == queue
        assert attempts.count(message["event_id"]) == 1
    for delay in retry_delays(config):
        assert bus.depth(retry_queue_name(queue, delay)) == 0
    assert table_counts(url, metadata) == before

    handled = envelope(source, event_type, good)
    bus.publish_raw("", queue, json.dumps(handled))
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            wait_for(lambda: conn.execute(sa.text(
                "SELECT count(*) FROM handled_events WHERE event_id = :id"),
                {"id": handled["event_id"]}).scalar() == 1, message="the good event handled")
    finally:
        engine.dispose()
    assert bus.depth(dead_letters) == 0 and bus.depth(queue) == 0
