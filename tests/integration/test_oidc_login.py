"""Customers' OpenID Connect login (issue #19, part 1), end to end: the gateway,
identity and contracts in-process, and the test bank's provider on its own port
answering identity's discovery, key and token requests over HTTP. A client with a
cookie jar plays the browser: it starts the login, picks a person and a method on
the provider's page, follows the redirect to the callback. Each refusal is the real
flow with a test-only knob of the provider (a flawed ID token) or a replay."""
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlparse

from authlib.oauth2.rfc7636 import create_s256_code_challenge

import pytest
import requests
import sqlalchemy as sa
import yaml

from services.common.db import make_engine
from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.testbank.service import TestBankService
from tests import oidc_provider
from tests.banking import make_banks
from tests.browser import forms
from tests.conftest import free_port, wait_for
from tests.samples import GRANDCHILD, GRANDMOTHER, contract_command

pytestmark = pytest.mark.both_stores

PERSONS = [{"person_code": GRANDMOTHER, "name": "Õie Mäger"},
           {"person_code": GRANDCHILD, "name": "Mari Mäger"}]


@pytest.fixture
def system(run_services, config, rpc, tmp_path):
    banks = make_banks(tmp_path)
    bank_address = f"127.0.0.1:{free_port()}"
    bank_file, providers_file = oidc_provider.configure(tmp_path, bank_address, PERSONS,
                                                        tmp_path / "bank.key.pem")
    run_services(TestBankService, WEB_SERVER_ADDRESS=bank_address,
                 VOOL_TESTBANK_ADDRESS=bank_address,
                 VOOL_TESTBANK_CONFIG=str(bank_file))
    api = f"http://{config['WEB_SERVER_ADDRESS']}"
    run_services(GatewayService, IdentityService, ContractsService,
                 VOOL_BANKS_FILE=str(banks.banks_file), VOOL_OIDC_FILE=str(providers_file),
                 VOOL_PUBLIC_URL=api)
    rpc.contracts.sign_contract(contract_command(person_code=GRANDMOTHER))
    wait_for(lambda: rpc.identity.is_eligible(GRANDMOTHER))
    return {"api": api, "bank": f"http://{bank_address}"}


def to_provider(browser, api, provider="testid"):
    """Start a login through the API; the provider's login page."""
    started = browser.post(f"{api}/api/v1/auth/oidc/{provider}/start", timeout=10)
    assert started.status_code == 200, started.text
    page = browser.get(started.json()["authorization_url"], timeout=10)
    assert page.status_code == 200, page.text
    return page


def pick(browser, page, bank, person=0, method="mID", flaw="", decision="login"):
    """Pick on the provider's page; where the provider sends the browser back."""
    [form] = forms(page.text, bank)
    answer = browser.post(form["action"], data={
        **form["fields"], "person": str(person), "method": method, "flaw": flaw,
        "decision": decision}, allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.text
    return answer.headers["Location"]


def come_back(browser, callback):
    return browser.get(callback, headers={"Accept": "application/json"}, timeout=15)


def login(system, browser=None, **choice):
    browser = browser or requests.Session()
    page = to_provider(browser, system["api"])
    return come_back(browser, pick(browser, page, system["bank"], **choice))


def login_log(database_urls):
    engine = make_engine(database_urls["identity"])
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text(
                "SELECT bank_id, method, amr, person_code, outcome FROM login_log "
                "ORDER BY entry_id")).mappings()]
    finally:
        engine.dispose()


def refused_with(response, code, status=401):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["type"] == f"/problems/{code}", response.text
    assert "token" not in response.json()
    assert "vool_session" not in response.headers.get("Set-Cookie", "")


def test_providers_list_every_bank_and_provider(system):
    listed = requests.get(f"{system['api']}/api/v1/auth/providers", timeout=10).json()
    assert {"id": "testid", "name": "Test eID", "kind": "oidc"} in listed
    assert {"id": "testbank", "name": "Test Bank", "kind": "bank"} in listed
    document = requests.get(f"{system['api']}/api/v1/openapi.json", timeout=10).json()
    for path in ("/api/v1/auth/providers", "/api/v1/auth/oidc/{provider}/start",
                 "/api/v1/auth/oidc/{provider}/callback"):
        assert path in document["paths"], path


