"""What a person sees of the customers they may act for (themselves, and everyone
under a mandate), for the portal's pages: the overview (customer_views), a consumption
point's page (point_view) and invoices and payments (invoices_view).

Each service is asked for its part of the whole page once, for every customer
and consumption point on it (not once per point or per customer): identity
checks each part's scope as the API's routes do (a read under a mandate is logged
in the customer's access log) and gives the mandates and the banks; contracts
the points, contact details and claims; metering the points' readings; billing
the invoices and payment books; notifications the inbox and the desk's cases. A
service that is down leaves its parts out and the page says so.
"""
from decimal import Decimal

import eventlet

from services.common.errors import NotFound, ServiceUnavailable
from services.common.translations import N_

#: shown of each list on the page (the newest)
RECENT_READINGS, INVOICES, MESSAGES, ACCESS_LOG = 5, 12, 10, 20


def _reads(entry, overview=False):
    """The parts of one customer the person's scopes show, each with the scope it is
    checked under and its code in the access log (one entry per page seen lists
    them: services/gateway/uses puts them in words); ``overview``: those of the
    overview page only (points, what is open to pay, the latest message)."""
    scopes = set(entry["scopes"])
    reads = []
    if scopes & {"contract:read", "readings:write"}:
        # a delegate who may only enter readings sees which point is which
        reads.append(("contract:read" if "contract:read" in scopes else "readings:write",
                      "consumption_points"))
    if "invoices:read" in scopes:
        reads.append(("invoices:read", "invoices"))
    if "contract:read" in scopes:
        reads.append(("contract:read", "messages" if overview else "contact"))
    if overview:
        scopes = scopes - NOT_ON_OVERVIEW
    if "consumption-points:claim" in scopes:
        reads.append(("consumption-points:claim", "claims"))
    if "feedback:write" in scopes:
        reads.append(("feedback:write", "desk"))
    return [{"scope": scope, "part": part, "what": f"Portal: {WHAT[part]}"}
            for scope, part in reads]


#: a part as the access log's ``what`` said it before the codes (kept for the API)
WHAT = {"consumption_points": "consumption points", "invoices": "invoices",
        "contact": "contact details and messages", "messages": "messages",
        "claims": "claims", "desk": "the desk"}


def _ask(services, service, method, *args):
    """A service's part, or None when it is down (its parts are left out)."""
    try:
        return services.call(service, method, *args)
    except ServiceUnavailable:
        return None


#: the scopes whose parts the overview leaves to the pages of their own
NOT_ON_OVERVIEW = {"consumption-points:claim", "feedback:write"}


#: every read the overview could make of a customer, in _reads' order: asked
#: before the principal is known, identity makes those the person holds
OVERVIEW_READS = (("contract:read", "consumption_points"),
                  ("readings:write", "consumption_points"),
                  ("invoices:read", "invoices"), ("contract:read", "messages"))


def overview_with_principal(services, token, customer_id, use="portal:overview"):
    """identity's part of customer ``customer_id``'s overview and the session's
    principal in one call (for a principal the gateway does not keep: a mandate
    holder's), checked and logged in one transaction as customer_views would."""
    reads = [{"customer_id": customer_id, "scope": scope, "part": part,
              "what": f"Portal: {WHAT[part]}", "optional": True}
             for scope, part in OVERVIEW_READS]
    return services.call("identity", "customer_overview", token, reads, [], False, use,
                         True)


