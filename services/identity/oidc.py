"""Customers' login through an OpenID Connect provider (TARA and the like), as a
relying party: the authorization code flow with PKCE (S256), ``state`` and ``nonce``.

``start`` remembers a flow (its state, nonce and code verifier, one use each, for
``FLOW_LIFETIME``) and gives the provider's authorization URL. Coming back, the
flow is consumed first, in a transaction of its own (a state is used once even
when the login then fails), the code is redeemed at the provider's token endpoint
(no database transaction spans that request), and the ID token is checked: its
signature against the provider's published keys (a key we do not know fetches them
again, rate-limited), ``iss``, ``aud``, ``exp``, ``iat``, ``nonce`` and ``acr``.
Authlib makes the requests (PKCE, client authentication), joserfc checks the token.
Every attempt is logged (login.log_oidc_attempt), as banklink's are.
"""
import hmac
import logging
import secrets
import uuid
from datetime import timedelta

import requests
import sqlalchemy as sa
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.errors import (BadSignatureError, ExpiredTokenError, InvalidClaimError,
                            InvalidKeyIdError, JoseError, MissingClaimError)
from joserfc.jws import extract_compact
from joserfc.jwt import JWTClaimsRegistry

from services.common.clock import as_utc
from services.common.errors import Forbidden, ServiceUnavailable, Unauthenticated
from services.common.identifiers import valid_personal_code
from services.identity import eligibility, mandates, sessions
from services.identity.login import MAX_NAME, browser_hash
from services.identity.models import login_log, oidc_flows
from services.identity.oidc_providers import HTTP_TIMEOUT, ProviderUnavailable

log = logging.getLogger(__name__)

#: a flow not finished within this long must be started again
FLOW_LIFETIME = timedelta(minutes=10)
#: how far the provider's clock and ours may differ (exp, iat)
LEEWAY = 30
#: an ID token issued longer ago than this is not taken, whatever its exp
MAX_TOKEN_AGE = 600
#: the signatures we accept (never "none", never a MAC with a shared secret)
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]
#: where the session is given once the flow is through: the API's JSON, or the portal
VIA = ("api", "portal")


def reject(code, detail):
    """An answer that failed a rule: 401, and ``code`` names the rule."""
    raise Unauthenticated(detail, code=code)


def _client(provider, redirect_uri=None, token_endpoint=None):
    if provider.auth_method == "private_key_jwt":
        # our signed assertion (RFC 7523) instead of a shared secret, as Authlib says
        session = OAuth2Session(provider.client_id, provider.private_key,
                                token_endpoint_auth_method="private_key_jwt",
                                redirect_uri=redirect_uri, scope=" ".join(provider.scopes),
                                code_challenge_method="S256", default_timeout=HTTP_TIMEOUT)
        session.register_client_auth_method(PrivateKeyJWT(token_endpoint))
        return session
    return OAuth2Session(provider.client_id, provider.client_secret,
                         token_endpoint_auth_method=provider.auth_method,
                         redirect_uri=redirect_uri, scope=" ".join(provider.scopes),
                         code_challenge_method="S256", default_timeout=HTTP_TIMEOUT)


def _discovery(metadata):
    try:
        return metadata.discovery()
    except ProviderUnavailable as exc:
        raise ServiceUnavailable(str(exc), code="oidc-provider-unavailable")


def start(uow, metadata, redirect_uri, browser_key=None, via="api", language="et",
          client_address=None):
    """The provider's authorization URL for a new flow; with ``browser_key`` (a secret
    the browser or client keeps) only a callback showing the same key finishes it."""
    provider = metadata.provider
    discovery = _discovery(metadata)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    extra = {"nonce": nonce, "ui_locales": language}
    if provider.acr_values:
        extra["acr_values"] = provider.acr_values
    url, _ = _client(provider, redirect_uri).create_authorization_url(
        discovery["authorization_endpoint"], state=state, code_verifier=verifier, **extra)
    uow.session.execute(sa.insert(oidc_flows).values(
        flow_id=str(uuid.uuid4()), provider_id=provider.id, state=state, nonce=nonce,
        code_verifier=verifier, redirect_uri=redirect_uri, via=via,
        browser_hash=browser_hash(browser_key), created_at=uow.clock.now(),
        client_address=client_address))
    remove_old_flows(uow)
    return {"authorization_url": url}


#: a flow is kept this long after it expired (its state and nonce still say
#: "reused" rather than "unknown" meanwhile), then removed
FLOW_KEPT = timedelta(days=1)
#: how many old flows one start removes: each start clears more than it adds
OLD_FLOWS_PER_START = 100


def remove_old_flows(uow):
    """Delete (some of) the flows that expired more than ``FLOW_KEPT`` ago."""
    old = (sa.select(oidc_flows.c.flow_id)
           .where(oidc_flows.c.created_at < uow.clock.now() - FLOW_LIFETIME - FLOW_KEPT)
           .order_by(oidc_flows.c.created_at).limit(OLD_FLOWS_PER_START))
    return uow.session.execute(
        sa.delete(oidc_flows).where(oidc_flows.c.flow_id.in_(old.scalar_subquery()))).rowcount


