"""A bank for tests: real keys in a temporary folder, a banks file naming them,
and the test bank's own reply-building code acting as the bank."""
from dataclasses import dataclass
from pathlib import Path

import yaml

from services.common import banklink
from services.testbank.bank import TestBank


@dataclass
class BankSetup:
    banks_file: Path
    bank: TestBank           # the real bank (keys as configured)
    impostor: TestBank       # same ids, another key


def make_banks(folder: Path) -> BankSetup:
    vool = banklink.generate_key_pair(folder / "vool.key.pem", folder / "vool.pub.pem")
    bank_key = banklink.generate_key_pair(folder / "bank.key.pem", folder / "bank.pub.pem")
    other_key = banklink.generate_key_pair(folder / "other.key.pem", folder / "other.pub.pem")
    common = {"url": "http://127.0.0.1:8100/banklink", "snd_id": "VOOL", "rec_id": "TESTBANK",
              "bank_public_key": str(folder / "bank.pub.pem"),
              "our_private_key": str(folder / "vool.key.pem")}
    banks_file = folder / "banks.yaml"
    banks_file.write_text(yaml.safe_dump({"banks": [
        {"id": "testbank", "name": "Test Bank", "version": "009", "service": "4012", **common},
        {"id": "oldbank", "name": "Old Bank", "version": "008", "service": "4011", **common},
    ]}), encoding="utf-8")
    merchants = {"VOOL": {"public_key": vool.public_key(), "account": "EE38", "name": "Vool"}}
    return BankSetup(banks_file, TestBank("TESTBANK", bank_key, merchants, []),
                     TestBank("TESTBANK", other_key, merchants, []))


def resign(bank: TestBank, reply: dict, **changes):
    """The reply with some values changed and signed again by ``bank``."""
    fields = {k: v for k, v in reply.items() if k not in ("VK_MAC",)}
    fields.update(changes)
    fields["VK_MAC"] = banklink.sign(fields, bank.private_key)
    return fields


def customer_token(api, banks, person_code, name, at):
    """Log a customer in through the banklink flow of the gateway; their token."""
    import requests
    form = requests.post(f"{api}/api/v1/auth/banklink/testbank/start", timeout=10).json()
    reply = banks.bank.authentication_reply(form["fields"], person_code, name, at)
    response = requests.post(f"{api}/api/v1/auth/banklink/testbank/return", data=reply,
                             timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["token"]
