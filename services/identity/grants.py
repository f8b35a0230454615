"""Sharing grants: a customer lets a third party's application read some of her
data, through OAuth 2's authorization code grant (RFC 6749 §4.1, PKCE RFC 7636).

- The consent page asks ``consent``: the person (the customer, or a delegate whose
  live mandate holds ``sharing:grant``, and then no more than the mandate covers)
  chooses the consumption points, the scopes and the last day; a grant is made
  with a one-time code (10 minutes) bound to the redirect URI and the PKCE
  challenge.
- ``exchange`` is the token endpoint: the code, or a refresh token, for an access
  token (an hour) and a new refresh token (until the grant ends). A refresh token
  is used once: the old one is refused after use, and a used one presented again
  means it was stolen, so the grant is revoked (OAuth 2.0 Security BCP §4.14).
  A code used twice revokes the grant too (RFC 6749 §4.1.2).
- ``use`` decides every read of the application from the grant as it is now and
  writes it to the customer's access log with the application's client_id: a
  revoked grant stops at once, and the gateway keeps nothing of these answers.

Codes and tokens are opaque random strings (256 bits) kept as their SHA-256, as
sessions are. Authlib's authorization server was not used: it is built around a web
framework's request and its own model mixins, while here the HTTP side is the
gateway's and the state identity's tables; what the grant needs is this small.
"""
import base64
import hashlib
import secrets
import uuid
from datetime import datetime, time, timedelta

import sqlalchemy as sa

from services.common.clock import TALLINN, as_utc
from services.common.errors import (Forbidden, NotFound, Unauthenticated, ValidationFailed,
                                    field_error)
from services.common.scopes import SHARING_SCOPES, expand
from services.common.session_tokens import session_key as token_hash
from services.identity import applications, mandates
from services.identity.api import SHARING_MAX_DAYS
from services.identity.eligibility import customers_of, in_force
from services.identity.models import (customer_contracts, persons, sharing_applications,
                                      sharing_grants, sharing_tokens)

CODE_LIFETIME = timedelta(minutes=10)
ACCESS_LIFETIME = timedelta(hours=1)
#: what a mandate must hold for its delegate to authorise an application
SHARING_GRANT = "sharing:grant"


class TokenReuse(Exception):
    """A used refresh token or code came again: its grant must be revoked (in a
    transaction of its own: the caller's is rolled back with its refusal)."""

    def __init__(self, grant_id):
        super().__init__(grant_id)
        self.grant_id = grant_id


def _invalid_grant(detail):
    return Forbidden(detail, code="invalid-grant")


def requested_scopes(scope):
    """An authorization request's scopes; none asked: readings:read."""
    asked = sorted(set((scope or "").split())) or ["readings:read"]
    unknown = [s for s in asked if s not in SHARING_SCOPES]
    if unknown:
        raise ValidationFailed.field("scope", f"unknown scope {', '.join(unknown)}; one of "
                                     f"{', '.join(SHARING_SCOPES)}", "invalid-scope")
    return asked


def check_request(uow, request):
    row = applications.with_redirect(uow, request.client_id, request.redirect_uri)
    return {"application": applications.view(row), "redirect_uri": request.redirect_uri,
            "scopes": requested_scopes(request.scope)}


def _end_of(day):
    """The moment a grant whose last day is ``day`` ends: midnight after it in Tallinn."""
    return datetime.combine(day + timedelta(days=1), time(), TALLINN)


def consent(uow, person_code, consent):
    """The grant the person allows, and its one-time code."""
    session, today = uow.session, uow.clock.today()
    applications.with_redirect(uow, consent.client_id, consent.redirect_uri)
    customer_id, mandate_id = consent.customer_id, None
    own = {c["customer_id"] for c in customers_of(uow, person_code)}
    allowed_scopes, allowed_points, last_day = set(SHARING_SCOPES), None, None
    if customer_id not in own:
        # NotFound with no mandate from them; Forbidden naming what is missing
        mandate = mandates.check(uow, person_code, customer_id, SHARING_GRANT, None)
        mandate_id = mandate["mandate_id"]
        allowed_scopes &= set(expand(mandate["scopes"]))
        allowed_points = set(mandate["consumption_point_ids"]) or None
        last_day = mandates._ends(mandate)
    errors = []
    beyond = [s for s in consent.scopes if s not in allowed_scopes]
    if beyond:
        errors.append(field_error("scopes", f"your mandate does not cover {', '.join(beyond)}",
                                  "scope-missing"))
    points = set(session.execute(sa.select(customer_contracts.c.consumption_point_id).where(
        customer_contracts.c.customer_id == customer_id, in_force(today))).scalars())
    foreign = [p for p in consent.consumption_point_ids if p not in points]
    if foreign:
        errors.append(field_error("consumption_point_ids", "not the customer's consumption "
                                  f"point: {', '.join(foreign)}", "consumption-point-foreign"))
    elif allowed_points is not None and not set(consent.consumption_point_ids) <= allowed_points:
        errors.append(field_error("consumption_point_ids", "your mandate does not cover "
                                  "every one of these points", "mandate-consumption-point"))
    latest = today + timedelta(days=SHARING_MAX_DAYS)
    if last_day is not None:
        latest = min(latest, last_day)
    if consent.valid_until < today:
        errors.append(field_error("valid_until", "must not be in the past", "date-in-past",
                                  today=today.isoformat()))
    elif consent.valid_until > latest:
        errors.append(field_error("valid_until", f"at most {latest.isoformat()} (a year, "
                                  "and no longer than your mandate)", "date-too-late",
                                  latest=latest.isoformat()))
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors),
                               errors)
    grant_id = str(uuid.uuid4())
    session.execute(sa.insert(sharing_grants).values(
        grant_id=grant_id, client_id=consent.client_id, customer_id=customer_id,
        granted_by=person_code, mandate_id=mandate_id, scopes=list(consent.scopes),
        consumption_point_ids=sorted(set(consent.consumption_point_ids)), valid_from=today,
        valid_until=consent.valid_until, created_at=uow.now))
    code = _issue(uow, "code", grant_id, uow.now + CODE_LIFETIME,
                  redirect_uri=consent.redirect_uri, code_challenge=consent.code_challenge)
    return {"code": code, "grant_id": grant_id, "redirect_uri": consent.redirect_uri}


