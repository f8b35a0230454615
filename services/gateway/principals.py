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
been read before the change. A broadcast queue goes with its connection, so what
is sent while a replica is reconnecting is lost to it: on every (re)connection,
and on an identity event it cannot read, the replica forgets everything it kept.
"""
import logging
from dataclasses import dataclass
from datetime import datetime

from cachetools import LRUCache
from nameko.events import BROADCAST, EventHandler
from nameko.extensions import DependencyProvider

from services.common import config as cfg
from services.common.clock import as_utc
from services.common.clock import clock as process_clock
from services.common.messaging import SafeQueueConsumer
from services.common.session_tokens import MAX_REUSE

log = logging.getLogger(__name__)

#: fields of identity's answer that describe the answer, not the principal
ANSWER_ONLY = ("acting_for", "reusable_until", "access_log_entry_id")


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


class _Sessions(LRUCache):
    """The kept answers; tells the cache whom it evicted, for its index by person."""

    def __init__(self, maxsize, evicted):
        super().__init__(maxsize=maxsize)
        self._evicted = evicted

    def popitem(self):
        key, kept = super().popitem()
        self._evicted(key, kept)
        return key, kept


class PrincipalCache:
    """One gateway replica's reusable answers, by session key, the least recently
    used dropped first beyond ``size`` (0: every request asks identity)."""

    def __init__(self, clock, size):
        self._clock = clock
        self._kept = _Sessions(size, self._unindex) if size > 0 else None
        self._by_person = {}    # person code -> session keys kept for them
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
            self._drop(key)
            return None
        return kept.principal

    def keep(self, key, answer, changes_before):
        """Keep identity's answer, asked for when ``changes`` was ``changes_before``;
        one that cannot be kept still replaces what was kept for the session."""
        if self._kept is None:
            return
        self._drop(key)
        principal = principal_of(answer)
        if changes_before != self.changes or not reusable(principal):
            return
        try:
            until = as_utc(datetime.fromisoformat(answer["reusable_until"]))
        except (KeyError, TypeError, ValueError):   # an identity that does not say
            return
        now = self._clock.now()
        person = (principal.get("person") or {}).get("person_code")
        self._kept[key] = Kept(principal, person, now, min(until, now + MAX_REUSE))
        self._by_person.setdefault(person, set()).add(key)

    def forget_session(self, key):
        self.changes += 1
        self._drop(key)

    def forget_persons(self, person_codes):
        self.changes += 1
        for code in set(person_codes):
            for key in list(self._by_person.get(code, ())):
                self._drop(key)

    def forget_all(self):
        self.changes += 1
        if self._kept is not None:
            self._kept.clear()
        self._by_person.clear()

    def _drop(self, key):
        kept = self._kept.pop(key, None) if self._kept is not None else None
        if kept is not None:
            self._unindex(key, kept)

    def _unindex(self, key, kept):
        keys = self._by_person.get(kept.person_code)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_person[kept.person_code]


class Principals(DependencyProvider):
    """The replica's PrincipalCache; VOOL_SESSION_CACHE_SIZE sessions (0: none)."""

    def setup(self):
        size = cfg.int_setting(self.container.config, "VOOL_SESSION_CACHE_SIZE", 10000)
        self.cache = PrincipalCache(process_clock, size)

    def get_dependency(self, worker_ctx):
        return self.cache


class IdentityEventsConsumer(SafeQueueConsumer):
    """Forgets everything kept on every (re)connection and every failed attempt:
    the broadcast queues went with the connection, and what identity said in the
    meantime with them."""

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        super().on_consume_ready(connection, channel, consumers, **kwargs)
        self._forget_everything("connected to the broker")

    def on_connection_error(self, exc, interval):
        super().on_connection_error(exc, interval)
        self._forget_everything("not connected to the broker")

    def _forget_everything(self, why):
        for provider in list(self._providers):
            if isinstance(provider, IdentityEventHandler):
                provider.forget_everything(why)


class IdentityEventHandler(EventHandler):
    """One of identity's events, heard by every replica on a queue of its own."""

    queue_consumer = IdentityEventsConsumer()

    def __init__(self, event_type, **kwargs):
        super().__init__("identity", event_type, handler_type=BROADCAST,
                         reliable_delivery=False, **kwargs)

    def setup(self):
        super().setup()
        # transient: it goes with its connection anyway, and a durable one would stay
        # bound to a cluster node that is down instead of being declared on another
        self.queue.durable = False

    def forget_everything(self, why):
        for dependency in self.container.dependencies:
            if isinstance(dependency, Principals):
                log.info("forgetting every kept answer about sessions: %s", why)
                dependency.cache.forget_all()

    def dead_letter(self, message, reason):
        """An identity event nobody can read (SafeQueueConsumer acks it after this):
        it may have been a logout."""
        log.warning("unreadable %s event from identity (%s)", self.event_type, reason)
        self.forget_everything("an identity event could not be read")


heard_from_identity = IdentityEventHandler.decorator


def _data(message):
    data = message.get("data") if isinstance(message, dict) else None
    return data if isinstance(data, dict) else None


class ForgetChangedPrincipals:
    """The gateway's part: the cache, and identity's events that empty it. An
    event whose data is not what it should be empties all of it."""

    principals = Principals()

    @heard_from_identity("session_ended")
    def forget_ended_session(self, message):
        session = (_data(message) or {}).get("session")
        if isinstance(session, str):
            self.principals.forget_session(session)
        else:
            self._unexpected("session_ended", message)

    @heard_from_identity("access_changed")
    def forget_changed_access(self, message):
        codes = (_data(message) or {}).get("person_codes")
        if isinstance(codes, list) and all(isinstance(c, str) for c in codes):
            self.principals.forget_persons(codes)
        else:
            self._unexpected("access_changed", message)

    @heard_from_identity("mandate_granted")
    def forget_new_grantee(self, message):
        grantee = (_data(message) or {}).get("grantee_person_code")
        if isinstance(grantee, str):
            self.principals.forget_persons([grantee])
        else:
            self._unexpected("mandate_granted", message)

    def _unexpected(self, event_type, message):
        # its shape, never its values: they are personal codes and session ids
        data = _data(message)
        shape = sorted(data) if data is not None else type(message).__name__
        log.warning("an identity %s event without what it should say (data keys: %s)",
                    event_type, shape)
        self.principals.forget_all()
