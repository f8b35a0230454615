"""Customers' login through an OpenID Connect provider, and every way to log in.

One callback serves the API and the portal: identity remembers which started the
flow, and the answer is the API's JSON (as the banklink return's) or the portal's
cookie and overview. A refusal is a problem (its type naming the rule) to an API
client and the login page saying it to a browser (``_oidc_refused``, the portal's).
"""
import json

from werkzeug.wrappers import Response

from services.common.errors import (Forbidden, ServiceUnavailable, TooManyAttempts,
                                    Unauthenticated)
from services.gateway import schemas
from services.gateway.actions import oidc as oidc_actions
from services.gateway.auth import client_address, set_session_cookie
from services.gateway.http import public_url, route
from services.identity import api as identity


def wants_page(request):
    """A browser's navigation (it asks for HTML first), not an API client."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > \
        request.accept_mimetypes["application/json"]


class OidcRoutes:
    """Mixed into the gateway service."""

    @route("GET", "/api/v1/auth/providers", access="public", tag="auth",
           summary="Every way customers can log in: banks and OpenID Connect providers",
           response_model=identity.list_login_providers)
    def login_providers(self, request):
        return self.services.call("identity", "list_login_providers")

    @route("POST", "/api/v1/auth/oidc/<provider>/start", access="public", tag="auth",
           summary="Start an OpenID Connect login: the provider's authorization URL",
           response_model=identity.start_oidc_login,
           headers={"Set-Cookie": "vool_oidc: binds the login to this client (HttpOnly, "
                                  "path /api/v1/auth/oidc); send it with the callback"},
           description="Code flow with PKCE (S256), state and nonce, each used once and "
                       "kept 10 minutes. Send the browser to authorization_url; the "
                       "provider sends it back to the callback. 401 "
                       "oidc-unknown-provider for a provider not configured; 429 "
                       "too-many-attempts (Retry-After) when the client's address "
                       "started or failed too many logins (banklink's too) lately.")
    def oidc_start(self, request, provider):
        url = public_url(self.config)
        authorization, browser_key = oidc_actions.start_login(
            self.services, provider, url, "api", client_address=client_address(request))
        response = Response(json.dumps(authorization), content_type="application/json")
        return oidc_actions.set_flow_cookie(response, browser_key, url)

    @route("GET", "/api/v1/auth/oidc/<provider>/callback", access="public", tag="auth",
           summary="The provider's answer: opens a session",
           query=schemas.OidcCallback,
           response_model=identity.finish_oidc_login,
           headers={"Set-Cookie": "vool_session: the portal's session (HttpOnly)"},
           description="A login started through the API answers with the session as "
                       "JSON (as the banklink return), one started in the portal with "
                       "its cookie and a redirect to the overview. 401 when a rule "
                       "fails, the problem's type naming it: oidc-unknown-state, "
                       "oidc-reused-state, oidc-expired-state, oidc-other-browser, "
                       "oidc-bad-signature, oidc-unknown-key, oidc-wrong-issuer, "
                       "oidc-wrong-audience, oidc-expired-token, oidc-bad-iat, "
                       "oidc-nonce-mismatch, oidc-reused-nonce, oidc-acr-too-low, ...; "
                       "403 no-active-contract when the person has no active contract "
                       "and no mandate from anyone; 429 too-many-attempts when the "
                       "client's address failed too many logins lately.")
    def oidc_callback(self, request, provider):
        url = public_url(self.config)
        try:
            session = oidc_actions.finish_login(
                self.services, provider, request.query,
                request.cookies.get(oidc_actions.OIDC_COOKIE), client_address(request))
        except (Unauthenticated, Forbidden, ServiceUnavailable, TooManyAttempts) as exc:
            if wants_page(request):
                return self._oidc_refused(request, exc)
            raise
        if session["via"] == "portal":
            response = self._portal_logged_in(request, session)
        else:
            response = Response(json.dumps(session, ensure_ascii=False),
                                content_type="application/json")
            response = set_session_cookie(response, session, url)
        response.delete_cookie(oidc_actions.OIDC_COOKIE, path=oidc_actions.OIDC_COOKIE_PATH)
        return response

