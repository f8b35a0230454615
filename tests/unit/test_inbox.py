from datetime import date, datetime, timezone

from services.notifications import inbox
from services.notifications.models import metadata
from tests.unit.fakes import FakeDatabase


def test_each_kind_of_notification_renders_what_the_customer_must_know():
    db = FakeDatabase(metadata, "notifications")
    db.clock.set(datetime(2026, 3, 1, tzinfo=timezone.utc))
    with db.unit_of_work() as uow:
        inbox.deliver(uow, "c", "reading_reminder",
                      {"missed_date": date(2026, 2, 15), "next_date": date(2026, 3, 15)})
        inbox.deliver(uow, "c", "reading_held", {"reading_date": "2026-02-28",
                                                 "reason": "far above the usual"})
        inbox.deliver(uow, "c", "reading_decided", {"reading_date": "2026-02-28",
                                                    "reason": "the photo shows 500"})
    with db.unit_of_work() as uow:
        by_kind = {n["kind"]: n for n in inbox.inbox_of(uow, "c")}
    assert "15.02.2026" in by_kind["reading_reminder"]["body"]
    assert "15 March 2026" in by_kind["reading_reminder"]["body"]
    assert "far above the usual" in by_kind["reading_held"]["body"]
    decided = by_kind["reading_decided"]["body"]
    assert "lükati tagasi: the photo shows 500" in decided and "was rejected" in decided
    assert not any(n["read"] for n in by_kind.values())
