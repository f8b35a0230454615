"""The customer's in-app inbox: every notification is stored here first.

Texts are in Estonian and English until the customer's language reaches this
service (the notifications issue adds templates per language and e-mail).
"""
import uuid

import sqlalchemy as sa

from services.notifications.models import inbox

TEXTS = {
    "reading_reminder": (
        "Näidu teatamise meeldetuletus / Meter reading reminder",
        "Te ei teatanud arvesti näitu kuupäevaks {missed_date:%d.%m.%Y}. Järgmine näidu "
        "teatamise kuupäev on {next_date:%d.%m.%Y}.\n"
        "We did not receive your meter reading for {missed_date:%d %B %Y}. "
        "The next reading date is {next_date:%d %B %Y}."),
    "reading_held": (
        "Näitu kontrollitakse / Your reading is being checked",
        "Teie {reading_date} näit on kontrollimisel: {reason}\n"
        "Your reading of {reading_date} is being checked: {reason}"),
    "reading_decided": (
        "Näidu kontrolli tulemus / Your reading was checked",
        "Teie {reading_date} näit lükati tagasi: {reason}\n"
        "Your reading of {reading_date} was rejected: {reason}"),
}


def deliver(uow, customer_id, kind, values):
    subject, body = TEXTS[kind]
    notification_id = str(uuid.uuid4())
    uow.session.execute(sa.insert(inbox).values(
        notification_id=notification_id, customer_id=customer_id, kind=kind,
        subject=subject.format(**values), body=body.format(**values), created_at=uow.now))
    return notification_id


def inbox_of(uow, customer_id):
    rows = uow.session.execute(
        sa.select(inbox).where(inbox.c.customer_id == customer_id)
        .order_by(inbox.c.created_at.desc(), inbox.c.notification_id)).mappings().all()
    return [{"notification_id": r["notification_id"], "kind": r["kind"],
             "subject": r["subject"], "body": r["body"], "created_at": r["created_at"].isoformat(),
             "read": r["read_at"] is not None} for r in rows]
