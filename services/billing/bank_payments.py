"""Paying invoices through the bank (banklink 1011/1012 → 1111/1911).

A payment order is what the customer chose to pay, under a stamp (VK_STAMP) the
bank's reply names. Identity signs the request and verifies the reply (it holds
the banks' keys); billing keeps the order and records the payment. The bank's
1111 reply records the payment at once, once: a reply sent again (the bank's
VK_AUTO=Y call after the browser's) finds it recorded. A 1911 records nothing.
"""
from decimal import Decimal

import sqlalchemy as sa

from services.billing import payments, runs
from services.billing.api import BankReply
from services.billing.models import invoices, number_sequences, payment_orders
from services.billing.money import money_text
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.sequences import next_number

MAX_INVOICES = 50


def start(uow, customer_id, invoice_nos, bank_id, started_by, consumption_point_ids=None):
    """A payment order for the customer's open invoices ``invoice_nos`` (all under
    one contract, since one payment carries one reference number). returns
    ``{stamp, amount, reference_no, message, invoice_nos}``."""
    invoice_nos = sorted({str(n) for n in invoice_nos or []})
    if not invoice_nos:
        raise ValidationFailed.field("invoice_nos", "name at least one invoice to pay",
                                     "invoices-none")
    if len(invoice_nos) > MAX_INVOICES:
        raise ValidationFailed.field("invoice_nos", f"at most {MAX_INVOICES} invoices at once",
                                     "invoices-too-many", max=MAX_INVOICES)
    session = uow.session
    query = sa.select(invoices).where(invoices.c.invoice_no.in_(invoice_nos),
                                      invoices.c.customer_id == customer_id)
    if consumption_point_ids is not None:
        query = query.where(invoices.c.contract_no.in_(runs.contracts_at(consumption_point_ids)))
    rows = session.execute(query).mappings().all()
    found = {r["invoice_no"] for r in rows}
    missing = [n for n in invoice_nos if n not in found]
    if missing:
        raise NotFound(f"no invoice {', '.join(missing)}")
    paid = [r["invoice_no"] for r in rows if r["paid"] >= r["total"]]
    if paid:
        raise ValidationFailed.field("invoice_nos", f"already paid: {', '.join(paid)}",
                                     "invoices-paid", invoice_nos=", ".join(paid))
    if len({r["contract_no"] for r in rows}) > 1:
        raise ValidationFailed.field(
            "invoice_nos", "the invoices are of different contracts, each with its own "
                           "reference number: pay them one contract at a time",
            "invoices-of-several-contracts")
    amount = sum((r["total"] - r["paid"] for r in rows), Decimal("0.00"))
    stamp = str(next_number(session, number_sequences, "payment-order"))
    message = f"Arve {', '.join(invoice_nos)}"
    if len(message) > 95:
        message = f"Arved {invoice_nos[0]} … {invoice_nos[-1]} ({len(invoice_nos)})"
    session.execute(sa.insert(payment_orders).values(
        stamp=stamp, bank_id=bank_id, customer_id=customer_id,
        contract_no=rows[0]["contract_no"], reference_no=rows[0]["reference_no"],
        amount=amount, invoice_nos=invoice_nos, started_by=started_by,
        created_at=uow.now, status="pending"))
    return {"stamp": stamp, "amount": money_text(amount), "reference_no": rows[0]["reference_no"],
            "message": message, "invoice_nos": invoice_nos}


def finish(uow, bank_id, reply: BankReply):
    """Record what the bank's verified reply says (identity's verify_payment_reply):
    ``{status: paid | cancelled, payment_id?, invoice_nos, amount}``."""
    session = uow.session
    order = session.execute(sa.select(payment_orders).where(
        payment_orders.c.stamp == reply.stamp,
        payment_orders.c.bank_id == bank_id).with_for_update()).mappings().first()
    if order is None:
        raise NotFound(f"no payment {reply.stamp} was started with {bank_id}",
                       code="payment-order-unknown")
    if reply.status == "cancelled":
        if order["status"] == "pending":
            session.execute(sa.update(payment_orders)
                            .where(payment_orders.c.stamp == order["stamp"])
                            .values(status="cancelled"))
        return {"status": order["status"] if order["status"] == "paid" else "cancelled",
                "payment_id": order["payment_id"], "invoice_nos": order["invoice_nos"],
                "amount": money_text(order["amount"])}
    if reply.reference_no != order["reference_no"]:
        raise Conflict("the bank's reply names another reference number than the payment",
                       code="payment-reply-mismatch")
    amount = reply.amount
    received_on = reply.paid_at.date() if reply.paid_at else uow.clock.today()
    external_id = f"banklink:{bank_id}:{order['stamp']}"
    outcome, = payments.receive(uow, [payments.Incoming(
        source="banklink", external_id=external_id, amount=amount,
        currency=reply.currency or payments.CURRENCY, received_on=received_on,
        reference_no=order["reference_no"], payer_name=reply.payer_name,
        remittance=reply.message)], pay_first={external_id: order["invoice_nos"]})
    session.execute(sa.update(payment_orders).where(payment_orders.c.stamp == order["stamp"])
                    .values(status="paid", payment_id=outcome["payment_id"]))
    return {"status": "paid", "payment_id": outcome["payment_id"],
            "invoice_nos": order["invoice_nos"], "amount": money_text(amount)}
