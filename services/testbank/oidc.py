"""The test bank's OpenID Connect provider (development and tests only), shaped like
TARA: the authorization code flow with PKCE, ID tokens whose ``sub`` is "EE" and the
personal code, ``amr`` the method (idcard, mID, smartid) and ``acr`` its level,
the names in ``profile_attributes``. Without HTTP; the pages are in service.py.

Its signing key is made when it starts (development material, never stored) and can
be rotated (``rotate_key``, the bank's operator endpoint POST /oidc/keys/rotate): the
new key signs from then on and both are published. Test-only knobs (``FLAWS``) make
it issue the tokens a relying party must refuse.
"""
import base64
import hmac
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote_plus

import yaml

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jws import extract_compact
from joserfc.jwt import JWTClaimsRegistry
from stdnum.ee import ik

from services.common import config as cfg
from services.common.translations import N_
from services.testbank.bank import DEFAULT_CONFIG

log = logging.getLogger(__name__)

#: method code (as TARA reports it in amr) -> (what the person picks, acr it gives)
METHODS = {
    "idcard": (N_("ID-card"), "high"),
    "mID": (N_("Mobile-ID"), "high"),
    "smartid": (N_("Smart-ID"), "substantial"),
}
#: what a test may ask the provider to get wrong in the ID token it issues
FLAWS = ("bad-signature", "unknown-key", "wrong-audience", "wrong-issuer", "expired",
         "low-acr", "replayed-nonce", "other-nonce")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CODE_LIFETIME = 60        # seconds an authorization code may wait for the token request
TOKEN_LIFETIME = 300      # seconds an ID token is valid


