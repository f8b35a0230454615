"""The portal's addresses: each page reads its form (services/gateway/portal/forms.py),
does what the API's route does through the same action (services/gateway/actions/),
authorized like the API's route, and answers with a page (rendering.py)."""
import logging
import secrets
import uuid

from eventlet import corolocal
from nameko.web.handlers import HttpRequestHandler
from werkzeug.utils import redirect

from services.common.clock import clock as process_clock
from services.common.errors import (Forbidden, NotFound, ServiceUnavailable, Unauthenticated,
                                    VoolError)
from services.common.session_tokens import session_key
from services.common.translations import N_
from services.gateway.actions import payments as payment_actions
from services.gateway.actions import readings as reading_actions
from services.gateway.actions import sessions as session_actions
from services.gateway import consumption_chart
from services.gateway.auth import (SESSION_COOKIE, actor, authorize, client_address,
                                   session_token, set_session_cookie, visible_points)
from services.gateway.http import ProblemWebServer, form_body, public_url
from services.gateway.portal import forms
from services.gateway.portal.rendering import (LANGUAGE_COOKIE, LANGUAGES, error_page,
                                               http_error_page, language_of, render, words)
from services.gateway.portal import view
from services.gateway.principals import principal_of
from services.gateway.portal.view import customer_views
from services.gateway.uses import page_use
from services.gateway.problems import status_of

log = logging.getLogger(__name__)

LOGIN_COOKIE = "vool_login"      # the browser's half of a login in progress
LOGIN_COOKIE_SECONDS = 30 * 60   # as long as identity keeps a login request open
ACTING_COOKIE = "vool_acting"    # whom she acts for now (this browser session)


class Page(HttpRequestHandler):
    """A portal page: HTML in and out, errors as a page that says what went wrong."""

    server = ProblemWebServer()

    def __init__(self, method, url, **kwargs):
        kwargs.setdefault("expected_exceptions", (VoolError,))
        super().__init__(method, url, **kwargs)
        self._requests = corolocal.local()

    def setup(self):
        super().setup()
        # an unknown address or a wrong method is a page too, to a browser
        self.server.render_errors_with(http_error_page)

    def handle_request(self, request):
        self._requests.value = request      # for an error's page, in its language
        return super().handle_request(request)

    def response_from_result(self, result):
        return result

    def response_from_exception(self, exc):
        known = status_of(exc)
        if known is None:
            log.error("unhandled error on a portal page", exc_info=exc)
            status, title, detail = 500, N_("Something went wrong"), N_("It has been logged.")
        else:
            (status, title), detail = known, str(exc)
        return error_page(getattr(self._requests, "value", None), status, title, detail,
                          getattr(exc, "errors", None) or [], getattr(exc, "code", None))


page = Page.decorator


