"""Contracts, consumption points, contact details and linking through the
gateway's HTTP API, with the services running in-process."""
from datetime import datetime, timedelta, timezone

import pytest
import requests

from services.billing.service import BillingService
from services.common.errors import ValidationFailed
from services.common.identifiers import is_valid_reference_number
from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from services.notifications.service import NotificationsService
from tests.banking import customer_token, make_banks
from tests.conftest import wait_for
from tests.samples import GRANDCHILD, GRANDMOTHER, contract_command, eic_code, personal_code

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
HUSBAND = personal_code("3450817", "123")


class Api:
    def __init__(self, base, banks, clock):
        self.base, self.banks, self.clock = base, banks, clock
        self.operator = None

    def call(self, method, path, token=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=15,
                                **kwargs)

    def desk(self, method, path, **kwargs):
        return self.call(method, f"/api/v1/operator{path}", self.operator, **kwargs)

    def sign(self, **kwargs):
        response = self.desk("POST", "/contracts", json=contract_command(**kwargs))
        assert response.status_code == 201, response.text
        return response.json()

    def operator_login(self):
        self.operator = self.call("POST", "/api/v1/operator/login", json={
            "username": "desk", "password": "correct-horse-battery"}).json()["token"]

    def login(self, person_code, name="Õie Mäger"):
        return customer_token(self.base, self.banks, person_code, name, self.clock.now())


@pytest.fixture
def api(run_services, config, rpc, tmp_path, real_time_clock):
    real_time_clock.set(NOW)
    banks = make_banks(tmp_path)
    containers = run_services(GatewayService, IdentityService, ContractsService,
                              MeteringService, NotificationsService,
                              VOOL_BANKS_FILE=str(banks.banks_file))
    rpc.identity.add_operator("desk", "desk", "correct-horse-battery")
    api = Api(f"http://{config['WEB_SERVER_ADDRESS']}", banks, real_time_clock)
    api.containers = containers
    api.operator_login()
    return api


def eligible(rpc, person_code):
    wait_for(lambda: rpc.identity.is_eligible(person_code), message=f"{person_code} eligible")


def test_a_contract_signed_at_the_office_is_what_the_customer_sees(api, rpc):
    signed = api.sign(n=11, registers=("T1", "T2"), initial={"T1": 500, "T2": 100},
                      reading_day=15, start_date="2026-10-01")
    assert is_valid_reference_number(signed["reference_no"])
    eligible(rpc, GRANDMOTHER)
    token = api.login(GRANDMOTHER)
    [me] = api.call("GET", "/api/v1/me", token).json()["customers"]
    assert me["customer_id"] == signed["customer_id"]
    cid = signed["customer_id"]

    customer = api.call("GET", f"/api/v1/customers/{cid}", token).json()
    assert customer["person_code"] == GRANDMOTHER
    assert customer["contact"]["phone"] == "+37255512345"

    [contract] = api.call("GET", f"/api/v1/customers/{cid}/contracts", token).json()
    assert contract["contract_no"] == signed["contract_no"]
    assert contract["status"] == "active"
    assert contract["reference_no"] == signed["reference_no"]
    assert (contract["reading_day"], contract["tariff_plan"]) == (15, "DAYNIGHT")
    assert contract["consumption_point"]["eic"] == eic_code(11)
    assert contract["consumption_point"]["meter"]["registers"] == [
        {"code": "T1", "digits": 6}, {"code": "T2", "digits": 6}]

    points = wait_for(lambda: _with_reading(api, cid, token))
    [point] = points
    assert point["contract_no"] == signed["contract_no"]
    assert point["last_reading"] == {"reading_date": "2026-10-01",
                                     "registers": {"T1": 500, "T2": 100}}
    assert point["next_reading_due"] == "2026-10-15"

    again = api.sign(n=12)   # the same person again: the same customer
    assert again["customer_id"] == cid
    desk_view = api.desk("GET", f"/contracts/{signed['contract_no']}").json()
    assert desk_view["customer"]["person_code"] == GRANDMOTHER
    assert [h["customer_id"] for h in desk_view["holders"]] == [cid]


def _with_reading(api, cid, token):
    points = api.call("GET", f"/api/v1/customers/{cid}/consumption-points", token).json()
    return points if points and all(p["last_reading"] for p in points) else None


