"""Sending what was queued: e-mails and SMS leave after the notification committed.

A delivery row holds the rendered text and the address; it is unique per
(notification, channel), and a notification is unique per (cause, recipient), so
an event handled twice queues one message. A sender claims a batch of due rows
in a short transaction of its own (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on
SQLite the claim is the transaction's first write, so claims take turns) by moving
their next attempt ``CLAIM_SECONDS`` ahead, sends them with no transaction open —
SMTP can take seconds, and an SQLite write lock held meanwhile would stop every
other writer — and records the outcomes in another. Two replicas never send the
same one; a sender that dies mid-batch leaves its rows to be sent again once the
claim runs out (the same Message-ID, so mail systems drop a copy). A failed
attempt is retried with exponential backoff; after the last attempt, or when the
server refuses the address, the delivery is ``failed`` and operators see it.
"""
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from services.common.errors import ValidationFailed
from services.notifications.api import NotificationSent
from services.notifications.models import deliveries

log = logging.getLogger(__name__)

STATUSES = ("pending", "sent", "failed")
MAX_BACKOFF_SECONDS = 3600   # however long a server is down, try at least hourly


class Undeliverable(Exception):
    """The channel refused this message for good (e.g. an unknown mailbox)."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_seconds: float = 30.0

    def delay(self, attempts):
        """Wait after the ``attempts``-th failed attempt: doubling each time."""
        return timedelta(seconds=min(self.backoff_seconds * 2 ** (attempts - 1),
                                     MAX_BACKOFF_SECONDS))


def queued(uow, notification_id, recipient, kind, channel, address, subject, body):
    """The row of one delivery to ``enqueue``."""
    return {"delivery_id": str(uuid.uuid4()), "notification_id": notification_id,
            "customer_id": recipient.customer_id, "kind": kind, "channel": channel,
            "address": address, "language": recipient.language, "subject": subject,
            "body": body, "status": "pending", "attempts": 0, "next_attempt_at": uow.now,
            "created_at": uow.now}


def enqueue(uow, rows):
    uow.session.execute(sa.insert(deliveries), rows)


def send_due(unit_of_work, channels, policy, batch_size=50):
    """Claim up to ``batch_size`` due deliveries, send them and record how it went;
    returns how many were claimed (the caller goes on while batches come back full).
    ``unit_of_work``: makes a unit of work; claim and record are one each."""
    with unit_of_work() as uow:
        claimed = _claim(uow, batch_size)
    outcomes = []   # (row, None when sent, else the exception)
    for channel in sorted({row["channel"] for row in claimed}):
        rows = [row for row in claimed if row["channel"] == channel]
        tried = set()
        try:
            with channels[channel].session() as send:
                for row in rows:
                    tried.add(row["delivery_id"])
                    outcomes.append((row, _attempt(send, row)))
        except Exception as exc:  # could not reach the channel (or lost it)
            log.warning("%s channel unavailable: %s", channel, exc)
            outcomes.extend((row, exc) for row in rows if row["delivery_id"] not in tried)
    if outcomes:
        with unit_of_work() as uow:
            sent = [row for row, outcome in outcomes if outcome is None]
            _record_sent(uow, sent)
            for row, outcome in outcomes:
                if outcome is not None:
                    _record_outcome(uow, row, policy, outcome)
    return len(claimed)


def _record_sent(uow, rows):
    """The batch's sent deliveries in two statements (not two per row)."""
    if not rows:
        return
    uow.session.execute(sa.update(deliveries)
                        .where(deliveries.c.delivery_id.in_([r["delivery_id"] for r in rows]))
                        .values(status="sent", attempts=deliveries.c.attempts + 1,
                                sent_at=uow.now))
    uow.emit_events(NotificationSent(
        notification_id=row["notification_id"], delivery_id=row["delivery_id"],
        customer_id=row["customer_id"], kind=row["kind"], channel=row["channel"])
        for row in rows)


#: a claimed batch is its sender's for this long (a batch of SMTP sends, each
#: bounded by the SMTP timeout); after that a sender that died is taken over
CLAIM_SECONDS = 600


def _claim(uow, batch_size):
    now = uow.now
    due = (sa.select(deliveries.c.delivery_id)
           .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
           .order_by(deliveries.c.next_attempt_at)
           .limit(batch_size)
           .with_for_update(skip_locked=True))
    rows = uow.session.execute(
        sa.update(deliveries).where(deliveries.c.delivery_id.in_(due))
        .values(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
        .returning(*deliveries.c)).mappings().all()
    return sorted(rows, key=lambda row: (row["created_at"], row["delivery_id"]))


def _attempt(send, row):
    try:
        send(row)
    except Exception as exc:
        return exc
    return None


def _record_outcome(uow, row, policy, outcome):
    if isinstance(outcome, Undeliverable):
        _record(uow, row, status="failed", attempts=row["attempts"] + 1, error=outcome)
    else:
        _failed_attempt(uow, row, policy, outcome)


def _failed_attempt(uow, row, policy, exc):
    attempts = row["attempts"] + 1
    if attempts >= policy.max_attempts:
        log.error("giving up on %s to %s after %d attempts: %s", row["channel"],
                  row["address"], attempts, exc)
        _record(uow, row, status="failed", attempts=attempts, error=exc)
    else:
        _record(uow, row, status="pending", attempts=attempts, error=exc,
                next_attempt_at=uow.now + policy.delay(attempts))


def _record(uow, row, status, attempts, error=None, **values):
    if error is not None:
        values["last_error"] = f"{type(error).__name__}: {error}"[:1000]
    uow.session.execute(sa.update(deliveries)
                        .where(deliveries.c.delivery_id == row["delivery_id"])
                        .values(status=status, attempts=attempts, **values))


def deliveries_with(uow, status, limit=500):
    """The latest deliveries in ``status`` (or all), newest first, for operators."""
    if status not in (*STATUSES, "all"):
        raise ValidationFailed.field("status", "pending, sent, failed or all")
    query = sa.select(deliveries).order_by(deliveries.c.created_at.desc()).limit(limit)
    if status != "all":
        query = query.where(deliveries.c.status == status)
    moments = ("created_at", "next_attempt_at", "sent_at")
    return [{**{key: r[key] for key in (
                "delivery_id", "notification_id", "customer_id", "kind", "channel", "address",
                "language", "subject", "status", "attempts", "last_error")},
             **{key: r[key].isoformat() if r[key] else None for key in moments}}
            for r in uow.session.execute(query).mappings().all()]
