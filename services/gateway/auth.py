"""Who is calling, and may they call this route: one mechanism for every route.

The ``route`` decorator of services/gateway/http.py wraps each handler so that
``authorize`` runs before it, with the access rule the route declared. The
principal is resolved with one RPC to identity per request.
"""
from services.common.errors import Forbidden, NotFound, Unauthenticated

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


#: the scope of routes only the customer themselves may use, never a mandate
SELF_ONLY = "self"


def authorize(services, request, access, scope=None, customer_id=None):
    """The principal, if they may call a route with this access rule; on a
    customer's route (``customer_id`` from the path) also the scope, checked
    against what they hold for that customer. A customer they have nothing to
    do with does not exist for them (404)."""
    if access == "public":
        return None
    token = session_token(request)
    if not token:
        raise Unauthenticated("log in first: this route needs a session", code="unauthenticated")
    principal = services.call("identity", "resolve_session", token)
    if principal["kind"] not in ALLOWED_KINDS[access]:
        who = "an operator" if access == "operator" else "a customer"
        raise Forbidden(f"this route is for {who}; your session is not", code="wrong-principal")
    if customer_id is not None:
        acting = next((c for c in principal["customers"] if c["customer_id"] == customer_id),
                      None)
        if acting is None:
            raise NotFound("no such customer")
        if scope == SELF_ONLY and acting["relation"] != "self":
            raise Forbidden("only the customer themselves may do this", code="self-only")
        if scope not in (None, SELF_ONLY) and scope not in acting["scopes"]:
            raise Forbidden(f"your mandate does not cover {scope}", code="scope-missing")
        principal = {**principal, "acting_for": acting}
    return principal


def actor(principal):
    """Who did it, as histories record it: a person code or operator:<name>."""
    if principal["kind"] == "operator":
        return f"operator:{principal['operator']['username']}"
    return principal["person"]["person_code"]


def client_address(request):
    return request.remote_addr or "unknown"
