"""The banks of the banks file (VOOL_BANKS_FILE): configuration, not code."""
import logging
from dataclasses import dataclass
from pathlib import Path

import yaml
from nameko.extensions import DependencyProvider
from stdnum import iban

from services.common import banklink
from services.common import config as cfg

DEFAULT_BANKS_FILE = "deploy/config/banks.yaml"
#: 1012: the bank pays into the account of our contract with it; 1011: into ``account``
PAYMENT_SERVICES = ("1011", "1012")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bank:
    id: str
    name: str
    url: str
    version: str
    service: str
    snd_id: str
    rec_id: str
    bank_public_key: object
    our_private_key: object
    payment_service: str       # 1011 or 1012
    account: str               # our IBAN, VK_ACC of a 1011 request ("" for 1012)
    account_name: str          # VK_NAME of a 1011 request ("" for 1012)


def _path(value):
    path = Path(value)
    return path if path.is_absolute() else cfg.PROJECT_ROOT / path


def load_banks(config=None):
    path = _path(cfg.setting(config, "VOOL_BANKS_FILE", DEFAULT_BANKS_FILE))
    with open(path, encoding="utf-8") as f:
        entries = (yaml.safe_load(f) or {}).get("banks") or []
    banks = {}
    for entry in entries:
        version, service = str(entry["version"]), str(entry["service"])
        if version not in banklink.DIGESTS:
            raise ValueError(f"bank {entry['id']}: version must be 008 or 009")
        if service not in banklink.REPLY_TO:
            raise ValueError(f"bank {entry['id']}: service must be 4011 or 4012")
        payment_service = str(entry.get("payment_service", "1012"))
        if payment_service not in PAYMENT_SERVICES:
            raise ValueError(f"bank {entry['id']}: payment_service must be 1011 or 1012")
        account = str(entry.get("account") or "").replace(" ", "")
        account_name = str(entry.get("account_name") or "").strip()
        if payment_service == "1011" and not (iban.is_valid(account) and account_name):
            # a 1011 request names the account paid into: without it no payment can go
            log.error("bank %s is left out: payment_service 1011 needs our IBAN in account "
                      "and our name in account_name (have %r, %r)", entry["id"], account,
                      account_name)
            continue
        missing = [str(_path(entry[key])) for key in ("bank_public_key", "our_private_key")
                   if not _path(entry[key]).exists()]
        if missing:
            # one bank's missing keys must not take every login (and identity) down
            log.error("bank %s is left out: missing key file(s) %s (development keys: "
                      "vool dev-keys)", entry["id"], ", ".join(missing))
            continue
        banks[str(entry["id"])] = Bank(
            id=str(entry["id"]), name=str(entry["name"]), url=str(entry["url"]),
            version=version, service=service, snd_id=str(entry["snd_id"]),
            rec_id=str(entry["rec_id"]),
            bank_public_key=banklink.load_public_key(_path(entry["bank_public_key"])),
            our_private_key=banklink.load_private_key(_path(entry["our_private_key"])),
            payment_service=payment_service, account=account, account_name=account_name)
    return banks


class Banks(DependencyProvider):
    """The banks, loaded once when the service starts."""

    def setup(self):
        self.banks = load_banks(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.banks