@pytest.mark.parametrize("change, field", [
    ({"person_code": "37605030290"}, "person_code"),
    ({"consumption_point": {"eic": "38ZEE-00000001-A", "address": "x",
                            "meter": {"serial": "S", "registers": [{"code": "T1", "digits": 6}]}}},
     "consumption_point.eic"),
    ({"reading_day": 31}, "reading_day"),
    ({"consumption_point": {"eic": eic_code(3), "address": "x",
                            "meter": {"serial": "S", "registers": [{"code": "X9", "digits": 6}]}}},
     "consumption_point.meter.registers.0.code"),
    ({"consumption_point": {"eic": eic_code(3), "address": "x",
                            "meter": {"serial": "S", "registers": [{"code": "T1", "digits": 2}]}}},
     "consumption_point.meter.registers.0.digits"),
    ({"initial_readings": {"T1": 1_000_000}}, "initial_readings.T1"),
    ({"initial_readings": {"T2": 5}}, "initial_readings.T2"),
    ({"contact": {"phone": "12"}}, "contact.phone"),
    ({"contact": {"email": "not-an-address"}}, "contact.email"),
])
def test_signing_with_an_invalid_field_is_422_naming_it(api, change, field):
    response = api.desk("POST", "/contracts", json={**contract_command(n=3), **change})
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]


def test_a_customer_cannot_see_change_or_claim_into_another_customers_data(api, rpc):
    grandmother = api.sign(n=21)["customer_id"]
    api.sign(n=22, person_code=GRANDCHILD, name="Mari Mäger")
    eligible(rpc, GRANDCHILD)
    token = api.login(GRANDCHILD, "Mari Mäger")
    for method, path, body in [
        ("GET", "", None), ("PUT", "/contact", {"phone": "+37255500000"}),
        ("GET", "/contracts", None), ("GET", "/consumption-points", None),
        ("GET", "/contact-history", None),
        ("POST", "/consumption-point-claims", {"address": "Narva mnt 22, Tallinn"}),
        ("GET", "/consumption-point-claims", None),
    ]:
        response = api.call(method, f"/api/v1/customers/{grandmother}{path}", token, json=body)
        assert response.status_code == 404, (method, path, response.text)
    assert api.call("GET", f"/api/v1/customers/{grandmother}", api.operator).status_code == 403
    unchanged = rpc.contracts.get_customer(grandmother)
    assert unchanged["contact"]["phone"] == "+37255512345"
    assert rpc.contracts.claims_of(grandmother) == []


def test_contact_changes_are_kept_with_who_and_when_and_reach_the_desk(api, rpc):
    cid = api.sign(n=31)["customer_id"]
    eligible(rpc, GRANDMOTHER)
    token = api.login(GRANDMOTHER)
    response = api.call("PUT", f"/api/v1/customers/{cid}/contact", token,
                        json={"phone": "5123 4567", "language": "en"})
    assert response.status_code == 200, response.text
    assert response.json()["contact"]["phone"] == "+37251234567"   # local form accepted
    api.clock.advance(timedelta(minutes=5))
    api.call("PUT", f"/api/v1/customers/{cid}/contact", token,
             json={"email": "Oie@Example.EE", "postal_address": "Rapla, Tallinna 7"})

    invalid = api.call("PUT", f"/api/v1/customers/{cid}/contact", token, json={"phone": "abc"})
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "phone"
    empty = api.call("PUT", f"/api/v1/customers/{cid}/contact", token, json={})
    assert empty.status_code == 422

    history = api.call("GET", f"/api/v1/customers/{cid}/contact-history", token).json()
    assert [h["changed_by"] for h in history] == [GRANDMOTHER, GRANDMOTHER]
    assert history[1]["before"] == {"phone": "+37255512345", "language": "et"}
    assert history[1]["after"] == {"phone": "+37251234567", "language": "en"}
    assert history[0]["after"]["email"] == "Oie@example.ee"
    assert datetime.fromisoformat(history[0]["changed_at"]) == NOW + timedelta(minutes=5)

    cases = wait_for(lambda: _cases(api, "contact_change", 2))
    assert all(c["customer_id"] == cid for c in cases)
    assert "+37255512345 → +37251234567" in cases[0]["body"]


def _cases(api, kind, count):
    cases = [c for c in api.desk("GET", "/cases?status=open").json() if c["kind"] == kind]
    return cases if len(cases) == count else None


