"""What a person sees of the customers they may act for (themselves, and everyone
under a mandate), for the portal's home page.

Each service is asked for its part of the whole page once, for every customer
and consumption point on it (not once per point or per customer): identity
checks each part's scope as the API's routes do (a read under a mandate is logged
in the customer's access log) and gives the mandates and the banks; contracts
the points, contact details and claims; metering the points' readings; billing
the invoices and payment books; notifications the inbox and the desk's cases. A
service that is down leaves its parts out and the page says so.
"""
import eventlet

from services.common.errors import ServiceUnavailable

#: shown of each list on the page (the newest)
RECENT_READINGS, INVOICES, MESSAGES, ACCESS_LOG = 5, 12, 10, 20


def _reads(entry):
    """The parts of one customer the person's scopes show, each with the scope it is
    checked under and its code in the access log (one entry per page seen lists
    them: services/gateway/uses puts them in words)."""
    scopes = set(entry["scopes"])
    reads = []
    if scopes & {"contract:read", "readings:write"}:
        # a delegate who may only enter readings sees which point is which
        reads.append(("contract:read" if "contract:read" in scopes else "readings:write",
                      "consumption_points"))
    if "invoices:read" in scopes:
        reads.append(("invoices:read", "invoices"))
    if "contract:read" in scopes:
        reads.append(("contract:read", "contact"))
    if "consumption-points:claim" in scopes:
        reads.append(("consumption-points:claim", "claims"))
    if "feedback:write" in scopes:
        reads.append(("feedback:write", "desk"))
    return [{"scope": scope, "part": part, "what": f"Portal: {WHAT[part]}"}
            for scope, part in reads]


#: a part as the access log's ``what`` said it before the codes (kept for the API)
WHAT = {"consumption_points": "consumption points", "invoices": "invoices",
        "contact": "contact details and messages", "claims": "claims", "desk": "the desk"}


def _ask(services, service, method, *args):
    """A service's part, or None when it is down (its parts are left out)."""
    try:
        return services.call(service, method, *args)
    except ServiceUnavailable:
        return None


def customer_views(services, token, customers, use="portal:overview"):
    """The view of each entry of the principal's ``customers``, in their order.
    ``use``: the page, as a grantor's access log names it (one entry per page; None:
    not logged, services/gateway/uses.page_use)."""
    views = [_empty_view(entry) for entry in customers]
    if not views:
        return views
    scopes = {v["customer_id"]: set(e["scopes"]) for v, e in zip(views, customers)}

    # identity first: whatever the others are asked for, the person may see now
    reads = [{"customer_id": entry["customer_id"], **read}
             for entry in customers for read in _reads(entry)]
    own = [e["customer_id"] for e in customers if e["relation"] == "self"]
    banks = any({"invoices:read", "payments:write"} <= s for s in scopes.values())
    try:
        identity = services.call("identity", "customer_overview", token, reads, own, banks,
                                 use)
        acting = identity["acting_for"]
    except ServiceUnavailable:
        if len(own) < len(customers):
            raise           # a use under a mandate must be checked (and logged) first
        # her own customers: the session's principal vouches for them (kept by the
        # gateway for a while); only the mandates and the banks are missing
        identity, acting = None, {e["customer_id"]: e for e in customers}
    # the consumption points each may see, as identity decided just now (None: all)
    visible = {entry["customer_id"]: entry.get("consumption_point_ids") or None
               for entry in [*customers, *acting.values()]}

    def parts(wanted):
        """``{customer_id: [part]}`` of ``wanted``'s ``(part, scopes showing it)``."""
        return {v["customer_id"]: [part for part, shown_by in wanted
                                   if shown_by & scopes[v["customer_id"]]]
                for v in views}

    # billing and notifications need nothing of the others: asked meanwhile
    pool = eventlet.GreenPool(2)
    invoiced = [{"customer_id": v["customer_id"],
                 "consumption_point_ids": visible.get(v["customer_id"])}
                for v in views if "invoices:read" in scopes[v["customer_id"]]]
    billing = pool.spawn(_ask, services, "billing", "invoice_overview",
                         invoiced) if invoiced else None
    message_parts = {cid: p for cid, p in parts([
        ("inbox", {"contract:read"}), ("cases", {"feedback:write"})]).items() if p}
    notifications = pool.spawn(_ask, services, "notifications", "customer_messages",
                               message_parts) if message_parts else None

    contract_parts = {cid: p for cid, p in parts([
        ("consumption_points", {"contract:read", "readings:write"}),
        ("contact", {"contract:read"}),
        ("claims", {"consumption-points:claim"})]).items() if p}
    contracts = _ask(services, "contracts", "customer_overview",
                     contract_parts) if contract_parts else {}
    points = {}
    for cid, known in (contracts or {}).items():
        points[cid] = [p for p in known.get("consumption_points", ())
                       if visible.get(cid) is None or p["id"] in visible[cid]]
    point_ids = [p["id"] for cid in points for p in points[cid]]
    readings_of = {p["id"]: cid for cid in points for p in points[cid]
                   if "readings:read" in scopes[cid]}
    metering = _ask(services, "metering", "points_overview", point_ids,
                    readings_of) if point_ids else {}
    # (a green thread is false until it runs: compared with None)
    billing = billing.wait() if billing is not None else {}
    notifications = notifications.wait() if notifications is not None else {}

    for view in views:
        cid, held = view["customer_id"], scopes[view["customer_id"]]
        _fill(view, held, identity, contracts, points.get(cid), metering, billing,
              notifications)
    return views


