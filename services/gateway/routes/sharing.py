"""Sharing consumption data with third parties (OAuth 2 authorization code grant).

- operators register applications (``/api/v1/operator/sharing/applications``);
- an application exchanges the code the customer's consent gave it, or a refresh
  token, at ``POST /api/v1/oauth/token`` (RFC 6749: a form, client_secret_basic or
  client_secret_post; errors as RFC 6749 §5.2 says, ``{error, error_description}``,
  with the problem's fields beside them);
- the customer lists and revokes her grants (``/api/v1/customers/{cid}/sharing-grants``;
  the consent page and the grants page are the portal's, portal/sharing_pages.py);
- the application reads with its access token under ``/api/v1/shared`` as JSON,
  CSV or ESPI Atom XML (services/gateway/shared_formats.py). identity decides every
  read and writes it to the customer's access log with the application's name.
"""
import json
from datetime import date
from typing import Optional
from urllib.parse import unquote_plus

from pydantic import BaseModel, Field
from werkzeug.wrappers import Response

from services.billing import api as billing
from services.billing.api import Money, Percent
from services.common.errors import Forbidden, NotFound, ValidationFailed, VoolError
from services.common.clock import clock as process_clock
from services.common.validation import Shape, parse
from services.contracts import api as contracts_api
from services.gateway import shared_formats as formats
from services.gateway.auth import SELF_ONLY
from services.gateway.http import FORM, form_body, json_body, public_url, route
from services.gateway.problems import problem_from_exception, status_of
from services.identity import api as identity
from services.metering import api as metering

CUSTOMER = "/api/v1/customers/<cid>"
SHARED = "/api/v1/shared/consumption-points"
ALTERNATIVES = (formats.CSV, formats.ATOM)
FORMS = ("As JSON by default; `Accept: text/csv` for CSV, `Accept: application/atom+xml` "
         "for Green Button (NAESB ESPI) Atom XML.")


class SharedInvoice(BaseModel):
    """An invoice as an application sees it."""
    invoice_no: str
    contract_no: str
    period: str
    issued_on: date
    due_on: date
    net: Money
    vat_rate: Percent
    vat: Money
    total: Money
    paid: Money
    status: str


class ConsumptionRange(Shape):
    """The intervals between readings within these days (both optional)."""
    period_from: Optional[date] = Field(default=None, alias="from",
                                        description="first day (YYYY-MM-DD)")
    period_to: Optional[date] = Field(default=None, alias="to",
                                      description="last day (YYYY-MM-DD); at most the "
                                                  "grant's last day")


#: identity's refusal codes at the token endpoint -> RFC 6749 §5.2's error
OAUTH_ERRORS = {"invalid-client": "invalid_client", "invalid-grant": "invalid_grant",
                "invalid-scope": "invalid_scope", "invalid-request": "invalid_request"}


def oauth_error(exc):
    """A refusal at the token endpoint as RFC 6749 §5.2 has it: 400 (401 for the
    client's credentials) with ``error``; the problem's fields are kept beside."""
    problem = json.loads(problem_from_exception(exc).get_data())
    codes = [getattr(exc, "code", None)] + [e.get("code") for e in getattr(exc, "errors", None)
                                            or []]
    fields = [e.get("field") for e in getattr(exc, "errors", None) or []]
    error = next((OAUTH_ERRORS[c] for c in codes if c in OAUTH_ERRORS), None)
    if error is None:
        error = "unsupported_grant_type" if "grant_type" in fields else "invalid_request"
    status = 401 if error == "invalid_client" else 400
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="vool"'
    body = {"error": error, "error_description": str(exc), **problem, "status": status}
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=headers,
                    content_type="application/json")


