"""Reading reminders: one pending reminder per consumption point.

A reading (or a contract's start) cancels the pending reminder of its
consumption point and schedules the next one for the next reading due date.
The sweep finds reminders whose reading window has closed — the due date plus
the window's days — without a reading, and sends each one once, a batch per
short transaction: the batch is claimed by one UPDATE that marks it sent
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite that UPDATE is the
transaction's first write, so a second replica's claim waits for this commit and
then finds the rows sent), so two replicas sweeping at once never send the same
reminder twice. The next reminder, a month later, is scheduled with it.
Whoever holds a live mandate to read or enter the point's readings hears too.
"""
import uuid
from datetime import date, timedelta

import sqlalchemy as sa

from services.notifications import directory, mandates
from services.notifications.inbox import notify_each
from services.notifications.models import reminders


# A reading usually moves its point's pending reminder forward: cancelling the
# pending one on or before the new date is then the one question to ask.
_CANCEL_NOT_LATER = (
    sa.update(reminders)
    .where(reminders.c.consumption_point_id == sa.bindparam("point"),
           reminders.c.status == "pending", reminders.c.due_on <= sa.bindparam("due"))
    .values(status="cancelled", closed_at=sa.bindparam("now"))
    .returning(reminders.c.reminder_id))
_INSERT = sa.insert(reminders)
# PostgreSQL does both in one statement: the next reminder is written only if the
# UPDATE cancelled one (the unique pending index sees the old one as gone, since
# this statement's UPDATE ran before its INSERT read the CTE's rows).
_MOVE_FORWARD = sa.text("""
    WITH cancelled AS (
        UPDATE reminders SET status = 'cancelled', closed_at = :now
        WHERE consumption_point_id = :point AND status = 'pending' AND due_on <= :due
        RETURNING reminder_id)
    INSERT INTO reminders (reminder_id, consumption_point_id, customer_id, due_on,
                           reading_day, status, created_at)
    SELECT CAST(:reminder_id AS VARCHAR), CAST(:point AS VARCHAR),
           CAST(:customer_id AS VARCHAR), CAST(:due AS DATE), CAST(:reading_day AS INTEGER),
           'pending', CAST(:now AS TIMESTAMP WITH TIME ZONE)
    WHERE EXISTS (SELECT 1 FROM cancelled)""")


def reschedule(uow, data):
    """The pending reminder moves to the event's next reading due date — forward
    only: a contract's start and its first reading travel on different queues, and
    the one that arrives last must not bring back an earlier date.

    On the hot path of every reading: SQL Core on the unit of work's connection;
    in the usual case the pending reminder is cancelled and the next one written
    by one statement on PostgreSQL, two on SQLite. The pending one is looked at
    (locked) only when none on or before the new date was there to cancel."""
    connection = uow.session.connection()
    point_id = data["consumption_point_id"]
    due_on = date.fromisoformat(data["next_reading_due"])
    if connection.dialect.name == "postgresql":
        if connection.execute(_MOVE_FORWARD, {
                "now": uow.now, "point": point_id, "due": due_on,
                "reminder_id": str(uuid.uuid4()), "customer_id": data["customer_id"],
                "reading_day": data.get("reading_day")}).rowcount == 1:
            return
    elif connection.execute(_CANCEL_NOT_LATER, {
            "point": point_id, "due": due_on, "now": uow.now}).first() is not None:
        _schedule(uow, point_id, data["customer_id"], due_on, data.get("reading_day"))
        return
    if _cancel_pending_unless_later(uow, point_id, due_on):
        _schedule(uow, point_id, data["customer_id"], due_on, data.get("reading_day"))


def _cancel_pending_unless_later(uow, point_id, due_on):
    """None pending on or before ``due_on``: none at all, or a later one (kept, and
    False), or one another transaction wrote since (locked, then cancelled)."""
    session = uow.session
    pending = session.execute(
        sa.select(reminders.c.reminder_id, reminders.c.due_on)
        .where(reminders.c.consumption_point_id == point_id, reminders.c.status == "pending")
        .with_for_update()).first()
    if pending is not None and pending.due_on > due_on:
        return False
    if pending is not None:
        session.execute(sa.update(reminders).where(reminders.c.reminder_id == pending.reminder_id)
                        .values(status="cancelled", closed_at=uow.now))
    return True