def test_oidc_login_opens_a_session_as_the_banklink_return_does(system, database_urls):
    browser = requests.Session()
    started = browser.post(f"{system['api']}/api/v1/auth/oidc/testid/start", timeout=10)
    asked = parse_qs(urlparse(started.json()["authorization_url"]).query)
    assert asked["response_type"] == ["code"] and asked["client_id"] == ["vool"]
    assert asked["code_challenge_method"] == ["S256"] and len(asked["code_challenge"][0]) >= 43
    assert asked["state"][0] and asked["nonce"][0] and "code_verifier" not in asked
    assert asked["redirect_uri"] == [f"{system['api']}/api/v1/auth/oidc/testid/callback"]
    assert "vool_oidc" in browser.cookies           # the flow is bound to this client
    page = browser.get(started.json()["authorization_url"], timeout=10)
    for method in ("ID-kaart", "Mobiil-ID", "Smart-ID"):     # its page in Estonian
        assert method in page.text
    response = come_back(browser, pick(browser, page, system["bank"], method="idcard"))

    assert response.status_code == 200, response.text
    session = response.json()
    assert session["person"] == {"person_code": GRANDMOTHER, "name": "Õie Mäger"}
    assert session["token"] and session["expires_at"] and session["amr"] == ["idcard"]
    me = requests.get(f"{system['api']}/api/v1/me", timeout=10,
                      headers={"Authorization": f"Bearer {session['token']}"})
    assert me.status_code == 200 and me.json()["person"]["person_code"] == GRANDMOTHER
    assert [(e["method"], e["amr"], e["person_code"], e["outcome"])
            for e in login_log(database_urls)] == [("oidc:testid", "idcard", GRANDMOTHER, "ok")]


def test_a_client_authenticated_by_its_private_key_logs_in(system, database_urls):
    """private_key_jwt (RFC 7523): the token request carries our signed assertion, which
    the provider checks with the public key we registered; no shared secret."""
    browser = requests.Session()
    page = to_provider(browser, system["api"], "keyid")
    response = come_back(browser, pick(browser, page, system["bank"]))
    assert response.status_code == 200, response.text
    assert response.json()["person"]["person_code"] == GRANDMOTHER
    assert [(e["method"], e["outcome"]) for e in login_log(database_urls)] == [
        ("oidc:keyid", "ok")]


def test_a_person_without_a_contract_is_refused_and_logged(system, database_urls):
    response = login(system, person=1, method="smartid")
    refused_with(response, "no-active-contract", 403)
    [entry] = login_log(database_urls)
    assert (entry["method"], entry["amr"], entry["person_code"], entry["outcome"]) == (
        "oidc:testid", "smartid", GRANDCHILD, "no-active-contract")


@pytest.mark.parametrize("flaw, code", [
    ("bad-signature", "oidc-bad-signature"),
    ("wrong-audience", "oidc-wrong-audience"),
    ("wrong-issuer", "oidc-wrong-issuer"),
    ("expired", "oidc-expired-token"),
    ("low-acr", "oidc-acr-too-low"),
    ("other-nonce", "oidc-nonce-mismatch"),
])
def test_a_flawed_id_token_is_refused_and_logged(system, database_urls, flaw, code):
    refused_with(login(system, flaw=flaw), code)
    [entry] = login_log(database_urls)
    assert (entry["method"], entry["outcome"]) == ("oidc:testid", code)


def test_a_replayed_state_is_refused(system, database_urls):
    browser = requests.Session()
    page = to_provider(browser, system["api"])
    callback = pick(browser, page, system["bank"])
    assert come_back(browser, callback).status_code == 200
    refused_with(come_back(browser, callback), "oidc-reused-state")
    assert [e["outcome"] for e in login_log(database_urls)] == ["ok", "oidc-reused-state"]


def test_a_replayed_nonce_is_refused(system, database_urls):
    assert login(system).status_code == 200
    # the provider answers the next login with the nonce of the one before
    refused_with(login(system, flaw="replayed-nonce"), "oidc-reused-nonce")
    assert [e["outcome"] for e in login_log(database_urls)] == ["ok", "oidc-reused-nonce"]


def test_a_callback_without_the_starting_clients_cookie_is_refused(system):
    browser = requests.Session()
    callback = pick(browser, to_provider(browser, system["api"]), system["bank"])
    refused_with(come_back(requests.Session(), callback), "oidc-other-browser")
    # not used up by the stranger: the client that started it still finishes it
    assert come_back(browser, callback).status_code == 200


def test_an_unknown_state_and_a_cancelled_login_are_refused(system):
    api = system["api"]
    refused_with(come_back(requests.Session(), f"{api}/api/v1/auth/oidc/testid/callback"
                                               f"?code=x&state=made-up"), "oidc-unknown-state")
    browser = requests.Session()
    callback = pick(browser, to_provider(browser, api), system["bank"], decision="cancel")
    assert "error=access_denied" in callback
    refused_with(come_back(browser, callback), "oidc-provider-refused")
    unknown = requests.post(f"{api}/api/v1/auth/oidc/nosuch/start", timeout=10)
    assert unknown.status_code == 401
    assert unknown.json()["type"] == "/problems/oidc-unknown-provider"


