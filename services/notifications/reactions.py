"""What notifications does with other services' events: keeps its copies up to
date, opens desk cases, and tells the customers concerned.

Each function runs inside ``Database.apply_once``, so an event delivered twice
is applied once; the notifications it causes are keyed by its event id too.
Handlers only write rows — nothing here waits on SMTP or on another service —
because billing publishes invoice events by the hundred thousand.
"""
from decimal import Decimal

from services.notifications import desk, directory, mandates, reminders
from services.notifications.inbox import notify, notify_all


def reading_held(uow, event):
    notify(uow, event.event_id, event.data["customer_id"], "reading_held", event.data)


def reading_submitted(uow, event):
    reminders.reschedule(uow, event.data)
    if event.data.get("released_from_review"):   # the customer was told it was held
        notify(uow, event.event_id, event.data["customer_id"], "reading_decided",
               {**event.data, "accepted": True})


def reading_rejected(uow, event):
    notify(uow, event.event_id, event.data["customer_id"], "reading_decided",
           {**event.data, "accepted": False})


def reading_estimated(uow, event):
    """An estimated reading: the customer hears how it was made and how to replace it."""
    notify(uow, event.event_id, event.data["customer_id"], "reading_estimated", event.data)


def invoices_issued(uow, events):
    """invoice_issued for many events at once (a billing run issues them by the
    hundred thousand): one query for the recipients, one statement for the inbox."""
    notify_all(uow, [(event.event_id, event.data["customer_id"], "invoice_issued",
                      _with_credit(event.data)) for event in events])


def _with_credit(invoice):
    """The invoice with what was already paid of it when it went out (the contract's
    credit, or a payment since) and what is left to pay (an event from before
    ``paid``: nothing paid)."""
    paid = Decimal(str(invoice.get("paid") or "0"))
    return {**invoice, "already_paid": paid,
            "to_pay": Decimal(str(invoice["total"])) - paid}


def credit_notes_issued(uow, events):
    """credit_note_issued, in batches as the billing run publishes them."""
    notify_all(uow, [(event.event_id, event.data["customer_id"], "credit_note_issued",
                      event.data) for event in events])


def payment_received(uow, event):
    if event.data.get("customer_id"):   # matched to a contract, so to a customer
        notify(uow, event.event_id, event.data["customer_id"], "payment_received", event.data)


def invoice_overdue(uow, event):
    data = event.data
    outstanding = Decimal(str(data["total"])) - Decimal(str(data["paid"]))
    notify(uow, event.event_id, data["customer_id"], "invoice_overdue",
           {**data, "outstanding": outstanding})


def contract_signed(uow, event):
    directory.contract_signed(uow, event)
    notify(uow, event.event_id, event.data["customer_id"], "contract_signed", event.data)


def contact_details_changed(uow, event):
    directory.contact_changed(uow, event)
    desk.contact_change_case(uow, event)


def claim_approved(uow, event):
    reminders.relink(uow, event.data)
    notify(uow, event.event_id, event.data["customer_id"], "claim_decided",
           {"approved": True, "contract_no": event.data["contract_no"], "reason": None})


def claim_rejected(uow, event):
    notify(uow, event.event_id, event.data["customer_id"], "claim_decided",
           {"approved": False, "contract_no": None, "reason": event.data["reason"]})


def mandate_changed(uow, event):
    """mandate_granted, _revoked or _expired: to the grantor and to the grantee
    (when the grantee is a customer, so has an inbox and contact details here)."""
    data = event.data
    # identity names only people who have logged in or signed; never a blank
    data = {**data, "grantee_name": data.get("grantee_name") or data["grantee_person_code"],
            "grantor_name": data.get("grantor_name")
            or directory.recipient(uow, data["grantor_customer_id"]).name or ""}
    mandates.remember(uow, event, data)
    values = {"valid_until": None, "revoked_at": None, "consumption_point_ids": [], **data}
    for role, customer_id in (("grantor", data["grantor_customer_id"]),
                              ("grantee", data.get("grantee_customer_id"))):
        if customer_id:
            notify(uow, event.event_id, customer_id, event.event_type, {**values, "role": role})
