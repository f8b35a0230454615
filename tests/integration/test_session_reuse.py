"""The gateway decides a customer's own requests from identity's earlier answer
while it holds (DESIGN.md: the hot path costs one hop), and every replica forgets
it the moment identity announces a change: logout, a contract signed or ended, a
mandate granted. Two gateway replicas, identity and contracts run in-process."""
from datetime import datetime, timedelta, timezone

import pytest
import requests

from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from tests.banking import customer_token, make_banks
from tests.conftest import free_port, wait_for
from tests.samples import GRANDCHILD, GRANDMOTHER, contract_command

NOON = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def system(run_services, config, rpc, tmp_path, real_time_clock):
    """Two gateways (the clock stands still: only events can end a kept answer)."""
    real_time_clock.set(NOON)
    banks = make_banks(tmp_path)
    files = {"VOOL_BANKS_FILE": str(banks.banks_file)}
    other_address = f"127.0.0.1:{free_port()}"
    _, identity, _ = run_services(GatewayService, IdentityService, ContractsService, **files)
    run_services(GatewayService, WEB_SERVER_ADDRESS=other_address, **files)
    signed = rpc.contracts.sign_contract(contract_command(person_code=GRANDMOTHER))
    rpc.contracts.sign_contract(contract_command(person_code=GRANDCHILD, name="Grandchild"))
    for person in (GRANDMOTHER, GRANDCHILD):
        wait_for(lambda: rpc.identity.is_eligible(person))
    gateways = [f"http://{config['WEB_SERVER_ADDRESS']}", f"http://{other_address}"]
    token = customer_token(gateways[0], banks, GRANDMOTHER, "Grandmother", NOON)
    return {"gateways": gateways, "identity": identity, "token": token, "banks": banks,
            "customer_id": signed["customer_id"], "contract": signed}


def get(base, path, token):
    return requests.get(f"{base}{path}", headers={"Authorization": f"Bearer {token}"},
                        timeout=10)


def status(base, path, token):
    return get(base, path, token).status_code


def test_a_customer_s_own_requests_go_on_without_identity_while_its_answer_holds(
        system, real_time_clock):
    gateway, token, cid = system["gateways"][0], system["token"], system["customer_id"]
    assert status(gateway, "/api/v1/me", token) == 200
    assert status(gateway, f"/api/v1/customers/{cid}", token) == 200
    system["identity"].kill()
    # identity is not asked: the answer it gave holds for 15 s
    assert status(gateway, "/api/v1/me", token) == 200
    assert status(gateway, f"/api/v1/customers/{cid}/contracts", token) == 200
    # anyone else's customer is identity's decision, every time
    assert status(gateway, "/api/v1/customers/someone-else", token) == 503
    real_time_clock.advance(timedelta(seconds=15))
    assert status(gateway, "/api/v1/me", token) == 503


def test_logout_anywhere_ends_the_session_at_every_gateway(system, rpc):
    first, second = system["gateways"]
    token, cid = system["token"], system["customer_id"]
    for gateway in (first, second):
        assert status(gateway, f"/api/v1/customers/{cid}", token) == 200
    # logged out through the first gateway: it forgets at once, the second hears it
    response = requests.post(f"{first}/api/v1/auth/logout",
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 204
    assert status(first, f"/api/v1/customers/{cid}", token) == 401
    wait_for(lambda: status(second, f"/api/v1/customers/{cid}", token) == 401, timeout=5)

    # ended by another system calling identity: both gateways hear session_ended
    token = customer_token(first, system["banks"], GRANDMOTHER, "Grandmother", NOON)
    for gateway in (first, second):
        assert status(gateway, "/api/v1/me", token) == 200
    assert rpc.identity.logout(token) is True
    for gateway in (first, second):
        wait_for(lambda: status(gateway, "/api/v1/me", token) == 401, timeout=5)


def test_a_contract_that_ends_today_takes_the_customer_away_at_every_gateway(system, rpc):
    token, cid = system["token"], system["customer_id"]
    for gateway in system["gateways"]:
        assert status(gateway, f"/api/v1/customers/{cid}", token) == 200
    rpc.contracts.terminate_contract(system["contract"]["contract_no"], {}, "operator:desk")
    for gateway in system["gateways"]:
        wait_for(lambda: status(gateway, f"/api/v1/customers/{cid}", token) == 404, timeout=5)


def test_a_mandate_granted_shows_at_once_and_its_uses_are_identity_s(system, rpc):
    gateway, token, cid = system["gateways"][0], system["token"], system["customer_id"]
    # the grandchild's session is kept; a mandate granted to them is on their /me
    # at once, and from then on every use is decided (and logged) by identity
    grandchild = customer_token(gateway, system["banks"], GRANDCHILD, "Grandchild", NOON)
    [own] = get(gateway, "/api/v1/me", grandchild).json()["customers"]
    response = requests.post(f"{gateway}/api/v1/customers/{cid}/mandates",
                             headers={"Authorization": f"Bearer {token}"},
                             json={"grantee_person_code": GRANDCHILD,
                                   "scopes": ["contract:read"]}, timeout=10)
    assert response.status_code == 201, response.text
    mandate_id = response.json()["mandate_id"]
    customers = get(gateway, "/api/v1/me", grandchild).json()["customers"]
    assert {c["customer_id"]: c["relation"] for c in customers} == {
        own["customer_id"]: "self", cid: "mandate"}
    for _ in range(2):
        assert status(gateway, f"/api/v1/customers/{cid}", grandchild) == 200
    log = get(gateway, f"/api/v1/customers/{cid}/access-log", token).json()
    assert [entry["mandate_id"] for entry in log] == [mandate_id, mandate_id]

    # granted by another system straight to identity: the other gateway hears it
    other = system["gateways"][1]
    assert len(get(other, "/api/v1/me", token).json()["customers"]) == 1
    rpc.identity.grant_mandate(own["customer_id"], {   # the grandchild authorises back
        "grantee_person_code": GRANDMOTHER, "scopes": ["contract:read"]}, GRANDCHILD)
    wait_for(lambda: len(get(other, "/api/v1/me", token).json()["customers"]) == 2, timeout=5)


@pytest.mark.parametrize("body, content_type", [
    (b"{not json", "application/json"),
    (b"\x80\x04pickled", "application/x-python-serialize"),   # a content type not accepted
    (b'{"event_type": "session_ended", "data": {}}', "application/json"),
])
def test_an_identity_event_the_gateway_cannot_use_empties_its_cache_and_nothing_dies(
        system, bus, body, content_type):
    gateway, token, cid = system["gateways"][0], system["token"], system["customer_id"]
    assert status(gateway, f"/api/v1/customers/{cid}", token) == 200        # kept
    system["identity"].kill()
    assert status(gateway, f"/api/v1/customers/{cid}", token) == 200        # from what is kept
    bus.publish_raw("identity.events", "session_ended", body, content_type=content_type)
    # it may have been a logout: nothing kept is used any more, so identity (down) is asked
    wait_for(lambda: status(gateway, f"/api/v1/customers/{cid}", token) == 503, timeout=5)
    assert status(gateway, "/api/v1/auth/banks", None) == 503               # still serving
