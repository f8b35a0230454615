"""The portal's part of sharing data with third-party applications (OAuth 2):

- ``/oauth/authorize``: the consent page an application sends the customer to
  (``response_type=code&client_id=&redirect_uri=&scope=&state=&code_challenge=``,
  PKCE S256). It says who asks (the application's name), for what (the purpose it
  stated when registered), what would be shared (the consumption points she
  ticks, their readings and consumption, and the invoices if the application asks
  and she agrees) and until when (90 days unless she chooses, at most a year);
  Allow or Deny send the browser back to the application's redirect URI, matched
  exactly, with a code or ``error=access_denied``. An unknown application or a
  redirect URI it did not register is a page here, never a redirect. A delegate
  may consent for a customer whose mandate allows ``sharing:grant``, no more than
  the mandate covers (identity decides).
- ``/customers/{cid}/sharing``: every grant of the customer (the application, its
  purpose, the points, what, until, last used) with Revoke, and the applications'
  uses in her access log.
"""
from datetime import timedelta
from urllib.parse import urlencode

from werkzeug.utils import redirect

from services.common import formats
from services.common.errors import (Forbidden, NotFound, ServiceUnavailable, Unauthenticated,
                                    ValidationFailed, VoolError)
from services.common.translations import N_
from services.common.validation import parse
from services.gateway import uses
from services.gateway.auth import SELF_ONLY, authorize, session_token
from services.gateway.http import form_body
from services.gateway.portal import forms
from services.gateway.portal.account_pages import result
from services.gateway.portal.pages import page
from services.gateway.portal.rendering import error_page, language_of, words
from services.gateway.problems import status_of
from services.identity.api import Consent

#: the scope a delegate's mandate must hold to consent for the grantor
SHARING_GRANT = "sharing:grant"
#: how long a grant lasts unless she chooses, and the most it may
DEFAULT_DAYS, MAX_DAYS = 90, 365
#: the authorization request's parameters the consent form carries on
CARRIED = ("client_id", "redirect_uri", "scope", "state", "code_challenge",
           "code_challenge_method")
#: the longest each parameter may be (identity's AuthorizationRequest, Consent)
LIMITS = {"client_id": 64, "redirect_uri": 500, "scope": 200, "state": 500,
          "code_challenge": 128, "code_challenge_method": 10}
#: where the browser returns after logging in, when it came to consent
AFTER_LOGIN_COOKIE = "vool_after_login"
CONSENT_FIELDS = ("consumption_point_ids", "valid_until", "scopes")
SCOPE_WORDS = {"readings:read": N_("the readings and consumption of these points"),
               "invoices:read": N_("your invoices")}
GRANT_STATUS = {"live": N_("active"), "expired": N_("expired"), "revoked": N_("revoked")}


def back_to(redirect_uri, **params):
    """The application's redirect URI with ``params`` added to its query."""
    joiner = "&" if "?" in redirect_uri else "?"
    return redirect(redirect_uri + joiner + urlencode(
        {k: v for k, v in params.items() if v}), code=303)


