import uuid
from datetime import datetime, timezone

import pytest

from services.common.config import database_url, per_service_url
from services.common.events import MalformedEvent, new_event, parse_event


def test_an_envelope_survives_the_round_trip():
    event = new_event("metering", "reading_submitted", {"a": 1},
                      datetime(2026, 2, 15, tzinfo=timezone.utc))
    message = event.as_message()
    assert set(message) == {"event_id", "event_type", "occurred_at", "version", "source", "data"}
    assert parse_event(message) == event


@pytest.mark.parametrize("body, reason", [
    ("text", "not a JSON object"),
    ({"event_type": "x", "occurred_at": "2026-01-01T00:00:00+00:00", "data": {}}, "missing event_id"),
    ({"event_id": "1", "event_type": "x", "occurred_at": "2026-01-01", "data": {}}, "not a uuid"),
    ({"event_id": str(uuid.uuid4()), "event_type": "x", "occurred_at": "soon", "data": {}},
     "ISO 8601"),
    ({"event_id": str(uuid.uuid4()), "event_type": "x", "occurred_at": "2026-01-01", "data": []},
     "data is not an object"),
])
def test_a_malformed_envelope_says_what_is_wrong(body, reason):
    with pytest.raises(MalformedEvent, match=reason):
        parse_event(body)


def test_each_service_gets_its_own_database(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("VOOL_BILLING_DATABASE_URL", raising=False)
    monkeypatch.setenv("VOOL_VAR_DIR", str(tmp_path))
    assert database_url({}, "billing") == f"sqlite:///{tmp_path}/billing.sqlite3"
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/vool")
    assert database_url({}, "billing") == "postgresql+psycopg2://u:p@db:5432/vool_billing"
    assert database_url({"VOOL_BILLING_DATABASE_URL": "sqlite:///x.db"}, "billing") == "sqlite:///x.db"
    assert per_service_url("postgresql://db", "metering") == "postgresql+psycopg2://db/vool_metering"


def test_no_password_of_a_failover_uri_reaches_the_log():
    from services.common.messaging import safe_url
    masked = safe_url("amqp://vool:s3cret@h1:5672/v;amqp://vool:s3cret@h2:5673/v")
    assert "s3cret" not in masked
    assert masked.count("vool:********@") == 2 and "h1:5672/v" in masked and "h2:5673/v" in masked
