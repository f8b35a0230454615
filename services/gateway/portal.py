"""The web portal under ``/``: a customer logs in through their bank and sees, for
themselves and for everyone they act for, the consumption points with the last
reading and the next one due, enters readings, and follows invoices.

Pages are rendered here (Jinja2, autoescaped) from the same RPCs and the same
access checks as the API (``authorize``: scopes, mandates, the access log). The
session is the API's, kept in an HttpOnly SameSite=Lax cookie; every form that
changes something also carries a token derived from the session, so a page on
another site cannot post one for the customer.
"""
import hashlib
import hmac
import logging
import secrets
import uuid
from pathlib import Path

from eventlet import corolocal
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from nameko.web.handlers import HttpRequestHandler
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from services.common import config as cfg
from services.common.errors import (Forbidden, NotFound, ServiceUnavailable, Unauthenticated,
                                    ValidationFailed, VoolError)
from services.common.session_tokens import session_key
from services.common.validation import parse
from services.common.scopes import SCOPES
from services.contracts.api import CONTACT_FIELDS, Claim, ContactChange
from services.gateway.auth import (SELF_ONLY, SESSION_COOKIE, actor, authorize, session_token,
                                   set_session_cookie, visible_points)
from services.gateway.http import ProblemWebServer, form_body
from services.gateway.portal_texts import CATALOGS, DEFAULT_LANGUAGE, LANGUAGES
from services.gateway.problems import status_of
from services.gateway.routes.readings import MAX_KEY, NewReading, reading_command
from services.identity.api import MandateGrant
from services.notifications.api import CUSTOMER_KINDS, Feedback

log = logging.getLogger(__name__)

LANGUAGE_COOKIE = "vool_lang"
CSRF_FIELD = "csrf_token"
LOGIN_COOKIE = "vool_login"      # the browser's half of a login in progress
LOGIN_COOKIE_SECONDS = 30 * 60   # as long as identity keeps a login request open
REGISTER_FIELD = "register-"     # a reading form's field per register: register-T1


def _environment(catalog):
    """The templates in one language: ``_()`` gives its words; a text it lacks shows
    as written, escaped like any value."""
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates" / "portal"),
        autoescape=select_autoescape(["html"]), extensions=["jinja2.ext.i18n"])

    def gettext(text):
        return Markup(catalog[text]) if text in catalog else escape(text)

    environment.install_gettext_callables(gettext, lambda one, many, n: gettext(
        one if n == 1 else many), newstyle=True)
    return environment


TEMPLATES = {language: _environment(catalog) for language, catalog in CATALOGS.items()}


def language_of(request):
    """The visitor's choice (the switch in the header), else their browser's
    preference, else Estonian."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def words(request, text):
    """A text of ours in the page's language (for what Python says on a page)."""
    return CATALOGS[language_of(request)].get(text, text)


#: pages carry personal data: not kept by caches or the Back button after logout,
#: never framed by another site, never sniffed into another type
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                "Content-Security-Policy": "frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def render(request, template, status=200, **values):
    """A page, in the visitor's language."""
    language = language_of(request) if request is not None else DEFAULT_LANGUAGE
    page = TEMPLATES[language].get_template(template).render(language=language, **values)
    return Response(page, status=status, content_type="text/html; charset=utf-8",
                    headers=PAGE_HEADERS)


def csrf_token(token):
    """The forms' token: derived from the session, so only its holder can know it."""
    return hmac.new(b"vool-portal-forms", token.encode("utf-8"), hashlib.sha256).hexdigest()


def check_csrf(request, token):
    sent = request.form.get(CSRF_FIELD, "")
    if not hmac.compare_digest(sent.encode("utf-8"), csrf_token(token).encode("utf-8")):
        raise Forbidden("this form did not come from your session's page; reload it",
                        code="form-token-mismatch")


class Page(HttpRequestHandler):
    """A portal page: HTML in and out, errors as a page that says what went wrong."""

    server = ProblemWebServer()

    def __init__(self, method, url, **kwargs):
        kwargs.setdefault("expected_exceptions", (VoolError,))
        super().__init__(method, url, **kwargs)
        self._requests = corolocal.local()

    def handle_request(self, request):
        self._requests.value = request      # for an error's page, in its language
        return super().handle_request(request)

    def response_from_result(self, result):
        return result

    def response_from_exception(self, exc):
        known = status_of(exc)
        if known is None:
            log.error("unhandled error on a portal page", exc_info=exc)
            status, title, detail = 500, "Something went wrong", "It has been logged."
        else:
            (status, title), detail = known, str(exc)
        return render(getattr(self._requests, "value", None), "error.html", status=status,
                      title=title, detail=detail,
                      errors=getattr(exc, "errors", None) or [])


page = Page.decorator