def _issue(uow, kind, grant_id, expires_at, **extra):
    token = secrets.token_urlsafe(32)
    uow.session.execute(sa.insert(sharing_tokens).values(
        token_hash=token_hash(token), kind=kind, grant_id=grant_id, created_at=uow.now,
        expires_at=expires_at, **extra))
    return token


def _token_row(uow, kind, token):
    if not token:
        return None
    return uow.session.execute(sa.select(sharing_tokens).where(
        sharing_tokens.c.token_hash == token_hash(token), sharing_tokens.c.kind == kind)
        .with_for_update()).mappings().first()


def _grant(uow, grant_id, lock=False):
    query = sa.select(sharing_grants).where(sharing_grants.c.grant_id == grant_id)
    return uow.session.execute(query.with_for_update() if lock else query).mappings().first()


def state(grant, today):
    if grant["revoked_at"] is not None:
        return "revoked"
    return "expired" if today > grant["valid_until"] else "live"


def exchange(uow, request, basic_id=None, basic_secret=None):
    """The token endpoint (RFC 6749 §4.1.3, §6): new tokens, or a refusal."""
    if basic_id is not None and (request.client_id or request.client_secret):
        raise ValidationFailed("use one way of client authentication, not two",
                               code="invalid-request")
    client = applications.authenticate(uow, basic_id or request.client_id,
                                       basic_secret if basic_id is not None
                                       else request.client_secret)
    now = uow.now
    if request.grant_type == "authorization_code":
        if not request.code:
            raise ValidationFailed.field("code", "is required", "invalid-request")
        row = _token_row(uow, "code", request.code)
        if row is None or (grant := _grant(uow, row["grant_id"], lock=True)) is None \
                or grant["client_id"] != client["client_id"]:
            raise _invalid_grant("the authorization code is not valid")
        if row["used_at"] is not None:
            raise TokenReuse(row["grant_id"])
        if now >= as_utc(row["expires_at"]):
            raise _invalid_grant("the authorization code has expired")
        if request.redirect_uri != row["redirect_uri"]:
            raise _invalid_grant("redirect_uri is not the one the code was issued for")
        if row["code_challenge"] and not _pkce_ok(row["code_challenge"], request.code_verifier):
            raise _invalid_grant("the code_verifier does not match the code_challenge")
    else:
        if not request.refresh_token:
            raise ValidationFailed.field("refresh_token", "is required", "invalid-request")
        row = _token_row(uow, "refresh", request.refresh_token)
        if row is None or (grant := _grant(uow, row["grant_id"], lock=True)) is None \
                or grant["client_id"] != client["client_id"]:
            raise _invalid_grant("the refresh token is not valid")
        if row["used_at"] is not None:
            raise TokenReuse(row["grant_id"])
        if now >= as_utc(row["expires_at"]):
            raise _invalid_grant("the refresh token has expired")
    if state(grant, uow.clock.today()) != "live":
        raise _invalid_grant(f"the grant is {state(grant, uow.clock.today())}")
    if request.scope is not None:
        asked = set(request.scope.split())
        if not asked or not asked <= set(grant["scopes"]):
            raise ValidationFailed.field("scope", "more than the grant allows",
                                         "invalid-scope")
    uow.session.execute(sa.update(sharing_tokens).where(
        sharing_tokens.c.token_hash == row["token_hash"]).values(used_at=now))
    ends = as_utc(_end_of(grant["valid_until"]))
    access = _issue(uow, "access", grant["grant_id"], min(now + ACCESS_LIFETIME, ends))
    refresh = _issue(uow, "refresh", grant["grant_id"], ends)
    return {"access_token": access, "token_type": "Bearer",
            "expires_in": int((min(now + ACCESS_LIFETIME, ends) - now).total_seconds()),
            "refresh_token": refresh, "scope": " ".join(grant["scopes"])}


