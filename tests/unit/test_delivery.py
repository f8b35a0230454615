"""Sending queued deliveries: sent once, retried with backoff while the channel
is down, failed after the limit or when refused for good; and the e-mail itself."""
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default

import pytest
import sqlalchemy as sa

from services.notifications import delivery, inbox
from services.notifications.channels import compose
from services.notifications.delivery import RetryPolicy, Undeliverable
from services.notifications.models import contacts, deliveries, metadata
from tests.unit.fakes import FakeDatabase

NOW = datetime(2026, 3, 1, 9, tzinfo=timezone.utc)
POLICY = RetryPolicy(max_attempts=3, backoff_seconds=10)


class FakeChannel:
    """Records what it sends; ``down`` refuses the session, ``refuse`` one address."""

    def __init__(self):
        self.sent, self.down, self.refuse = [], False, set()

    @contextmanager
    def session(self):
        if self.down:
            raise ConnectionRefusedError("connection refused")
        yield self.send

    def send(self, row):
        if row["address"] in self.refuse:
            raise Undeliverable("550 no such mailbox")
        self.sent.append((row["address"], row["subject"]))


@pytest.fixture
def db():
    db = FakeDatabase(metadata, "notifications")
    db.clock.set(NOW)
    with db.unit_of_work() as uow:
        for customer_id, email in (("a", "a@example.ee"), ("b", "b@example.ee")):
            uow.session.execute(sa.insert(contacts).values(
                customer_id=customer_id, name=customer_id, email=email, language="en", as_of=NOW))
    return db


@pytest.fixture
def email():
    return FakeChannel()


def notify(db, customer_id="a", cause="e1"):
    with db.unit_of_work() as uow:
        inbox.notify(uow, cause, customer_id, "reading_held",
                     {"reading_date": "2026-02-28", "reason": "checking"})


def send(db, email):
    return delivery.send_due(db.unit_of_work, {"email": email}, POLICY)


def states(db):
    with db.unit_of_work() as uow:
        return [(r["customer_id"], r["status"], r["attempts"]) for r in uow.session.execute(
            sa.select(deliveries).order_by(deliveries.c.customer_id)).mappings()]


def test_a_delivery_is_sent_once_and_announced(db, email):
    notify(db)
    assert send(db, email) == 1
    assert send(db, email) == 0
    assert email.sent == [("a@example.ee", "Your meter reading is being checked")]
    assert states(db) == [("a", "sent", 1)]
    [event] = db.events("notification_sent")
    assert event["data"]["channel"] == "email" and event["data"]["kind"] == "reading_held"


def test_while_the_channel_is_down_deliveries_wait_with_growing_pauses(db, email):
    notify(db)
    email.down = True
    send(db, email)
    assert states(db) == [("a", "pending", 1)]
    assert send(db, email) == 0                 # not due yet
    db.clock.advance(timedelta(seconds=10))
    send(db, email)
    assert states(db) == [("a", "pending", 2)]
    db.clock.advance(timedelta(seconds=10))
    assert send(db, email) == 0                 # the second pause is twice as long
    db.clock.advance(timedelta(seconds=10))
    email.down = False
    send(db, email)
    assert states(db) == [("a", "sent", 3)] and len(email.sent) == 1


def test_after_the_last_attempt_the_delivery_has_failed_and_says_why(db, email):
    notify(db)
    email.down = True
    for _ in range(POLICY.max_attempts):
        send(db, email)
        db.clock.advance(timedelta(hours=1))
    assert states(db) == [("a", "failed", 3)]
    email.down = False
    assert send(db, email) == 0 and email.sent == []
    with db.unit_of_work() as uow:
        [failed] = delivery.deliveries_with(uow, "failed")
    assert "connection refused" in failed["last_error"] and failed["address"] == "a@example.ee"


def test_an_address_refused_for_good_fails_at_once_and_the_others_go(db, email):
    notify(db, "a")
    notify(db, "b")
    email.refuse.add("a@example.ee")
    assert send(db, email) == 2
    assert states(db) == [("a", "failed", 1), ("b", "sent", 1)]


def test_the_backoff_is_capped():
    policy = RetryPolicy(max_attempts=30, backoff_seconds=30)
    assert policy.delay(1) == timedelta(seconds=30)
    assert policy.delay(3) == timedelta(seconds=120)
    assert policy.delay(20) == timedelta(hours=1)


def test_an_e_mail_is_plain_utf8_text_with_a_stable_message_id():
    message = compose({"delivery_id": "d-1", "address": "oie@example.ee",
                       "subject": "Näidu teatamise meeldetuletus", "language": "et",
                       "body": "Palun teatage näit. Õie"}, "Vool <teated@vool.ee>")
    parsed = message_from_bytes(message.as_bytes(), policy=default)
    assert parsed["Subject"] == "Näidu teatamise meeldetuletus"
    assert parsed["Message-ID"] == "<d-1@vool.ee>"
    assert parsed["Content-Language"] == "et" and parsed["Auto-Submitted"] == "auto-generated"
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"
    assert parsed.get_content().strip() == "Palun teatage näit. Õie"


def test_operators_ask_for_a_known_status():
    with pytest.raises(Exception, match="status"):
        delivery.deliveries_with(None, "lost")