def wants_page(request):
    """A browser asking for something outside the API: it gets a page, not JSON."""
    return (not request.path.startswith("/api/") and request.path != "/health"
            and "text/html" in request.headers.get("Accept", ""))


def http_error_page(request, exc):
    """An unknown address or a wrong method, as a portal page."""
    title = {404: "Not found", 405: "Not allowed"}.get(exc.code, "Something went wrong")
    return render(request, "error.html", status=exc.code or 500, title=title,
                  detail=words(request, "There is no such page here."), errors=[])


class PortalRoutes:
    """The portal's pages (mixed into the gateway service)."""

    @page("GET", "/")
    def portal_home(self, request):
        try:
            principal = authorize(self.services, self.principals, request, "customer",
                                  token=session_token(request))
        except Unauthenticated:
            ended = session_token(request) is not None
            return self._login_page(request, message=words(
                request, "Your session has ended; log in again.") if ended else None)
        notice = {"paid": "Thank you: your payment was received.",
                  "cancelled": "The payment was cancelled at the bank; nothing was paid."
                  }.get(request.args.get("payment"))
        return self._home(request, principal, {"part": "page", "message": notice}
                          if notice else None)

    @page("GET", "/language/<language>")
    def portal_language(self, request, language):
        response = redirect("/", code=303)
        if language in LANGUAGES:
            response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600,
                                samesite="Lax", path="/")
        return response

    @page("POST", "/login/<bank>")
    def portal_login(self, request, bank):
        """On to the bank. Over https the login is bound to this browser: a secret in a
        cookie that comes back with the bank's reply, so a reply someone else got
        cannot log this browser in as them (over plain http, in development, a
        browser would not send the cookie with the bank's cross-site post)."""
        bound = self._public_url().startswith("https://")
        browser_key = secrets.token_urlsafe(32) if bound else None
        form = self.services.call("identity", "start_banklink_login", bank,
                                  f"{self._public_url()}/login/{bank}/return", browser_key)
        response = render(request, "to_bank.html", form=form)
        if bound:
            response.set_cookie(LOGIN_COOKIE, browser_key, max_age=LOGIN_COOKIE_SECONDS,
                                httponly=True, secure=True, samesite="None", path="/login")
        return response

    @page("POST", "/login/<bank>/return")
    def portal_login_return(self, request, bank):
        try:
            session = self.services.call("identity", "finish_banklink_login", bank,
                                         form_body(request), request.cookies.get(LOGIN_COOKIE))
        except (Unauthenticated, Forbidden) as exc:
            return self._login_page(request, message=str(exc), status=status_of(exc)[0])
        previous = request.cookies.get(SESSION_COOKIE)
        if previous and previous != session["token"]:   # one session per browser
            try:
                self.services.call("identity", "logout", previous)
                self.principals.forget_session(session_key(previous))
            except ServiceUnavailable:
                log.warning("the browser's previous session could not be ended now")
        response = set_session_cookie(redirect("/", code=303), session, self._public_url())
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @page("POST", "/logout")
    def portal_logout(self, request):
        token = session_token(request)
        if not token:       # nothing to end (and no other site may clear the cookie)
            return redirect("/", code=303)
        check_csrf(request, token)
        self.services.call("identity", "logout", token)
        self.principals.forget_session(session_key(token))
        response = redirect("/", code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @page("POST", "/customers/<cid>/consumption-points/<cp>/readings")
    def portal_submit_reading(self, request, cid, cp):
        def submit(principal, form):
            reading = parse(NewReading, {
                "reading_date": form.get("reading_date") or None,
                "registers": {name[len(REGISTER_FIELD):]: value.strip() or None
                              for name, value in form.items() if name.startswith(REGISTER_FIELD)}})
            key = form.get("idempotency_key") or None
            if key is not None and len(key) > MAX_KEY:      # stored whole, never cut
                raise ValidationFailed.field("idempotency_key", f"at most {MAX_KEY} characters")
            return {"reading": self.services.call(
                "metering", "submit_reading", reading_command(principal, cid, cp, reading, key))}
        return self._act(request, cid, "readings:write", f"point:{cp}", submit, cp,
                         "Submit a reading (portal)")

    @page("POST", "/customers/<cid>/contact")
    def portal_change_contact(self, request, cid):
        def change(principal, form):
            given = {field: form[field].strip() or None for field in CONTACT_FIELDS
                     if field in form}
            change = parse(ContactChange, given)
            self.services.call("contracts", "change_contact", cid,
                               change.model_dump(exclude_unset=True), actor(principal))
            return {"message": "Your contact details were changed."}
        return self._act(request, cid, "contact:write", "contact", change, None,
                         "Change contact details (portal)")

    @page("POST", "/customers/<cid>/feedback")
    def portal_send_feedback(self, request, cid):
        def send(principal, form):
            feedback = parse(Feedback, {k: form.get(k, "").strip() for k in ("kind", "subject",
                                                                              "body")})
            self.services.call("notifications", "open_case", cid, feedback.model_dump(),
                               actor(principal))
            return {"message": "Thank you: your message is with our service desk."}
        return self._act(request, cid, "feedback:write", "feedback", send, None,
                         "Write to the desk (portal)")

    @page("POST", "/customers/<cid>/consumption-point-claims")
    def portal_claim_point(self, request, cid):
        def claim(principal, form):
            claim = parse(Claim, {k: form.get(k, "").strip() or None
                                  for k in ("address", "eic", "meter_serial", "note")})
            self.services.call("contracts", "claim_consumption_point", cid, claim.model_dump(),
                               actor(principal))
            return {"message": "Your claim is with our service desk; we will tell you what "
                               "they decide."}
        return self._act(request, cid, "consumption-points:claim", "claims", claim, None,
                         "Claim a consumption point (portal)")

    @page("POST", "/customers/<cid>/payments")
    def portal_pay(self, request, cid):
        def pay(principal, form):
            bank = form.get("bank", "")
            if bank not in {b["id"] for b in self.services.call("identity", "list_banks")}:
                raise ValidationFailed.field("bank", "choose one of the banks")
            order = self.services.call("billing", "start_bank_payment", cid,
                                       request.form.getlist("invoice_no"), bank,
                                       actor(principal), visible_points(request))
            return {"to_bank": self.services.call(
                "identity", "payment_request", bank, order["stamp"], order["amount"],
                order["reference_no"], order["message"],
                f"{self._public_url()}/payments/{bank}/return")}
        return self._act(request, cid, "payments:write", "payment", pay, None,
                         "Pay invoices (portal)")

    @page("POST", "/customers/<cid>/mandates")
    def portal_grant_mandate(self, request, cid):
        def grant(principal, form):
            terms = parse(MandateGrant, {
                "grantee_person_code": form.get("grantee_person_code", "").strip(),
                "scopes": request.form.getlist("scopes"),
                "valid_until": form.get("valid_until") or None})
            self.services.call("identity", "grant_mandate", cid, terms.model_dump(mode="json"),
                               actor(principal))
            self.principals.forget_persons([terms.grantee_person_code])
            return {"message": "The mandate is granted; they can act for you from today."}
        return self._act(request, cid, SELF_ONLY, "mandates", grant, None,
                         "Grant a mandate (portal)")

    @page("POST", "/customers/<cid>/mandates/<mandate_id>/revoke")
    def portal_revoke_mandate(self, request, cid, mandate_id):
        def revoke(principal, form):
            self.services.call("identity", "revoke_mandate", cid, mandate_id, actor(principal))
            return {"message": "The mandate is revoked: it no longer works."}
        return self._act(request, cid, SELF_ONLY, "mandates", revoke, None,
                         "Revoke a mandate (portal)")

    @page("POST", "/payments/<bank>/return")
    def portal_payment_return(self, request, bank):
        """The bank's reply to a payment (the customer's browser, or the bank itself
        with VK_AUTO): recorded once, then back to the portal."""
        reply = self.services.call("identity", "verify_payment_reply", bank, form_body(request))
        paid = self.services.call("billing", "finish_bank_payment", bank, reply)
        return redirect(f"/?payment={'paid' if paid['status'] == 'paid' else 'cancelled'}",
                        code=303)

    def _act(self, request, cid, scope, part, action, cp, what):
        """A form's change for customer ``cid``: authorized like the API's route,
        the form's token checked, then the page again with what came of it beside
        the form (a refusal names the fields); a service that is down is a 503 page."""
        token = session_token(request)
        if not token:
            raise Unauthenticated("log in first", code="unauthenticated")
        check_csrf(request, token)      # before anything is asked or logged
        principal = authorize(self.services, self.principals, request, "customer", scope,
                              cid, cp, what, token=token)
        request.principal = principal
        outcome = {"customer_id": cid, "part": part}
        status = 200
        try:
            outcome.update(action(principal, form_body(request)))
        except ServiceUnavailable:
            raise
        except VoolError as exc:      # refused: said beside the form it came from
            status = status_of(exc)[0]
            outcome.update(detail=str(exc), errors=getattr(exc, "errors", None) or [])
        if "to_bank" in outcome:
            return render(request, "to_bank.html", form=outcome["to_bank"])
        if "reading" in outcome:
            status = 201
        home_principal = authorize(self.services, self.principals, request, "customer",
                                   token=token)
        return self._home(request, home_principal, outcome, status)

    # -- the pages' contents ---------------------------------------------------------

    def _public_url(self):
        return cfg.setting(self.config, "VOOL_PUBLIC_URL", "http://localhost:8000").rstrip("/")

    def _login_page(self, request, message=None, status=200):
        try:
            banks = self.services.call("identity", "list_banks")
        except ServiceUnavailable:
            banks = []
            message = words(request, "Logging in is not possible right now; try again shortly.")
            status = 503
        return render(request, "login.html", status=status, banks=banks, message=message)

    def _home(self, request, principal, outcome=None, status=200):
        token = session_token(request)
        customers = [self._customer_view(request, entry) for entry in principal["customers"]]
        return render(request, "home.html", status=status, person=principal["person"],
                      customers=customers, outcome=outcome or {},
                      csrf_field=CSRF_FIELD, csrf_token=csrf_token(token),
                      register_field=REGISTER_FIELD, new_key=lambda: uuid.uuid4().hex,
                      feedback_kinds=CUSTOMER_KINDS, scopes=SCOPES)

    def _payment_book(self, reference_no, cid):
        """The book of a contract invoiced to the customer; None once the contract
        has moved to another holder (its payments are theirs to follow now)."""
        try:
            return self.services.call("billing", "payment_book", reference_no, [cid])
        except NotFound:
            return None

    def _customer_view(self, request, entry):
        """What the person may see of one customer, each part checked (and, under a
        mandate, logged as a read of the customer) by identity like the API's routes;
        a service that is down leaves its part out and says so."""
        cid, scopes = entry["customer_id"], set(entry["scopes"])
        view = {"customer_id": cid, "name": entry["name"], "relation": entry["relation"],
                "may_enter_readings": "readings:write" in scopes,
                "sees_contract": "contract:read" in scopes, "points": None,
                "invoices": None, "banks": [], "unavailable": []}

        checked = set()

        def check(scope, what):
            if scope not in checked:      # once per scope: one entry in an access log
                checked.add(scope)
                request.principal = authorize(
                    self.services, self.principals, request, "customer", scope, cid, None,
                    f"Portal: {what}", token=session_token(request), action="read",
                    resource=f"/customers/{cid}")

        if scopes & {"contract:read", "readings:write"}:
            # a delegate who may only enter readings sees which point is which
            check("contract:read" if view["sees_contract"] else "readings:write",
                  "consumption points")
            visible = visible_points(request)
            try:
                points = [p for p in self.services.call("contracts", "consumption_points_of", cid)
                          if visible is None or p["id"] in visible]
                overview = self.services.call("metering", "reading_overview",
                                              [p["id"] for p in points]) if points else {}
                for point in points:
                    point.update(overview.get(point["id"], {}))
                    if "readings:read" in scopes and point["id"] in overview:
                        # the latest, with what became of them (a point metering has
                        # not heard of yet has none)
                        point["readings"] = self.services.call(
                            "metering", "list_readings", point["id"], cid)[:5]
                view["points"] = points
            except ServiceUnavailable:
                view["unavailable"].append("consumption points and readings")
        if "invoices:read" in scopes:
            check("invoices:read", "invoices")
            try:
                invoices = self.services.call("billing", "invoices_of", cid, "all",
                                              visible_points(request))
                view["invoices"] = invoices[:12]
                # up to which reading each contract's payments reach (its payment book)
                view["paid_up_to"] = [
                    book for book in (self._payment_book(reference_no, cid)
                                      for reference_no in sorted({i["reference_no"]
                                                                  for i in invoices}))
                    if book is not None]
                if "payments:write" in scopes:
                    view["banks"] = self.services.call("identity", "list_banks")
            except ServiceUnavailable:
                view["unavailable"].append("invoices")
        if view["sees_contract"]:
            check("contract:read", "contact details and messages")
            try:
                view["contact"] = self.services.call("contracts", "get_customer", cid)["contact"]
                view["inbox"] = self.services.call("notifications", "inbox", cid)[:10]
            except ServiceUnavailable:
                view["unavailable"].append("contact details and messages")
        view["may_change_contact"] = "contact:write" in scopes and "contact" in view
        if entry["relation"] == "self":       # mandates are the customer's own business
            try:
                view["mandates"] = self.services.call(
                    "identity", "mandates_of", cid, request.principal["person"]["person_code"])
                # who read or changed her data under a mandate (the data tracker)
                view["access_log"] = self.services.call("identity", "access_log", cid)[:20]
            except ServiceUnavailable:
                view["unavailable"].append("mandates")
        if "consumption-points:claim" in scopes:
            check("consumption-points:claim", "claims")
            try:
                view["claims"] = self.services.call("contracts", "claims_of", cid)[:10]
            except ServiceUnavailable:
                view["unavailable"].append("claims")
        if "feedback:write" in scopes:
            check("feedback:write", "the desk")
            try:
                view["cases"] = self.services.call("notifications", "cases_of", cid)[:10]
            except ServiceUnavailable:
                view["unavailable"].append("messages to the desk")
        return view
