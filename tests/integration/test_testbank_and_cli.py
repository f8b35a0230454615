"""The test bank's payment pages, and `vool operator add`."""
import os
import subprocess
import sys

import requests
import yaml

from services.common import banklink
from services.common.config import PROJECT_ROOT
from services.identity.service import IdentityService
from services.testbank.service import TestBankService
from tests.browser import forms


def test_the_test_bank_pays_or_cancels_a_signed_payment_request(run_services, config, tmp_path):
    vool = banklink.generate_key_pair(tmp_path / "vool.key.pem", tmp_path / "vool.pub.pem")
    bank = banklink.generate_key_pair(tmp_path / "bank.key.pem", tmp_path / "bank.pub.pem")
    (tmp_path / "testbank.yaml").write_text(yaml.safe_dump({
        "bank_id": "TESTBANK", "private_key": str(tmp_path / "bank.key.pem"),
        "merchants": {"VOOL": {"public_key": str(tmp_path / "vool.pub.pem"),
                               "account": "EE382200221020145685", "name": "Vool Energia AS"}},
        "persons": []}))
    run_services(TestBankService, VOOL_TESTBANK_CONFIG=str(tmp_path / "testbank.yaml"))
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    request = {"VK_SERVICE": "1012", "VK_VERSION": "009", "VK_SND_ID": "VOOL",
               "VK_STAMP": "12345", "VK_AMOUNT": "58.65", "VK_CURR": "EUR",
               "VK_REF": "1000012", "VK_MSG": "Arve 2026-000001",
               "VK_RETURN": "http://vool.test/paid", "VK_CANCEL": "http://vool.test/cancelled",
               "VK_DATETIME": "2026-11-27T12:00:00+0200"}
    request["VK_MAC"] = banklink.sign(request, vool)

    english = requests.post(f"{base}/banklink", data={**request, "VK_LANG": "ENG"}, timeout=5)
    assert "Pay 58.65 EUR to Vool Energia AS" in english.text and 'lang="en"' in english.text

    for decision, service, action in (("pay", "1111", "http://vool.test/paid"),
                                      ("cancel", "1911", "http://vool.test/cancelled")):
        page = requests.post(f"{base}/banklink", data=request, timeout=5)
        assert page.status_code == 200 and "58.65 EUR" in page.text
        assert 'lang="et"' in page.text and "Maksa" in page.text   # no VK_LANG: Estonian
        [form] = forms(page.text, base)
        reply_page = requests.post(form["action"], data={**form["fields"], "decision": decision},
                                   timeout=5)
        [reply] = forms(reply_page.text, base)
        assert reply["action"] == action
        fields = reply["fields"]
        assert fields["VK_SERVICE"] == service
        assert (fields["VK_STAMP"], fields["VK_REF"]) == ("12345", "1000012")
        assert banklink.verify(fields, bank.public_key())
        if service == "1111":
            assert fields["VK_AMOUNT"] == "58.65"
            assert fields["VK_REC_ACC"] == "EE382200221020145685"

    forged = {**request, "VK_AMOUNT": "0.01"}
    assert requests.post(f"{base}/banklink", data=forged, timeout=5).status_code == 400


def test_vool_operator_add_creates_an_operator_who_can_log_in(run_services, rpc, database_urls):
    env = {**os.environ, "VOOL_IDENTITY_DATABASE_URL": database_urls["identity"],
           "VOOL_OPERATOR_PASSWORD": "correct-horse-battery", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "services.cli", "operator", "add", "anna", "--role", "desk"]
    added = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                           timeout=60)
    assert added.returncode == 0, added.stderr
    assert "operator anna (desk) added" in added.stdout
    assert "correct-horse-battery" not in added.stdout + added.stderr

    again = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 1 and "exists" in again.stderr

    run_services(IdentityService)
    session = rpc.identity.operator_login("anna", "correct-horse-battery", "127.0.0.1")
    assert session["token"]
    principal = rpc.identity.resolve_session(session["token"])
    assert principal.pop("reusable_until")
    assert principal == {"kind": "operator", "operator": {"username": "anna", "role": "desk"}}
