"""A use of a customer's data under a mandate, in words for the grantor's access log.

identity keeps each use as a code (the route's operation, or a portal page) with
what it was about (services/identity/api.py AccessLogEntry); ``describe`` says it
in the page's language: "viewed the invoices", "opened invoice 2026-11-0001
(PDF)", "tried to enter a reading for Pärna 3 — refused". English msgids marked
``N_()``; Estonian in locale/et/LC_MESSAGES/messages.po.
"""
from pathlib import Path

from babel.lists import format_list

from services.common.translations import N_, translations

LOCALE_DIR = str(Path(__file__).parent / "locale")


#: a page's parts, as a page view's entry lists them
PARTS = {
    "consumption_points": N_("the consumption points"),
    "invoices": N_("the invoices"),
    "contact": N_("the contact details and messages"),
    "contracts": N_("the contracts and contact details"),
    "messages": N_("the messages"),
    "claims": N_("the claims"),
    "desk": N_("the messages to the desk"),
}

#: what was seen, by use code (a portal page's code starts with portal:)
READS = {
    "customer": N_("viewed the customer's details"),
    "contact_history": N_("viewed the history of the contact details"),
    "contracts": N_("viewed the contracts"),
    "consumption_points": N_("viewed the consumption points"),
    "claims": N_("viewed the claims"),
    "feedback": N_("viewed the messages to the desk"),
    "notifications": N_("viewed the messages"),
    "readings": N_("viewed the readings of {point}"),
    "consumption_by_month": N_("viewed the consumption of {point}"),
    "invoices": N_("viewed the invoices"),
    "invoice": N_("opened invoice {invoice_no}"),
    "invoice_pdf": N_("opened invoice {invoice_no} (PDF)"),
    "payments": N_("viewed the payments"),
    "payment_book": N_("viewed the payment book of reference number {reference_no}"),
    # a third-party application's reads under a sharing grant
    "shared_consumption_points": N_("read the shared consumption points"),
    "shared_readings": N_("read the readings of {point}"),
    "shared_consumption": N_("read the consumption of {point}"),
}

#: what was changed, by use code: (done, tried); a portal form's code is its
#: route's with portal_ before it
CHANGES = {
    "submit_reading": (N_("entered a reading for {point}"),
                       N_("tried to enter a reading for {point}")),
    "withdraw_reading": (N_("withdrew a reading of {point}"),
                         N_("tried to withdraw a reading of {point}")),
    "change_contact": (N_("changed the contact details"),
                       N_("tried to change the contact details")),
    "claim": (N_("claimed a consumption point"),
              N_("tried to claim a consumption point")),
    "send_feedback": (N_("wrote to the service desk"),
                      N_("tried to write to the service desk")),
    "pay": (N_("started paying invoices at the bank"),
            N_("tried to pay invoices")),
    "mark_notification_read": (N_("marked a message read"),
                               N_("tried to mark a message read")),
}

#: the portal's forms, by their page's method name, as the API's routes
PORTAL_FORMS = {"portal_submit_reading": "submit_reading",
                "portal_withdraw_reading": "withdraw_reading",
                "portal_change_contact": "change_contact",
                "portal_claim_point": "claim", "portal_send_feedback": "send_feedback",
                "portal_pay": "pay"}

OUTCOMES = {
    "refused": N_("{attempt} — refused"),
    "attempted": N_("{attempt} — the outcome is not known"),
}


def page_use(request, page):
    """The use code a portal page's view is logged under (``portal:<page>``), or None
    when the page answers a form whose change under a mandate is logged already
    (services/gateway/auth.py): the form and its answer are one use, one entry.
    For ``customer_views(..., use=page_use(request, "invoices"))``."""
    return None if getattr(request, "pending_use", None) else f"portal:{page}"


def gettext(language):
    return translations(LOCALE_DIR, language).gettext


def describe(entry, language, addresses=None):
    """The use ``entry`` (an AccessLogEntry as identity returns it) in words, in
    ``language`` (et|en). ``addresses``: consumption point id -> address, to name a
    point by its address (else by its id)."""
    _ = gettext(language)
    use, details = entry.get("use"), entry.get("details") or {}
    outcome = entry.get("outcome") or "done"
    point = details.get("consumption_point_id")
    values = {"point": (addresses or {}).get(point, point) or _("a consumption point"),
              "invoice_no": details.get("invoice_no", ""),
              "reference_no": details.get("reference_no", "")}
    if use and use.startswith("portal:"):
        parts = [_(PARTS[p]) for p in details.get("parts", ()) if p in PARTS]
        if not parts:
            return _("viewed a page of the portal")
        return _("viewed {parts}").format(parts=format_list(parts, locale=language))
    use = PORTAL_FORMS.get(use, use)
    if use in CHANGES:
        done, tried = CHANGES[use]
        if outcome == "done":
            return _(done).format(**values)
        return _(OUTCOMES[outcome]).format(attempt=_(tried).format(**values))
    if use in READS:
        return _(READS[use]).format(**values)
    # an entry older than the codes, or a use not named here yet
    if entry.get("action") == "change":
        if outcome == "done":
            return _("changed the data")
        return _(OUTCOMES[outcome]).format(attempt=_("tried to change the data"))
    return _("viewed the data")
