"""The service desk's queue: what customers send and what the desk should see.

Customers write proposals, complaints and questions; contact-detail changes and
consumption-point claims join the queue from contracts' events. The desk
replies; a reply answers the case, and the customer who wrote it is notified.
"""
import uuid

import sqlalchemy as sa

from services.common.errors import NotFound, ValidationFailed
from services.notifications.api import CUSTOMER_KINDS, CaseAnswered, CaseOpened, Feedback, Reply
from services.notifications.inbox import notify
from services.notifications.models import case_replies, cases, contacts

CASE_STATUSES = ("open", "answered", "closed")
FIELD_NAMES = {"postal_address": "postal address", "phone": "phone", "email": "e-mail",
               "language": "language"}


def _open_case(uow, event, kind, customer_id, subject, body, opened_by=None):
    case_id = str(uuid.uuid4())
    uow.session.execute(sa.insert(cases).values(
        case_id=case_id, kind=kind, customer_id=customer_id, subject=subject[:300],
        body=body, status="open", created_at=uow.now,
        source_event_id=event.event_id if event else None, opened_by=opened_by))
    uow.emit_event(CaseOpened(case_id=case_id, kind=kind, customer_id=customer_id,
                              subject=subject[:300]))
    return case_id


def open_case(uow, customer_id, feedback: Feedback, opened_by):
    """A customer's message (or their delegate's) to the desk."""
    return {"case_id": _open_case(uow, None, feedback.kind, customer_id, feedback.subject,
                                  feedback.body, opened_by)}


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


def _replies(uow, case_ids):
    found = {case_id: [] for case_id in case_ids}
    if case_ids:
        for row in uow.session.execute(
                sa.select(case_replies).where(case_replies.c.case_id.in_(case_ids))
                .order_by(case_replies.c.at)).mappings():
            found[row["case_id"]].append({"body": row["body"], "at": row["at"].isoformat(),
                                          "by": row["replied_by"]})
    return found


def _view(row, replies):
    return {"case_id": row["case_id"], "kind": row["kind"], "customer_id": row["customer_id"],
            "subject": row["subject"], "body": row["body"], "status": row["status"],
            "created_at": row["created_at"].isoformat(), "opened_by": row["opened_by"],
            "replies": replies}


def list_cases(uow, status="open"):
    """The desk's queue, oldest first, each case with what we know of its customer
    (our copy of their name and contact details)."""
    if status not in (*CASE_STATUSES, "all"):
        raise ValidationFailed.field("status", "open, answered, closed or all")
    query = (sa.select(cases, contacts.c.name, contacts.c.email, contacts.c.phone,
                       contacts.c.language)
             .outerjoin(contacts, contacts.c.customer_id == cases.c.customer_id)
             .order_by(cases.c.created_at))
    if status != "all":
        query = query.where(cases.c.status == status)
    rows = uow.session.execute(query).mappings().all()
    replies = _replies(uow, [r["case_id"] for r in rows])
    return [{**_view(r, replies[r["case_id"]]),
             "customer": {"customer_id": r["customer_id"], "name": r["name"],
                          "contact": {"email": r["email"], "phone": r["phone"],
                                      "language": r["language"]}}}
            for r in rows]


def cases_of(uow, customer_id, newest=None):
    """What the customer wrote to the desk, newest first, with the desk's replies
    (only the ``newest`` so many cases, if given)."""
    rows = uow.session.execute(
        sa.select(cases).where(cases.c.customer_id == customer_id,
                               cases.c.kind.in_(CUSTOMER_KINDS))
        .order_by(cases.c.created_at.desc()).limit(newest)).mappings().all()
    replies = _replies(uow, [r["case_id"] for r in rows])
    # which operator answered is the desk's business
    return [{key: value for key, value in _view(r, [
                {"body": reply["body"], "at": reply["at"]} for reply in replies[r["case_id"]]
            ]).items() if key not in ("customer_id", "opened_by")} for r in rows]


def reply(uow, case_id, answer: Reply, replied_by):
    """The desk's reply: the case is answered; a customer who wrote it is told
    (a contact change or a claim is the desk's own business)."""
    case = uow.session.execute(sa.select(cases).where(cases.c.case_id == case_id)
                               .with_for_update()).mappings().first()
    if case is None:
        raise NotFound(f"no case {case_id}")
    reply_id = str(uuid.uuid4())
    uow.session.execute(sa.insert(case_replies).values(
        reply_id=reply_id, case_id=case_id, body=answer.body, replied_by=replied_by,
        at=uow.now))
    uow.session.execute(sa.update(cases).where(cases.c.case_id == case_id)
                        .values(status="answered"))
    if case["kind"] in CUSTOMER_KINDS:
        notify(uow, f"reply:{reply_id}", case["customer_id"], "case_answered",
               {"case_subject": case["subject"], "reply": answer.body})
    uow.emit_event(CaseAnswered(case_id=case_id, customer_id=case["customer_id"],
                                kind=case["kind"], reply_id=reply_id, replied_by=replied_by))
    row = uow.session.execute(sa.select(cases).where(cases.c.case_id == case_id)
                              ).mappings().one()
    return _view(row, _replies(uow, [case_id])[case_id])
