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


def notify(uow, cause, customer_id, kind, values):
    """Notify ``customer_id`` of ``kind`` once per ``cause`` (an event id, a
    reminder id): the same cause again changes nothing. returns the
    notification id, or None if it was already there."""
    [notification_id] = notify_each(uow, [(cause, directory.recipient(uow, customer_id),
                                            kind, values)]) or [None]
    return notification_id


def notify_all(uow, notices):
    """``notify`` for many ``(cause, customer_id, kind, values)``: their recipients
    looked up in one query, then ``notify_each``."""
    known = directory.recipients(uow, {customer_id for _, customer_id, _, _ in notices})
    return notify_each(uow, [(cause, known[customer_id], kind, values)
                             for cause, customer_id, kind, values in notices])


def notify_each(uow, notices):
    """``notify`` for many ``(cause, recipient, kind, values)`` at once (a sweep's
    batch): one statement for the inbox rows and one for the deliveries. returns
    the ids of the notifications that were not there yet."""
    rows, deliveries = [], {}
    for cause, recipient, kind, values in notices:
        subject, body = templates.render(kind, recipient.language, values)
        notification_id = str(uuid.uuid4())
        rows.append({"notification_id": notification_id, "customer_id": recipient.customer_id,
                     "kind": kind, "subject": subject[:300], "body": body,
                     "created_at": uow.now, "language": recipient.language,
                     "dedupe_key": f"{cause}:{recipient.customer_id}"[:120]})
        channel, address = recipient.channel()
        if channel:
            deliveries[notification_id] = delivery.queued(
                uow, notification_id, recipient, kind, channel, address, subject[:300], body)
    if not rows:
        return []
    inserted = uow.session.execute(
        upsert_insert(uow.session)(inbox).on_conflict_do_nothing()
        .returning(inbox.c.notification_id), rows).scalars().all()
    queued = [deliveries[n] for n in inserted if n in deliveries]
    if queued:
        delivery.enqueue(uow, queued)
    return inserted


def inbox_of(uow, customer_id, newest=None):
    """Her notifications, newest first (only the ``newest`` so many, if given)."""
    rows = uow.session.execute(
        sa.select(inbox).where(inbox.c.customer_id == customer_id)
        .order_by(inbox.c.created_at.desc(), inbox.c.notification_id)
        .limit(newest)).mappings().all()
    return [{"notification_id": r["notification_id"], "kind": r["kind"],
             "subject": r["subject"], "body": r["body"], "created_at": r["created_at"].isoformat(),
             "read": r["read_at"] is not None, "language": r["language"]} for r in rows]


def mark_read(uow, customer_id, notification_id):
    """Mark one of the customer's notifications read (again is fine)."""
    mine = sa.and_(inbox.c.notification_id == notification_id,
                   inbox.c.customer_id == customer_id)
    if uow.session.execute(sa.select(inbox.c.notification_id).where(mine)).first() is None:
        raise NotFound("no such notification")
    uow.session.execute(sa.update(inbox).where(mine, inbox.c.read_at.is_(None))
                        .values(read_at=uow.now))
