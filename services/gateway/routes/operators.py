"""The service desk's routes: contracts at the office, claims (the desk's queue
of cases is in desk.py)."""
from services.contracts import api as contracts
from services.contracts.api import ClaimDecision, SignContract, Terminate
from services.gateway.auth import actor
from services.gateway import schemas
from services.gateway.http import json_body, route

OPERATOR = "/api/v1/operator"


class OperatorRoutes:

    @route("POST", f"{OPERATOR}/contracts", access="operator", tag="operator", status=201,
           request_model=SignContract, response_model=contracts.sign_contract,
           summary="Sign a contract at the office")
    def desk_sign_contract(self, request):
        command = json_body(request, SignContract)
        if command.signed_at_office is None:
            command.signed_at_office = actor(request.principal)
        return self.services.call("contracts", "sign_contract", command.model_dump(mode="json"))

    @route("GET", f"{OPERATOR}/contracts/<contract_no>", access="operator", tag="operator",
           response_model=schemas.DeskContract,
           calls=(contracts.get_contract, contracts.contract_holders),
           summary="A contract as customers see it, with its customer and past holders")
    def desk_contract(self, request, contract_no):
        contract = self.services.call("contracts", "get_contract", contract_no)
        contract["holders"] = self.services.call("contracts", "contract_holders", contract_no)
        return contract

    @route("POST", f"{OPERATOR}/contracts/<contract_no>/termination", access="operator",
           tag="operator", request_model=Terminate,
           response_model=contracts.terminate_contract, summary="End a contract from a date")
    def desk_terminate_contract(self, request, contract_no):
        command = json_body(request, Terminate)
        return self.services.call("contracts", "terminate_contract", contract_no,
                                  command.model_dump(mode="json"), actor(request.principal))

    @route("GET", f"{OPERATOR}/claims", access="operator", tag="operator",
           query=schemas.ClaimsQuery, response_model=contracts.claims_for_desk,
           summary="Consumption-point claims (?status=pending) with the contracts that match")
    def desk_claims(self, request):
        return self.services.call("contracts", "claims_for_desk",
                                  request.args.get("status", "pending"))

    @route("POST", f"{OPERATOR}/claims/<claim_id>/decision", access="operator", tag="operator",
           request_model=ClaimDecision, response_model=contracts.decide_claim,
           summary="Approve a claim (linking the contract) or reject it")
    def desk_decide_claim(self, request, claim_id):
        decision = json_body(request, ClaimDecision)
        return self.services.call("contracts", "decide_claim", claim_id,
                                  decision.model_dump(), actor(request.principal))
