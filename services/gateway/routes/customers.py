"""A customer's own data: details, contact, contracts, consumption points, claims."""
import logging

from services.common.errors import ServiceUnavailable
from services.contracts import api as contracts_api
from services.contracts.api import Claim, ContactChange
from services.gateway import schemas
from services.gateway.actions.customers import change_contact, claim_point
from services.gateway.auth import visible_points
from services.gateway.http import json_body, json_response, route

log = logging.getLogger(__name__)
CUSTOMER = "/api/v1/customers/<cid>"


class CustomerRoutes:

    @route("GET", CUSTOMER, access="customer", scope="contract:read", tag="customers",
           response_model=contracts_api.get_customer,
           summary="The customer's name, person code and contact details")
    def customer(self, request, cid):
        return self.services.call("contracts", "get_customer", cid)

    @route("PUT", f"{CUSTOMER}/contact", access="customer", scope="contact:write",
           tag="customers", request_model=ContactChange,
           response_model=contracts_api.change_contact,
           summary="Change contact details (any subset); forwarded to the service desk")
    def change_contact(self, request, cid):
        change = json_body(request, ContactChange)
        return change_contact(self.services, request.principal, cid, change)

    @route("GET", f"{CUSTOMER}/contact-history", access="customer", scope="contract:read",
           tag="customers", response_model=contracts_api.contact_history,
           summary="Every change of the contact details, who and when")
    def contact_history(self, request, cid):
        return self.services.call("contracts", "contact_history", cid)

    @route("GET", f"{CUSTOMER}/contracts", access="customer", scope="contract:read",
           tag="customers", response_model=contracts_api.contracts_of,
           summary="The customer's contracts and their terms")
    def contracts(self, request, cid):
        contracts = self.services.call("contracts", "contracts_of", cid)
        points = visible_points(request)
        return [c for c in contracts if points is None or c["consumption_point"]["id"] in points]

    @route("GET", f"{CUSTOMER}/consumption-points", access="customer", scope="contract:read",
           tag="customers", response_model=list[schemas.CustomerConsumptionPoint],
           calls=(contracts_api.consumption_points_of,),
           headers={"Vool-Unavailable": "`metering` when the readings could not be added"},
           summary="Consumption points with the last reading and the next reading due")
    def consumption_points(self, request, cid):
        visible = visible_points(request)
        points = [p for p in self.services.call("contracts", "consumption_points_of", cid)
                  if visible is None or p["id"] in visible]
        try:
            overview = self.services.call("metering", "reading_overview",
                                          [p["id"] for p in points]) if points else {}
        except ServiceUnavailable as exc:
            # answer with what we have, and say what is missing
            log.warning("consumption points without readings: %s", exc)
            for point in points:
                point.update(last_reading=None, next_reading_due=None,
                             unavailable=["last_reading", "next_reading_due"])
            return json_response(points, headers={"Vool-Unavailable": "metering"})
        for point in points:
            known = overview.get(point["id"], {})
            point["last_reading"] = known.get("last_reading")
            point["next_reading_due"] = known.get("next_reading_due")
        return points

    @route("POST", f"{CUSTOMER}/consumption-point-claims", access="customer",
           scope="consumption-points:claim", tag="customers", status=202, request_model=Claim,
           response_model=contracts_api.claim_consumption_point,
           summary="Report a consumption point recorded under someone else")
    def claim(self, request, cid):
        claim = json_body(request, Claim)
        return claim_point(self.services, request.principal, cid, claim)

    @route("GET", f"{CUSTOMER}/consumption-point-claims", access="customer",
           scope="consumption-points:claim", tag="customers",
           response_model=contracts_api.claims_of,
           summary="The customer's claims and their decisions")
    def claims(self, request, cid):
        return self.services.call("contracts", "claims_of", cid)
