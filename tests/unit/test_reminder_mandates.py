"""A reading reminder also reaches whoever holds a live mandate to read or enter
the readings of that consumption point — once, and only while it is live."""
from datetime import date, datetime, timezone

from services.common.events import new_event
from services.notifications import inbox, mandates, reactions, reminders
from services.notifications.models import metadata
from tests.unit.fakes import FakeDatabase

NOW = datetime(2026, 1, 20, tzinfo=timezone.utc)
GRANT = {"mandate_id": "m1", "grantor_customer_id": "grandmother", "grantor_name": "Õie Mäger",
         "grantee_person_code": "60507120130", "grantee_name": "Mari Mäger",
         "grantee_customer_id": "grandchild", "scopes": ["readings:write"],
         "consumption_point_ids": [], "valid_from": "2026-01-01", "valid_until": None,
         "created_via": "office", "revoked_at": None}


def mandate(event_type="mandate_granted", **changes):
    return new_event("identity", event_type, {**GRANT, **changes}, NOW)


def reminded(*events, point="cp"):
    """Who got a reminder for ``point`` after ``events``, from one sweep run twice."""
    db = FakeDatabase(metadata, "notifications")
    db.clock.set(NOW)
    for event in events:
        with db.unit_of_work() as uow:
            reactions.mandate_changed(uow, event)
    with db.unit_of_work() as uow:
        reminders.reschedule(uow, {"consumption_point_id": point, "customer_id": "grandmother",
                                   "reading_day": 15, "next_reading_due": "2026-01-15"})
    for _ in range(2):
        with db.unit_of_work() as uow:
            reminders.sweep(uow, date(2026, 1, 19), window_days=3)
    with db.unit_of_work() as uow:
        return {customer: [n["body"] for n in inbox.inbox_of(uow, customer)
                           if n["kind"] == "reading_reminder"]
                for customer in ("grandmother", "grandchild", "someone")}


def test_the_holder_of_a_readings_mandate_is_reminded_once_naming_the_grantor():
    got = reminded(mandate(), mandate(mandate_id="m2", scopes=["readings:read"]))
    assert len(got["grandmother"]) == 1
    [theirs] = got["grandchild"]
    assert "Õie Mäger" in theirs


def test_no_reminder_through_a_mandate_that_does_not_cover_it():
    assert reminded(mandate(scopes=["invoices:read"]))["grandchild"] == []
    assert reminded(mandate(consumption_point_ids=["other"]))["grandchild"] == []
    assert reminded(mandate(consumption_point_ids=["other", "cp"]))["grandchild"] != []
    assert reminded(mandate(valid_from="2026-02-01"))["grandchild"] == []
    assert reminded(mandate(valid_until="2026-01-18"))["grandchild"] == []
    assert reminded(mandate(grantee_customer_id=None))["someone"] == []


def test_a_revoked_or_expired_mandate_stays_so_whatever_arrives_after():
    revoked = mandate("mandate_revoked", revoked_at="2026-01-10T10:00:00+00:00")
    assert reminded(mandate(), revoked)["grandchild"] == []
    assert reminded(revoked, mandate())["grandchild"] == []     # out of order
    assert reminded(mandate(), mandate("mandate_expired"))["grandchild"] == []


def test_both_parties_hear_of_a_mandate():
    db = FakeDatabase(metadata, "notifications")
    db.clock.set(NOW)
    with db.unit_of_work() as uow:
        reactions.mandate_changed(uow, mandate())
        kinds = {c: [n["kind"] for n in inbox.inbox_of(uow, c)]
                 for c in ("grandmother", "grandchild")}
    assert kinds == {"grandmother": ["mandate_granted"], "grandchild": ["mandate_granted"]}


def test_a_live_mandate_covers_the_day_it_ends():
    row = {"revoked_at": None, "expired_at": None, "valid_from": date(2026, 1, 1),
           "valid_until": date(2026, 1, 31), "scopes": ["readings:read"],
           "consumption_point_ids": []}
    assert mandates.covers_readings(row, "cp", date(2026, 1, 31))
    assert not mandates.covers_readings(row, "cp", date(2026, 2, 1))


def test_a_party_identity_has_no_name_for_is_named_all_the_same():
    db = FakeDatabase(metadata, "notifications")
    db.clock.set(NOW)
    with db.unit_of_work() as uow:
        reactions.mandate_changed(uow, mandate(grantee_name=None, grantor_name=None))
        [to_grantor] = inbox.inbox_of(uow, "grandmother")
        [to_grantee] = inbox.inbox_of(uow, "grandchild")
    assert "60507120130" in to_grantor["body"] and "None" not in to_grantor["body"]
    assert "None" not in to_grantee["body"]
