"""A customer's whole login, and a payment, through the test bank's real HTTP
endpoints, with identity, contracts, billing, the gateway and the test bank
running as processes, the way `make run` starts them."""
import os
import subprocess
import sys
import time

import pytest
import requests
import yaml
from nameko.standalone.rpc import ClusterRpcProxy

from services.common import banklink
from services.common.config import PROJECT_ROOT
from tests.browser import forms
from tests.conftest import free_port, wait_for
from tests.samples import GRANDMOTHER, contract_command

PROCESSES = ("identity", "contracts", "billing", "gateway", "testbank")


@pytest.fixture(scope="module")
def system_bus(broker):
    name, uri = broker.new_vhost()
    yield uri
    broker.drop_vhost(name)


@pytest.fixture(scope="module")
def running_system(tmp_path_factory, system_bus, postgres):
    """One system for this module's tests: starting processes is the slow part."""
    tmp_path, amqp_uri = tmp_path_factory.mktemp("system"), system_bus
    databases = {s: postgres.new_database(s) for s in ("identity", "contracts", "billing")}
    database_urls = {s: url for s, (_, url) in databases.items()}
    gateway_port, bank_port = free_port(), free_port()
    banklink.generate_key_pair(tmp_path / "vool.key.pem", tmp_path / "vool.pub.pem")
    banklink.generate_key_pair(tmp_path / "bank.key.pem", tmp_path / "bank.pub.pem")
    (tmp_path / "banks.yaml").write_text(yaml.safe_dump({"banks": [{
        "id": "testbank", "name": "Test Bank", "url": f"http://127.0.0.1:{bank_port}/banklink",
        "version": "009", "service": "4012", "snd_id": "VOOL", "rec_id": "TESTBANK",
        "bank_public_key": str(tmp_path / "bank.pub.pem"),
        "our_private_key": str(tmp_path / "vool.key.pem")}]}))
    (tmp_path / "testbank.yaml").write_text(yaml.safe_dump({
        "bank_id": "TESTBANK", "private_key": str(tmp_path / "bank.key.pem"),
        "merchants": {"VOOL": {"public_key": str(tmp_path / "vool.pub.pem"),
                               "account": "EE382200221020145685", "name": "Vool Energia AS"}},
        "persons": [{"person_code": GRANDMOTHER, "name": "Õie Mäger"}]}, allow_unicode=True))
    env = {
        **os.environ, "AMQP_URI": amqp_uri, "PYTHONWARNINGS": "ignore::DeprecationWarning",
        "VOOL_GATEWAY_ADDRESS": f"127.0.0.1:{gateway_port}",
        "VOOL_TESTBANK_ADDRESS": f"127.0.0.1:{bank_port}",
        "VOOL_PUBLIC_URL": f"http://127.0.0.1:{gateway_port}",
        "VOOL_BANKS_FILE": str(tmp_path / "banks.yaml"),
        "VOOL_TESTBANK_CONFIG": str(tmp_path / "testbank.yaml"),
        "VOOL_IDENTITY_DATABASE_URL": database_urls["identity"],
        "VOOL_CONTRACTS_DATABASE_URL": database_urls["contracts"],
        "VOOL_BILLING_DATABASE_URL": database_urls["billing"],
        "VOOL_LOG_LEVEL": "WARNING",
    }
    processes = []
    for service in PROCESSES:
        config = "testbank-nameko.yaml" if service == "testbank" else "nameko.yaml"
        log = open(tmp_path / f"{service}.log", "wb")
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "nameko", "run", "--config",
             str(PROJECT_ROOT / "deploy" / "config" / config), f"services.{service}.service"],
            # each its own ops port: nameko.yaml's :9100 is one per host
            cwd=PROJECT_ROOT, env={**env, "VOOL_OPS_ADDRESS": f"127.0.0.1:{free_port()}"},
            stdout=log, stderr=subprocess.STDOUT))
    gateway, bank = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{bank_port}"
    try:
        wait_for(lambda: _answers(f"{gateway}/api/v1/auth/banks"), timeout=60,
                 message="the gateway and identity")
        wait_for(lambda: _answers(f"{bank}/"), timeout=30, message="the test bank")
        wait_for(lambda: _serves(amqp_uri, "contracts"), timeout=60, message="contracts")
        wait_for(lambda: _serves(amqp_uri, "billing"), timeout=60, message="billing")
        yield gateway, bank
    finally:
        started = time.monotonic()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        print(f"stopped in {time.monotonic() - started:.1f}s")
        for name, _ in databases.values():
            postgres.drop_database(name)


def _serves(amqp_uri, service):
    try:
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=5) as rpc:
            return getattr(rpc, service).health()["status"] == "ok"
    except Exception:   # not started yet: UnknownService, a timeout
        return False


def _answers(url):
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.ConnectionError:
        return False


