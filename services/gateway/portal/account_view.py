"""What the account pages show of the customer she acts for: the contract page,
the messages page and the mandates page, each asking every service it needs once.

identity is asked first when she acts under a mandate: it checks each part's
scope as the API's routes do and logs the read in the grantor's access log (as
services/gateway/portal/view.py does for the overview). Her own customer needs no
such check: the session's principal vouches for it. A service that is down
leaves its parts out and the page says so.
"""
from services.common.errors import Forbidden, NotFound, ServiceUnavailable
from services.common.translations import N_

#: shown of each list on a page (the newest)
CLAIMS, MESSAGES, ACCESS_LOG = 20, 20, 100


def _ask(services, service, method, *args):
    """A service's part, or None when it is down (its parts are left out)."""
    try:
        return services.call(service, method, *args)
    except ServiceUnavailable:
        return None


def _checked(services, token, entry, reads, use):
    """The entry she acts for, as identity decides it now: a read under a mandate is
    checked (Forbidden when the mandate does not cover it) and logged as one use of
    the page (``use``; None: a form's answer, its change logged already)."""
    if entry["relation"] == "self":
        return entry
    if not reads:
        raise Forbidden("your mandate does not cover this page", code="scope-missing")
    cid = entry["customer_id"]
    answer = services.call("identity", "customer_overview", token,
                           [{"customer_id": cid, **read} for read in reads], [], False, use)
    return answer["acting_for"][cid]


def contract_view(services, token, entry, use="portal:contract"):
    """The contracts (number, address, tariff plan, since), the contact details and
    the claims, as far as her scopes show them."""
    cid, scopes = entry["customer_id"], set(entry["scopes"])
    reads, parts = [], []
    if "contract:read" in scopes:
        reads.append({"scope": "contract:read", "part": "contracts",
                      "what": "Portal: contracts and contact details"})
        parts += ["contracts", "contact"]
    if "consumption-points:claim" in scopes:
        reads.append({"scope": "consumption-points:claim", "part": "claims",
                      "what": "Portal: claims"})
        parts.append("claims")
    acting = _checked(services, token, entry, reads, use)
    view = {"sees_contract": "contract:read" in scopes,
            "may_change_contact": {"contract:read", "contact:write"} <= scopes,
            "may_claim": "consumption-points:claim" in scopes, "unavailable": []}
    known = _ask(services, "contracts", "customer_overview", {cid: parts})
    if known is None:
        view["unavailable"].append(N_("contracts and contact details"))
        return view
    known = known.get(cid, {})
    visible = acting.get("consumption_point_ids") or None    # None: all of them
    if view["sees_contract"]:
        view["contracts"] = [c for c in known.get("contracts") or []
                             if visible is None or c["consumption_point"]["id"] in visible]
        view["contact"] = known.get("contact") or {}
    if view["may_claim"]:
        view["claims"] = (known.get("claims") or [])[:CLAIMS]
    return view


def messages_view(services, token, entry, use="portal:messages"):
    """Messages from us (the inbox) and her cases at the desk with their answers."""
    cid, scopes = entry["customer_id"], set(entry["scopes"])
    reads, parts = [], []
    if "contract:read" in scopes:
        reads.append({"scope": "contract:read", "part": "messages", "what": "Portal: messages"})
        parts.append("inbox")
    if "feedback:write" in scopes:
        reads.append({"scope": "feedback:write", "part": "desk", "what": "Portal: the desk"})
        parts.append("cases")
    _checked(services, token, entry, reads, use)
    view = {"sees_inbox": "inbox" in parts, "may_write": "cases" in parts, "unavailable": []}
    known = _ask(services, "notifications", "customer_messages", {cid: parts})
    if known is None:
        view["unavailable"].append(N_("messages"))
        return view
    known = known.get(cid, {})
    view["inbox"] = (known.get("inbox") or [])[:MESSAGES]
    view["cases"] = (known.get("cases") or [])[:MESSAGES]
    return view


def mandates_view(services, token, entry):
    """Her own customer's mandates (granted by her, held by her) and its access log;
    a customer she acts for under a mandate has none to show her (404)."""
    if entry["relation"] != "self":
        raise NotFound(f"no customer {entry['customer_id']}")
    cid = entry["customer_id"]
    view = {"unavailable": [], "addresses": {}}
    known = _ask(services, "identity", "customer_overview", token, [], [cid], False)
    if known is None:
        view["unavailable"].append(N_("mandates"))
    else:
        view["mandates"] = known["mandates"][cid]
        view["access_log"] = known["access_log"][cid][:ACCESS_LOG]
        if view["access_log"]:       # the log names consumption points by address
            points = _ask(services, "contracts", "customer_overview",
                          {cid: ["consumption_points"]}) or {}
            view["addresses"] = {p["id"]: p["address"] for p in
                                 (points.get(cid) or {}).get("consumption_points") or []}
    return view
