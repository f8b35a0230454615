"""Notifying a customer: the notification is rendered in their language and
stored in their in-app inbox, and queued for their e-mail or phone, in the
transaction of whatever caused it. Sending happens later (delivery.py).
"""
import uuid

import sqlalchemy as sa

from services.common.errors import NotFound
from services.common.sequences import upsert_insert
from services.notifications import delivery, directory, templates
from services.notifications.models import inbox


def notify(uow, cause, customer_id, kind, values, recipient=None):
    """Notify ``customer_id`` of ``kind`` once per ``cause`` (an event id, a
    reminder id): the same cause again changes nothing. returns the
    notification id, or None if it was already there. ``recipient``: the
    customer's ``directory.recipient`` when the caller has it already."""
    recipient = recipient or directory.recipient(uow, customer_id)
    subject, body = templates.render(kind, recipient.language, values)
    notification_id = str(uuid.uuid4())
    inserted = uow.session.execute(upsert_insert(uow.session)(inbox).values(
        notification_id=notification_id, customer_id=customer_id, kind=kind,
        subject=subject[:300], body=body, created_at=uow.now, language=recipient.language,
        dedupe_key=f"{cause}:{customer_id}"[:120]).on_conflict_do_nothing()).rowcount
    if not inserted:
        return None
    channel, address = recipient.channel()
    if channel:
        delivery.enqueue(uow, notification_id, recipient, kind, channel, address,
                         subject[:300], body)
    return notification_id


def inbox_of(uow, customer_id):
    rows = uow.session.execute(
        sa.select(inbox).where(inbox.c.customer_id == customer_id)
        .order_by(inbox.c.created_at.desc(), inbox.c.notification_id)).mappings().all()
    return [{"notification_id": r["notification_id"], "kind": r["kind"],
             "subject": r["subject"], "body": r["body"], "created_at": r["created_at"].isoformat(),
             "read": r["read_at"] is not None} for r in rows]


def mark_read(uow, customer_id, notification_id):
    """Mark one of the customer's notifications read (again is fine)."""
    mine = sa.and_(inbox.c.notification_id == notification_id,
                   inbox.c.customer_id == customer_id)
    if uow.session.execute(sa.select(inbox.c.notification_id).where(mine)).first() is None:
        raise NotFound("no such notification")
    uow.session.execute(sa.update(inbox).where(mine, inbox.c.read_at.is_(None))
                        .values(read_at=uow.now))
