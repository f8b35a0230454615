"""Who is calling, and may they call this route: one mechanism for every route.

The ``route`` decorator of services/gateway/http.py wraps each handler so that
``authorize`` runs before it, with the access rule the route declared. The
principal is resolved with one RPC to identity per request.
"""
from services.common.errors import Forbidden, Unauthenticated

SESSION_COOKIE = "vool_session"

#: access rule -> the kinds of principal that pass it
ALLOWED_KINDS = {
    "customer": ("customer",),
    "operator": ("operator",),
    "authenticated": ("customer", "operator"),
}


def session_token(request):
    """The bearer token of the Authorization header, else the portal's cookie."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("use Authorization: Bearer <token>", code="unauthenticated")
        return token.strip()
    return request.cookies.get(SESSION_COOKIE)


def authorize(services, request, access):
    if access == "public":
        return None
    token = session_token(request)
    if not token:
        raise Unauthenticated("log in first: this route needs a session", code="unauthenticated")
    principal = services.call("identity", "resolve_session", token)
    if principal["kind"] not in ALLOWED_KINDS[access]:
        who = "an operator" if access == "operator" else "a customer"
        raise Forbidden(f"this route is for {who}; your session is not", code="wrong-principal")
    return principal


def client_address(request):
    return request.remote_addr or "unknown"
