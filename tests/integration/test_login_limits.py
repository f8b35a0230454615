"""Customers' logins rate-limited per client address, banklink and OpenID Connect
alike (issue #19: "the same ... rate limits and login log as banklink"): the
logins an address starts and those refused from it, over a window. Clients come
from different loopback addresses (127.0.0.0/8 is all ours), so the gateway sees
different client addresses; identity, contracts, the gateway and the test bank's
provider run in-process."""
from datetime import datetime, timedelta, timezone

import pytest
import requests
import sqlalchemy as sa
from requests.adapters import HTTPAdapter

from services.common.db import make_engine
from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.testbank.service import TestBankService
from tests import oidc_provider
from tests.banking import make_banks
from tests.browser import forms
from tests.conftest import free_port, wait_for
from tests.samples import GRANDMOTHER, contract_command

pytestmark = pytest.mark.both_stores

NOON = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
PERSONS = [{"person_code": GRANDMOTHER, "name": "Õie Mäger"}]
STARTS, FAILURES, WINDOW = 4, 2, timedelta(minutes=15)


class FromAddress(HTTPAdapter):
    """Connections made from one loopback address."""

    def __init__(self, source):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def client(source):
    """A browser (a cookie jar) at ``source``."""
    session = requests.Session()
    session.mount("http://", FromAddress(source))
    return session


@pytest.fixture
def system(run_services, config, rpc, tmp_path, real_time_clock):
    real_time_clock.set(NOON)
    banks = make_banks(tmp_path)
    bank_address = f"127.0.0.1:{free_port()}"
    bank_file, providers_file = oidc_provider.configure(tmp_path, bank_address, PERSONS,
                                                        tmp_path / "bank.key.pem")
    run_services(TestBankService, WEB_SERVER_ADDRESS=bank_address,
                 VOOL_TESTBANK_ADDRESS=bank_address, VOOL_TESTBANK_CONFIG=str(bank_file))
    api = f"http://{config['WEB_SERVER_ADDRESS']}"
    run_services(GatewayService, IdentityService, ContractsService,
                 VOOL_BANKS_FILE=str(banks.banks_file), VOOL_OIDC_FILE=str(providers_file),
                 VOOL_PUBLIC_URL=api, VOOL_CUSTOMER_LOGIN_STARTS_PER_ADDRESS=STARTS,
                 VOOL_CUSTOMER_LOGIN_FAILURES_PER_ADDRESS=FAILURES,
                 VOOL_CUSTOMER_LOGIN_WINDOW_MINUTES=WINDOW.total_seconds() / 60)
    rpc.contracts.sign_contract(contract_command(person_code=GRANDMOTHER))
    wait_for(lambda: rpc.identity.is_eligible(GRANDMOTHER))
    return {"api": api, "bank": f"http://{bank_address}", "banks": banks}


def banklink_start(system, browser):
    return browser.post(f"{system['api']}/api/v1/auth/banklink/testbank/start", timeout=10)


def banklink_reply(system, browser, clock, person_code=GRANDMOTHER):
    started = banklink_start(system, browser)
    assert started.status_code == 200, started.text
    return system["banks"].bank.authentication_reply(started.json()["fields"], person_code,
                                                     "Õie Mäger", clock.now())


def banklink_finish(system, browser, fields):
    return browser.post(f"{system['api']}/api/v1/auth/banklink/testbank/return", data=fields,
                        timeout=10)


def oidc_start(system, browser):
    return browser.post(f"{system['api']}/api/v1/auth/oidc/testid/start", timeout=10)


def oidc_callback(system, browser, flaw=""):
    """Through the provider's page (as tests/integration/test_oidc_login.py) to where
    it sends the browser back."""
    started = oidc_start(system, browser)
    assert started.status_code == 200, started.text
    page = browser.get(started.json()["authorization_url"], timeout=10)
    [form] = forms(page.text, system["bank"])
    answer = browser.post(form["action"], data={
        **form["fields"], "person": "0", "method": "mID", "flaw": flaw, "decision": "login"},
        allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.text
    return answer.headers["Location"]


def come_back(browser, callback):
    return browser.get(callback, headers={"Accept": "application/json"}, timeout=15)


def too_many(response):
    assert response.status_code == 429, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["type"] == "/problems/too-many-attempts"
    assert int(response.headers["Retry-After"]) > 0
    assert "token" not in response.json()
    assert "vool_session" not in response.headers.get("Set-Cookie", "")


def rows(database_urls, query):
    engine = make_engine(database_urls["identity"])
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text(query)).mappings()]
    finally:
        engine.dispose()