def basic_credentials(request):
    """client_secret_basic (RFC 6749 §2.3.1: each part form-encoded), or (None, None)."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None, None
    auth = request.authorization
    if auth is None or auth.username is None:
        raise ValidationFailed("a malformed Authorization: Basic header",
                               code="invalid-client")
    return unquote_plus(auth.username), unquote_plus(auth.password or "")


class SharingRoutes:

    # -- operators: applications ----------------------------------------------------

    @route("POST", "/api/v1/operator/sharing/applications", access="operator", tag="sharing",
           status=201, request_model=identity.NewApplication,
           response_model=identity.register_application,
           summary="Register a third party's application: its client_id and client "
                   "secret (shown this once)")
    def desk_register_application(self, request):
        application = json_body(request, identity.NewApplication)
        return self.services.call("identity", "register_application",
                                  application.model_dump(mode="json"),
                                  request.principal["operator"]["username"])

    @route("GET", "/api/v1/operator/sharing/applications", access="operator", tag="sharing",
           response_model=identity.list_applications,
           summary="The registered applications (never their secrets)")
    def desk_applications(self, request):
        return self.services.call("identity", "list_applications")

    # -- the token endpoint ----------------------------------------------------------

    @route("POST", "/api/v1/oauth/token", access="public", tag="sharing",
           request_model=identity.TokenRequest, request_media=FORM,
           response_model=identity.exchange_sharing_token, problems=(400, 401),
           headers={"Cache-Control": "no-store"},
           description="RFC 6749 §4.1.3 and §6: `grant_type=authorization_code` with "
                       "`code`, `redirect_uri` and (when the authorization request had a "
                       "`code_challenge`, S256) `code_verifier`; or "
                       "`grant_type=refresh_token` with `refresh_token` (and `scope`, no "
                       "more than the grant's). The client authenticates with HTTP Basic "
                       "(client_secret_basic) or `client_id` and `client_secret` in the "
                       "form. A refresh token works once: the answer holds a new one; "
                       "a used one presented again revokes the grant. Refusals are "
                       "RFC 6749 §5.2's `{error, error_description}` (400; 401 "
                       "invalid_client), with the problem's fields beside them.",
           summary="Exchange an authorization code or a refresh token for tokens")
    def oauth_token(self, request):
        try:
            basic_id, basic_secret = basic_credentials(request)
            token_request = parse(identity.TokenRequest, form_body(request))
            tokens = self.services.call(
                "identity", "exchange_sharing_token", token_request.model_dump(),
                basic_id, basic_secret)
        except VoolError as exc:
            if status_of(exc) is None or status_of(exc)[0] >= 500 or status_of(exc)[0] == 415:
                raise
            return oauth_error(exc)
        return Response(json.dumps(tokens), content_type="application/json",
                        headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    # -- the customer's grants ---------------------------------------------------------

    @route("GET", f"{CUSTOMER}/sharing-grants", access="customer", scope=SELF_ONLY,
           tag="sharing", response_model=identity.sharing_grants_of,
           summary="The applications the customer shares data with, and the grants ended")
    def sharing_grants(self, request, cid):
        return self.services.call("identity", "sharing_grants_of", cid)

    @route("DELETE", f"{CUSTOMER}/sharing-grants/<grant_id>", access="customer",
           scope=SELF_ONLY, tag="sharing", status=204, calls=(identity.revoke_sharing_grant,),
           summary="Revoke a sharing grant: the application's tokens stop working at once")
    def revoke_sharing_grant(self, request, cid, grant_id):
        self.services.call("identity", "revoke_sharing_grant", cid, grant_id,
                           request.principal["person"]["person_code"])
        return Response(status=204)

    # -- what an application reads ---------------------------------------------------

    @route("GET", SHARED, access="application", scope="readings:read", tag="sharing",
           response_model=list[formats.SharedPoint], alternative_media=ALTERNATIVES,
           calls=(identity.use_shared_data, contracts_api.consumption_points_of),
           headers={"Vary": "Accept"}, description=FORMS,
           summary="The consumption points the grant shares (ESPI: UsagePoints)")
    def shared_consumption_points(self, request):
        grant = request.principal["grant"]
        points = self._shared_points(grant)
        return formats.answer(
            request, [formats.SharedPoint(**p).model_dump(mode="json") for p in points],
            lambda: formats.points_csv(points),
            lambda: formats.points_atom(public_url(self.config), process_clock.now(), points))

    @route("GET", f"{SHARED}/<cp>/readings", access="application", scope="readings:read",
           tag="sharing", response_model=list[formats.SharedReading],
           alternative_media=ALTERNATIVES, headers={"Vary": "Accept"},
           calls=(identity.use_shared_data, contracts_api.consumption_points_of,
                  metering.list_readings), description=FORMS,
           summary="The accepted meter readings of a shared consumption point, oldest "
                   "first (ESPI: a MeterReading per register, bulk quantities)")
    def shared_readings(self, request, cp):
        grant = request.principal["grant"]
        point = self._shared_point(grant, cp)
        readings = formats.shared_readings(
            self.services.call("metering", "list_readings", cp, grant["customer_id"]))
        return formats.answer(
            request, readings, lambda: formats.readings_csv(cp, readings),
            lambda: formats.readings_atom(public_url(self.config), process_clock.now(),
                                          point, readings))

    @route("GET", f"{SHARED}/<cp>/consumption", access="application", scope="readings:read",
           tag="sharing", query=ConsumptionRange, response_model=formats.SharedConsumption,
           alternative_media=ALTERNATIVES, headers={"Vary": "Accept"},
           calls=(identity.use_shared_data, contracts_api.consumption_points_of,
                  metering.list_readings),
           description=FORMS + " An interval runs from one accepted reading to the next; "
                               "`to` after the grant's last day is refused (403).",
           summary="The consumption between readings of a shared consumption point "
                   "(ESPI: IntervalBlocks of delta data)")
    def shared_consumption(self, request, cp):
        grant = request.principal["grant"]
        window = request.query
        if window.period_from and window.period_to and window.period_to < window.period_from:
            raise ValidationFailed.field("to", "is before from", "date-before-start")
        last = date.fromisoformat(grant["valid_until"])
        if window.period_to and window.period_to > last:
            raise Forbidden(f"the grant shares data up to {last.isoformat()}",
                            code="outside-grant-dates")
        point = self._shared_point(grant, cp)
        readings = self.services.call("metering", "list_readings", cp, grant["customer_id"])
        found = formats.intervals(readings, window.period_from and window.period_from.isoformat(),
                                  window.period_to and window.period_to.isoformat())
        body = formats.SharedConsumption(
            consumption_point_id=cp, period_from=window.period_from,
            period_to=window.period_to, intervals=found).model_dump(mode="json")
        return formats.answer(
            request, body, lambda: formats.consumption_csv(cp, found),
            lambda: formats.consumption_atom(public_url(self.config), process_clock.now(),
                                             point, found))

    @route("GET", "/api/v1/shared/invoices", access="application", scope="invoices:read",
           tag="sharing", response_model=list[SharedInvoice],
           alternative_media=(formats.CSV,), headers={"Vary": "Accept"},
           calls=(identity.use_shared_data, billing.invoices_of),
           description="Only when the customer shared her invoices too (scope "
                       "invoices:read). As JSON by default; `Accept: text/csv` for CSV. "
                       "No reference numbers: they pay the invoice.",
           summary="The invoices of the shared consumption points, newest first")
    def shared_invoices(self, request):
        grant = request.principal["grant"]
        invoices = [SharedInvoice(**i).model_dump(mode="json") for i in self.services.call(
            "billing", "invoices_of", grant["customer_id"], "all",
            grant["consumption_point_ids"])]
        return formats.answer(request, invoices, lambda: formats.invoices_csv(invoices))

    def _shared_points(self, grant):
        shared = set(grant["consumption_point_ids"])
        return [p for p in self.services.call("contracts", "consumption_points_of",
                                              grant["customer_id"]) if p["id"] in shared]

    def _shared_point(self, grant, cp):
        point = next((p for p in self._shared_points(grant) if p["id"] == cp), None)
        if point is None:      # the contract has ended since: nothing to share
            raise NotFound("no such consumption point")
        return point
