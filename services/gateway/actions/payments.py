"""Paying invoices through a bank: the signed order to post to it, and the bank's
reply recorded once (the API and the portal each have their return address)."""
from services.common.errors import ValidationFailed
from services.gateway.auth import actor


def start_bank_payment(services, principal, cid, bank, invoice_nos, consumption_point_ids,
                       return_url, unknown_bank, language="et"):
    """billing's payment order for the customer's invoices, signed by identity for
    ``bank``: returns ``(order, form)``. ``unknown_bank`` is what to say when there is
    no such bank (the API names the route that lists them, the portal does not);
    the bank's pages speak ``language``."""
    if bank not in {b["id"] for b in services.call("identity", "list_banks")}:
        raise ValidationFailed.field("bank", unknown_bank, "bank-unknown")
    order = services.call("billing", "start_bank_payment", cid, invoice_nos, bank,
                          actor(principal), consumption_point_ids)
    form = services.call("identity", "payment_request", bank, order["stamp"],
                         order["amount"], order["reference_no"], order["message"], return_url,
                         language)
    return order, form


def finish_bank_payment(services, bank, fields):
    """The bank's reply (the customer's browser or the bank itself), verified by
    identity and recorded by billing once: ``{status, payment_id, invoice_nos,
    amount}``."""
    reply = services.call("identity", "verify_payment_reply", bank, fields)
    return services.call("billing", "finish_bank_payment", bank, reply)