def consume_flow(uow, provider, state, browser_key=None):
    """The flow ``state`` names, used up now: Unauthenticated naming the rule when it
    is unknown, used, another browser's or too old."""
    now = uow.clock.now()
    if not isinstance(state, str) or not state:
        reject("oidc-unknown-state", "the callback carries no state")
    flow = uow.session.execute(
        sa.select(oidc_flows)
        .where(oidc_flows.c.state == state, oidc_flows.c.provider_id == provider.id)
        .with_for_update()).mappings().first()
    if flow is None:
        reject("oidc-unknown-state", "the state was not issued by us for this provider")
    if flow["used_at"] is not None:
        reject("oidc-reused-state", "this login's state was already used")
    if flow["browser_hash"] is not None and not hmac.compare_digest(
            flow["browser_hash"], browser_hash(browser_key) or ""):
        reject("oidc-other-browser", "this login was started in another browser or "
                                     "client; start it again here")
    uow.session.execute(sa.update(oidc_flows).where(oidc_flows.c.flow_id == flow["flow_id"])
                        .values(used_at=now))
    if as_utc(flow["created_at"]) < now - FLOW_LIFETIME:
        reject("oidc-expired-state", "the login took too long; start again")
    return dict(flow)


def redeem_code(metadata, flow, code):
    """The ID token the provider's token endpoint gives for ``code`` (with the flow's
    PKCE verifier and redirect URI, the client authenticated as configured)."""
    if not isinstance(code, str) or not code:
        reject("oidc-no-code", "the callback carries no authorization code")
    # a client assertion's audience is the public token endpoint, whichever address
    # identity reaches it at (the back channel)
    token_endpoint = _discovery(metadata)["token_endpoint"]
    client = _client(metadata.provider, flow["redirect_uri"], token_endpoint)
    try:
        token = client.fetch_token(metadata.endpoint("token_endpoint"),
                                   grant_type="authorization_code", code=code,
                                   code_verifier=flow["code_verifier"])
    except requests.RequestException as exc:
        log.warning("the token endpoint of OIDC provider %s did not answer: %s",
                    metadata.provider.id, exc)
        raise ServiceUnavailable(f"the provider {metadata.provider.id} did not answer; try "
                                 f"again shortly", code="oidc-provider-unavailable") from None
    except (AuthlibBaseError, ValueError) as exc:
        error = getattr(exc, "error", None) or type(exc).__name__
        reject("oidc-token-refused", f"the provider did not exchange the code ({error})")
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        reject("oidc-token-refused", "the provider's answer holds no ID token")
    return id_token


def _signed_with(id_token):
    """The key id a compact JWS names in its header (None when it names none)."""
    try:
        header = extract_compact(id_token.encode("ascii")).headers()
    except (JoseError, UnicodeError, ValueError) as exc:
        reject("oidc-malformed-token", f"the ID token is not a signed JWT: {exc}")
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def verify_id_token(metadata, id_token, now):
    """The ID token's claims when its signature, ``iss``, ``aud``, ``exp`` and ``iat``
    hold (the nonce is the flow's: see ``check_nonce``), else Unauthenticated."""
    provider = metadata.provider
    kid = _signed_with(id_token)
    try:
        if kid is not None and not metadata.knows_key(kid) and not metadata.refetch_keys_for(
                kid):
            reject("oidc-unknown-key", f"the ID token is signed with a key ({kid}) the "
                                       f"provider does not publish")
        token = jwt.decode(id_token, metadata.keys(), algorithms=ALGORITHMS)
    except ProviderUnavailable as exc:
        raise ServiceUnavailable(str(exc), code="oidc-provider-unavailable")
    except InvalidKeyIdError:
        reject("oidc-unknown-key", "the ID token is signed with a key the provider does "
                                   "not publish")
    except BadSignatureError:
        reject("oidc-bad-signature", "the ID token's signature does not verify with the "
                                     "provider's key")
    except JoseError as exc:
        reject("oidc-malformed-token", f"the ID token cannot be read: {exc}")
    claims = token.claims
    moment = int(now.timestamp())
    registry = JWTClaimsRegistry(
        now=moment, leeway=LEEWAY,
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": provider.client_id},
        exp={"essential": True}, iat={"essential": True}, sub={"essential": True})
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        reject("oidc-expired-token", "the ID token has expired")
    except (InvalidClaimError, MissingClaimError) as exc:
        claim = getattr(exc, "claim", "")
        code = {"iss": "oidc-wrong-issuer", "aud": "oidc-wrong-audience",
                "exp": "oidc-expired-token", "iat": "oidc-bad-iat"}.get(
                    claim, "oidc-malformed-token")
        reject(code, f"the ID token's {claim or 'claims'}: {exc.description}")
    except JoseError as exc:
        reject("oidc-malformed-token", f"the ID token's claims: {exc}")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        reject("oidc-wrong-audience", "the ID token is meant for other clients too and "
                                      "names another as its authorized party")
    if not isinstance(claims.get("iat"), (int, float)) or claims["iat"] < moment - MAX_TOKEN_AGE:
        reject("oidc-bad-iat", "the ID token was issued too long ago")
    return claims


