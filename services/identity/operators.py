"""Operators of the service desk: argon2-hashed passwords, rate-limited logins.

Failed logins are counted over a sliding window per (user name, client address)
and per client address. A client past either limit is refused with 429 before the
password is even checked, so guessing costs the guesser, not the CPU. Failures
are never counted per user name alone: that would let anyone lock an operator out
by failing for her name from elsewhere; her own address stays open to the right
password however many others have failed for it.
"""
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import get_args

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.common.clock import as_utc
from services.common.errors import Conflict, TooManyAttempts, Unauthenticated, ValidationFailed
from services.identity.api import OperatorRole
from services.identity.models import login_failures, operators

ROLES = get_args(OperatorRole)
_hasher = PasswordHasher()


@dataclass(frozen=True)
class RateLimit:
    per_account: int     # failures for one user name from one client address
    per_address: int     # failures from one client address, whatever the names
    window: timedelta


def add_operator(uow, username, role, password):
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise ValidationFailed.field("username", "1 to 64 characters")
    if role not in ROLES:
        raise ValidationFailed.field("role", f"must be one of {', '.join(ROLES)}")
    if not password or len(password) < 12:
        raise ValidationFailed.field("password", "at least 12 characters")
    exists = uow.session.execute(sa.select(operators.c.username)
                                 .where(operators.c.username == username)).first()
    if exists:
        raise Conflict(f"operator {username} exists", [{"field": "username",
                                                        "message": "already taken"}])
    uow.session.execute(sa.insert(operators).values(
        username=username, role=role, password_hash=_hasher.hash(password),
        created_at=uow.clock.now()))
    return {"username": username, "role": role}


def check_rate_limit(uow, username, client_address, limit):
    """TooManyAttempts (with the seconds until one more attempt may pass) when this
    client has failed too often for this name, or for any names."""
    f = login_failures.c
    now = uow.clock.now()
    since = now - limit.window
    recent = sa.and_(f.client_address == client_address, f.at > since)
    for condition, allowed in ((sa.and_(recent, f.username == username), limit.per_account),
                               (recent, limit.per_address)):
        count = uow.session.execute(sa.select(sa.func.count()).where(condition)).scalar()
        if count >= allowed:
            # one more may pass once the failure that puts the count at the limit
            # leaves the window
            oldest_counted = uow.session.execute(
                sa.select(f.at).where(condition).order_by(f.at, f.failure_id)
                .offset(count - allowed).limit(1)).scalar()
            wait = as_utc(oldest_counted) + limit.window - now
            raise TooManyAttempts("too many failed logins from this address; try again later",
                                  retry_after=max(1, math.ceil(wait.total_seconds())))


def authenticate(uow, username, password, client_address, limit):
    """The operator if the password is right; records a failure otherwise."""
    check_rate_limit(uow, username, client_address, limit)
    row = uow.session.execute(sa.select(operators).where(operators.c.username == username)
                              ).mappings().first()
    try:
        # an unknown account costs the same hash as a known one
        _hasher.verify(row["password_hash"] if row else _DUMMY_HASH, password)
        ok = row is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        return None
    if _hasher.check_needs_rehash(row["password_hash"]):
        uow.session.execute(sa.update(operators).where(operators.c.username == username)
                            .values(password_hash=_hasher.hash(password)))
    return {"username": row["username"], "role": row["role"]}


def record_failure(uow, username, client_address):
    uow.session.execute(sa.insert(login_failures).values(
        username=username[:64], client_address=client_address[:64], at=uow.clock.now()))


def operator(uow, username):
    row = uow.session.execute(sa.select(operators).where(operators.c.username == username)
                              ).mappings().first()
    return None if row is None else {"username": row["username"], "role": row["role"]}


def refuse():
    raise Unauthenticated("wrong user name or password", code="bad-credentials")


_DUMMY_HASH = _hasher.hash("not a password anyone has")
