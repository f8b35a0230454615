"""The portal's account pages: the contract and contact details (with claims), the
messages and the desk, and the mandates with the access log. Each form's answer
is the page it is on, with what came of it in the result box and each field's
problem at the field (what she typed kept)."""
from werkzeug.utils import redirect

from services.common import formats
from services.common.translations import N_
from services.gateway import refusals, uses
from services.gateway.actions import customers as customer_actions
from services.gateway.actions import mandates as mandate_actions
from services.gateway.auth import SELF_ONLY, session_token
from services.gateway.portal import forms
from services.gateway.portal.account_view import contract_view, mandates_view, messages_view
from services.gateway.portal.pages import page
from services.gateway.portal.rendering import language_of, words
from services.notifications.api import CUSTOMER_KINDS

#: the fields of each form, as its refusal's errors name them
CONTACT_FIELDS = ("postal_address", "phone", "email", "language")
CLAIM_FIELDS = ("address", "eic", "meter_serial", "note")
DESK_FIELDS = ("kind", "subject", "body")
GRANT_FIELDS = ("grantee_person_code", "scope_group", "valid_from", "valid_until")

N_ = forms.N_
CLAIM_SENT = N_("Your claim is with our service desk; we will tell you what they decide.")
MANDATE_STATUS = {"live": N_("valid"), "not_yet_valid": N_("not valid yet"),
                  "expired": N_("expired"), "revoked": N_("revoked")}
CLAIM_STATUS = {"pending": N_("waiting for our decision"), "approved": N_("approved"),
                "rejected": N_("rejected")}
CONTRACT_STATUS = {"active": N_("in force"), "ending": N_("ending"), "ended": N_("ended")}


def result(request, outcome, fields):
    """The result box and the fields' messages of a form's ``outcome``: ``{"role",
    "text", "errors": {field: message}}`` (None when nothing was sent). A refusal is
    said once: each field's problem at its field, only the rest in the box."""
    if not outcome or not ("message" in outcome or "detail" in outcome):
        return None
    language = language_of(request)
    if "detail" not in outcome:
        said = outcome["message"]       # a msgid of ours (N_ where it is set)
        return {"role": "status", "text": words(request, said), "errors": {}}
    at_fields, rest = {}, []
    for error in outcome.get("errors") or []:
        said = refusals.describe(error, language)
        if error.get("field") in fields and error["field"] not in at_fields:
            at_fields[error["field"]] = said
        elif said not in rest:
            rest.append(said)
    if at_fields:
        text = words(request, "Please correct what is marked below.")
        if rest:
            text = f"{text} {' '.join(rest)}"
    elif rest:
        text = " ".join(rest)
    else:
        text = refusals.describe_problem(outcome.get("code"), outcome.get("params") or {},
                                         language, outcome["detail"])
    return {"role": "alert", "text": text, "errors": at_fields}


def refused(outcome):
    return bool(outcome) and "detail" in outcome


