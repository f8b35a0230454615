"""Rate limits on customers' logins, banklink and OpenID Connect alike, per client
address (as operators' are, services/identity/operators.py).

Two counts over a sliding window: the logins a client address started (each start
stores a banklink request or an OpenID Connect flow, so a flood cannot fill those
tables), and the logins from it that were refused or failed (the login log's
entries from that address, but for those that passed, those refused for the limit
itself and those the provider's being unreachable failed: none is a guess). Past
either, a start or a finish is refused with TooManyAttempts (429) before anything
else is looked at, and never opens a session.
"""
import math
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from services.common.clock import as_utc
from services.common.errors import TooManyAttempts
from services.identity.models import banklink_requests, login_log, oidc_flows

#: login-log outcomes that are not a failure of the client's
NOT_FAILURES = ("ok", "too-many-attempts", "oidc-provider-unavailable", "ServiceUnavailable")
UNKNOWN_ADDRESS = "unknown"


@dataclass(frozen=True)
class CustomerLoginLimit:
    starts_per_address: int     # logins started from one client address
    failures_per_address: int   # refused or failed logins from one client address
    window: timedelta


def address(client_address):
    return (client_address or UNKNOWN_ADDRESS)[:64]


def _refuse_past(times, count, allowed, window, now, what):
    """TooManyAttempts when ``count`` reached ``allowed``, with the seconds until the
    event that puts the count at the limit leaves the window."""
    if count < allowed:
        return
    oldest_counted = times[count - allowed] if allowed > 0 else now
    wait = as_utc(oldest_counted) + window - now
    raise TooManyAttempts(f"too many {what} from this address; try again later",
                          code="too-many-attempts",
                          retry_after=max(1, math.ceil(wait.total_seconds())))


def _times(uow, column, condition):
    return [row[0] for row in uow.session.execute(
        sa.select(column).where(condition).order_by(column))]


def check_failures(uow, client_address, limit):
    """TooManyAttempts when this address's refused logins reached the limit."""
    now = uow.clock.now()
    c = login_log.c
    times = _times(uow, c.at, sa.and_(c.client_address == address(client_address),
                                      c.at > now - limit.window,
                                      c.outcome.not_in(NOT_FAILURES)))
    _refuse_past(times, len(times), limit.failures_per_address, limit.window, now,
                 "failed logins")


def check_starts(uow, client_address, limit):
    """TooManyAttempts when this address started as many logins as it may (banklink
    requests and OpenID Connect flows together), or failed too often."""
    check_failures(uow, client_address, limit)
    now = uow.clock.now()
    since = now - limit.window
    who = address(client_address)
    times = sorted(
        [as_utc(t) for t in _times(uow, banklink_requests.c.created_at, sa.and_(
            banklink_requests.c.client_address == who, banklink_requests.c.created_at > since))]
        + [as_utc(t) for t in _times(uow, oidc_flows.c.created_at, sa.and_(
            oidc_flows.c.client_address == who, oidc_flows.c.created_at > since))])
    _refuse_past(times, len(times), limit.starts_per_address, limit.window, now,
                 "logins started")