def check_nonce(uow, flow, claims):
    """The ID token answers this flow: its nonce is the flow's, never one used before."""
    nonce = claims.get("nonce")
    if isinstance(nonce, str) and hmac.compare_digest(nonce, flow["nonce"]):
        return
    used = isinstance(nonce, str) and uow.session.execute(
        sa.select(oidc_flows.c.flow_id)
        .where(oidc_flows.c.nonce == nonce, oidc_flows.c.flow_id != flow["flow_id"])
        ).first() is not None
    if used:
        reject("oidc-reused-nonce", "the ID token carries the nonce of another login")
    reject("oidc-nonce-mismatch", "the ID token's nonce is not this login's")


def check_acr(provider, claims):
    acr = claims.get("acr")
    levels = provider.acr_levels
    if acr not in levels or levels.index(acr) < levels.index(provider.minimum_acr):
        reject("oidc-acr-too-low", f"the login's level of assurance ({acr}) is below "
                                   f"{provider.minimum_acr}")
    return acr


def _claim(claims, path):
    value = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def person_of(provider, claims):
    """``(person_code, name)`` the ID token vouches for."""
    subject = _claim(claims, provider.person_claim)
    code = subject if isinstance(subject, str) else ""
    if provider.person_prefix:
        if not code.startswith(provider.person_prefix):
            reject("oidc-bad-person-code", f"{provider.person_claim} is not "
                                           f"{provider.person_prefix} and a personal code")
        code = code[len(provider.person_prefix):]
    try:
        person_code = valid_personal_code(code)
    except ValueError:
        reject("oidc-bad-person-code", f"{provider.person_claim} does not hold a valid "
                                       f"personal code")
    parts = [_claim(claims, path) for path in provider.name_claims]
    name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    if not name and isinstance(claims.get("name"), str):
        name = claims["name"].strip()
    if not name or len(name) > MAX_NAME:
        reject("oidc-bad-name", "the ID token names no person (or a name too long)")
    return person_code, name


def amr_of(claims):
    """The authentication methods the provider reports (TARA: idcard, mID, smartid, ...)."""
    amr = claims.get("amr")
    if isinstance(amr, str):
        amr = [amr]
    return [str(m)[:20] for m in amr if isinstance(m, (str, int))][:5] if isinstance(
        amr, list) else []


class Attempt:
    """What is known of a login attempt so far, for its line in the login log."""

    def __init__(self):
        self.person_code = None
        self.amr = []


def finish(unit_of_work, clock, metadata, policy, attempt, code, state, browser_key=None,
           error=None):
    """The provider's callback through to a session: ``(token, expires_at, person_code,
    name, flow)``; Unauthenticated naming the failed rule, or Forbidden
    (no-active-contract). Only the first and the last step touch the database; the
    token request and the key fetch happen between them."""
    provider = metadata.provider
    with unit_of_work() as uow:
        flow = consume_flow(uow, provider, state, browser_key)
    if error:
        reject("oidc-provider-refused", f"the provider did not log the person in: {error}")
    id_token = redeem_code(metadata, flow, code)
    claims = verify_id_token(metadata, id_token, clock.now())
    attempt.amr = amr_of(claims)
    person_code, name = person_of(provider, claims)
    attempt.person_code = person_code
    with unit_of_work() as uow:
        check_nonce(uow, flow, claims)
        check_acr(provider, claims)
        if not eligibility.has_active_contract(uow, person_code) and not mandates.may_log_in(
                uow, person_code):
            raise Forbidden("You can log in while you hold an active contract with us or a "
                            "mandate from someone who does. Please contact our service "
                            "desk.", code="no-active-contract")
        eligibility.remember_name(uow, person_code, name)
        token, expires_at = sessions.open_session(uow, "customer", person_code, policy)
    return token, expires_at, person_code, name, flow


def log_attempt(uow, provider_id, outcome, person_code=None, amr=(), detail="",
                client_address=None):
    """Recorded in its own transaction, so a refused attempt is logged too; the method
    is ``oidc:<provider>``, never a token or a code."""
    uow.session.execute(sa.insert(login_log).values(
        at=uow.clock.now(), bank_id=str(provider_id)[:32], method=f"oidc:{provider_id}"[:48],
        amr=" ".join(amr)[:64] or None, person_code=person_code,
        outcome=outcome[:40], detail=(detail or "")[:300], client_address=client_address))