class PortalRoutes:
    """The portal's pages (mixed into the gateway service)."""

    @page("GET", "/")
    def portal_home(self, request):
        principal = self._signed_in(request)
        if principal is None:
            ended = session_token(request) is not None
            return self._login_page(request, message=words(
                request, "Your session has ended; log in again.") if ended else None)
        after = request.cookies.get("vool_after_login", "")
        if after.startswith("/oauth/authorize?"):    # logged in to consent: back there
            response = redirect(after, code=303)
            response.delete_cookie("vool_after_login", path="/")
            return response
        entry = self._chosen(request, principal)
        if entry is None:
            raise NotFound("you may act for no customer now")
        notice = {"paid": N_("Thank you: your payment was received."),
                  "cancelled": N_("The payment was cancelled at the bank; nothing was paid.")
                  }.get(request.args.get("payment"))
        cid = entry["customer_id"]
        if notice and "invoices:read" in entry["scopes"]:     # back from the bank
            return self._invoices(request, principal, {"message": notice})
        return self._overview(request, principal, {"message": notice} if notice else None,
                              cid=cid)

    @page("GET", "/customers/<cid>/")
    def portal_overview(self, request, cid):
        token = session_token(request)
        if token and self.principals.get(session_key(token)) is None:
            # a principal not kept (a mandate holder's): the page's one identity call
            # gives it too, checked in the same transaction as the reads
            try:
                changes = self.principals.changes
                identity = view.overview_with_principal(self.services, token, cid,
                                                        page_use(request, "overview"))
            except Unauthenticated:
                return redirect("/", code=303)
            self.principals.keep(session_key(token), identity["principal"], changes)
            return self._overview(request, principal_of(identity["principal"]), cid=cid,
                                  identity=identity)
        principal = self._signed_in(request)
        if principal is None:
            return redirect("/", code=303)
        return self._overview(request, principal, cid=cid)

    @page("GET", "/customers/<cid>/consumption-points/<cp>")
    def portal_point(self, request, cid, cp):
        principal = self._signed_in(request)
        if principal is None:
            return redirect("/", code=303)
        return self._point(request, principal, None, cid=cid, cp=cp)

    @page("GET", "/customers/<cid>/invoices")
    def portal_invoices(self, request, cid):
        principal = self._signed_in(request)
        if principal is None:
            return redirect("/", code=303)
        return self._invoices(request, principal, cid=cid)

    @page("POST", "/acting-for")
    def portal_acting_for(self, request):
        """Whom she acts for from now on, in this browser session (a cookie with no
        age: it ends with the browser)."""
        token = session_token(request)
        if not token:
            return redirect("/", code=303)
        forms.check_csrf(request, token)
        principal = authorize(self.services, self.principals, request, "customer",
                              token=token)
        entry = self._acting(request, principal, form_body(request).get("customer_id", ""))
        response = redirect(f"/customers/{entry['customer_id']}/", code=303)
        response.set_cookie(ACTING_COOKIE, entry["customer_id"], httponly=True,
                            samesite="Lax", path="/",
                            secure=public_url(self.config).startswith("https://"))
        return response

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
        bound = public_url(self.config).startswith("https://")
        browser_key = secrets.token_urlsafe(32) if bound else None
        form = session_actions.start_login(
            self.services, bank, f"{public_url(self.config)}/login/{bank}/return", browser_key,
            language_of(request), client_address(request))
        response = render(request, "to_bank.html", form=form)
        if bound:
            response.set_cookie(LOGIN_COOKIE, browser_key, max_age=LOGIN_COOKIE_SECONDS,
                                httponly=True, secure=True, samesite="None", path="/login")
        return response

    @page("POST", "/login/<bank>/return")
    def portal_login_return(self, request, bank):
        try:
            session = session_actions.finish_login(self.services, bank, form_body(request),
                                                   request.cookies.get(LOGIN_COOKIE),
                                                   client_address(request))
        except (Unauthenticated, Forbidden) as exc:
            return self._login_page(request, message=str(exc), status=status_of(exc)[0])
        previous = request.cookies.get(SESSION_COOKIE)
        if previous and previous != session["token"]:   # one session per browser
            try:
                session_actions.end_session(self.services, self.principals, previous)
            except ServiceUnavailable:
                log.warning("the browser's previous session could not be ended now")
        response = set_session_cookie(redirect("/", code=303), session,
                                      public_url(self.config))
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @page("POST", "/logout")
    def portal_logout(self, request):
        token = session_token(request)
        if not token:       # nothing to end (and no other site may clear the cookie)
            return redirect("/", code=303)
        forms.check_csrf(request, token)
        session_actions.end_session(self.services, self.principals, token)
        response = redirect("/", code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @page("POST", "/customers/<cid>/consumption-points/<cp>/readings")
    def portal_submit_reading(self, request, cid, cp):
        def submit(principal, form):
            reading, key = forms.reading(form, language_of(request))
            return {"reading": reading_actions.submit_reading(self.services, principal, cid,
                                                              cp, reading, key)}
        return self._act(request, cid, "readings:write", f"point:{cp}", submit, cp,
                         "Submit a reading (portal)")

    @page("POST", "/customers/<cid>/consumption-points/<cp>/readings/<reading_id>/withdraw")
    def portal_withdraw_reading(self, request, cid, cp, reading_id):
        def withdraw(principal, form):
            self.services.call("metering", "withdraw_reading", cp, reading_id, cid,
                               actor(principal))
            return {"message": "Your reading is withdrawn. Send the right one when you "
                               "have it."}
        return self._act(request, cid, "readings:write", f"point:{cp}", withdraw, cp,
                         "Withdraw a reading (portal)")

    @page("POST", "/customers/<cid>/payments")
    def portal_pay(self, request, cid):
        def pay(principal, form):
            bank = form.get("bank", "")
            _, to_bank = payment_actions.start_bank_payment(
                self.services, principal, cid, bank, request.form.getlist("invoice_no"),
                visible_points(request), f"{public_url(self.config)}/payments/{bank}/return",
                unknown_bank="choose one of the banks", language=language_of(request))
            return {"to_bank": to_bank}
        return self._act(request, cid, "payments:write", "payment", pay, None,
                         "Pay invoices (portal)")

    @page("POST", "/payments/<bank>/return")
    def portal_payment_return(self, request, bank):
        """The bank's reply to a payment (the customer's browser, or the bank itself
        with VK_AUTO): recorded once, then back to the portal."""
        paid = payment_actions.finish_bank_payment(self.services, bank, form_body(request))
        return redirect(f"/?payment={'paid' if paid['status'] == 'paid' else 'cancelled'}",
                        code=303)

    def _act(self, request, cid, scope, part, action, cp, what, page=None):
        """A form's change for customer ``cid``: authorized like the API's route,
        the form's token checked, then ``page(request, principal, outcome, status)``
        (the page the form is on; by default the one its ``part`` belongs to) with
        what came of it; a refusal keeps what she typed (``outcome["form"]``) and
        names the fields. A service that is down is a 503 page."""
        token = session_token(request)
        if not token:
            raise Unauthenticated("log in first", code="unauthenticated")
        forms.check_csrf(request, token)      # before anything is asked or logged
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
            errors = getattr(exc, "errors", None) or []
            at_field, rest = forms.field_errors(errors, set(request.form))
            outcome.update(detail=str(exc), errors=errors, field_errors=at_field,
                           other_errors=rest, code=getattr(exc, "code", None),
                           params=getattr(exc, "params", None), form=request.form)
        if "to_bank" in outcome:
            return render(request, "to_bank.html", form=outcome["to_bank"])
        if "reading" in outcome:
            status = 201
        page_principal = authorize(self.services, self.principals, request, "customer",
                                   token=token)
        if page is None:
            page = self._page_of(part, cid, cp)
        return page(request, page_principal, outcome, status)

    def _page_of(self, part, cid, cp):
        """The page a form of ``part`` is on, as ``_act``'s ``page``."""
        if part.startswith("point:"):
            return lambda request, principal, outcome, status: self._point(
                request, principal, outcome, status, cid=cid, cp=cp)
        if part == "payment":
            return lambda request, principal, outcome, status: self._invoices(
                request, principal, outcome, status, cid=cid)
        return lambda request, principal, outcome, status: self._overview(
            request, principal, outcome, status, cid=cid)

    # -- the frame ---------------------------------------------------------------------

    def _signed_in(self, request):
        """The customer of the session, or None (no session, or it has ended)."""
        try:
            return authorize(self.services, self.principals, request, "customer",
                             token=session_token(request))
        except Unauthenticated:
            return None

    def _acting(self, request, principal, cid):
        """The entry of ``principal["customers"]`` for ``cid``: whom she acts for on
        this page; a customer she may not act for does not exist for her (404)."""
        for entry in principal["customers"]:
            if entry["customer_id"] == cid:
                return entry
        raise NotFound(f"no customer {cid}")

    def _chosen(self, request, principal):
        """Whom she acts for now: the switcher's choice of this session, else
        herself, else the first she may act for."""
        customers = principal["customers"]
        chosen = request.cookies.get(ACTING_COOKIE)
        return (next((c for c in customers if c["customer_id"] == chosen), None)
                or next((c for c in customers if c["relation"] == "self"), None)
                or (customers[0] if customers else None))

    def _page(self, request, template, principal, cid, current, status=200, **values):
        """A page of customer ``cid`` in the portal's frame (base.html): who she is,
        whom she acts for (and under what), the switcher and the navigation. It
        authorizes nothing: the caller has."""
        token = session_token(request)
        return render(request, template, status=status, person=principal["person"],
                      acting=self._acting(request, principal, cid),
                      customers=principal["customers"], current=current,
                      csrf_field=forms.CSRF_FIELD, csrf_token=forms.csrf_token(token),
                      **values)

    # -- the pages' contents ---------------------------------------------------------

    def _login_page(self, request, message=None, status=200):
        try:
            ways = self.services.call("identity", "list_login_providers")
        except ServiceUnavailable:
            ways = []
            message = words(request, "Logging in is not possible right now; try again shortly.")
            status = 503
        return render(request, "login.html", status=status, message=message,
                      banks=[w for w in ways if w["kind"] == "bank"],
                      providers=[w for w in ways if w["kind"] == "oidc"])

    def _overview(self, request, principal, outcome=None, status=200, cid=None,
                  identity=None):
        entry = self._acting(request, principal, cid)
        if outcome and outcome.get("errors"):   # no form here: every error in the box
            outcome = {**outcome, "field_errors": {}, "other_errors": outcome["errors"]}
        [customer] = customer_views(self.services, session_token(request), [entry],
                                    overview=True, use=page_use(request, "overview"),
                                    identity=identity)
        today = process_clock.today()
        for point in customer["points"] or ():
            view.mark_due(point, today)
        return self._page(request, "overview.html", principal, cid, "overview", status,
                          customer=customer, outcome=outcome or {})

    def _point(self, request, principal, outcome=None, status=200, cid=None, cp=None):
        entry = self._acting(request, principal, cid)
        point = view.mark_due(view.point_view(self.services, session_token(request), entry,
                                              cp, page_use(request, "point")),
                              process_clock.today())
        return self._page(request, "point.html", principal, cid, "overview", status,
                          point=point, outcome=outcome or {}, today=process_clock.today(),
                          charts=self._charts(request, point),
                          register_field=forms.REGISTER_FIELD,
                          new_key=lambda: uuid.uuid4().hex)

    def _charts(self, request, point):
        """A chart per register of the point's consumption by month, each with the
        same numbers for its table (in the page's language)."""
        if not point.get("months"):
            return []
        language, charts = language_of(request), []
        for register in point["meter"]["registers"]:
            code = register["code"]
            rows = consumption_chart.rows(point["months"], code)
            title = words(request, "Consumption of register %(code)s at %(address)s by "
                                   "month, kWh") % {"code": code, "address": point["address"]}
            description = words(request, "Bars for each of the last 13 months, each beside "
                                         "the same month a year before; the table below "
                                         "gives the numbers.")
            charts.append({"register": code, "rows": rows, "title": title,
                           "svg": consumption_chart.svg(
                               rows, title, description, language,
                               legend=(words(request, "The month"),
                                       words(request, "A year before"),
                                       words(request, "Estimated")),
                               chart_id=f"chart-{code}")})
        return charts

    def _invoices(self, request, principal, outcome=None, status=200, cid=None):
        if cid is None:
            cid = self._chosen(request, principal)["customer_id"]
        entry = self._acting(request, principal, cid)
        invoices = view.invoices_view(self.services, session_token(request), entry,
                                      page_use(request, "invoices"))
        return self._page(request, "invoices.html", principal, cid, "invoices", status,
                          invoices=invoices, outcome=outcome or {})

    def _home(self, request, principal, outcome=None, status=200):
        """The overview of whom she acts for now (kept for the callers of before)."""
        return self._overview(request, principal, outcome, status,
                              cid=self._chosen(request, principal)["customer_id"])
