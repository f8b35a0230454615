"""Mandates: the grantor's own, the access log of their data, and the desk's
registration of a mandate signed at the office. Only the customer themselves
manages mandates (scope "self"): a grantee never can, so none is passed on."""
from werkzeug.wrappers import Response

from services.gateway.actions.mandates import grant_mandate, revoke_mandate
from services.gateway.auth import SELF_ONLY
from services.gateway.http import json_body, route
from services.identity import api as identity
from services.identity.api import MandateGrant, OfficeMandate

CUSTOMER = "/api/v1/customers/<cid>"


class MandateRoutes:

    @route("GET", f"{CUSTOMER}/mandates", access="customer", scope=SELF_ONLY, tag="mandates",
           response_model=identity.mandates_of,
           summary="Mandates the customer has granted, and those the person has received")
    def mandates(self, request, cid):
        return self.services.call("identity", "mandates_of", cid,
                                  request.principal["person"]["person_code"])

    @route("POST", f"{CUSTOMER}/mandates", access="customer", scope=SELF_ONLY, tag="mandates",
           status=201, request_model=MandateGrant, response_model=identity.grant_mandate,
           summary="Authorise a person to act for the customer")
    def grant_mandate(self, request, cid):
        grant = json_body(request, MandateGrant)
        return grant_mandate(self.services, self.principals, request.principal, cid, grant)

    @route("DELETE", f"{CUSTOMER}/mandates/<mandate_id>", access="customer", scope=SELF_ONLY,
           tag="mandates", status=204, calls=(identity.revoke_mandate,),
           summary="Revoke a mandate, at once")
    def revoke_mandate(self, request, cid, mandate_id):
        revoke_mandate(self.services, request.principal, cid, mandate_id)
        return Response(status=204)

    @route("GET", f"{CUSTOMER}/access-log", access="customer", scope=SELF_ONLY, tag="mandates",
           response_model=identity.access_log,
           summary="Who read or changed the customer's data under a mandate, and when")
    def access_log(self, request, cid):
        return self.services.call("identity", "access_log", cid)

    @route("POST", "/api/v1/operator/mandates", access="operator", tag="operator", status=201,
           request_model=OfficeMandate, response_model=identity.register_mandate,
           summary="Register a mandate signed at the office")
    def desk_register_mandate(self, request):
        grant = json_body(request, OfficeMandate)
        granted = self.services.call("identity", "register_mandate",
                                     grant.model_dump(mode="json"),
                                     request.principal["operator"]["username"])
        self.principals.forget_persons([grant.grantee_person_code])
        return granted