def customer_views(services, token, customers, overview=False, use="portal:overview",
                   identity=None):
    """The view of each entry of the principal's ``customers``, in their order;
    ``overview``: only what the overview shows (no contact details, claims, desk,
    mandates or access log), so no more is read (and logged) than is shown.
    ``use``: the page, as a grantor's access log names it (one entry per page; None:
    not logged, services/gateway/uses.page_use). ``identity``: its answer already
    asked for (overview_with_principal), not asked again."""
    views = [_empty_view(entry) for entry in customers]
    if not views:
        return views
    scopes = {v["customer_id"]: set(e["scopes"]) - (NOT_ON_OVERVIEW if overview else set())
              for v, e in zip(views, customers)}

    # identity first: whatever the others are asked for, the person may see now
    reads = [{"customer_id": entry["customer_id"], **read}
             for entry in customers for read in _reads(entry, overview)]
    own = [] if overview else [e["customer_id"] for e in customers
                               if e["relation"] == "self"]
    banks = not overview and any({"invoices:read", "payments:write"} <= s
                                 for s in scopes.values())
    try:
        if identity is None:
            identity = services.call("identity", "customer_overview", token, reads, own,
                                     banks, use)
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
    # the overview says only what is open to pay: billing sums it (no invoices, no
    # payment books: the cost stays the same however many invoices she has)
    billing = pool.spawn(_ask, services, "billing", "invoice_overview",
                         invoiced, overview) if invoiced else None
    message_parts = {cid: p for cid, p in parts([
        ("inbox", {"contract:read"}), ("cases", {"feedback:write"})]).items() if p}
    # only as many of each list as the page shows: the same cost however many
    # invoices (each one a message in her inbox) she has had
    notifications = pool.spawn(_ask, services, "notifications", "customer_messages",
                               message_parts, MESSAGES) if message_parts else None

    contract_parts = {cid: p for cid, p in parts([
        ("consumption_points", {"contract:read", "readings:write"}),
        ("contact", set() if overview else {"contract:read"}),
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
              notifications, overview)
    return views


def _empty_view(entry):
    scopes = set(entry["scopes"])
    return {"customer_id": entry["customer_id"], "name": entry["name"],
            "relation": entry["relation"], "may_enter_readings": "readings:write" in scopes,
            "sees_contract": "contract:read" in scopes, "points": None, "invoices": None,
            "banks": [], "unavailable": []}


def _fill(view, scopes, identity, contracts, points, metering, billing, notifications,
          overview=False):
    """One customer's view from the services' answers (None: the service is down)."""
    cid, unavailable = view["customer_id"], view["unavailable"]
    from_contracts = (contracts or {}).get(cid, {})
    if scopes & {"contract:read", "readings:write"}:
        if contracts is None or metering is None:
            unavailable.append(N_("consumption points and readings"))
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
            unavailable.append(N_("invoices"))
        else:
            invoiced = billing.get(cid, {})
            if invoiced.get("open") is not None:      # the overview's summary
                view["open_to_pay"] = Decimal(str(invoiced["open"]["amount"]))
                view["open_invoices"] = invoiced["open"]["invoices"]
            else:
                unpaid = [i for i in invoiced.get("invoices", []) if i["status"] != "paid"]
                # open to pay: each unpaid invoice's total less what was paid of it
                view["open_to_pay"] = sum((Decimal(str(i["total"])) - Decimal(str(i["paid"]))
                                           for i in unpaid), Decimal("0"))
                view["open_invoices"] = len(unpaid)
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
            unavailable.append(N_("contact details and messages"))
    view["may_change_contact"] = "contact:write" in scopes and "contact" in view
    if view["relation"] == "self" and not overview:   # the customer's own business
        if identity is None:
            unavailable.append(N_("mandates"))
        else:
            view["mandates"] = identity["mandates"][cid]
            # who read or changed her data under a mandate (the data tracker)
            view["access_log"] = identity["access_log"][cid][:ACCESS_LOG]
    if "consumption-points:claim" in scopes:
        if contracts is None:
            unavailable.append(N_("claims"))
        else:
            view["claims"] = from_contracts.get("claims", [])[:MESSAGES]
    if "feedback:write" in scopes:
        if notifications is None:
            unavailable.append(N_("messages to the desk"))
        else:
            view["cases"] = notifications.get(cid, {}).get("cases", [])[:MESSAGES]


#: readings shown on a consumption point's own page (the newest)
POINT_READINGS = 24
#: months of consumption asked for: 13 shown, and the year before each of them
CHART_MONTHS = 25


def _read_scope(scopes):
    """The scope a point's page is read (and logged) under."""
    return "contract:read" if "contract:read" in scopes else "readings:write"


def point_view(services, token, entry, point_id, use="portal:point"):
    """One consumption point of customer ``entry``: its address and meter, its
    readings, the next reading due and its consumption by month. Four calls
    whatever the point: identity (checks and logs the read), contracts (the
    point), metering twice (its readings; its months), the last two meanwhile.
    NotFound for a point that is not hers or that her mandate does not cover."""
    cid, scopes = entry["customer_id"], set(entry["scopes"])
    if not scopes & {"contract:read", "readings:write"}:
        raise NotFound(f"no consumption point {point_id}")
    identity = services.call("identity", "customer_overview", token, [
        {"customer_id": cid, "scope": _read_scope(scopes), "part": "consumption_points",
         "what": "Portal: consumption points"}], [], False, use)
    limit = (identity["acting_for"].get(cid) or entry).get("consumption_point_ids") or None
    if limit is not None and point_id not in limit:
        raise NotFound(f"no consumption point {point_id}")
    pool = eventlet.GreenPool(2)
    reads = "readings:read" in scopes
    readings = pool.spawn(_ask, services, "metering", "points_overview", [point_id],
                          {point_id: cid} if reads else {}, POINT_READINGS)
    months = pool.spawn(_ask, services, "metering", "consumption_by_month", point_id, cid,
                        CHART_MONTHS, True) if reads else None
    try:
        known = services.call("contracts", "customer_overview", {cid: ["consumption_points"]})
    finally:
        readings = readings.wait()
        months = months.wait() if months is not None else None
    point = next((p for p in known.get(cid, {}).get("consumption_points") or ()
                  if p["id"] == point_id), None)
    if point is None:
        raise NotFound(f"no consumption point {point_id}")
    point = {**point, "sees_contract": "contract:read" in scopes,
             "may_enter_readings": "readings:write" in scopes, "reads": reads,
             "unavailable": readings is None, "months": months}
    if readings is not None:
        point.update(readings.get(point_id) or {})
    return point


def invoices_view(services, token, entry, use="portal:invoices"):
    """Customer ``entry``'s invoices, each with its contract's address, her
    payment books and the banks she may pay through. Three calls however many
    invoices and points: identity (checks and logs the read, gives the banks),
    then billing (invoices, payment books) and contracts (the points of the
    contracts) meanwhile."""
    cid, scopes = entry["customer_id"], set(entry["scopes"])
    if "invoices:read" not in scopes:
        raise NotFound(f"no invoices of customer {cid}")
    may_pay = "payments:write" in scopes
    identity = services.call("identity", "customer_overview", token, [
        {"customer_id": cid, "scope": "invoices:read", "part": "invoices",
         "what": "Portal: invoices"}], [], may_pay, use)
    limit = (identity["acting_for"].get(cid) or entry).get("consumption_point_ids") or None
    pool = eventlet.GreenPool(1)
    points = pool.spawn(_ask, services, "contracts", "customer_overview",
                        {cid: ["consumption_points"]})
    billing = services.call("billing", "invoice_overview",
                            [{"customer_id": cid, "consumption_point_ids": limit}])
    points = points.wait()
    address_of = {p["contract_no"]: p["address"]
                  for p in (points or {}).get(cid, {}).get("consumption_points") or ()}
    invoiced = billing.get(cid, {})
    invoices = [{**i, "address": address_of.get(i["contract_no"]),
                 "to_pay": f"{Decimal(i['total']) - Decimal(i['paid']):.2f}"}
                for i in invoiced.get("invoices", [])]
    books = [{**b, "address": address_of.get(b["contract_no"])}
             for b in invoiced.get("paid_up_to", [])]
    return {"invoices": invoices, "paid_up_to": books,
            "banks": (identity.get("banks") or []) if may_pay else [],
            "may_pay": may_pay, "own": entry["relation"] == "self", "name": entry["name"]}


def mark_due(point, today):
    """``point["due"]``: what the page says of its next reading —
    ``("never", start)`` when only the meter's reading from the contract's start
    was ever recorded (a cottage nobody reads: no "next reading 2019-06-01"),
    ``("overdue", date)`` when the day has passed, ``("due", date)`` else; None
    when metering has not heard of the point."""
    due = point.get("next_reading_due")
    if not due:
        point["due"] = None
        return point
    # the newest accepted reading of the recent ones is the last reading
    accepted = [r for r in point.get("readings") or () if r["status"] == "accepted"]
    last = point.get("last_reading")
    if last and accepted and accepted[0]["source"] == "initial":
        point["due"] = ("never", last["reading_date"])
    elif str(due) < today.isoformat():
        point["due"] = ("overdue", due)
    else:
        point["due"] = ("due", due)
    return point