def logged(database_urls, address):
    return [(r["method"], r["outcome"]) for r in rows(
        database_urls, f"SELECT method, outcome FROM login_log "
                       f"WHERE client_address = '{address}' ORDER BY entry_id")]


def test_an_address_refused_too_often_is_refused_429_and_logged_others_are_not(
        system, real_time_clock, database_urls):
    clock = real_time_clock
    guesser, other = client("127.0.0.66"), client("127.0.0.10")
    for _ in range(FAILURES):       # replies that fail a rule, from the guesser
        reply = banklink_reply(system, guesser, clock)
        refused = banklink_finish(system, guesser, {**reply, "VK_MAC": "not a signature"})
        assert refused.status_code == 401, refused.text
    too_many(banklink_start(system, guesser))
    too_many(oidc_start(system, guesser))
    # a good reply (from a login another client started) opens no session from here,
    # nor does it use the reply up
    good = banklink_reply(system, other, clock)
    too_many(banklink_finish(system, guesser, good))
    assert logged(database_urls, "127.0.0.66") == [
        (None, "banklink-bad-mac"), (None, "banklink-bad-mac"),
        (None, "too-many-attempts"), ("oidc:testid", "too-many-attempts"),
        (None, "too-many-attempts")]
    assert not rows(database_urls, "SELECT token_hash FROM sessions")

    opened = banklink_finish(system, other, good)           # another address: as ever
    assert opened.status_code == 200, opened.text
    assert come_back(other, oidc_callback(system, other)).status_code == 200

    clock.advance(WINDOW + timedelta(seconds=1))            # the window passes
    reply = banklink_reply(system, guesser, clock)
    assert banklink_finish(system, guesser, reply).status_code == 200
    assert logged(database_urls, "127.0.0.66")[-1] == (None, "ok")


def test_oidc_callbacks_refused_too_often_are_429_and_logged(system, database_urls):
    guesser, other = client("127.0.0.67"), client("127.0.0.11")
    for _ in range(FAILURES):
        refused = come_back(guesser, oidc_callback(system, guesser, flaw="wrong-audience"))
        assert refused.status_code == 401, refused.text
    # a callback of a login started before the limit was reached: still no session
    callback = oidc_callback(system, other)
    too_many(come_back(guesser, callback))
    page = guesser.post(f"{system['api']}/login/oidc/testid", headers={"Accept": "text/html"},
                        allow_redirects=False, timeout=10)
    assert page.status_code == 429
    assert "Liiga palju katseid. Palun oota veidi ja proovi siis uuesti." in page.text
    assert logged(database_urls, "127.0.0.67") == [
        ("oidc:testid", "oidc-wrong-audience"), ("oidc:testid", "oidc-wrong-audience"),
        ("oidc:testid", "too-many-attempts"), ("oidc:testid", "too-many-attempts")]
    assert come_back(other, oidc_callback(system, other)).status_code == 200


def test_a_flood_of_starts_stores_no_more_than_the_limit(system, real_time_clock,
                                                          database_urls):
    flooder, other = client("127.0.0.68"), client("127.0.0.12")
    for n in range(STARTS):         # banklink requests and OIDC flows count together
        started = (banklink_start if n % 2 else oidc_start)(system, flooder)
        assert started.status_code == 200, started.text
    for _ in range(3):
        too_many(banklink_start(system, flooder))
        too_many(oidc_start(system, flooder))
    stored = rows(database_urls, "SELECT client_address FROM banklink_requests UNION ALL "
                                 "SELECT client_address FROM oidc_flows")
    assert [r["client_address"] for r in stored].count("127.0.0.68") == STARTS
    assert [o for _, o in logged(database_urls, "127.0.0.68")] == ["too-many-attempts"] * 6
    assert banklink_start(system, other).status_code == 200
    assert oidc_start(system, other).status_code == 200

    real_time_clock.advance(WINDOW + timedelta(seconds=1))
    assert oidc_start(system, flooder).status_code == 200
    reply = banklink_reply(system, flooder, real_time_clock)
    assert banklink_finish(system, flooder, reply).status_code == 200