def test_the_claim_flow_from_the_customer_to_the_desk_and_back(api, rpc):
    mine = api.sign(n=41)
    cottage = api.sign(n=42, person_code=HUSBAND, name="Jaan Mäger")
    cid = mine["customer_id"]
    eligible(rpc, GRANDMOTHER)
    token = api.login(GRANDMOTHER)
    claims_path = f"/api/v1/customers/{cid}/consumption-point-claims"

    claim = {"address": "Männiku talu, Saaremaa", "eic": eic_code(42),
             "note": "our summer cottage, my late husband's name"}
    first = api.call("POST", claims_path, token, json=claim)
    assert first.status_code == 202
    assert first.json()["status"] == "pending"
    again = api.call("POST", claims_path, token, json=claim)
    assert again.json()["claim_id"] == first.json()["claim_id"]      # one claim
    claim_id = first.json()["claim_id"]

    own = api.call("POST", claims_path, token, json={"address": "x y z", "eic": eic_code(41)})
    assert own.status_code == 409
    assert "already yours" in own.json()["detail"]
    bad = api.call("POST", claims_path, token, json={"address": "x y z", "eic": "nope"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "eic"

    [pending] = api.desk("GET", "/claims?status=pending").json()
    assert pending["claim_id"] == claim_id
    assert pending["customer"]["person_code"] == GRANDMOTHER
    assert [m["contract_no"] for m in pending["matching_contracts"]] == [cottage["contract_no"]]
    assert pending["matching_contracts"][0]["holder"] == "Jaan Mäger"
    assert wait_for(lambda: _cases(api, "consumption_point_claim", 1))

    no_contract = api.desk("POST", f"/claims/{claim_id}/decision", json={"approve": True})
    assert no_contract.status_code == 422
    decided = api.desk("POST", f"/claims/{claim_id}/decision",
                       json={"approve": True, "contract_no": cottage["contract_no"]})
    assert decided.status_code == 200, decided.text
    twice = api.desk("POST", f"/claims/{claim_id}/decision",
                     json={"approve": False, "reason": "changed my mind"})
    assert twice.status_code == 409

    [seen] = api.call("GET", claims_path, token).json()
    assert (seen["status"], seen["linked_contract_no"]) == ("approved", cottage["contract_no"])
    assert seen["decided_at"]
    points = api.call("GET", f"/api/v1/customers/{cid}/consumption-points", token).json()
    assert {p["eic"] for p in points} == {eic_code(41), eic_code(42)}
    holders = api.desk("GET", f"/contracts/{cottage['contract_no']}").json()["holders"]
    assert [h["customer_id"] for h in holders] == [cottage["customer_id"], cid]
    assert holders[0]["held_until"] is not None
    assert rpc.contracts.contracts_of(cottage["customer_id"]) == []
    # the grandmother may now act on the cottage: identity learnt of the move
    wait_for(lambda: len(rpc.identity.resolve_session(token)["customers"]) == 1)


def test_a_rejected_claim_shows_its_reason(api, rpc):
    cid = api.sign(n=51)["customer_id"]
    eligible(rpc, GRANDMOTHER)
    token = api.login(GRANDMOTHER)
    path = f"/api/v1/customers/{cid}/consumption-point-claims"
    claim_id = api.call("POST", path, token, json={"address": "Somewhere 1, Pärnu"}).json()["claim_id"]
    no_reason = api.desk("POST", f"/claims/{claim_id}/decision", json={"approve": False})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    api.desk("POST", f"/claims/{claim_id}/decision",
             json={"approve": False, "reason": "No consumption point at that address."})
    [seen] = api.call("GET", path, token).json()
    assert (seen["status"], seen["reason"]) == ("rejected", "No consumption point at that address.")
    assert api.desk("GET", "/claims?status=pending").json() == []


def test_consumption_points_answer_without_metering_and_say_what_is_missing(api, rpc):
    cid = api.sign(n=61)["customer_id"]
    eligible(rpc, GRANDMOTHER)
    token = api.login(GRANDMOTHER)
    wait_for(lambda: _with_reading(api, cid, token))
    next(c for c in api.containers if c.service_name == "metering").kill()
    response = api.call("GET", f"/api/v1/customers/{cid}/consumption-points", token)
    assert response.status_code == 200
    assert response.headers["Vool-Unavailable"] == "metering"
    [point] = response.json()
    assert point["eic"] == eic_code(61)
    assert point["last_reading"] is None
    assert point["unavailable"] == ["last_reading", "next_reading_due"]


def test_a_terminated_contract_ends_the_customers_access_on_its_end_date(api, rpc):
    signed = api.sign(n=71, start_date="2026-01-01")
    eligible(rpc, GRANDMOTHER)
    ended = api.desk("POST", f"/contracts/{signed['contract_no']}/termination",
                     json={"end_date": "2026-12-31"})
    assert ended.status_code == 200, ended.text
    assert (ended.json()["status"], ended.json()["end_date"]) == ("ending", "2026-12-31")
    assert api.desk("POST", f"/contracts/{signed['contract_no']}/termination",
                    json={}).status_code == 409
    api.login(GRANDMOTHER)                                      # still in force
    api.clock.set(datetime(2027, 1, 1, 9, tzinfo=timezone.utc))
    api.operator_login()                                        # a new day, a new session
    assert api.desk("GET", f"/contracts/{signed['contract_no']}").json()["status"] == "ended"
    wait_for(lambda: not rpc.identity.is_eligible(GRANDMOTHER))


def test_the_demo_is_loaded_into_an_empty_database_only(run_services, rpc):
    run_services(ContractsService, IdentityService)
    signed = rpc.contracts.load_demo()
    assert len(signed) == 4
    assert rpc.contracts.load_demo() == []
    wait_for(lambda: rpc.identity.is_eligible(GRANDMOTHER))
    wait_for(lambda: rpc.identity.is_eligible(GRANDCHILD))
    grandmother = signed[0]["customer_id"]
    assert {c["consumption_point"]["address"] for c in rpc.contracts.contracts_of(grandmother)} == {
        "Pärnu mnt 10-5, Tallinn", "Tallinna 7, Rapla"}


def test_the_desk_gets_many_customers_with_their_contracts_in_one_call(api, rpc):
    home = rpc.contracts.sign_contract(contract_command())
    cottage = rpc.contracts.sign_contract(contract_command())          # the same person
    child = rpc.contracts.sign_contract(contract_command(person_code=GRANDCHILD,
                                                         name="Grandchild"))
    found = rpc.contracts.customers_with_contracts(
        [home["customer_id"], child["customer_id"], "no-such-customer", child["customer_id"]])
    assert set(found) == {home["customer_id"], child["customer_id"]}
    mine = found[home["customer_id"]]
    assert mine == {**rpc.contracts.get_customer(home["customer_id"]),
                    "contracts": rpc.contracts.contracts_of(home["customer_id"])}
    assert [c["contract_no"] for c in mine["contracts"]] == sorted(
        [home["contract_no"], cottage["contract_no"]])
    assert [c["contract_no"] for c in found[child["customer_id"]]["contracts"]] == [
        child["contract_no"]]
    assert rpc.contracts.customers_with_contracts([]) == {}
    for wrong in ("one-id", ["x"] * 1001):
        with pytest.raises(ValidationFailed) as refused:
            rpc.contracts.customers_with_contracts(wrong)
        assert [e["field"] for e in refused.value.errors] == ["customer_ids"]


def test_a_contract_is_signed_only_on_a_plan_billing_has(api, rpc, run_services):
    # billing is not running: the plans it starts with still sign (contracts knows them)
    api.sign(n=41, tariff_plan="BASIC")
    api.sign(n=42, registers=("T1", "T2"), initial={"T1": 1, "T2": 2}, tariff_plan="DAYNIGHT")

    # a plan contracts does not know needs billing's word: 503 while billing is down
    down = api.desk("POST", "/contracts", json=contract_command(n=43, tariff_plan="GREEN"))
    assert down.status_code == 503, down.text
    assert down.headers["Content-Type"] == "application/problem+json"
    assert "billing" in down.json()["detail"]

    run_services(BillingService)
    refused = api.desk("POST", "/contracts", json=contract_command(n=43, tariff_plan="GHOST"))
    assert refused.status_code == 422, refused.text
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/validation-failed"
    [error] = refused.json()["errors"]
    assert error["field"] == "tariff_plan"
    assert "billing has no tariff plan GHOST" in error["message"]
    with pytest.raises(ValidationFailed) as over_rpc:
        rpc.contracts.sign_contract(contract_command(n=43, tariff_plan="GHOST"))
    assert [e["field"] for e in over_rpc.value.errors] == ["tariff_plan"]

    # once billing has the plan, it signs (the consumption point was never taken)
    rpc.billing.add_tariff({"code": "GREEN", "name": "Green", "components": [
        {"kind": "energy", "price": "0.150000", "valid_from": "2026-01-01"}]})
    signed = api.sign(n=43, tariff_plan="GREEN")
    contract = api.desk("GET", f"/contracts/{signed['contract_no']}").json()
    assert contract["tariff_plan"] == "GREEN"
