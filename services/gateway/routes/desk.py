"""Writing to the service desk and hearing back: customers' feedback and inbox,
the desk's queue with each customer's context, its replies, and the outgoing
messages operators watch."""
import logging

from werkzeug.wrappers import Response

from services.common.errors import ServiceUnavailable
from services.gateway.actions.customers import write_to_desk
from services.gateway.auth import actor
from services.gateway import schemas
from services.gateway.http import json_body, json_response, route
from services.contracts import api as contracts_api
from services.notifications import api as notifications_api
from services.notifications.api import Feedback, Reply

log = logging.getLogger(__name__)
CUSTOMER = "/api/v1/customers/<cid>"
OPERATOR = "/api/v1/operator"
CUSTOMERS_PER_CALL = 1000   # contracts.customers_with_contracts takes at most this many


def add_customer_context(services, cases):
    """Each case's customer as contracts knows them now (person code, contact
    details, contracts), asked for in one call per thousand customers. Without
    contracts the queue still comes, with what notifications knows and
    ``unavailable`` naming the rest; returns False then."""
    wanted = sorted({case["customer_id"] for case in cases})
    known = {}
    try:
        for start in range(0, len(wanted), CUSTOMERS_PER_CALL):
            known.update(services.call("contracts", "customers_with_contracts",
                                       wanted[start:start + CUSTOMERS_PER_CALL]))
    except ServiceUnavailable as exc:
        log.warning("desk queue without the customers' contracts: %s", exc)
        for case in cases:
            case["customer"]["unavailable"] = ["person_code", "contracts"]
        return False
    for case in cases:
        customer = known.get(case["customer_id"])
        if customer is not None:
            case["customer"].update(
                name=customer["name"], person_code=customer["person_code"],
                contact=customer["contact"],
                contracts=[{"contract_no": c["contract_no"], "status": c["status"],
                            "address": c["consumption_point"]["address"]}
                           for c in customer["contracts"]])
    return True


class DeskRoutes:

    @route("POST", f"{CUSTOMER}/feedback", access="customer", scope="feedback:write",
           tag="customers", status=201, request_model=Feedback,
           response_model=notifications_api.open_case,
           summary="Send the desk a proposal, a complaint or a question")
    def send_feedback(self, request, cid):
        feedback = json_body(request, Feedback)
        return write_to_desk(self.services, request.principal, cid, feedback)

    @route("GET", f"{CUSTOMER}/feedback", access="customer", scope="feedback:write",
           tag="customers", response_model=notifications_api.cases_of,
           summary="The customer's messages to the desk and its replies")
    def feedback(self, request, cid):
        return self.services.call("notifications", "cases_of", cid)

    @route("GET", f"{CUSTOMER}/notifications", access="customer", scope="contract:read",
           tag="customers", response_model=notifications_api.inbox,
           summary="The customer's inbox, newest first")
    def notifications(self, request, cid):
        return self.services.call("notifications", "inbox", cid)

    @route("POST", f"{CUSTOMER}/notifications/<notification_id>/read", access="customer",
           scope="contract:read", tag="customers", status=204,
           calls=(notifications_api.mark_read,), summary="Mark a notification read")
    def mark_notification_read(self, request, cid, notification_id):
        self.services.call("notifications", "mark_read", cid, notification_id)
        return Response(status=204)

    @route("GET", f"{OPERATOR}/cases", access="operator", tag="operator",
           query=schemas.CasesQuery, response_model=list[schemas.DeskCase],
           calls=(notifications_api.list_cases, contracts_api.customers_with_contracts),
           headers={
               "Vool-Unavailable": "`contracts` when the customers' details could not be "
                                   "added (the queue comes without them)"},
           summary="The desk's queue (?status=open) with each customer's details and contracts")
    def desk_cases(self, request):
        cases = self.services.call("notifications", "list_cases",
                                   request.args.get("status", "open"))
        if not add_customer_context(self.services, cases):
            return json_response(cases, headers={"Vool-Unavailable": "contracts"})
        return cases

    @route("POST", f"{OPERATOR}/cases/<case_id>/reply", access="operator", tag="operator",
           request_model=Reply, response_model=notifications_api.reply_to_case,
           summary="Reply to a case; the customer is notified")
    def desk_reply(self, request, case_id):
        reply = json_body(request, Reply)
        return self.services.call("notifications", "reply_to_case", case_id,
                                  reply.model_dump(), actor(request.principal))

    @route("GET", f"{OPERATOR}/notifications", access="operator", tag="operator",
           query=schemas.DeliveriesQuery, response_model=notifications_api.deliveries,
           summary="Outgoing e-mails and SMS (?status=failed|pending|sent|all)")
    def desk_deliveries(self, request):
        return self.services.call("notifications", "deliveries",
                                  request.args.get("status", "failed"))
