"""Notifying a customer: their language and channel from our copy of their
contact details, the inbox, the queued delivery, once per cause."""
from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from services.common.errors import NotFound
from services.common.events import new_event
from services.notifications import inbox, reactions
from services.notifications.models import deliveries, metadata
from tests.unit.fakes import FakeDatabase

NOW = datetime(2026, 3, 1, 9, tzinfo=timezone.utc)
CONTACT = {"postal_address": "Pärnu mnt 1", "phone": "+37255512345",
           "email": "oie@example.ee", "language": "en"}


def signed(customer_id="c", contact=CONTACT, at=NOW, point="cp"):
    return new_event("contracts", "contract_signed", {
        "contract_no": "VL-000001", "customer_id": customer_id, "person_code": "44903136520",
        "name": "Õie Mäger", "reference_no": "1000017", "consumption_point_id": point,
        "eic": "38ZEE-00000001-A", "address": "Narva mnt 1", "meter": {}, "tariff_plan": "BASIC",
        "reading_day": 15, "start_date": "2026-01-01", "initial_readings": {"T1": 1},
        "contact": contact}, at)


@pytest.fixture
def db():
    db = FakeDatabase(metadata, "notifications")
    db.clock.set(NOW)
    return db


def apply(db, change, event):
    with db.unit_of_work() as uow:
        change(uow, event)


def queued(db):
    with db.unit_of_work() as uow:
        return uow.session.execute(sa.select(deliveries)).mappings().all()


def test_a_notification_is_in_the_inbox_and_queued_for_e_mail_in_the_customers_language(db):
    apply(db, reactions.contract_signed, signed())
    with db.unit_of_work() as uow:
        [notification] = inbox.inbox_of(uow, "c")
    assert notification["kind"] == "contract_signed"
    assert notification["subject"] == "Contract VL-000001 signed"
    assert not notification["read"]
    [delivery] = queued(db)
    assert (delivery["channel"], delivery["address"], delivery["language"], delivery["status"]) \
        == ("email", "oie@example.ee", "en", "pending")
    assert delivery["body"] == notification["body"]   # stored rendered, before it is sent


def test_without_an_e_mail_address_it_goes_by_sms_and_without_either_only_to_the_inbox(db):
    apply(db, reactions.contract_signed, signed("sms", {**CONTACT, "email": None}))
    apply(db, reactions.contract_signed, signed("none", {**CONTACT, "email": None, "phone": None},
                                                point="cp2"))
    assert [(d["customer_id"], d["channel"], d["address"]) for d in queued(db)] == [
        ("sms", "sms", "+37255512345")]
    with db.unit_of_work() as uow:
        assert len(inbox.inbox_of(uow, "none")) == 1


def test_one_cause_notifies_a_customer_once(db):
    values = {"reading_date": "2026-02-28", "reason": "far above the usual"}
    with db.unit_of_work() as uow:
        first = inbox.notify(uow, "event-1", "c", "reading_held", values)
        again = inbox.notify(uow, "event-1", "c", "reading_held", values)
        other = inbox.notify(uow, "event-1", "d", "reading_held", values)
    assert first and other and again is None
    with db.unit_of_work() as uow:
        assert len(inbox.inbox_of(uow, "c")) == 1


def test_an_unknown_customer_is_written_to_in_estonian(db):
    with db.unit_of_work() as uow:
        inbox.notify(uow, "e", "stranger", "reading_held",
                     {"reading_date": "2026-02-28", "reason": "x"})
        [notification] = inbox.inbox_of(uow, "stranger")
    assert notification["subject"] == "Teie näitu kontrollitakse"
    assert queued(db) == []


def test_a_changed_language_and_address_apply_from_then_on(db):
    apply(db, reactions.contract_signed, signed())
    later = new_event("contracts", "contact_details_changed", {
        "customer_id": "c", "name": "Õie Mäger", "changed_by": "44903136520",
        "before": {"language": "en", "email": "oie@example.ee"},
        "after": {"language": "et", "email": "oie@vool.ee"}}, datetime(2026, 3, 2, tzinfo=timezone.utc))
    apply(db, reactions.contact_details_changed, later)
    apply(db, reactions.contract_signed, signed())   # an older event arriving late changes nothing
    with db.unit_of_work() as uow:
        inbox.notify(uow, "e", "c", "reading_reminder", {
            "missed_date": date(2026, 2, 15), "next_date": date(2026, 3, 15), "address": None,
            "on_behalf_of": None})
    latest = queued(db)[-1]
    assert (latest["address"], latest["language"]) == ("oie@vool.ee", "et")
    assert "15.02.2026" in latest["body"]


def test_the_customer_marks_a_notification_read_and_no_one_else_can(db):
    with db.unit_of_work() as uow:
        notification_id = inbox.notify(uow, "e", "c", "reading_held",
                                       {"reading_date": "2026-02-28", "reason": "x"})
    with db.unit_of_work() as uow, pytest.raises(NotFound):
        inbox.mark_read(uow, "someone-else", notification_id)
    with db.unit_of_work() as uow:
        inbox.mark_read(uow, "c", notification_id)
        inbox.mark_read(uow, "c", notification_id)
        assert inbox.inbox_of(uow, "c")[0]["read"]


def test_an_overdue_invoice_says_what_is_left_to_pay(db):
    apply(db, reactions.contract_signed, signed())
    apply(db, reactions.invoice_overdue, new_event("billing", "invoice_overdue", {
        "invoice_no": "2026-00000001", "customer_id": "c", "contract_no": "VL-000001",
        "reference_no": "1000017", "due_on": "2026-02-15", "total": "80.00", "paid": "30.50",
        "as_of": "2026-03-01"}, NOW))
    assert "€49.50 of €80.00 is unpaid" in queued(db)[-1]["body"]
