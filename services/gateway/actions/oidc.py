"""Logging in through an OpenID Connect provider (the API's routes and the portal's)."""
import secrets

#: the browser's (or client's) half of an OpenID Connect login in progress
OIDC_COOKIE = "vool_oidc"
OIDC_COOKIE_PATH = "/api/v1/auth/oidc"
OIDC_COOKIE_SECONDS = 10 * 60    # as long as identity keeps a flow open


def callback_url(public_url, provider):
    """Our redirect URI at ``provider`` (one for the API and the portal: the flow
    remembers which started it)."""
    return f"{public_url}/api/v1/auth/oidc/{provider}/callback"


def start_login(services, provider, public_url, via, language="et", client_address=None):
    """``({authorization_url}, browser_key)``: the key goes into a cookie, so only the
    browser that started the login can finish it."""
    browser_key = secrets.token_urlsafe(32)
    authorization = services.call("identity", "start_oidc_login", provider,
                                  callback_url(public_url, provider), browser_key, via,
                                  language, client_address)
    return authorization, browser_key


def set_flow_cookie(response, browser_key, public_url):
    # Lax: the provider sends the browser back with a top-level GET, which carries it
    response.set_cookie(OIDC_COOKIE, browser_key, max_age=OIDC_COOKIE_SECONDS, httponly=True,
                        samesite="Lax", secure=public_url.startswith("https://"),
                        path=OIDC_COOKIE_PATH)
    return response


def finish_login(services, provider, callback, browser_key, client_address=None):
    """The provider's callback: a new session ``{token, expires_at, person, via, amr}``."""
    return services.call("identity", "finish_oidc_login", provider, callback.code,
                         callback.state, browser_key, callback.error, client_address)