def test_a_rotated_provider_key_is_picked_up(system):
    bank = system["bank"]
    assert login(system).status_code == 200
    fetched = requests.get(f"{bank}/oidc/keys", timeout=10).json()
    new_kid = requests.post(f"{bank}/oidc/keys/rotate", timeout=10).json()["kid"]
    assert new_kid != fetched["kid"]

    response = login(system)      # signed with the new key: identity fetches the keys again
    assert response.status_code == 200, response.text
    after = requests.get(f"{bank}/oidc/keys", timeout=10).json()
    assert after["kid"] == new_kid and after["jwks_requests"] == fetched["jwks_requests"] + 1

    # a key the provider never published: one more fetch is not due yet (rate limit)
    refused_with(login(system, flaw="unknown-key"), "oidc-unknown-key")
    assert requests.get(f"{bank}/oidc/keys", timeout=10).json()["jwks_requests"] == \
        after["jwks_requests"]
    assert login(system).status_code == 200      # the known keys still work


def test_the_portal_logs_in_through_the_provider_and_says_a_refusal(system, database_urls):
    api, browser = system["api"], requests.Session()
    login_page = browser.get(f"{api}/", timeout=10)
    assert [f for f in forms(login_page.text, api) if f["action"].endswith(
        "/login/oidc/testid")], "the login page offers the provider"
    assert any(f["action"].endswith("/login/testbank") for f in forms(login_page.text, api))
    to_provider = browser.post(f"{api}/login/oidc/testid", allow_redirects=False, timeout=10)
    assert to_provider.status_code == 303
    page = browser.get(to_provider.headers["Location"], timeout=10)
    callback = pick(browser, page, system["bank"], method="smartid")
    overview = browser.get(callback, allow_redirects=False, timeout=15)
    assert overview.status_code == 303 and overview.headers["Location"].endswith("/")
    assert "vool_session" in browser.cookies
    home = browser.get(f"{api}/", timeout=10)
    assert home.status_code == 200 and "Õie Mäger" in home.text

    # the same callback again, as a browser asks for it: the login page says why
    again = requests.get(callback, headers={"Accept": "text/html", "Accept-Language": "et"},
                         cookies={"vool_oidc": "x"}, timeout=15)
    assert again.status_code == 401 and again.headers["Content-Type"].startswith("text/html")
    assert "Seda sisselogimist on juba kasutatud" in again.text
    assert [e["outcome"] for e in login_log(database_urls)] == ["ok", "oidc-reused-state"]


def test_the_test_providers_token_endpoint_checks_client_code_redirect_and_verifier(system):
    """The provider side the relying party relies on: a code only for its client, its
    redirect URI and its PKCE verifier, once; a wrong secret is refused, and identity
    says so (oidc-token-refused)."""
    bank, browser = system["bank"], requests.Session()
    verifier = "v" * 50
    query = {"client_id": "vool", "redirect_uri": "http://client.test/back",
             "response_type": "code", "scope": "openid", "state": "s1", "nonce": "n1",
             "code_challenge": create_s256_code_challenge(verifier),
             "code_challenge_method": "S256"}
    for missing in ("code_challenge", "state", "nonce"):
        assert browser.get(f"{bank}/oidc/authorize?" + urlencode(
            {k: v for k, v in query.items() if k != missing}), timeout=10).status_code == 400
    assert browser.get(f"{bank}/oidc/authorize?" + urlencode(
        {**query, "code_challenge_method": "plain"}), timeout=10).status_code == 400
    page = browser.get(f"{bank}/oidc/authorize?" + urlencode(query), timeout=10)
    code = parse_qs(urlparse(pick(browser, page, bank)).query)["code"][0]
    secret = oidc_provider.SECRET
    token = f"{bank}/oidc/token"
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": "http://client.test/back", "code_verifier": verifier}

    def ask(auth=("vool", secret), **changes):
        return requests.post(token, data={**form, **changes}, auth=auth, timeout=10)

    assert ask(auth=("vool", "wrong")).json()["error"] == "invalid_client"
    assert ask(auth=("vool", "wrong")).status_code == 401
    # each refused request below uses the code up too: a code is taken out once
    assert ask(redirect_uri="http://client.test/other").json()["error"] == "invalid_grant"
    page = browser.get(f"{bank}/oidc/authorize?" + urlencode(query), timeout=10)
    form["code"] = parse_qs(urlparse(pick(browser, page, bank)).query)["code"][0]
    assert ask(code_verifier="w" * 50).json()["error"] == "invalid_grant"
    page = browser.get(f"{bank}/oidc/authorize?" + urlencode(query), timeout=10)
    form["code"] = parse_qs(urlparse(pick(browser, page, bank)).query)["code"][0]
    answer = ask()
    assert answer.status_code == 200 and answer.json()["id_token"]
    assert ask().json()["error"] == "invalid_grant"          # the same code again

    browser = requests.Session()
    callback = pick(browser, to_provider(browser, system["api"], "badsecret"), bank)
    refused_with(come_back(browser, callback), "oidc-token-refused")