def _empty_view(entry):
    scopes = set(entry["scopes"])
    return {"customer_id": entry["customer_id"], "name": entry["name"],
            "relation": entry["relation"], "may_enter_readings": "readings:write" in scopes,
            "sees_contract": "contract:read" in scopes, "points": None, "invoices": None,
            "banks": [], "unavailable": []}


def _fill(view, scopes, identity, contracts, points, metering, billing, notifications):
    """One customer's view from the services' answers (None: the service is down)."""
    cid, unavailable = view["customer_id"], view["unavailable"]
    from_contracts = (contracts or {}).get(cid, {})
    if scopes & {"contract:read", "readings:write"}:
        if contracts is None or metering is None:
            unavailable.append("consumption points and readings")
        else:
            for point in points or []:
                known = metering.get(point["id"])
                if known is not None:       # a point metering has not heard of has none
                    point.update(known)
                    if "readings" in point:
                        point["readings"] = point["readings"][:RECENT_READINGS]
            view["points"] = points or []
    if "invoices:read" in scopes:
        if billing is None:
            unavailable.append("invoices")
        else:
            invoiced = billing.get(cid, {})
            view["invoices"] = invoiced.get("invoices", [])[:INVOICES]
            # up to which reading each contract's payments reach (its payment book)
            view["paid_up_to"] = invoiced.get("paid_up_to", [])
            if "payments:write" in scopes:
                view["banks"] = (identity or {}).get("banks") or []
    if view["sees_contract"]:
        if contracts is not None and "contact" in from_contracts:
            view["contact"] = from_contracts["contact"]
        if notifications is not None:
            view["inbox"] = notifications.get(cid, {}).get("inbox", [])[:MESSAGES]
        if contracts is None or notifications is None:
            unavailable.append("contact details and messages")
    view["may_change_contact"] = "contact:write" in scopes and "contact" in view
    if view["relation"] == "self":       # mandates are the customer's own business
        if identity is None:
            unavailable.append("mandates")
        else:
            view["mandates"] = identity["mandates"][cid]
            # who read or changed her data under a mandate (the data tracker)
            view["access_log"] = identity["access_log"][cid][:ACCESS_LOG]
    if "consumption-points:claim" in scopes:
        if contracts is None:
            unavailable.append("claims")
        else:
            view["claims"] = from_contracts.get("claims", [])[:MESSAGES]
    if "feedback:write" in scopes:
        if notifications is None:
            unavailable.append("messages to the desk")
        else:
            view["cases"] = notifications.get(cid, {}).get("cases", [])[:MESSAGES]
