"""The OpenID Connect providers of the providers file (VOOL_OIDC_FILE): configuration,
not code, as the banks are; and what identity knows of each provider's metadata
(its discovery document and its signing keys), fetched and kept for a while.

A provider's client secret or private key is never in the file itself: it names a
file (the test provider's are development material made by `vool dev-keys`) or an
environment variable.
"""
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml
from joserfc.jwk import KeySet
from nameko.extensions import DependencyProvider

from services.common import config as cfg

DEFAULT_OIDC_FILE = "deploy/config/oidc.yaml"
#: TARA's levels of assurance (eIDAS), lowest first
DEFAULT_ACR_LEVELS = ("low", "substantial", "high")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
#: how long a discovery document and a key set are kept before they are fetched again
METADATA_TTL = 3600.0
#: a token signed with a key we do not know fetches the key set again at most this often
JWKS_REFETCH_INTERVAL = 60.0
HTTP_TIMEOUT = 5.0
#: the endpoints of a discovery document identity calls itself (the others, the
#: authorization endpoint first, are the browser's)
BACKCHANNEL_ENDPOINTS = ("token_endpoint", "jwks_uri", "userinfo_endpoint",
                         "introspection_endpoint", "revocation_endpoint",
                         "pushed_authorization_request_endpoint")
log = logging.getLogger(__name__)


class ProviderUnavailable(Exception):
    """The provider's discovery document or keys could not be fetched."""


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    issuer: str
    client_id: str
    auth_method: str              # client_secret_basic | client_secret_post | private_key_jwt
    client_secret: str = field(repr=False)      # "" for private_key_jwt
    private_key: str = field(repr=False)        # the PEM for private_key_jwt, else ""
    scopes: tuple
    minimum_acr: str
    acr_levels: tuple
    #: the claim naming the person and what precedes the personal code in it
    #: (TARA: sub = "EE" + isikukood)
    person_claim: str
    person_prefix: str
    #: claims (dotted paths) whose values, joined by a space, are the person's name
    name_claims: tuple
    acr_values: str               # asked for in the authorization request ("" : none)
    jwks_refetch_interval: float = JWKS_REFETCH_INTERVAL
    metadata_ttl: float = METADATA_TTL
    #: where identity reaches the provider when that is not where browsers do (the
    #: test provider in docker compose or Kubernetes: its service's name), as
    #: Keycloak's backchannel hostname; "" : at the issuer
    backchannel_url: str = ""


def _path(value):
    path = Path(value)
    return path if path.is_absolute() else cfg.PROJECT_ROOT / path


def _secret(entry, prefix):
    """A secret named by ``<prefix>_file`` or ``<prefix>_env``: its value, or None."""
    if entry.get(f"{prefix}_env"):
        value = os.environ.get(str(entry[f"{prefix}_env"]))
        if value:
            return value.strip()
    if entry.get(f"{prefix}_file"):
        path = _path(entry[f"{prefix}_file"])
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
    return None


def load_providers(config=None):
    """The providers of the file; one whose secret is missing is left out with an
    error in the log (as a bank with missing keys is), a file that is not there
    means no provider."""
    path = _path(cfg.setting(config, "VOOL_OIDC_FILE", DEFAULT_OIDC_FILE))
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as f:
        entries = (yaml.safe_load(f) or {}).get("providers") or []
    providers = {}
    for entry in entries:
        provider_id = str(entry["id"])
        auth_method = str(entry.get("auth_method", "client_secret_basic"))
        if auth_method not in AUTH_METHODS:
            raise ValueError(f"OIDC provider {provider_id}: auth_method must be one of "
                             f"{', '.join(AUTH_METHODS)}")
        levels = tuple(str(level) for level in entry.get("acr_levels") or DEFAULT_ACR_LEVELS)
        minimum = str(entry.get("minimum_acr") or levels[-1])
        if minimum not in levels:
            raise ValueError(f"OIDC provider {provider_id}: minimum_acr {minimum!r} is not "
                             f"one of acr_levels {list(levels)}")
        secret, private_key = "", ""
        if auth_method == "private_key_jwt":
            pem = _secret(entry, "private_key")
            if pem is None:
                log.error("OIDC provider %s is left out: no private key (private_key_file or "
                          "private_key_env)", provider_id)
                continue
            private_key = pem
        else:
            secret = _secret(entry, "client_secret")
            if secret is None:
                log.error("OIDC provider %s is left out: no client secret (client_secret_file "
                          "or client_secret_env; development: vool dev-keys)", provider_id)
                continue
        providers[provider_id] = Provider(
            id=provider_id, name=str(entry.get("name") or provider_id),
            issuer=str(entry["issuer"]).rstrip("/"), client_id=str(entry["client_id"]),
            auth_method=auth_method, client_secret=secret, private_key=private_key,
            scopes=tuple(entry.get("scopes") or ("openid",)), minimum_acr=minimum,
            acr_levels=levels, person_claim=str(entry.get("person_claim") or "sub"),
            person_prefix=str(entry.get("person_prefix", "EE")),
            name_claims=tuple(entry.get("name_claims") or ("given_name", "family_name")),
            acr_values=str(entry.get("acr_values") or ""),
            jwks_refetch_interval=float(entry.get("jwks_refetch_interval",
                                                  JWKS_REFETCH_INTERVAL)),
            metadata_ttl=float(entry.get("metadata_ttl", METADATA_TTL)),
            backchannel_url=_backchannel_url(provider_id, entry.get("backchannel_url")))
    return providers


