"""The gateway reuses identity's answer about a session while it holds, and only
answers that cannot go stale unnoticed (services/gateway/principals.py): decided
here with a fake identity that counts how often it is asked."""
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.common.clock import Clock
from services.common.errors import Forbidden, NotFound
from services.common.session_tokens import session_key
from services.gateway.auth import authorize
from services.gateway.principals import (ForgetChangedPrincipals, IdentityEventHandler,
                                         IdentityEventsConsumer, PrincipalCache, Principals)

T0 = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
GRANDMOTHER = {"person_code": "44501010005", "name": "Grandmother"}
OWN = {"customer_id": "c-own", "name": "Grandmother", "relation": "self", "scopes": ["self"]}
MANDATE = {"customer_id": "c-other", "name": "Other", "relation": "mandate",
           "scopes": ["readings:read"], "mandate_id": "m-1", "consumption_point_ids": []}


def answer(customers=(OWN,), until=T0 + timedelta(seconds=15), person=GRANDMOTHER):
    return {"kind": "customer", "person": person, "customers": list(customers),
            "reusable_until": until.isoformat()}


class Identity:
    """identity's two answers, counted."""

    def __init__(self, principal):
        self.principal = principal
        self.calls = []

    def call(self, service, method, token, *args):
        assert service == "identity"
        self.calls.append(method)
        if method == "resolve_session":
            return self.principal
        customer_id = args[0]
        entry = next((c for c in self.principal.get("customers", ())
                      if c["customer_id"] == customer_id), None)
        if entry is None:
            raise NotFound("no such customer")
        return {**self.principal, "acting_for": entry}


@pytest.fixture
def clock():
    clock = Clock()
    clock.set(T0)
    return clock


def request(method="GET", token="token-1"):
    return Request(EnvironBuilder(method=method, path="/api/v1/x",
                                  headers={"Authorization": f"Bearer {token}"}).get_environ())


def for_customer(identity, cache, customer_id="c-own", token="token-1"):
    return authorize(identity, cache, request(token=token), "customer", "readings:write",
                     customer_id)


def test_a_customer_s_own_requests_ask_identity_once_while_its_answer_holds(clock):
    identity, cache = Identity(answer()), PrincipalCache(clock, 100)
    first = for_customer(identity, cache)
    clock.advance(timedelta(seconds=14))
    again = for_customer(identity, cache)
    me = authorize(identity, cache, request(), "customer")
    assert identity.calls == ["authorize_customer"]
    assert first == again == {**me, "acting_for": OWN}
    assert "reusable_until" not in me and "acting_for" not in me
    clock.advance(timedelta(seconds=1))                # 15 s: the answer no longer holds
    for_customer(identity, cache)
    assert identity.calls == ["authorize_customer"] * 2


def test_another_customer_is_always_identity_s_decision(clock):
    identity, cache = Identity(answer()), PrincipalCache(clock, 100)
    for_customer(identity, cache)
    for _ in range(2):
        with pytest.raises(NotFound):
            for_customer(identity, cache, customer_id="c-stranger")
    assert identity.calls == ["authorize_customer"] * 3


def test_a_person_holding_a_mandate_is_asked_about_on_every_call(clock):
    # a use under a mandate is logged by identity, and a revocation stops it at once
    identity, cache = Identity(answer(customers=(OWN, MANDATE))), PrincipalCache(clock, 100)
    for _ in range(2):
        for_customer(identity, cache)
        for_customer(identity, cache, customer_id="c-other")
        authorize(identity, cache, request(), "customer")
    assert identity.calls == ["authorize_customer", "authorize_customer",
                              "resolve_session"] * 2


def test_an_operator_s_answer_is_reused_and_a_wrong_kind_refused_without_asking(clock):
    operator = {"kind": "operator", "operator": {"username": "desk", "role": "admin"},
                "reusable_until": (T0 + timedelta(seconds=15)).isoformat()}
    identity, cache = Identity(operator), PrincipalCache(clock, 100)
    assert authorize(identity, cache, request(), "operator")["operator"]["username"] == "desk"
    with pytest.raises(Forbidden):
        authorize(identity, cache, request(), "customer")
    assert identity.calls == ["resolve_session"]


def test_logout_and_changed_access_are_forgotten(clock):
    identity, cache = Identity(answer()), PrincipalCache(clock, 100)
    for_customer(identity, cache, token="token-1")
    for_customer(identity, cache, token="token-2")     # the same person, two sessions
    cache.forget_session(session_key("token-1"))
    for_customer(identity, cache, token="token-1")
    for_customer(identity, cache, token="token-2")
    assert len(identity.calls) == 3
    cache.forget_persons([GRANDMOTHER["person_code"]])
    for_customer(identity, cache, token="token-1")
    for_customer(identity, cache, token="token-2")
    assert len(identity.calls) == 5
    cache.forget_persons(["38001010008"])              # somebody else: nothing to forget
    for_customer(identity, cache, token="token-1")
    assert len(identity.calls) == 5


def test_an_answer_read_before_a_change_is_not_kept(clock):
    cache = PrincipalCache(clock, 100)
    key = session_key("token-1")
    changes = cache.changes
    cache.forget_persons([GRANDMOTHER["person_code"]])  # heard while identity was answering
    cache.keep(key, answer(), changes)
    assert cache.get(key) is None
    cache.keep(key, answer(), cache.changes)
    assert cache.get(key) is not None


