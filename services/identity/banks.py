"""The banks of the banks file (VOOL_BANKS_FILE): configuration, not code."""
import logging
from dataclasses import dataclass
from pathlib import Path

import yaml
from nameko.extensions import DependencyProvider

from services.common import banklink
from services.common import config as cfg

DEFAULT_BANKS_FILE = "deploy/config/banks.yaml"
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
            our_private_key=banklink.load_private_key(_path(entry["our_private_key"])))
    return banks


class Banks(DependencyProvider):
    """The banks, loaded once when the service starts."""

    def setup(self):
        self.banks = load_banks(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.banks