def _schedule(uow, point_id, customer_id, due_on, reading_day):
    uow.session.connection().execute(_INSERT, {
        "reminder_id": str(uuid.uuid4()), "consumption_point_id": point_id,
        "customer_id": customer_id, "due_on": due_on, "reading_day": reading_day,
        "status": "pending", "created_at": uow.now})


def relink(uow, data):
    """From consumption_point_linked: the reminders go to the new holder."""
    uow.session.execute(sa.update(reminders).where(
        reminders.c.consumption_point_id == data["consumption_point_id"],
        reminders.c.status == "pending").values(customer_id=data["customer_id"]))


def following_due_date(due_on, reading_day):
    """The reading day of the month after ``due_on``."""
    month = due_on.month % 12 + 1
    year = due_on.year + (1 if month == 1 else 0)
    return date(year, month, reading_day or due_on.day)


def sweep(uow, as_of: date, window_days, batch_size=100):
    """Send a batch of the reminders whose window closed before ``as_of``; returns
    how many (the caller commits and goes on while it is not 0)."""
    closed_before = as_of - timedelta(days=window_days)
    due = _claim(uow, closed_before, batch_size)
    if not due:
        return 0
    # what the batch needs, in three queries rather than three per reminder
    point_ids = {r["consumption_point_id"] for r in due}
    customer_ids = {r["customer_id"] for r in due}
    addresses = directory.addresses_of(uow, point_ids)
    delegates = mandates.reading_delegates_of(uow, customer_ids, as_of)
    recipients = directory.recipients(uow, customer_ids | {
        holder for held in delegates.values() for holder, _, _ in held})
    following, notices = [], []
    for reminder in due:
        next_due = following_due_date(reminder["due_on"], reminder["reading_day"])
        while next_due < closed_before:   # a late sweep catches up with one reminder
            next_due = following_due_date(next_due, reminder["reading_day"])
        point_id, customer_id = reminder["consumption_point_id"], reminder["customer_id"]
        cause = f"reminder:{reminder['reminder_id']}"
        values = {"missed_date": reminder["due_on"], "next_date": next_due,
                  "address": addresses.get(point_id), "on_behalf_of": None}
        notices.append((cause, recipients[customer_id], "reading_reminder", values))
        for holder, grantor_name in mandates.covering(delegates.get(customer_id, ()),
                                                      customer_id, point_id):
            notices.append((cause, recipients[holder], "reading_reminder",
                            {**values, "on_behalf_of": grantor_name}))
        following.append({
            "reminder_id": str(uuid.uuid4()), "consumption_point_id": point_id,
            "customer_id": customer_id, "due_on": next_due,
            "reading_day": reminder["reading_day"], "status": "pending", "created_at": uow.now})
    notify_each(uow, notices)
    uow.session.execute(sa.insert(reminders), following)
    return len(due)


def _claim(uow, closed_before, batch_size):
    """The batch, marked sent by the statement that finds it (see the module's
    docstring); oldest first."""
    due = (sa.select(reminders.c.reminder_id)
           .where(reminders.c.status == "pending", reminders.c.due_on < closed_before)
           .order_by(reminders.c.due_on)
           .limit(batch_size)
           .with_for_update(skip_locked=True))
    rows = uow.session.execute(
        sa.update(reminders).where(reminders.c.reminder_id.in_(due))
        .values(status="sent", closed_at=uow.now)
        .returning(*reminders.c)).mappings().all()
    return sorted(rows, key=lambda r: (r["due_on"], r["reminder_id"]))


def reminders_of(uow, point_id):
    rows = uow.session.execute(
        sa.select(reminders).where(reminders.c.consumption_point_id == point_id)
        .order_by(reminders.c.due_on, reminders.c.created_at)).mappings().all()
    return [{"reminder_id": r["reminder_id"], "due_on": r["due_on"].isoformat(),
             "status": r["status"]} for r in rows]