def _pkce_ok(challenge, verifier):
    if not verifier:
        return False
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return secrets.compare_digest(expected, challenge)


def revoke_for_reuse(uow, grant_id):
    """A used code or refresh token came again: the grant ends now."""
    _revoke(uow, grant_id, "token-reuse")


def _revoke(uow, grant_id, by):
    now = uow.now
    uow.session.execute(sa.update(sharing_grants).where(
        sharing_grants.c.grant_id == grant_id, sharing_grants.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=by))
    # every token of it dies with it (and is refused by the grant's state anyway)
    uow.session.execute(sa.update(sharing_tokens).where(
        sharing_tokens.c.grant_id == grant_id, sharing_tokens.c.expires_at > now)
        .values(expires_at=now))


def revoke(uow, customer_id, grant_id, revoked_by):
    grant = uow.session.execute(sa.select(sharing_grants).where(
        sharing_grants.c.grant_id == grant_id,
        sharing_grants.c.customer_id == customer_id)).mappings().first()
    if grant is None:
        raise NotFound(f"no sharing grant {grant_id}")
    if grant["revoked_at"] is None:
        _revoke(uow, grant_id, revoked_by)


def use(uow, access_token, scope, consumption_point_id, resource, what, use_code, details):
    """The grant behind a live access token, if it lets the application read this;
    the read is written to the customer's access log."""
    now, today = uow.now, uow.clock.today()
    row = _token_row(uow, "access", access_token) if isinstance(access_token, str) else None
    if row is None or now >= as_utc(row["expires_at"]):
        raise Unauthenticated("the access token is not valid or has expired",
                              code="invalid-token")
    grant = _grant(uow, row["grant_id"])
    if grant is None or state(grant, today) != "live":
        raise Unauthenticated("the sharing grant has ended", code="invalid-token")
    if grant["mandate_id"] is not None:
        # a delegate's grant lasts while her mandate lets her share
        try:
            mandates.check(uow, grant["granted_by"], grant["customer_id"], SHARING_GRANT, None)
        except (Forbidden, NotFound):
            raise Unauthenticated("the mandate the grant was given under has ended",
                                  code="invalid-token") from None
    if scope not in grant["scopes"]:
        raise Forbidden(f"the grant does not cover {scope}", code="insufficient-scope")
    if consumption_point_id is not None and \
            consumption_point_id not in grant["consumption_point_ids"]:
        raise NotFound("no such consumption point")
    app = uow.session.execute(sa.select(sharing_applications.c.name).where(
        sharing_applications.c.client_id == grant["client_id"])).scalar()
    uow.session.execute(sa.update(sharing_grants).where(
        sharing_grants.c.grant_id == grant["grant_id"]).values(last_used_at=now))
    mandates.log_access(uow, grant["customer_id"], grant["granted_by"], "read", resource,
                        what, grant["mandate_id"], use_code,
                        {**details, "sharing_grant_id": grant["grant_id"]},
                        client_id=grant["client_id"])
    return {"grant_id": grant["grant_id"], "client_id": grant["client_id"], "application": app,
            "customer_id": grant["customer_id"], "scopes": list(grant["scopes"]),
            "consumption_point_ids": list(grant["consumption_point_ids"]),
            "valid_from": grant["valid_from"].isoformat(),
            "valid_until": grant["valid_until"].isoformat()}


def of_customer(uow, customer_id):
    session, today = uow.session, uow.clock.today()
    rows = session.execute(
        sa.select(sharing_grants, sharing_applications.c.name, sharing_applications.c.purpose)
        .join(sharing_applications,
              sharing_applications.c.client_id == sharing_grants.c.client_id)
        .where(sharing_grants.c.customer_id == customer_id)
        .order_by(sharing_grants.c.created_at.desc())).mappings().all()
    codes = {r["granted_by"] for r in rows}
    names = dict(session.execute(sa.select(persons.c.person_code, persons.c.name).where(
        persons.c.person_code.in_(codes))).all()) if codes else {}
    return [{"grant_id": r["grant_id"], "client_id": r["client_id"], "application": r["name"],
             "purpose": r["purpose"], "customer_id": r["customer_id"],
             "granted_by": r["granted_by"], "granted_by_name": names.get(r["granted_by"]),
             "mandate_id": r["mandate_id"], "scopes": list(r["scopes"]),
             "consumption_point_ids": list(r["consumption_point_ids"]),
             "valid_from": r["valid_from"].isoformat(),
             "valid_until": r["valid_until"].isoformat(),
             "created_at": r["created_at"].isoformat(),
             "last_used_at": r["last_used_at"].isoformat() if r["last_used_at"] else None,
             "revoked_at": r["revoked_at"].isoformat() if r["revoked_at"] else None,
             "status": state(r, today)} for r in rows]