def test_a_customer_logs_in_through_the_test_banks_pages(running_system, system_bus):
    gateway, bank = running_system
    with ClusterRpcProxy({"AMQP_URI": system_bus}, timeout=20) as rpc:
        rpc.contracts.sign_contract(contract_command(person_code=GRANDMOTHER))
        wait_for(lambda: rpc.identity.is_eligible(GRANDMOTHER), timeout=20)

    browser = requests.Session()
    signed_request = browser.post(f"{gateway}/api/v1/auth/banklink/testbank/start", timeout=10).json()
    assert signed_request["action"] == f"{bank}/banklink"

    # the browser posts our signed request to the bank: its login page
    login_page = browser.post(signed_request["action"], data=signed_request["fields"], timeout=10)
    assert login_page.status_code == 200, login_page.text
    assert "Õie Mäger" in login_page.text
    [login_form] = forms(login_page.text, bank)
    assert login_form["choices"]["person"] == ["0"]

    # the customer picks herself; the bank answers with a page that posts its reply back
    returning = browser.post(login_form["action"], data=login_form["fields"], timeout=10)
    assert returning.status_code == 200, returning.text
    [reply_form] = forms(returning.text, bank)
    assert reply_form["action"] == f"{gateway}/api/v1/auth/banklink/testbank/return"
    assert reply_form["fields"]["VK_SERVICE"] == "3013"

    session = browser.post(reply_form["action"], data=reply_form["fields"], timeout=10)
    assert session.status_code == 200, session.text
    token = session.json()["token"]
    me = browser.get(f"{gateway}/api/v1/me", headers={"Authorization": f"Bearer {token}"},
                     timeout=10).json()
    assert me["person"] == {"person_code": GRANDMOTHER, "name": "Õie Mäger"}
    assert [c["relation"] for c in me["customers"]] == ["self"]

    # the same reply posted again opens nothing
    again = browser.post(reply_form["action"], data=reply_form["fields"], timeout=10)
    assert again.status_code == 401


def test_the_bank_refuses_a_request_we_did_not_sign(running_system):
    gateway, bank = running_system
    signed_request = requests.post(f"{gateway}/api/v1/auth/banklink/testbank/start",
                                   timeout=10).json()
    forged = {**signed_request["fields"], "VK_RETURN": "http://evil.example/steal"}
    page = requests.post(signed_request["action"], data=forged, timeout=10)
    assert page.status_code == 400
    assert "MAC" in page.text


def _log_in(gateway, bank):
    """Through the bank's pages as the one person it knows, as the portal does."""
    browser = requests.Session()
    signed_request = browser.post(f"{gateway}/api/v1/auth/banklink/testbank/start",
                                  timeout=10).json()
    login_page = browser.post(signed_request["action"], data=signed_request["fields"],
                              timeout=10)
    [login_form] = forms(login_page.text, bank)
    returning = browser.post(login_form["action"], data=login_form["fields"], timeout=10)
    [reply_form] = forms(returning.text, bank)
    return browser.post(reply_form["action"], data=reply_form["fields"], timeout=10).json()["token"]


def test_a_customer_pays_an_invoice_on_the_test_banks_pages_or_cancels(running_system,
                                                                        system_bus):
    gateway, bank = running_system
    with ClusterRpcProxy({"AMQP_URI": system_bus}, timeout=20) as rpc:
        signed = rpc.contracts.sign_contract(contract_command(person_code=GRANDMOTHER))
        wait_for(lambda: rpc.identity.is_eligible(GRANDMOTHER), timeout=20)

        def invoice():
            rpc.billing.billing_run("2026-01")     # billing hears of the contract by event
            return [i for i in rpc.billing.invoices_of(signed["customer_id"])
                    if i["contract_no"] == signed["contract_no"]]
        [january] = wait_for(invoice, timeout=20)
    headers = {"Authorization": f"Bearer {_log_in(gateway, bank)}"}
    cid = signed["customer_id"]

    for decision in ("cancel", "pay"):
        browser = requests.Session()
        order = browser.post(f"{gateway}/api/v1/customers/{cid}/payments", headers=headers,
                             timeout=10, json={"bank": "testbank",
                                               "invoice_nos": [january["invoice_no"]]}).json()
        assert order["action"] == f"{bank}/banklink"
        page = browser.post(order["action"], data=order["fields"], timeout=10)
        assert page.status_code == 200, page.text
        assert f"{january['total']} EUR" in page.text
        [confirm] = forms(page.text, bank)
        returning = browser.post(confirm["action"], timeout=10,
                                 data={**confirm["fields"], "decision": decision})
        [reply] = forms(returning.text, bank)
        assert reply["action"] == f"{gateway}/api/v1/payments/banklink/testbank/return"
        outcome = browser.post(reply["action"], data=reply["fields"], timeout=10)
        assert outcome.status_code == 200, outcome.text
        assert outcome.json()["status"] == ("cancelled" if decision == "cancel" else "paid")
        payments = requests.get(f"{gateway}/api/v1/customers/{cid}/payments",
                                headers=headers, timeout=10).json()
        assert len(payments) == (0 if decision == "cancel" else 1)

    paid = requests.get(f"{gateway}/api/v1/customers/{cid}/invoices/{january['invoice_no']}",
                        headers=headers, timeout=10).json()
    assert (paid["status"], paid["paid"]) == ("paid", january["total"])