class ProviderError(ValueError):
    """An OAuth error: ``error`` is its code (invalid_request, invalid_client, ...)."""

    def __init__(self, error, description, status=400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _new_key():
    return RSAKey.generate_key(2048, parameters={
        "kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"}, private=True)


@dataclass
class TestProvider:
    __test__ = False   # not a pytest class, whatever its name
    issuer: str
    #: client_id -> {"secret" (None: private_key_jwt), "public_key" (its key, or None),
    #: "redirect_uris": [...] or None for any}
    clients: dict
    persons: list            # [{"person_code", "name"}]
    keys: list = field(default_factory=lambda: [_new_key()])   # the last signs
    codes: dict = field(default_factory=dict)
    last_nonce: str = None
    assertions: set = field(default_factory=set)     # the jti of each client assertion
    jwks_requests: int = 0
    _lock: object = field(default_factory=threading.Lock)

    # -- metadata --------------------------------------------------------------------

    def discovery(self):
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post",
                                                      "private_key_jwt"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "idcard", "mid", "smartid"],
            "claims_supported": ["sub", "acr", "amr", "nonce", "profile_attributes"],
            "acr_values_supported": ["low", "substantial", "high"],
        }

    def jwks(self):
        self.jwks_requests += 1
        return {"keys": [key.as_dict(private=False) for key in self.keys]}

    def rotate_key(self):
        """A new signing key; the previous one stays published (at most two)."""
        with self._lock:
            self.keys = [*self.keys[-1:], _new_key()]
        return self.keys[-1].kid

    # -- the authorization request -------------------------------------------------------

    def check_authorization(self, args):
        """The request's parameters when they are a valid code flow request with
        PKCE S256 from a known client to one of its redirect URIs, else ProviderError
        (shown as a page: never redirected to an unchecked URI)."""
        client = self.clients.get(args.get("client_id", ""))
        if client is None:
            raise ProviderError("unauthorized_client", "unknown client_id")
        redirect_uri = args.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")) or (
                client["redirect_uris"] and redirect_uri not in client["redirect_uris"]):
            raise ProviderError("invalid_request", "redirect_uri is not registered")
        if args.get("response_type") != "code":
            raise ProviderError("unsupported_response_type", "response_type must be code")
        if "openid" not in args.get("scope", "").split():
            raise ProviderError("invalid_scope", "scope must include openid")
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            raise ProviderError("invalid_request", "PKCE with S256 is required")
        for name in ("state", "nonce"):
            if not args.get(name):
                raise ProviderError("invalid_request", f"{name} is required")
        return {k: args.get(k, "") for k in (
            "client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
            "code_challenge", "code_challenge_method", "ui_locales")}

    def authorize(self, request, person_index, method, flaw, now):
        """The code for the person picked: ``(redirect_uri, {code, state})``."""
        try:
            person = self.persons[int(person_index)]
        except (ValueError, IndexError, TypeError):
            raise ProviderError("invalid_request", "pick a person") from None
        if method not in METHODS:
            raise ProviderError("invalid_request", "pick a method")
        if flaw and flaw not in FLAWS:
            raise ProviderError("invalid_request", "unknown flaw")
        code = secrets.token_urlsafe(32)
        with self._lock:
            replayed, self.last_nonce = self.last_nonce, request["nonce"]
            self.codes[code] = {**request, "person": person, "method": method,
                                "flaw": flaw or "", "replayed_nonce": replayed,
                                "expires": now.timestamp() + CODE_LIFETIME}
        return request["redirect_uri"], {"code": code, "state": request["state"]}

    # -- the token request --------------------------------------------------------------

    def _asserted_client(self, form, now):
        """The client of a private_key_jwt assertion (RFC 7523) signed with the key
        the client registered, for this token endpoint, once."""
        assertion = form.get("client_assertion", "")
        try:
            claimed = json.loads(extract_compact(assertion.encode("ascii")).payload)
            client = self.clients.get(str(claimed.get("iss")))
            if client is None or client.get("public_key") is None:
                raise ProviderError("invalid_client", "unknown client", 401)
            claims = jwt.decode(assertion, client["public_key"], algorithms=["RS256"]).claims
            JWTClaimsRegistry(now=int(now.timestamp()), leeway=30,
                              iss={"essential": True, "value": claimed["iss"]},
                              sub={"essential": True, "value": claimed["iss"]},
                              aud={"essential": True, "value": f"{self.issuer}/token"},
                              exp={"essential": True}, jti={"essential": True}
                              ).validate(claims)
        except ProviderError:
            raise
        except (JoseError, ValueError, UnicodeError, AttributeError) as exc:
            raise ProviderError("invalid_client", f"the client assertion: {exc}", 401) from None
        with self._lock:
            if claims["jti"] in self.assertions:
                raise ProviderError("invalid_client", "the client assertion was used", 401)
            self.assertions.add(claims["jti"])
        return claims["iss"]

    def _client_of(self, form, authorization, now):
        if form.get("client_assertion_type") == JWT_BEARER:
            return self._asserted_client(form, now)
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        if authorization.startswith("Basic "):
            try:
                client_id, secret = base64.b64decode(authorization[6:]).decode(
                    "utf-8").split(":", 1)
            except (ValueError, UnicodeError):
                raise ProviderError("invalid_client", "malformed Basic credentials",
                                    401) from None
            client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        client = self.clients.get(client_id)
        if client is None or client.get("secret") is None or not isinstance(
                secret, str) or not hmac.compare_digest(
                secret.encode(), client["secret"].encode()):
            raise ProviderError("invalid_client", "client authentication failed", 401)
        return client_id

    def token(self, form, authorization, now: datetime):
        """The token response for an authorization code, or ProviderError."""
        client_id = self._client_of(form, authorization or "", now)
        if form.get("grant_type") != "authorization_code":
            raise ProviderError("unsupported_grant_type", "grant_type must be "
                                                          "authorization_code")
        with self._lock:
            grant = self.codes.pop(form.get("code", ""), None)   # a code is used once
        if grant is None or grant["expires"] < now.timestamp():
            raise ProviderError("invalid_grant", "unknown, used or expired code")
        if grant["client_id"] != client_id:
            raise ProviderError("invalid_grant", "the code was issued to another client")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            raise ProviderError("invalid_grant", "redirect_uri does not match the request's")
        verifier = form.get("code_verifier", "")
        if not verifier or not hmac.compare_digest(create_s256_code_challenge(verifier),
                                                   grant["code_challenge"]):
            raise ProviderError("invalid_grant", "the PKCE code verifier does not match")
        return {"access_token": secrets.token_urlsafe(32), "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME, "scope": grant["scope"],
                "id_token": self.id_token(grant, now)}

    def id_token(self, grant, now):
        person, flaw = grant["person"], grant["flaw"]
        code = person["person_code"]
        given, _, family = person["name"].rpartition(" ")
        at = int(now.timestamp())
        _, acr = METHODS[grant["method"]]
        claims = {
            "iss": self.issuer, "aud": grant["client_id"], "sub": f"EE{code}",
            "iat": at, "nbf": at, "exp": at + TOKEN_LIFETIME, "auth_time": at,
            "jti": secrets.token_hex(16), "nonce": grant["nonce"],
            "acr": acr, "amr": [grant["method"]],
            "profile_attributes": {"given_name": given or family, "family_name": family,
                                   "date_of_birth": ik.get_birth_date(code).isoformat()},
        }
        key = self.keys[-1]
        if flaw == "wrong-audience":
            claims["aud"] = "someone-else"
        elif flaw == "wrong-issuer":
            claims["iss"] = "https://impostor.example/oidc"
        elif flaw == "expired":
            claims.update(iat=at - 400, nbf=at - 400, exp=at - 100)
        elif flaw == "low-acr":
            claims["acr"] = "low"
        elif flaw == "replayed-nonce":
            claims["nonce"] = grant["replayed_nonce"] or secrets.token_urlsafe(32)
        elif flaw == "other-nonce":
            claims["nonce"] = secrets.token_urlsafe(32)
        elif flaw == "bad-signature":    # the current kid, another key's signature
            key = RSAKey.generate_key(2048, parameters={"kid": key.kid}, private=True)
        elif flaw == "unknown-key":
            key = _new_key()
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)