def test_a_login_left_too_long_is_refused(system, real_time_clock, database_urls):
    browser = requests.Session()
    callback = pick(browser, to_provider(browser, system["api"]), system["bank"])
    real_time_clock.advance(timedelta(minutes=11))     # the flow keeps 10 minutes
    refused_with(come_back(browser, callback), "oidc-expired-state")
    assert [e["outcome"] for e in login_log(database_urls)] == ["oidc-expired-state"]


def flows(database_urls):
    engine = make_engine(database_urls["identity"])
    try:
        with engine.connect() as conn:
            return [r.state for r in conn.execute(sa.text(
                "SELECT state FROM oidc_flows ORDER BY created_at"))]
    finally:
        engine.dispose()


def test_flows_expired_more_than_a_day_ago_are_removed_as_logins_start(
        system, real_time_clock, database_urls, monkeypatch):
    def state_of(started):
        return parse_qs(urlparse(started.json()["authorization_url"]).query)["state"][0]

    def start():
        started = requests.post(f"{system['api']}/api/v1/auth/oidc/testid/start", timeout=10)
        assert started.status_code == 200, started.text
        return state_of(started)

    old = [start() for _ in range(3)]
    real_time_clock.advance(timedelta(days=1, minutes=5))
    recent = start()          # expired, but less than a day ago: kept
    assert flows(database_urls) == old + [recent]
    real_time_clock.advance(timedelta(minutes=6))   # the first three: a day past expiry
    monkeypatch.setattr("services.identity.oidc.OLD_FLOWS_PER_START", 2)  # bounded
    newer = start()
    assert flows(database_urls) == old[2:] + [recent, newer]
    newest = start()
    assert flows(database_urls) == [recent, newer, newest]


def test_identity_reaches_a_provider_at_its_back_channel_while_browsers_use_the_issuer(
        run_services, config, rpc, tmp_path):
    """As under docker compose: the issuer's host (what browsers are sent to and ID
    tokens name) does not resolve where identity runs; identity fetches discovery,
    keys and tokens at ``backchannel_url`` (the browser here resolves the issuer's host
    to the provider itself, as the host's port would)."""
    port = free_port()
    public, inside = f"provider.invalid:{port}", f"127.0.0.1:{port}"
    banks = make_banks(tmp_path)
    bank_file, providers_file = oidc_provider.configure(tmp_path, inside, PERSONS,
                                                        tmp_path / "bank.key.pem")
    run_services(TestBankService, WEB_SERVER_ADDRESS=inside, VOOL_TESTBANK_ADDRESS=inside,
                 VOOL_TESTBANK_CONFIG=str(bank_file),
                 VOOL_TESTBANK_ISSUER=f"http://{public}/oidc")
    providers = yaml.safe_load(providers_file.read_text())
    for provider in providers["providers"]:
        provider.update(issuer=f"http://{public}/oidc", backchannel_url=f"http://{inside}/oidc")
    providers_file.write_text(yaml.safe_dump(providers))
    api = f"http://{config['WEB_SERVER_ADDRESS']}"
    run_services(GatewayService, IdentityService, ContractsService,
                 VOOL_BANKS_FILE=str(banks.banks_file), VOOL_OIDC_FILE=str(providers_file),
                 VOOL_PUBLIC_URL=api)
    rpc.contracts.sign_contract(contract_command(person_code=GRANDMOTHER))
    wait_for(lambda: rpc.identity.is_eligible(GRANDMOTHER))

    for provider in ("testid", "keyid"):       # a client secret; a client assertion
        browser = requests.Session()
        started = browser.post(f"{api}/api/v1/auth/oidc/{provider}/start", timeout=10)
        assert started.status_code == 200, started.text
        url = started.json()["authorization_url"]
        assert url.startswith(f"http://{public}/oidc/authorize?")     # the public one
        page = browser.get(url.replace(public, inside), timeout=10)
        assert page.status_code == 200, page.text
        callback = pick(browser, page, f"http://{inside}")
        logged_in = come_back(browser, callback)
        assert logged_in.status_code == 200, logged_in.text
        assert logged_in.json()["person"]["person_code"] == GRANDMOTHER