def test_a_clock_set_back_or_an_answer_without_a_term_keeps_nothing(clock):
    cache = PrincipalCache(clock, 100)
    key = session_key("token-1")
    cache.keep(key, answer(), cache.changes)
    clock.set(T0 - timedelta(seconds=1))
    assert cache.get(key) is None
    cache.keep(key, {k: v for k, v in answer().items() if k != "reusable_until"}, cache.changes)
    assert cache.get(key) is None


def test_size_zero_asks_every_time_and_the_least_recently_used_go_first(clock):
    identity, off = Identity(answer()), PrincipalCache(clock, 0)
    for _ in range(3):
        for_customer(identity, off)
    assert len(identity.calls) == 3
    small = PrincipalCache(clock, 2)
    for token in ("a", "b", "c"):
        small.keep(session_key(token), answer(), small.changes)
    assert small.get(session_key("a")) is None
    assert small.get(session_key("b")) is not None and small.get(session_key("c")) is not None


def test_no_answer_is_reused_beyond_fifteen_seconds_whatever_identity_s_clock_says(clock):
    # identity's host clock ahead of the gateway's must not stretch the reuse
    identity = Identity(answer(until=T0 + timedelta(hours=1)))
    cache = PrincipalCache(clock, 100)
    for_customer(identity, cache)
    clock.advance(timedelta(seconds=15))
    for_customer(identity, cache)
    assert identity.calls == ["authorize_customer"] * 2


def test_a_newer_answer_that_cannot_be_kept_replaces_the_kept_one(clock):
    cache = PrincipalCache(clock, 100)
    key = session_key("token-1")
    cache.keep(key, answer(), cache.changes)
    cache.keep(key, answer(customers=(OWN, MANDATE)), cache.changes)   # a mandate since
    assert cache.get(key) is None


def test_forgetting_a_person_keeps_the_others_in_their_order_of_use(clock):
    cache = PrincipalCache(clock, 3)
    other = {"person_code": "38001010008", "name": "Other"}
    cache.keep(session_key("a"), answer(), cache.changes)
    cache.keep(session_key("b"), answer(person=other), cache.changes)
    cache.keep(session_key("c"), answer(person=other), cache.changes)
    cache.get(session_key("a"))                         # a used last, b least recently
    cache.forget_persons(["nobody"])
    cache.keep(session_key("d"), answer(person=other), cache.changes)
    assert cache.get(session_key("b")) is None          # evicted: the least recently used
    assert all(cache.get(session_key(t)) for t in ("a", "c", "d"))
    cache.forget_persons([GRANDMOTHER["person_code"]])
    assert cache.get(session_key("a")) is None
    assert cache.get(session_key("c")) and cache.get(session_key("d"))
    cache.forget_all()
    assert not any(cache.get(session_key(t)) for t in "abcd")


def kept_with_handler(clock):
    """A cache holding one answer, and identity's events consumer with a handler
    bound to a container whose Principals provider holds that cache."""
    cache = PrincipalCache(clock, 100)
    cache.keep(session_key("token-1"), answer(), cache.changes)
    principals = Principals()
    principals.cache = cache
    handler = IdentityEventHandler("session_ended")
    handler.container = SimpleNamespace(dependencies=[principals])
    consumer = IdentityEventsConsumer()
    consumer.container = SimpleNamespace(config={"AMQP_URI": "amqp://broker/"})
    consumer.register_provider(handler)
    return cache, handler, consumer


@pytest.mark.parametrize("what_happened", ["reconnected", "connection lost", "unreadable"])
def test_a_reconnection_or_an_unreadable_event_forgets_everything(clock, what_happened):
    # a broadcast queue goes with its connection: what identity said meanwhile is lost
    cache, handler, consumer = kept_with_handler(clock)
    changes = cache.changes
    if what_happened == "reconnected":
        consumer.on_consume_ready(None, None, [])
    elif what_happened == "connection lost":
        consumer.on_connection_error(ConnectionError("refused"), 2)
    else:
        handler.dead_letter(None, "undecodable message: not JSON")
    assert cache.get(session_key("token-1")) is None
    assert cache.changes > changes                      # an answer in flight is not kept


@pytest.mark.parametrize("event_type, message", [
    ("session_ended", {"data": {}}),
    ("access_changed", {"data": {"person_codes": "38001010008"}}),
    ("mandate_granted", {"data": None}),
    ("session_ended", ["not", "an", "envelope"]),
    ("mandate_granted", {"data": {"grantee_person_code": ["38001010008"],
                                  "session": "token-1"}}),
])
def test_an_identity_event_without_what_it_should_say_forgets_everything(
        clock, caplog, event_type, message):
    cache = PrincipalCache(clock, 100)
    cache.keep(session_key("token-1"), answer(), cache.changes)
    gateway = ForgetChangedPrincipals()
    gateway.principals = cache                         # what the dependency gives a worker
    handler = {"session_ended": gateway.forget_ended_session,
               "access_changed": gateway.forget_changed_access,
               "mandate_granted": gateway.forget_new_grantee}[event_type]
    with caplog.at_level("WARNING", logger="services.gateway.principals"):
        handler(message)
    assert cache.get(session_key("token-1")) is None
    # logged for an operator, without the personal codes and sessions it carries
    [record] = caplog.records
    assert event_type in record.getMessage()
    assert "38001010008" not in caplog.text and "token-1" not in caplog.text
