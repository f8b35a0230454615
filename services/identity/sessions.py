"""Sessions: opaque random tokens, kept only as their SHA-256.

A session ends at the first of: its absolute lifetime, an idle period longer
than the idle timeout, or logout. Tokens carry 256 bits of randomness, so a
plain SHA-256 (no salt, no stretching) is enough to make the table useless to
whoever steals it.
"""
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import sqlalchemy as sa

from services.common.clock import TALLINN, as_utc
from services.common.errors import Unauthenticated
from services.common.session_tokens import MAX_REUSE
from services.common.session_tokens import session_key as token_hash
from services.identity.models import sessions


#: how stale ``last_seen_at`` may get before a request writes it again, and how
#: long the gateway may reuse an answer about a session without asking again
#: (its uses in that time are not seen here): a busy session costs a write every
#: 15 s instead of one per request, and ends after its idle timeout minus at most
#: twice this much (half of a timeout shorter than a minute)
SEEN_RESOLUTION = MAX_REUSE


@dataclass(frozen=True)
class SessionPolicy:
    idle_timeout: timedelta
    lifetime: timedelta


def open_session(uow, kind, subject, policy):
    now = uow.clock.now()
    token = secrets.token_urlsafe(32)
    expires_at = now + policy.lifetime
    uow.session.execute(sa.insert(sessions).values(
        token_hash=token_hash(token), kind=kind, subject=subject, created_at=now,
        last_seen_at=now, expires_at=expires_at))
    return token, expires_at


def touch(uow, token, policy):
    """The live session of ``token`` (and it is seen now), or Unauthenticated."""
    if not isinstance(token, str) or not token:
        raise Unauthenticated("no session token", code="unauthenticated")
    now = uow.clock.now()
    row = uow.session.execute(
        sa.select(sessions).where(sessions.c.token_hash == token_hash(token))).mappings().first()
    if row is None or row["ended_at"] is not None:
        raise Unauthenticated("the session is not valid; log in again", code="session-invalid")
    if now >= as_utc(row["expires_at"]):
        raise Unauthenticated("the session has expired; log in again", code="session-expired")
    if now - as_utc(row["last_seen_at"]) > policy.idle_timeout:
        raise Unauthenticated("the session ended after a period of inactivity; log in again",
                              code="session-expired")
    if now - as_utc(row["last_seen_at"]) >= resolution(policy):
        uow.session.execute(sa.update(sessions)
                            .where(sessions.c.token_hash == row["token_hash"])
                            .values(last_seen_at=now))
    return row


def resolution(policy):
    return min(SEEN_RESOLUTION, policy.idle_timeout / 4)


def reusable_until(row, policy, now):
    """Until when an answer about this live session may be reused without asking
    again: the resolution, the session's own end, and the next midnight in Tallinn
    (contracts end and mandates start and stop on dates, so whom a person may act
    for changes at midnight; other changes are announced by events)."""
    tomorrow = now.astimezone(TALLINN).date() + timedelta(days=1)
    midnight = datetime.combine(tomorrow, time(), TALLINN)
    return min(now + resolution(policy), as_utc(row["expires_at"]), midnight)


def end_session(uow, token):
    """End the session at once; ``session_ended`` tells every gateway to forget it."""
    if not isinstance(token, str) or not token:
        return False
    key = token_hash(token)
    ended = uow.session.execute(
        sa.update(sessions)
        .where(sessions.c.token_hash == key, sessions.c.ended_at.is_(None))
        .values(ended_at=uow.clock.now())).rowcount == 1
    if ended:
        uow.emit("session_ended", {"session": key})
    return ended
