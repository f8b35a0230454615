"""Customers' banklink login and sessions, operators' login, and the gateway
keeping customer and operator tokens apart — through the gateway's HTTP API
with identity and contracts running in-process."""
import http.client
import json
from datetime import datetime, timedelta, timezone

import pytest
import requests
import sqlalchemy as sa

from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from tests.banking import make_banks, resign
from tests.conftest import wait_for
from tests.samples import GRANDCHILD, GRANDMOTHER, contract_command

NOON = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def banks(tmp_path):
    return make_banks(tmp_path)


@pytest.fixture
def api(run_services, config, banks, rpc, real_time_clock):
    real_time_clock.set(NOON)
    run_services(GatewayService, IdentityService, ContractsService,
                 VOOL_BANKS_FILE=str(banks.banks_file), VOOL_LOGIN_FAILURES_PER_ACCOUNT=3,
                 VOOL_LOGIN_FAILURES_PER_ADDRESS=5)
    rpc.contracts.sign_contract(contract_command(person_code=GRANDMOTHER))
    wait_for(lambda: rpc.identity.is_eligible(GRANDMOTHER))
    return f"http://{config['WEB_SERVER_ADDRESS']}"


def start(api, bank_id="testbank"):
    response = requests.post(f"{api}/api/v1/auth/banklink/{bank_id}/start", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def reply_for(banks, form, person_code=GRANDMOTHER, name="Õie Mäger", at=None):
    banks.bank.check_request(form["fields"])   # our request verifies with our public key
    return banks.bank.authentication_reply(form["fields"], person_code, name, at or NOON)


def finish(api, fields, bank_id="testbank"):
    return requests.post(f"{api}/api/v1/auth/banklink/{bank_id}/return", data=fields, timeout=10)


def login(api, banks, bank_id="testbank"):
    response = finish(api, reply_for(banks, start(api, bank_id)), bank_id)
    assert response.status_code == 200, response.text
    return response.json()


def get_me(api, token):
    return requests.get(f"{api}/api/v1/me", headers={"Authorization": f"Bearer {token}"},
                        timeout=10)


def assert_problem(response, status, slug):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == f"/problems/{slug}", response.json()


@pytest.mark.parametrize("bank_id, service, version", [
    ("testbank", "4012", "009"), ("oldbank", "4011", "008")])
def test_a_customer_logs_in_through_the_bank(api, banks, bank_id, service, version):
    form = start(api, bank_id)
    assert form["action"] == "http://127.0.0.1:8100/banklink"
    assert form["method"] == "POST"
    assert (form["fields"]["VK_SERVICE"], form["fields"]["VK_VERSION"]) == (service, version)
    assert form["fields"]["VK_RETURN"].endswith(f"/api/v1/auth/banklink/{bank_id}/return")

    returned = finish(api, reply_for(banks, form), bank_id)
    assert returned.status_code == 200, returned.text
    session = returned.json()
    assert session["person"] == {"person_code": GRANDMOTHER, "name": "Õie Mäger"}
    # the portal's cookie: the same session, out of reach of the page's scripts
    cookie = returned.headers["Set-Cookie"]
    assert cookie.startswith(f"vool_session={session['token']};")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    by_cookie = requests.get(f"{api}/api/v1/me", cookies={"vool_session": session["token"]},
                             timeout=5)
    assert by_cookie.json()["person"]["person_code"] == GRANDMOTHER
    assert datetime.fromisoformat(session["expires_at"]) == NOON + timedelta(hours=8)

    me = get_me(api, session["token"])
    assert me.status_code == 200
    body = me.json()
    assert body["person"] == {"person_code": GRANDMOTHER, "name": "Õie Mäger"}
    [customer] = body["customers"]
    assert customer["relation"] == "self"
    assert "readings:write" in customer["scopes"]


def test_the_banks_are_listed(api):
    assert requests.get(f"{api}/api/v1/auth/banks", timeout=5).json() == [
        {"id": "testbank", "name": "Test Bank"}, {"id": "oldbank", "name": "Old Bank"}]


def _bad_mac(banks, reply):
    return {**reply, "VK_MAC": "this is not a signature"}


def _other_key(banks, reply):
    return resign(banks.impostor, reply)


def _tampered(banks, reply):
    return {**reply, "VK_USER_ID": GRANDCHILD}


@pytest.mark.parametrize("spoil, slug", [
    (_bad_mac, "banklink-bad-mac"),
    (_other_key, "banklink-mac-mismatch"),
    (_tampered, "banklink-mac-mismatch"),
    (lambda b, r: resign(b.bank, r, VK_REC_ID="SOMEONE"), "banklink-wrong-recipient"),
    (lambda b, r: resign(b.bank, r, VK_SND_ID="OTHERBANK"), "banklink-wrong-sender"),
    (lambda b, r: resign(b.bank, r, VK_NONCE="f" * 50), "banklink-unknown-nonce"),
    (lambda b, r: resign(b.bank, r, VK_RID="not-the-rid"), "banklink-rid-mismatch"),
    (lambda b, r: resign(b.bank, r, VK_USER_ID="12345678901"), "banklink-bad-user-id"),
    (lambda b, r: resign(b.bank, r, VK_USER_NAME="Õ" * 201), "banklink-bad-user-name"),
    (lambda b, r: resign(b.bank, r, VK_DATETIME="2026-11-27T11:54:00+0200"),
     "banklink-stale-datetime"),   # 6 minutes before noon UTC (12:00 in Tallinn)
    (lambda b, r: resign(b.bank, r, VK_DATETIME="2026-11-27T12:06:00+0200"),
     "banklink-stale-datetime"),   # 6 minutes after
    (lambda b, r: resign(b.bank, r, VK_SERVICE="3012", VK_USER=""), "banklink-wrong-service"),
])
def test_a_reply_that_breaks_a_rule_is_refused_naming_it(api, banks, spoil, slug, database_urls):
    reply = reply_for(banks, start(api))
    assert_problem(finish(api, spoil(banks, reply)), 401, slug)
    engine = sa.create_engine(database_urls["identity"])
    with engine.connect() as conn:
        logged = conn.execute(sa.text("SELECT outcome, detail FROM login_log")).all()
    engine.dispose()
    assert [row.outcome for row in logged] == [slug]
    assert reply["VK_MAC"] not in logged[0].detail


def test_the_datetime_may_be_off_by_up_to_five_minutes(api, banks):
    reply = reply_for(banks, start(api), at=NOON - timedelta(minutes=4, seconds=50))
    assert finish(api, reply).status_code == 200


def test_a_reply_is_used_once(api, banks):
    reply = reply_for(banks, start(api))
    assert finish(api, reply).status_code == 200
    assert_problem(finish(api, reply), 401, "banklink-reused-nonce")


def test_an_unknown_bank_is_refused(api, banks):
    reply = reply_for(banks, start(api))
    assert_problem(finish(api, reply, bank_id="nobank"), 401, "banklink-unknown-bank")
    assert requests.post(f"{api}/api/v1/auth/banklink/nobank/start", timeout=5).status_code == 401


def test_a_person_without_a_contract_is_told_why(api, banks):
    reply = reply_for(banks, start(api), person_code=GRANDCHILD, name="Mari Mäger")
    response = finish(api, reply)
    assert_problem(response, 403, "no-active-contract")
    assert "active contract" in response.json()["detail"]


def test_a_return_that_is_not_a_form_is_refused(api):
    response = requests.post(f"{api}/api/v1/auth/banklink/testbank/return", json={}, timeout=5)
    assert_problem(response, 415, "unsupported-media-type")


def test_sessions_end_after_idle_time_and_after_their_lifetime(api, banks, real_time_clock):
    token = login(api, banks)["token"]
    real_time_clock.advance(timedelta(minutes=14))
    assert get_me(api, token).status_code == 200            # seen: idle time restarts
    real_time_clock.advance(timedelta(minutes=14))
    assert get_me(api, token).status_code == 200
    real_time_clock.advance(timedelta(minutes=16))
    assert_problem(get_me(api, token), 401, "session-expired")

    token = login_at(api, banks, real_time_clock)
    for _ in range(47):                                     # active for 7 h 50 min
        real_time_clock.advance(timedelta(minutes=10))
        assert get_me(api, token).status_code == 200
    real_time_clock.advance(timedelta(minutes=10))
    assert_problem(get_me(api, token), 401, "session-expired")


def login_at(api, banks, clock):
    reply = reply_for(banks, start(api), at=clock.now())
    return finish(api, reply).json()["token"]


def test_logout_kills_the_token_at_once(api, banks):
    token = login(api, banks)["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.post(f"{api}/api/v1/auth/logout", headers=headers, timeout=5).status_code == 204
    assert_problem(get_me(api, token), 401, "session-invalid")
    assert requests.post(f"{api}/api/v1/auth/logout", headers=headers,
                         timeout=5).status_code == 401


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer nonsense", "Basic dXNlcjpwdw=="])
def test_no_or_bad_credentials_are_401(api, header):
    headers = {"Authorization": header} if header else {}
    response = requests.get(f"{api}/api/v1/me", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


def operator_login(api, username, password):
    return requests.post(f"{api}/api/v1/operator/login",
                         json={"username": username, "password": password}, timeout=10)


def test_operator_and_customer_tokens_are_kept_apart(api, banks, rpc):
    rpc.identity.add_operator("anna", "admin", "correct-horse-battery")
    operator = operator_login(api, "anna", "correct-horse-battery")
    assert operator.status_code == 200
    operator_token = operator.json()["token"]
    customer_token = login(api, banks)["token"]

    as_operator = {"Authorization": f"Bearer {operator_token}"}
    as_customer = {"Authorization": f"Bearer {customer_token}"}
    assert requests.get(f"{api}/api/v1/operator/me", headers=as_operator, timeout=5).json() == {
        "username": "anna", "role": "admin"}
    assert_problem(requests.get(f"{api}/api/v1/operator/me", headers=as_customer, timeout=5),
                   403, "wrong-principal")
    assert_problem(requests.get(f"{api}/api/v1/me", headers=as_operator, timeout=5),
                   403, "wrong-principal")


def test_operator_logins_are_rate_limited_per_account_and_address_and_per_address(api, rpc):
    rpc.identity.add_operator("anna", "desk", "correct-horse-battery")
    rpc.identity.add_operator("bert", "desk", "another-long-password")
    for _ in range(3):    # VOOL_LOGIN_FAILURES_PER_ACCOUNT=3, all from 127.0.0.1
        assert_problem(operator_login(api, "anna", "wrong"), 401, "bad-credentials")
    limited = operator_login(api, "anna", "correct-horse-battery")   # even the right one, from here
    assert_problem(limited, 429, "too-many-attempts")
    assert int(limited.headers["Retry-After"]) > 0
    # no proxy is trusted by default: a client's own X-Forwarded-For changes nothing
    forged = requests.post(f"{api}/api/v1/operator/login", timeout=10,
                           json={"username": "anna", "password": "correct-horse-battery"},
                           headers={"X-Forwarded-For": "192.0.2.1"})
    assert_problem(forged, 429, "too-many-attempts")

    assert operator_login(api, "bert", "another-long-password").status_code == 200
    for _ in range(2):    # 3 + 2 = 5 failures from this address (PER_ADDRESS=5)
        operator_login(api, "nobody", "guess")
    assert_problem(operator_login(api, "bert", "another-long-password"), 429, "too-many-attempts")


def operator_login_from(api, source, username, password):
    """The login route asked from the loopback address ``source`` (127.0.0.0/8 is
    all ours): the gateway sees another client address."""
    host, port = api.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10,
                                            source_address=(source, 0))
    try:
        connection.request("POST", "/api/v1/operator/login",
                           json.dumps({"username": username, "password": password}),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, dict(response.headers), json.loads(response.read())
    finally:
        connection.close()


def test_nobody_else_can_lock_an_operator_out(api, rpc, real_time_clock):
    rpc.identity.add_operator("anna", "desk", "correct-horse-battery")
    attacker, annas_desk = "127.0.0.66", "127.0.0.10"
    for _ in range(10):    # past VOOL_LOGIN_FAILURES_PER_ACCOUNT=3 for this client
        status, _, _ = operator_login_from(api, attacker, "anna", "wrong")
        assert status in (401, 429)
    status, headers, body = operator_login_from(api, attacker, "anna", "correct-horse-battery")
    assert (status, body["type"]) == (429, "/problems/too-many-attempts")
    assert 0 < int(headers["Retry-After"]) <= 15 * 60

    status, _, body = operator_login_from(api, annas_desk, "anna", "correct-horse-battery")
    assert status == 200, body
    assert body["token"]

    # a sprayer of names is stopped by its address (VOOL_LOGIN_FAILURES_PER_ADDRESS=5)
    sprayer = "127.0.0.77"
    for n in range(5):
        assert operator_login_from(api, sprayer, f"user{n}", "guess")[0] == 401
    status, headers, _ = operator_login_from(api, sprayer, "anna", "correct-horse-battery")
    assert status == 429 and int(headers["Retry-After"]) > 0

    real_time_clock.advance(timedelta(minutes=15, seconds=1))   # the window passes
    assert operator_login_from(api, attacker, "anna", "correct-horse-battery")[0] == 200
    assert operator_login_from(api, sprayer, "anna", "correct-horse-battery")[0] == 200


@pytest.mark.parametrize("body, field", [
    ({"username": "anna"}, "password"), ({"password": "x"}, "username"),
    ({"username": "", "password": "x"}, "username"),
])
def test_an_operator_login_without_its_fields_is_422(api, body, field):
    response = requests.post(f"{api}/api/v1/operator/login", json=body, timeout=5)
    assert_problem(response, 422, "validation-failed")
    assert field in [e["field"] for e in response.json()["errors"]]


def test_behind_a_trusted_proxy_the_limits_count_the_forwarded_client(
        run_services, config, rpc, real_time_clock):
    """An ingress makes every connection come from it: with VOOL_TRUSTED_PROXIES=1
    the client is the last X-Forwarded-For address, so one attacker behind the
    ingress does not lock the operator out for everyone."""
    real_time_clock.set(NOON)
    run_services(GatewayService, IdentityService, VOOL_TRUSTED_PROXIES=1,
                 VOOL_LOGIN_FAILURES_PER_ACCOUNT=3, VOOL_LOGIN_FAILURES_PER_ADDRESS=5)
    api = f"http://{config['WEB_SERVER_ADDRESS']}"
    rpc.identity.add_operator("anna", "desk", "correct-horse-battery")

    def login_via_proxy(client, password):
        # the client may send its own header; the proxy appends the address it saw
        return requests.post(f"{api}/api/v1/operator/login", timeout=10,
                             json={"username": "anna", "password": password},
                             headers={"X-Forwarded-For": f"10.9.9.9, {client}"})

    for _ in range(4):
        assert login_via_proxy("198.51.100.66", "wrong").status_code in (401, 429)
    assert_problem(login_via_proxy("198.51.100.66", "correct-horse-battery"),
                   429, "too-many-attempts")
    assert login_via_proxy("198.51.100.10", "correct-horse-battery").status_code == 200
