"""Reading reminders: one pending reminder per consumption point.

A reading cancels the pending reminder of its consumption point and schedules
the next one for the next reading due date it carries.
"""
import uuid
from datetime import date

import sqlalchemy as sa

from services.notifications.models import reminders


def reschedule(uow, data):
    session = uow.session
    point_id = data["consumption_point_id"]
    session.execute(
        sa.update(reminders)
        .where(reminders.c.consumption_point_id == point_id, reminders.c.status == "pending")
        .values(status="cancelled", closed_at=uow.now))
    session.execute(sa.insert(reminders).values(
        reminder_id=str(uuid.uuid4()), consumption_point_id=point_id,
        customer_id=data["customer_id"], due_on=date.fromisoformat(data["next_reading_due"]),
        status="pending", created_at=uow.now))


def reminders_of(uow, point_id):
    rows = uow.session.execute(
        sa.select(reminders).where(reminders.c.consumption_point_id == point_id)
        .order_by(reminders.c.created_at)).mappings().all()
    return [{"reminder_id": r["reminder_id"], "due_on": r["due_on"].isoformat(),
             "status": r["status"]} for r in rows]
