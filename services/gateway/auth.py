"""Who is calling, and may they call this route: one mechanism for every route.

The ``route`` decorator of services/gateway/http.py wraps each handler so that
``authorize`` runs before it, with the access rule the route declared. identity
decides; its answer is reused while it holds (services/gateway/principals.py),
so a customer's own requests cost no RPC to identity most of the time.
"""
from datetime import datetime

from services.common.errors import Forbidden, Unauthenticated
from services.common.session_tokens import session_key
from services.gateway.principals import principal_of

SESSION_COOKIE = "vool_session"

#: access rule -> the kinds of principal that pass it
ALLOWED_KINDS = {
    "customer": ("customer",),
    "operator": ("operator",),
    "authenticated": ("customer", "operator"),
}


def session_token(request, cookie=True):
    """The bearer token of the Authorization header, else (``cookie``) the portal's
    cookie."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("use Authorization: Bearer <token>", code="unauthenticated")
        return token.strip()
    return request.cookies.get(SESSION_COOKIE) if cookie else None


def api_session_token(request):
    """An API call's token. The cookie counts only for reading (GET, HEAD: the
    portal's invoice PDF links): a call that changes something must carry
    Authorization, which no other site can make a browser send."""
    return session_token(request, cookie=request.method in ("GET", "HEAD"))


def set_session_cookie(response, session, public_url):
    """The portal keeps the session in a cookie the page's scripts cannot read."""
    response.set_cookie(SESSION_COOKIE, session["token"], httponly=True, samesite="Lax",
                        secure=public_url.startswith("https://"), path="/",
                        expires=datetime.fromisoformat(session["expires_at"]))
    return response


#: the scope of routes only the customer themselves may use, never a mandate
SELF_ONLY = "self"


def authorize(services, principals, request, access, scope=None, customer_id=None,
              consumption_point_id=None, what="", token=None, action=None, resource=None,
              use=None, details=None, log=True):
    """The principal, if they may call a route with this access rule; on a
    customer's route (``customer_id`` from the path) also the scope and the
    consumption point, checked by identity against what they hold for that
    customer now (mandates included; a use under a mandate is logged there, as
    ``action`` on ``resource``: by default the request's). A customer they have
    nothing to do with does not exist for them (404).

    ``principals`` is the replica's PrincipalCache: a customer's request for
    themselves and an operator's are decided from identity's earlier answer while
    it holds; anything else asks identity. ``token``: the session's, when the
    caller took it from the request already (default: the API's way).

    The access log's entry names the use by code (``use``; default the route's
    operation, services/gateway/uses/outcomes.py) and what it is about
    (``details``; default the path's values but the customer's id). A change is
    logged as attempted and its outcome recorded after the handler (outcomes.py);
    ``log=False``: only decide, for a page that logs its one entry itself
    (customer_overview)."""
    if access == "public":
        return None
    if access == "application":
        return shared_access(services, request, scope, consumption_point_id, what,
                             use or getattr(request, "use_code", None))
    token = token or api_session_token(request)
    if not token:
        raise Unauthenticated("log in first: this route needs a session", code="unauthenticated")
    key = session_key(token)
    known = principals.get(key)
    if customer_id is not None:
        own = known is not None and next(
            (c for c in known.get("customers", ())
             if c["customer_id"] == customer_id and c["relation"] == "self"), None)
        if own:
            return {**known, "acting_for": own}
        changes = principals.changes
        answer = services.call("identity", "authorize_customer", token, customer_id, scope,
                               consumption_point_id, action or _action(request),
                               resource or request.path, what,
                               use or getattr(request, "use_code", None),
                               _details(request) if details is None else details, log)
        principals.keep(key, answer, changes)
        if answer.get("access_log_entry_id") is not None:
            request.pending_use = (answer["access_log_entry_id"], customer_id)
        return {**principal_of(answer), "acting_for": answer["acting_for"]}
    if known is None:
        changes = principals.changes
        answer = services.call("identity", "resolve_session", token)
        principals.keep(key, answer, changes)
        known = principal_of(answer)
    if known["kind"] not in ALLOWED_KINDS[access]:
        who = "an operator" if access == "operator" else "a customer"
        raise Forbidden(f"this route is for {who}; your session is not", code="wrong-principal")
    return known


def shared_access(services, request, scope, consumption_point_id, what, use):
    """What an application's sharing access token lets it read (identity's
    SharedAccess), decided and logged by identity on every request: nothing of it is
    kept here, so a revoked grant stops at once (as a mandate does). Only the
    Authorization header counts: an application has no cookie of ours."""
    token = session_token(request, cookie=False)
    if not token:
        raise Unauthenticated("use Authorization: Bearer <access token>",
                              code="unauthenticated")
    return {"kind": "application", "grant": services.call(
        "identity", "use_shared_data", token, scope, consumption_point_id, request.path,
        what, use, _details(request))}


#: the path's values an access-log entry keeps, by the name it keeps them under
DETAILS = {"cp": "consumption_point_id", "invoice_no": "invoice_no",
           "reference_no": "reference_no", "reading_id": "reading_id",
           "mandate_id": "mandate_id"}


def _details(request):
    values = getattr(request, "path_values", None) or {}
    return {DETAILS[name]: str(value) for name, value in values.items() if name in DETAILS}


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
