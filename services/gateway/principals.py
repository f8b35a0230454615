"""What identity said about a session, reused for a short while: the hot path
costs one hop (DESIGN.md), not an identity RPC before every request.

identity answers with ``reusable_until``; until then this gateway replica decides
a request from the answer instead of asking again. Only answers that cannot go
stale unnoticed are kept: operators, and customers who act only for themselves.
A person holding a mandate is always asked about, because a use under a mandate is
logged by identity and a revoked mandate must stop working at once.

identity's events drop entries in every replica (each has its own broadcast
queue): ``session_ended`` (logout), ``access_changed`` (a contract signed, ended
or moved to another holder) and ``mandate_granted`` (the grantee now holds one).
An answer that was on its way while such an event came is not kept: it may have
been read before the change.
"""
import logging
from dataclasses import dataclass
from datetime import datetime

from cachetools import LRUCache
from nameko.events import BROADCAST
from nameko.events import event_handler as nameko_event_handler
from nameko.extensions import DependencyProvider

from services.common import config as cfg
from services.common.clock import as_utc
from services.common.clock import clock as process_clock

log = logging.getLogger(__name__)

#: fields of identity's answer that describe the answer, not the principal
ANSWER_ONLY = ("acting_for", "reusable_until")


@dataclass(frozen=True)
class Kept:
    principal: dict
    person_code: str | None
    kept_at: datetime
    until: datetime


def principal_of(answer):
    """The principal in an identity answer, as routes see it."""
    return {k: v for k, v in answer.items() if k not in ANSWER_ONLY}


def reusable(principal):
    if principal.get("kind") == "operator":
        return True
    return principal.get("kind") == "customer" and all(
        c.get("relation") == "self" for c in principal.get("customers", ()))


class PrincipalCache:
    """One gateway replica's reusable answers, by session key, the least recently
    used dropped first beyond ``size`` (0: every request asks identity)."""

    def __init__(self, clock, size):
        self._clock = clock
        self._kept = LRUCache(maxsize=size) if size > 0 else None
        #: how many forgetting events this replica has heard
        self.changes = 0

    def get(self, key):
        """The principal identity gave for this session, if it still holds."""
        if self._kept is None:
            return None
        kept = self._kept.get(key)
        if kept is None:
            return None
        if not kept.kept_at <= self._clock.now() < kept.until:   # a clock set back too
            self._kept.pop(key, None)
            return None
        return kept.principal

    def keep(self, key, answer, changes_before):
        """Keep identity's answer, asked for when ``changes`` was ``changes_before``."""
        principal = principal_of(answer)
        if self._kept is None or changes_before != self.changes or not reusable(principal):
            return
        try:
            until = as_utc(datetime.fromisoformat(answer["reusable_until"]))
        except (KeyError, TypeError, ValueError):   # an identity that does not say
            return
        person = (principal.get("person") or {}).get("person_code")
        self._kept[key] = Kept(principal, person, self._clock.now(), until)

    def forget_session(self, key):
        self.changes += 1
        if self._kept is not None:
            self._kept.pop(key, None)

    def forget_persons(self, person_codes):
        self.changes += 1
        if self._kept is None or not person_codes:
            return
        codes = set(person_codes)
        for key, kept in list(self._kept.items()):
            if kept.person_code in codes:
                self._kept.pop(key, None)


class Principals(DependencyProvider):
    """The replica's PrincipalCache; VOOL_SESSION_CACHE_SIZE sessions (0: none)."""

    def setup(self):
        size = cfg.int_setting(self.container.config, "VOOL_SESSION_CACHE_SIZE", 10000)
        self.cache = PrincipalCache(process_clock, size)

    def get_dependency(self, worker_ctx):
        return self.cache


def _heard_from_identity(event_type):
    """Every replica hears it on a queue of its own that goes with the replica: a
    replica that was away has nothing kept to forget."""
    return nameko_event_handler("identity", event_type, handler_type=BROADCAST,
                                reliable_delivery=False)


def _data(message):
    data = message.get("data") if isinstance(message, dict) else None
    if not isinstance(data, dict):
        log.warning("an identity event without data: %.200r", message)
        return {}
    return data


class ForgetChangedPrincipals:
    """The gateway's part: the cache, and identity's events that empty it."""

    principals = Principals()

    @_heard_from_identity("session_ended")
    def forget_ended_session(self, message):
        session = _data(message).get("session")
        if isinstance(session, str):
            self.principals.forget_session(session)

    @_heard_from_identity("access_changed")
    def forget_changed_access(self, message):
        codes = _data(message).get("person_codes")
        self.principals.forget_persons([c for c in codes or () if isinstance(c, str)])

    @_heard_from_identity("mandate_granted")
    def forget_new_grantee(self, message):
        grantee = _data(message).get("grantee_person_code")
        self.principals.forget_persons([grantee] if isinstance(grantee, str) else [])
