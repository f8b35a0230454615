"""The test bank's side of the banklink protocol, without HTTP."""
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from services.common import banklink
from services.common import config as cfg
from services.common.clock import TALLINN

DEFAULT_CONFIG = "deploy/config/testbank.yaml"
#: what each request is answered with: (success, failure)
PAYMENT_REPLIES = ("1111", "1911")


class BadRequest(ValueError):
    pass


@dataclass
class TestBank:
    bank_id: str
    private_key: object
    merchants: dict          # snd_id -> {"public_key", "account", "name"}
    persons: list

    def check_request(self, fields):
        """The merchant of a correctly signed request, or BadRequest."""
        merchant = self.merchants.get(fields.get("VK_SND_ID", ""))
        if merchant is None:
            raise BadRequest(f"unknown merchant {fields.get('VK_SND_ID')!r}")
        if fields.get("VK_SERVICE") == "4012" and fields.get("VK_REC_ID") != self.bank_id:
            raise BadRequest("VK_REC_ID is not this bank")
        try:
            valid = banklink.verify(fields, merchant["public_key"])
        except banklink.MacError as exc:
            raise BadRequest(str(exc)) from None
        if not valid:
            raise BadRequest("the request's MAC does not verify with the merchant's key")
        return merchant

    def authentication_reply(self, request, person_code, name, now: datetime):
        service = banklink.REPLY_TO[request["VK_SERVICE"]]
        reply = {"VK_SERVICE": service, "VK_VERSION": request["VK_VERSION"]}
        if service == "3012":
            reply["VK_USER"] = ""
        reply.update(VK_DATETIME=banklink.format_datetime(now.astimezone(TALLINN)),
                     VK_SND_ID=self.bank_id, VK_REC_ID=request["VK_SND_ID"])
        if service == "3013":
            reply["VK_NONCE"] = request["VK_NONCE"]
        reply.update(VK_USER_NAME=name, VK_USER_ID=person_code, VK_COUNTRY="EE",
                     VK_OTHER="", VK_TOKEN="1", VK_RID=request.get("VK_RID", ""))
        return self._signed(reply)

    def payment_reply(self, request, merchant, paid, now: datetime):
        if paid:
            reply = {
                "VK_SERVICE": "1111", "VK_VERSION": request["VK_VERSION"],
                "VK_SND_ID": self.bank_id, "VK_REC_ID": request["VK_SND_ID"],
                "VK_STAMP": request["VK_STAMP"], "VK_T_NO": str(secrets.randbelow(10**9)),
                "VK_AMOUNT": request["VK_AMOUNT"], "VK_CURR": request["VK_CURR"],
                "VK_REC_ACC": request.get("VK_ACC") or merchant["account"],
                "VK_REC_NAME": request.get("VK_NAME") or merchant["name"],
                "VK_SND_ACC": "EE471000001020145685", "VK_SND_NAME": "Test Payer",
                "VK_REF": request["VK_REF"], "VK_MSG": request["VK_MSG"],
                "VK_T_DATETIME": banklink.format_datetime(now.astimezone(TALLINN)),
            }
        else:
            reply = {
                "VK_SERVICE": "1911", "VK_VERSION": request["VK_VERSION"],
                "VK_SND_ID": self.bank_id, "VK_REC_ID": request["VK_SND_ID"],
                "VK_STAMP": request["VK_STAMP"], "VK_REF": request["VK_REF"],
                "VK_MSG": request["VK_MSG"],
            }
        return self._signed(reply)

    def _signed(self, reply):
        reply["VK_MAC"] = banklink.sign(reply, self.private_key)
        reply.update(VK_ENCODING="UTF-8", VK_LANG="EST")
        return reply


def _path(value):
    path = Path(value)
    return path if path.is_absolute() else cfg.PROJECT_ROOT / path


def load_test_bank(config=None):
    with open(_path(cfg.setting(config, "VOOL_TESTBANK_CONFIG", DEFAULT_CONFIG)),
              encoding="utf-8") as f:
        settings = yaml.safe_load(f)
    merchants = {
        snd_id: {"public_key": banklink.load_public_key(_path(m["public_key"])),
                 "account": m.get("account", ""), "name": m.get("name", snd_id)}
        for snd_id, m in (settings.get("merchants") or {}).items()}
    return TestBank(bank_id=settings.get("bank_id", "TESTBANK"),
                    private_key=banklink.load_private_key(_path(settings["private_key"])),
                    merchants=merchants, persons=settings.get("persons") or [])