def _path(value):
    path = Path(value)
    return path if path.is_absolute() else cfg.PROJECT_ROOT / path


#: the gateway's VOOL_PUBLIC_URL when it is not set (services/gateway/http.py)
GATEWAY_PUBLIC_URL = "http://localhost:8000"


def _redirect_uris(client, public_url):
    """A client's registered redirect URIs, ``{public_url}`` in each the gateway's
    VOOL_PUBLIC_URL (as it reads it); None: any http(s) URI (tests' own clients)."""
    uris = client.get("redirect_uris")
    return [str(uri).replace("{public_url}", public_url) for uri in uris] if uris else None


def load_test_provider(config=None):
    """The provider of the test bank's configuration (its ``oidc`` section), or None.
    Its issuer is ``VOOL_TESTBANK_ISSUER``, the section's ``issuer``, or the bank's own
    address + /oidc; each client's secret is read from ``client_secret_file`` (a
    development secret made by `vool dev-keys`) or ``client_secret_env``, its
    ``redirect_uris`` with ``{public_url}`` the gateway's public URL."""
    with open(_path(cfg.setting(config, "VOOL_TESTBANK_CONFIG", DEFAULT_CONFIG)),
              encoding="utf-8") as f:
        settings = yaml.safe_load(f) or {}
    section = settings.get("oidc")
    if not section:
        return None
    address = cfg.setting(config, "VOOL_TESTBANK_ADDRESS", "127.0.0.1:8100")
    public_url = cfg.setting(config, "VOOL_PUBLIC_URL", GATEWAY_PUBLIC_URL).rstrip("/")
    issuer = (cfg.setting(config, "VOOL_TESTBANK_ISSUER") or section.get("issuer")
              or f"http://{address}/oidc").rstrip("/")
    clients = {}
    for client_id, client in (section.get("clients") or {}).items():
        if client.get("public_key_file"):     # private_key_jwt: the client's public key
            path = _path(client["public_key_file"])
            if not path.exists():
                log.error("test OIDC client %s is left out: no %s", client_id, path)
                continue
            clients[str(client_id)] = {
                "secret": None, "redirect_uris": _redirect_uris(client, public_url),
                "public_key": RSAKey.import_key(path.read_bytes())}
            continue
        secret = None
        if client.get("client_secret_env"):
            secret = os.environ.get(client["client_secret_env"])
        if not secret and client.get("client_secret_file"):
            path = _path(client["client_secret_file"])
            secret = path.read_text(encoding="utf-8").strip() if path.exists() else None
        if not secret:
            log.error("test OIDC client %s is left out: no secret (vool dev-keys)", client_id)
            continue
        clients[str(client_id)] = {"secret": secret, "public_key": None,
                                   "redirect_uris": _redirect_uris(client, public_url)}
    return TestProvider(issuer=issuer, clients=clients, persons=settings.get("persons") or [])