def _backchannel_url(provider_id, value):
    if not value:
        return ""
    url = str(value).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"OIDC provider {provider_id}: backchannel_url must be an http(s) "
                         f"URL")
    return url


def on_backchannel(url, issuer, backchannel_url):
    """``url`` (an endpoint of the provider's, as its discovery document names it) at
    the back-channel address: the issuer's base replaced by ``backchannel_url``. An
    endpoint elsewhere than under the issuer, or no back channel, stays as it is."""
    if not backchannel_url or not isinstance(url, str):
        return url
    if url == issuer or url.startswith((f"{issuer}/", f"{issuer}?")):
        return backchannel_url + url[len(issuer):]
    return url


def backchannel_endpoints(document, issuer, backchannel_url):
    """The endpoints of a discovery document identity calls itself, at the back
    channel (as ``on_backchannel``); the document's other entries are left out."""
    return {key: on_backchannel(document[key], issuer, backchannel_url)
            for key in BACKCHANNEL_ENDPOINTS if isinstance(document.get(key), str)}


class ProviderMetadata:
    """One provider's discovery document and key set, fetched when first needed and
    kept for ``metadata_ttl`` seconds. A token signed with a key not in the set
    fetches the set again, at most once every ``jwks_refetch_interval`` seconds (a
    rotated key is picked up; a flood of tokens with made-up key ids costs the
    provider one request a minute). Shared by the service's workers."""

    def __init__(self, provider, get=None, monotonic=time.monotonic):
        self.provider = provider
        self._get = get or (lambda url: requests.get(url, timeout=HTTP_TIMEOUT))
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._discovery = None
        self._discovery_at = None
        self._endpoints = {}
        self._keys = None
        self._keys_at = None
        self._refetched_at = None

    def _fetch_json(self, url, what):
        try:
            response = self._get(url)
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            # the particulars (hosts, ports) for the log, not for the client
            log.warning("the %s of OIDC provider %s could not be fetched: %s", what,
                        self.provider.id, exc)
            raise ProviderUnavailable(f"the {what} of {self.provider.id} could not be "
                                      f"fetched; try again shortly") from None

    def _fresh(self, at):
        return at is not None and self._monotonic() - at < self.provider.metadata_ttl

    def discovery(self):
        """The discovery document as the provider publishes it (its endpoints the
        public ones: the browser's authorization endpoint, and the token endpoint a
        client assertion names as its audience); ``endpoint`` for where identity
        calls. Fetched from the back channel when the provider has one; its issuer
        must still be the public one."""
        if not self._fresh(self._discovery_at):
            base = self.provider.backchannel_url or self.provider.issuer
            url = f"{base}/.well-known/openid-configuration"
            document = self._fetch_json(url, "discovery document")
            if not isinstance(document, dict) or str(document.get("issuer", "")).rstrip(
                    "/") != self.provider.issuer:
                raise ProviderUnavailable(f"the discovery document of {self.provider.id} "
                                          f"names another issuer")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(document.get(key), str):
                    raise ProviderUnavailable(f"the discovery document of "
                                              f"{self.provider.id} has no {key}")
            self._endpoints = backchannel_endpoints(document, self.provider.issuer,
                                                    self.provider.backchannel_url)
            self._discovery, self._discovery_at = document, self._monotonic()
        return self._discovery

    def endpoint(self, name):
        """Where identity calls the provider's ``name`` endpoint (``token_endpoint``,
        ``jwks_uri``): at the back channel, when it has one."""
        self.discovery()
        return self._endpoints[name]

    def _fetch_keys(self):
        document = self._fetch_json(self.endpoint("jwks_uri"), "key set")
        try:
            keys = KeySet.import_key_set(document)
        except Exception as exc:   # joserfc's errors for a malformed set vary
            raise ProviderUnavailable(f"the key set of {self.provider.id} is not "
                                      f"valid: {exc}") from None
        self._keys, self._keys_at = keys, self._monotonic()
        return keys

    def keys(self):
        if not self._fresh(self._keys_at):
            return self._fetch_keys()
        return self._keys

    def knows_key(self, kid):
        return any(key.kid == kid for key in self.keys().keys)

    def refetch_keys_for(self, kid):
        """The key set again, for a token signed with ``kid`` we do not know: True
        when it was fetched (and now knows the key), False when the last refetch was
        too recent."""
        with self._lock:
            now = self._monotonic()
            if (self._refetched_at is not None
                    and now - self._refetched_at < self.provider.jwks_refetch_interval):
                return False
            self._refetched_at = now
        self._fetch_keys()
        return self.knows_key(kid)


class Providers(DependencyProvider):
    """The OIDC providers and their metadata, loaded once when the service starts."""

    def setup(self):
        self.providers = {provider_id: ProviderMetadata(provider)
                          for provider_id, provider in load_providers(
                              self.container.config).items()}

    def get_dependency(self, worker_ctx):
        return self.providers
