"""Development key pairs for the test bank and for Vool's side of it.

Never for production: real banks issue real certificates. Generated once, when
missing, under deploy/config/keys/ (ignored by git).
"""
import os
import secrets
from pathlib import Path

from services.common import banklink
from services.common.config import PROJECT_ROOT

KEYS_DIR = PROJECT_ROOT / "deploy" / "config" / "keys"
PAIRS = ("vool", "testbank")
#: the client secret Vool and the test bank's OpenID Connect provider share
#: (deploy/config/oidc.yaml, deploy/config/testbank.yaml)
OIDC_SECRETS = ("oidc-testbank",)


def ensure_dev_keys(keys_dir: Path = KEYS_DIR):
    created = []
    for name in PAIRS:
        private, public = keys_dir / f"{name}.key.pem", keys_dir / f"{name}.pub.pem"
        if not private.exists() or not public.exists():
            banklink.generate_key_pair(private, public)
            created.append(name)
    for name in OIDC_SECRETS:
        path = keys_dir / f"{name}.secret"
        if not path.exists():
            keys_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
            created.append(name)
    return created