class AccountPages:
    """The account pages (mixed into the gateway service beside PortalRoutes)."""

    # -- the contract and contact details --------------------------------------------

    @page("GET", "/customers/<cid>/contract")
    def portal_contract(self, request, cid):
        principal = self._signed_in(request)
        if principal is None:
            return redirect("/", code=303)
        return self._contract_page(request, principal, {"customer_id": cid})

    @page("POST", "/customers/<cid>/contact")
    def portal_change_contact(self, request, cid):
        def change(principal, form):
            customer_actions.change_contact(self.services, principal, cid,
                                            forms.contact_change(form))
            return {"message": N_("Your contact details were changed.")}
        return self._act(request, cid, "contact:write", "contact", change, None,
                         "Change contact details (portal)", self._contract_page)

    @page("POST", "/customers/<cid>/consumption-point-claims")
    def portal_claim_point(self, request, cid):
        def claim(principal, form):
            customer_actions.claim_point(self.services, principal, cid, forms.claim(form))
            return {"message": CLAIM_SENT}
        return self._act(request, cid, "consumption-points:claim", "claims", claim, None,
                         "Claim a consumption point (portal)", self._contract_page)

    def _contract_page(self, request, principal, outcome, status=200):
        cid = outcome["customer_id"]
        entry = self._acting(request, principal, cid)
        view = contract_view(self.services, session_token(request), entry,
                             uses.page_use(request, "contract"))
        part = outcome.get("part")
        contact = dict(view.get("contact") or {})
        if part == "contact" and refused(outcome):      # what she typed stays
            contact.update({f: request.form.get(f, "") for f in CONTACT_FIELDS
                            if f in request.form})
        claim = ({f: request.form.get(f, "") for f in CLAIM_FIELDS}
                 if part == "claims" and refused(outcome) else {})
        return self._page(
            request, "contract.html", principal, cid, "contract", status, view=view,
            contact=contact, claim=claim, part=part,
            result=result(request, outcome, CONTACT_FIELDS if part == "contact"
                          else CLAIM_FIELDS),
            contract_status=CONTRACT_STATUS, claim_status=CLAIM_STATUS, formats=formats)

    # -- messages and the desk ------------------------------------------------------

    @page("GET", "/customers/<cid>/messages")
    def portal_messages(self, request, cid):
        principal = self._signed_in(request)
        if principal is None:
            return redirect("/", code=303)
        return self._messages_page(request, principal, {"customer_id": cid})

    @page("POST", "/customers/<cid>/feedback")
    def portal_send_feedback(self, request, cid):
        def send(principal, form):
            customer_actions.write_to_desk(self.services, principal, cid, forms.feedback(form))
            return {"message": N_("Thank you: your message is with our service desk.")}
        return self._act(request, cid, "feedback:write", "feedback", send, None,
                         "Write to the desk (portal)", self._messages_page)

    def _messages_page(self, request, principal, outcome, status=200):
        cid = outcome["customer_id"]
        entry = self._acting(request, principal, cid)
        view = messages_view(self.services, session_token(request), entry,
                             uses.page_use(request, "messages"))
        typed = ({f: request.form.get(f, "") for f in DESK_FIELDS}
                 if refused(outcome) else {})
        return self._page(request, "messages.html", principal, cid, "messages", status,
                          view=view, typed=typed, kinds=CUSTOMER_KINDS,
                          result=result(request, outcome, DESK_FIELDS), formats=formats)

    # -- mandates and the access log --------------------------------------------------

    @page("GET", "/customers/<cid>/mandates")
    def portal_mandates(self, request, cid):
        principal = self._signed_in(request)
        if principal is None:
            return redirect("/", code=303)
        return self._mandates_page(request, principal, {"customer_id": cid})

    @page("POST", "/customers/<cid>/mandates/review")
    def portal_review_mandate(self, request, cid):
        """The confirmation step: the mandate in words, granted only by its Grant
        button (posting to .../mandates); Change brings the form back as typed."""
        def review(principal, form):
            if "change" in form:
                return {"changing": True}
            return {"review": forms.mandate_grant(request.form, language_of(request))}
        return self._act(request, cid, SELF_ONLY, "mandates", review, None,
                         "Review a mandate (portal)", self._review_page)

    @page("POST", "/customers/<cid>/mandates")
    def portal_grant_mandate(self, request, cid):
        def grant(principal, form):
            mandate_actions.grant_mandate(self.services, self.principals, principal, cid,
                                          forms.mandate_grant(request.form,
                                                              language_of(request)))
            return {"message": N_(
                "The mandate is granted: they can act for you as it says below.")}
        return self._act(request, cid, SELF_ONLY, "mandates", grant, None,
                         "Grant a mandate (portal)", self._mandates_page)

    @page("POST", "/customers/<cid>/mandates/<mandate_id>/revoke")
    def portal_revoke_mandate(self, request, cid, mandate_id):
        def revoke(principal, form):
            mandate_actions.revoke_mandate(self.services, principal, cid, mandate_id)
            return {"message": N_("The mandate is revoked: it no longer works.")}
        return self._act(request, cid, SELF_ONLY, "revoke", revoke, None,
                         "Revoke a mandate (portal)", self._mandates_page)

    def _review_page(self, request, principal, outcome, status=200):
        grant = outcome.get("review")
        if grant is None:       # refused, or Change: the form again as she typed it
            return self._mandates_page(request, principal, outcome, status)
        cid = outcome["customer_id"]
        groups, other = forms.groups_of_scopes(grant.scopes)
        return self._page(
            request, "mandate_review.html", principal, cid, "mandates", status,
            grant=grant, groups=groups, other=other,
            chosen=[(k, v) for k, v in request.form.items(multi=True)
                    if k in ("scope_group", "scopes")],
            valid_from=grant.valid_from or forms.today(), formats=formats,
            date_value=forms.date_value)

    def _mandates_page(self, request, principal, outcome, status=200):
        cid = outcome["customer_id"]
        entry = self._acting(request, principal, cid)
        view = mandates_view(self.services, session_token(request), entry)
        language = language_of(request)
        typed = {}
        if outcome.get("part") == "mandates" and (refused(outcome) or outcome.get("changing")):
            typed = {f: request.form.get(f, "") for f in GRANT_FIELDS}
            for field in ("valid_from", "valid_until"):     # back from the review: ISO
                typed[field] = forms.date_value(forms.iso_day(typed[field]) or typed[field])
            typed["groups"] = set(request.form.getlist("scope_group"))
        for mandate in [*(view.get("mandates") or {}).get("granted", ()),
                        *(view.get("mandates") or {}).get("received", ())]:
            mandate["groups"], mandate["other"] = forms.groups_of_scopes(mandate["scopes"])
        log = [{**e, "when": formats.moment(e["at"], language),
                "said": uses.describe(e, language, view["addresses"])} for e in view.get("access_log") or []]
        return self._page(
            request, "mandates.html", principal, cid, "mandates", status, view=view,
            log=log, typed=typed, groups=forms.SCOPE_GROUPS, part=outcome.get("part"),
            mandate_status=MANDATE_STATUS, today=forms.today(), formats=formats,
            date_value=forms.date_value,
            result=result(request, outcome, GRANT_FIELDS))
