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


#: the scope of routes only the customer themselves may use, never a mandate
SELF_ONLY = "self"


def authorize(services, request, access, scope=None, customer_id=None,
              consumption_point_id=None, what=""):
    """The principal, if they may call a route with this access rule; on a
    customer's route (``customer_id`` from the path) also the scope and the
    consumption point, checked by identity against what they hold for that
    customer now (mandates included; a use under a mandate is logged there). A
    customer they have nothing to do with does not exist for them (404)."""
    if access == "public":
        return None
    token = session_token(request)
    if not token:
        raise Unauthenticated("log in first: this route needs a session", code="unauthenticated")
    if customer_id is not None:
        return services.call("identity", "authorize_customer", token, customer_id, scope,
                             consumption_point_id, _action(request), request.path, what)
    principal = services.call("identity", "resolve_session", token)
    if principal["kind"] not in ALLOWED_KINDS[access]:
        who = "an operator" if access == "operator" else "a customer"
        raise Forbidden(f"this route is for {who}; your session is not", code="wrong-principal")
    return principal


def _action(request):
    return "read" if request.method in ("GET", "HEAD") else "change"


def visible_points(request):
    """The consumption points the caller may see of the customer they act for:
    None for all of them (themselves, or a mandate with no limit)."""
    return (request.principal.get("acting_for") or {}).get("consumption_point_ids") or None


def actor(principal):
    """Who did it, as histories record it: a person code or operator:<name>."""
    if principal["kind"] == "operator":
        return f"operator:{principal['operator']['username']}"
    return principal["person"]["person_code"]


def client_address(request):
    return request.remote_addr or "unknown"
