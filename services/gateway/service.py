"""gateway: the customers' and operators' HTTP API and the web portal."""
import json

from nameko.dependency_providers import Config
from werkzeug.wrappers import Response

from services.common.correlation import Correlation
from services.common.errors import NotFound
from services.common.rpc_calls import ServiceRpc
from services.gateway import asyncapi, openapi, principals, problems, schemas
from services.gateway.actions import sessions as session_actions
from services.gateway.auth import (SESSION_COOKIE, api_session_token, client_address,
                                   set_session_cookie)
from services.gateway.http import FORM, RequestWorkers, form_body, json_body, public_url, route
# modules, not classes: `nameko run` would take an imported class with entrypoints
# (the routes, the portal's pages, principals' event handlers) for a service
from services.gateway.portal import account_pages as portal_account_pages
from services.gateway.portal import oidc_pages as portal_oidc_pages
from services.gateway.portal import pages as portal_pages
from services.gateway.portal import sharing_pages as portal_sharing_pages
from services.gateway.routes import billing as billing_routes
from services.gateway.routes import bus as bus_routes
from services.gateway.routes import customers as customer_routes
from services.gateway.routes import desk as desk_routes
from services.gateway.routes import health as health_routes
from services.gateway.routes import jobs as job_routes
from services.gateway.routes import mandates as mandate_routes
from services.gateway.routes import oidc as oidc_routes
from services.gateway.routes import metrics as metrics_routes
from services.gateway.routes import operators as operator_routes
from services.gateway.routes import readings as reading_routes
from services.gateway.routes import sharing as sharing_routes
from services.gateway.uses.outcomes import UseOutcomes
from services.identity import api as identity

API_VERSION = "0.1.0"


class GatewayService(health_routes.HealthRoutes, customer_routes.CustomerRoutes, operator_routes.OperatorRoutes,
                     reading_routes.ReadingRoutes, billing_routes.BillingRoutes,
                     mandate_routes.MandateRoutes, desk_routes.DeskRoutes,
                     bus_routes.BusRoutes, job_routes.JobRoutes, metrics_routes.MetricsRoutes,
                     sharing_routes.SharingRoutes,
                     principals.ForgetChangedPrincipals, oidc_routes.OidcRoutes,
                     portal_pages.PortalRoutes, portal_account_pages.AccountPages,
                     portal_oidc_pages.OidcPages, portal_sharing_pages.SharingPages):
    name = "gateway"
    correlation = Correlation()   # each worker's request id and span: logs, RPCs, events

    services = ServiceRpc()
    config = Config()
    workers = RequestWorkers()
    use_outcomes = UseOutcomes()

    @route("GET", "/api/v1/openapi.json", access="public", summary="This document",
           response_model=schemas.OpenApiDocument, standalone=True)
    def openapi_document(self, request):
        return openapi.build_document(GatewayService, API_VERSION)

    @route("GET", "/api/v1/asyncapi.json", access="public",
           response_model=schemas.AsyncApiDocument,
           summary="The AsyncAPI 3.0 document of every event the services publish")
    def asyncapi_document(self, request):
        return asyncapi.document()

    @route("GET", "/api/docs", access="public", summary="A human-readable page of the API",
           response_media="text/html", standalone=True)
    def api_docs(self, request):
        document = openapi.build_document(GatewayService, API_VERSION)
        return Response(openapi.docs_page(document), content_type="text/html; charset=utf-8")

    @route("GET", "/problems", access="public", summary="Every problem type",
           response_media="text/html", standalone=True)
    def problem_types(self, request):
        return Response(openapi.problems_index(), content_type="text/html; charset=utf-8")

    @route("GET", "/problems/<slug>", access="public", response_media="text/html",
           standalone=True,
           summary="What a problem type means (each problem's `type` is one of these)")
    def problem_type_page(self, request, slug):
        if slug not in problems.PROBLEM_TYPES:
            raise NotFound(f"no problem type {slug!r}")
        return Response(openapi.problem_page(slug), content_type="text/html; charset=utf-8")

    # -- customers: authentication -------------------------------------------------

    @route("GET", "/api/v1/auth/banks", access="public", tag="auth",
           summary="The banks customers can log in through", response_model=identity.list_banks)
    def banks(self, request):
        return self.services.call("identity", "list_banks")

    @route("POST", "/api/v1/auth/banklink/<bank>/start", access="public", tag="auth",
           summary="The signed banklink request to post to the bank",
           response_model=identity.start_banklink_login,
           description="429 too-many-attempts (Retry-After) when the client's address "
                       "started or failed too many logins (OpenID Connect's too) lately.")
    def banklink_start(self, request, bank):
        return session_actions.start_login(
            self.services, bank, f"{public_url(self.config)}/api/v1/auth/banklink/{bank}/return",
            client_address=client_address(request))

    @route("POST", "/api/v1/auth/banklink/<bank>/return", access="public", tag="auth",
           summary="The bank's signed reply: opens a session",
           request_model=schemas.BanklinkReply, request_media=FORM,
           response_model=identity.finish_banklink_login,
           headers={"Set-Cookie": "vool_session: the portal's session (HttpOnly)"},
           description="401 for a bad signature, an unknown or reused nonce, a VK_DATETIME "
                       "more than 5 minutes off or a wrong VK_REC_ID; 403 when the person "
                       "has no active contract and no mandate from anyone; 429 "
                       "too-many-attempts when the client's address failed too many "
                       "logins lately.")
    def banklink_return(self, request, bank):
        session = session_actions.finish_login(self.services, bank, form_body(request),
                                               client_address=client_address(request))
        response = Response(json.dumps(session, ensure_ascii=False),
                            content_type="application/json")
        return set_session_cookie(response, session, public_url(self.config))

    @route("POST", "/api/v1/auth/logout", access="authenticated", tag="auth", status=204,
           summary="End this session at once")
    def logout(self, request):
        session_actions.end_session(self.services, self.principals, api_session_token(request))
        response = Response(status=204)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @route("GET", "/api/v1/me", access="customer", tag="auth", response_model=schemas.Me,
           summary="Who I am and the customers I may act for")
    def me(self, request):
        principal = request.principal
        return {"person": principal["person"], "customers": principal["customers"]}

    # -- operators --------------------------------------------------------------------

    @route("POST", "/api/v1/operator/login", access="public", tag="operator",
           request_model=schemas.OperatorCredentials, response_model=identity.operator_login,
           summary="An operator's login with user name and password")
    def operator_login(self, request):
        credentials = json_body(request, schemas.OperatorCredentials)
        return self.services.call("identity", "operator_login", credentials.username,
                                  credentials.password, client_address(request))

    @route("GET", "/api/v1/operator/me", access="operator", tag="operator",
           response_model=identity.Operator, summary="The operator of this session")
    def operator_me(self, request):
        return request.principal["operator"]