class SharingPages:
    """The consent page and the grants page (mixed into the gateway service)."""

    # -- the consent page ---------------------------------------------------------------

    @page("GET", "/oauth/authorize")
    def portal_authorize(self, request):
        asked = {name: request.args.get(name, "") for name in CARRIED}
        checked = self._checked_request(request, asked)
        if not hasattr(checked, "keys"):
            return checked                  # an error page, or back to the application
        principal = self._signed_in(request)
        if principal is None:
            response = self._login_page(request, message=words(
                request, N_("Log in to decide what %(application)s may see.")) % {
                "application": checked["application"]["name"]})
            response.set_cookie(AFTER_LOGIN_COOKIE, request.full_path, httponly=True,
                                samesite="Lax", max_age=30 * 60, path="/")
            return response
        return self._consent_page(request, principal, asked, checked,
                                  request.args.get("customer_id"))

    @page("POST", "/oauth/authorize")
    def portal_consent(self, request):
        token = session_token(request)
        if not token:
            raise Unauthenticated("log in first", code="unauthenticated")
        forms.check_csrf(request, token)
        form = form_body(request)
        asked = {name: form.get(name, "") for name in CARRIED}
        checked = self._checked_request(request, asked)
        if not hasattr(checked, "keys"):
            return checked
        if form.get("decision") != "allow":
            return back_to(asked["redirect_uri"], error="access_denied",
                           error_description="the customer did not allow it",
                           state=asked["state"])
        principal = authorize(self.services, self.principals, request, "customer",
                              token=token)
        cid = form.get("customer_id", "")
        scopes = [s for s in checked["scopes"]
                  if s == "readings:read" or form.get(f"share-{s}") == "yes"]
        language = language_of(request)
        try:
            valid_until = forms.day_of(form.get("valid_until", ""), language, "valid_until")
            consent = {
                "client_id": asked["client_id"], "redirect_uri": asked["redirect_uri"],
                "customer_id": cid, "scopes": scopes,
                "consumption_point_ids": request.form.getlist("consumption_point_ids"),
                "valid_until": (valid_until or forms.today() + timedelta(days=DEFAULT_DAYS)
                                ).isoformat(),
                "code_challenge": asked["code_challenge"] or None,
                "code_challenge_method": (asked["code_challenge_method"] or "S256")
                if asked["code_challenge"] else None}
            # checked here first, so that each problem is named at its field
            consent = parse(Consent, consent).model_dump(mode="json")
            code = self.services.call("identity", "consent_to_sharing", token, consent)
        except ServiceUnavailable:
            raise
        except (ValidationFailed, Forbidden) as exc:   # said on the page, as typed
            outcome = {"detail": str(exc), "errors": getattr(exc, "errors", None) or [],
                       "code": getattr(exc, "code", None),
                       "params": getattr(exc, "params", None)}
            return self._consent_page(request, principal, asked, checked, cid, outcome,
                                      status=status_of(exc)[0])
        return back_to(code["redirect_uri"], code=code["code"], state=asked["state"])

    def _checked_request(self, request, asked):
        """identity's check of the request (the application and its exact redirect
        URI), or the answer that ends it: a page when the redirect URI cannot be
        trusted, else the application's redirect URI with the error (RFC 6749
        §4.1.2.1)."""
        too_long = [name for name, limit in LIMITS.items() if len(asked[name]) > limit]
        if too_long:       # never cut: a cut redirect URI could match another
            return error_page(request, 400, N_("Bad request"),
                              f"too long: {', '.join(too_long)}")
        try:
            checked = self.services.call("identity", "check_authorization_request", {
                "client_id": asked["client_id"], "redirect_uri": asked["redirect_uri"],
                "scope": asked["scope"]})
        except ServiceUnavailable:
            raise
        except (NotFound, ValidationFailed) as exc:
            codes = {getattr(exc, "code", None), *(e.get("code") for e in
                                                   getattr(exc, "errors", None) or [])}
            if "invalid-scope" in codes:
                return back_to(asked["redirect_uri"], error="invalid_scope",
                               error_description=str(exc), state=asked["state"])
            return error_page(request, 400, N_("Bad request"), str(exc),
                              getattr(exc, "errors", None) or [], getattr(exc, "code", None))
        if request.method == "GET" and request.args.get("response_type") != "code":
            return back_to(asked["redirect_uri"], error="unsupported_response_type",
                           state=asked["state"])
        method, challenge = asked["code_challenge_method"], asked["code_challenge"]
        if method and method != "S256" or (challenge and not 43 <= len(challenge) <= 128):
            return back_to(asked["redirect_uri"], error="invalid_request",
                           error_description="PKCE: code_challenge_method S256, with a "
                                             "code_challenge of 43 to 128 characters",
                           state=asked["state"])
        return checked

    def _consent_page(self, request, principal, asked, checked, cid, outcome=None,
                      status=200):
        """The page: whom she may consent for (herself; a grantor whose mandate allows
        sharing), the chosen one's consumption points, what and until when."""
        token = session_token(request)
        able = [c for c in principal["customers"]
                if c["relation"] == "self" or SHARING_GRANT in c["scopes"]]
        if not able:
            raise Forbidden("you may share no one's data: your mandates do not allow it",
                            code="scope-missing")
        entry = (next((c for c in able if c["customer_id"] == cid), None)
                 or next((c for c in able if c["customer_id"] == (self._chosen(
                     request, principal) or {}).get("customer_id")), None) or able[0])
        cid = entry["customer_id"]
        # a delegate's reading of the grantor's points is hers to see in the log
        authorize(self.services, self.principals, request, "customer", SHARING_GRANT, cid,
                  None, "The consent page of an application (portal)", token=token,
                  action="read", use="portal:consent", details={})
        points = self.services.call("contracts", "consumption_points_of", cid)
        limit = entry.get("consumption_point_ids") or None
        points = [p for p in points if limit is None or p["id"] in limit]
        today = forms.today()
        typed = {}
        if outcome:
            typed = {"points": set(request.form.getlist("consumption_point_ids")),
                     "valid_until": request.form.get("valid_until", ""),
                     "invoices": request.form.get("share-invoices:read") == "yes"}
        return self._page(
            request, "consent.html", principal, cid, "sharing", status,
            application=checked["application"], asked=asked, scopes=checked["scopes"],
            able=able, points=points, typed=typed, scope_words=SCOPE_WORDS,
            default_until=forms.date_value(today + timedelta(days=DEFAULT_DAYS),
                                           language_of(request)),
            latest=formats.day(today + timedelta(days=MAX_DAYS), language_of(request)),
            result=result(request, outcome, CONSENT_FIELDS), formats=formats)

    # -- the grants page -------------------------------------------------------------

    @page("GET", "/customers/<cid>/sharing")
    def portal_sharing(self, request, cid):
        principal = self._signed_in(request)
        if principal is None:
            return redirect("/", code=303)
        authorize(self.services, self.principals, request, "customer", SELF_ONLY, cid,
                  token=session_token(request))
        return self._sharing_page(request, principal, {"customer_id": cid})

    @page("POST", "/customers/<cid>/sharing/<grant_id>/revoke")
    def portal_revoke_sharing(self, request, cid, grant_id):
        def revoke(principal, form):
            self.services.call("identity", "revoke_sharing_grant", cid, grant_id,
                               principal["person"]["person_code"])
            return {"message": N_("The application can no longer read your data.")}
        return self._act(request, cid, SELF_ONLY, "sharing", revoke, None,
                         "Revoke a sharing grant (portal)", self._sharing_page)

    def _sharing_page(self, request, principal, outcome, status=200):
        cid = outcome["customer_id"]
        language = language_of(request)
        grants = self.services.call("identity", "sharing_grants_of", cid)
        points = {p["id"]: p for p in self.services.call("contracts",
                                                           "consumption_points_of", cid)}
        addresses = {pid: p["address"] for pid, p in points.items()}
        log = [{**e, "when": formats.moment(e["at"], language),
                "said": uses.describe(e, language, addresses)}
               for e in self.services.call("identity", "access_log", cid)
               if e.get("client_id")]
        for grant in grants:
            grant["points"] = [addresses.get(p, p) for p in grant["consumption_point_ids"]]
            grant["last_used"] = (formats.moment(grant["last_used_at"], language)
                                  if grant["last_used_at"] else None)
        return self._page(request, "sharing.html", principal, cid, "sharing", status,
                          grants=grants, log=log, scope_words=SCOPE_WORDS,
                          grant_status=GRANT_STATUS, formats=formats,
                          result=result(request, outcome, ()))
