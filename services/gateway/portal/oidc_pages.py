"""The portal's login through an OpenID Connect provider: on to the provider, and
what the callback (services/gateway/routes/oidc.py, shared with the API) shows a
browser."""
import logging

from werkzeug.utils import redirect

from services.common.errors import ServiceUnavailable
from services.gateway import refusals
from services.gateway.actions import oidc as oidc_actions
from services.gateway.actions import sessions as session_actions
from services.gateway.auth import SESSION_COOKIE, client_address, set_session_cookie
from services.gateway.http import public_url
from services.gateway.portal.pages import page
from services.gateway.portal.rendering import language_of
from services.gateway.problems import status_of

log = logging.getLogger(__name__)


class OidcPages:
    """Mixed into the gateway service, beside PortalRoutes."""

    @page("POST", "/login/oidc/<provider>")
    def portal_oidc_login(self, request, provider):
        """On to the provider; the login is bound to this browser by a cookie that
        comes back with the provider's redirect (SameSite=Lax: a top-level GET)."""
        url = public_url(self.config)
        authorization, browser_key = oidc_actions.start_login(
            self.services, provider, url, "portal", language_of(request),
            client_address(request))
        response = redirect(authorization["authorization_url"], code=303)
        return oidc_actions.set_flow_cookie(response, browser_key, url)

    def _portal_logged_in(self, request, session):
        """The session in the browser's cookie, and on to the overview."""
        previous = request.cookies.get(SESSION_COOKIE)
        if previous and previous != session["token"]:   # one session per browser
            try:
                session_actions.end_session(self.services, self.principals, previous)
            except ServiceUnavailable:
                log.warning("the browser's previous session could not be ended now")
        return set_session_cookie(redirect("/", code=303), session, public_url(self.config))

    def _oidc_refused(self, request, exc):
        """The login page saying why, in the page's language."""
        message = refusals.describe_problem(getattr(exc, "code", None), {},
                                            language_of(request), str(exc))
        return self._login_page(request, message=message, status=status_of(exc)[0])
