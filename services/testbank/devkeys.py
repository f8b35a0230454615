"""Development key pairs for the test bank and for Vool's side of it.

Never for production: real banks issue real certificates. Generated once, when
missing, under deploy/config/keys/ (ignored by git).
"""
from pathlib import Path

from services.common import banklink
from services.common.config import PROJECT_ROOT

KEYS_DIR = PROJECT_ROOT / "deploy" / "config" / "keys"
PAIRS = ("vool", "testbank")


def ensure_dev_keys(keys_dir: Path = KEYS_DIR):
    created = []
    for name in PAIRS:
        private, public = keys_dir / f"{name}.key.pem", keys_dir / f"{name}.pub.pem"
        if not private.exists() or not public.exists():
            banklink.generate_key_pair(private, public)
            created.append(name)
    return created
