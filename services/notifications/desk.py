"""The service desk's queue: what customers send and what the desk should see."""
import uuid

import sqlalchemy as sa

from services.common.errors import ValidationFailed
from services.notifications.models import cases

CASE_STATUSES = ("open", "answered", "closed")
FIELD_NAMES = {"postal_address": "postal address", "phone": "phone", "email": "e-mail",
               "language": "language"}


def _open_case(uow, event, kind, customer_id, subject, body):
    uow.session.execute(sa.insert(cases).values(
        case_id=str(uuid.uuid4()), kind=kind, customer_id=customer_id, subject=subject[:300],
        body=body, status="open", created_at=uow.now, source_event_id=event.event_id))


def contact_change_case(uow, event):
    data = event.data
    lines = [f"{FIELD_NAMES.get(field, field)}: {data['before'].get(field) or '—'} → "
             f"{value or '—'}" for field, value in sorted(data["after"].items())]
    _open_case(uow, event, "contact_change", data["customer_id"],
               f"Contact details changed: {data['name']}",
               f"Changed by {data['changed_by']}.\n" + "\n".join(lines))


def claim_case(uow, event):
    data = event.data
    known = [f"{label}: {data[key]}" for key, label in (
        ("eic", "EIC"), ("meter_serial", "meter"), ("contract_no", "contract"))
        if data.get(key)]
    body = "\n".join([f"Address: {data['address']}", *known,
                      f"Note: {data['note']}" if data.get("note") else "",
                      f"Claim {data['claim_id']}"]).replace("\n\n", "\n")
    _open_case(uow, event, "consumption_point_claim", data["customer_id"],
               f"Consumption point claimed: {data['address']}", body)


def list_cases(uow, status="open"):
    if status not in (*CASE_STATUSES, "all"):
        raise ValidationFailed.field("status", "open, answered, closed or all")
    query = sa.select(cases).order_by(cases.c.created_at)
    if status != "all":
        query = query.where(cases.c.status == status)
    return [{"case_id": r["case_id"], "kind": r["kind"], "customer_id": r["customer_id"],
             "subject": r["subject"], "body": r["body"], "status": r["status"],
             "created_at": r["created_at"].isoformat()}
            for r in uow.session.execute(query).mappings().all()]
