"""identity's published RPC interface (services/identity/api.py): every method is
served, its arguments are checked at entry naming the field, and what must never
be logged is redacted."""
from decimal import Decimal

import pytest
from nameko.containers import ServiceContainer
from nameko.testing.utils import get_extension
from nameko.utils import REDACTED, get_redacted_args
from pydantic import TypeAdapter

from services.common.errors import ValidationFailed
from services.common.rpc import GuardedRpc
from services.common.rpc_methods import methods_of
from services.identity import api
from services.identity.service import IdentityService


@pytest.fixture(scope="module")
def container():
    return ServiceContainer(IdentityService, {"AMQP_URI": "memory://"})


def test_every_published_method_is_served(container):
    served = {e.method_name for e in container.entrypoints if isinstance(e, GuardedRpc)}
    assert {m.name for m in methods_of(api)} == served
    # 21; #19: list_login_providers, start_oidc_login, finish_oidc_login; sharing with applications 8
    assert len(served) == 21 + 3 + 8


def fields_of(refused):
    return sorted(e["field"] for e in refused.value.errors)


def test_a_bad_payment_order_is_refused_naming_its_fields():
    with pytest.raises(ValidationFailed) as refused:
        api.payment_request.bind(("testbank", "S" * 21, "12.3", "1234561", "m" * 96,
                                  "ftp://vool.example/"), {})
    assert fields_of(refused) == ["amount", "message", "return_url", "stamp"]


@pytest.mark.parametrize("amount", ["12.3", "012.34", "0.00", "-1.00", "12,34", 12.34,
                                    "1234567890.00"])
def test_a_payment_s_sum_is_in_the_banks_form(amount):
    with pytest.raises(ValidationFailed) as refused:
        api.payment_request.bind(("testbank", "ORDER-1", amount, "1234561", "Arve", "https://x/"),
                                 {})
    assert fields_of(refused) == ["amount"]


def test_a_payment_s_sum_is_money_inside():
    bound = api.payment_request.bind(("testbank", "ORDER-1", "12.30", "1234561", "Arve",
                                      "https://x/"), {})
    assert bound.amount == Decimal("12.30")
    assert api.payment_request.wire_kwargs(**dict(bound))["amount"] == "12.30"
    with pytest.raises(ValidationFailed):
        api.payment_request.wire_kwargs(**{**dict(bound), "amount": Decimal("12.345")})


def test_a_grant_s_fields_are_named_by_their_own_path():
    with pytest.raises(ValidationFailed) as refused:
        api.grant_mandate.bind(("c-1", {"grantee_person_code": "123", "scopes": ["nope"]},
                                "49001010000"), {})
    assert fields_of(refused) == ["grantee_person_code", "scopes"]


def test_a_bank_reply_is_form_fields():
    with pytest.raises(ValidationFailed) as refused:
        api.finish_banklink_login.bind(("testbank", {"VK_SERVICE": 3013}), {})
    assert fields_of(refused) == ["fields.VK_SERVICE"]


@pytest.mark.parametrize("method, args, secrets", [
    ("resolve_session", ("the-token",), {"token"}),
    ("authorize_customer", ("the-token", "c-1", "readings:read"), {"token"}),
    ("logout", ("the-token",), {"token"}),
    ("finish_banklink_login", ("testbank", {"VK_MAC": "mac"}, "browser-secret"),
     {"fields", "browser_key"}),
    ("start_banklink_login", ("testbank", "https://x/", "browser-secret"), {"browser_key"}),
    ("verify_payment_reply", ("testbank", {"VK_MAC": "mac"}), {"fields"}),
    ("add_operator", ("anna", "desk", "correct-horse-battery"), {"password"}),
    ("operator_login", ("anna", "correct-horse-battery", "127.0.0.1"), {"password"}),
])
def test_tokens_passwords_and_bank_replies_are_redacted(container, method, args, secrets):
    extension = get_extension(container, GuardedRpc, method_name=method)
    redacted = get_redacted_args(extension, *args)
    assert {name for name, value in redacted.items() if value == REDACTED} == secrets


def test_every_method_can_be_documented():
    # docs/rpc.md and other programs read these schemas
    for method in methods_of(api):
        assert method.arguments.model_json_schema()["type"] == "object"
        if method.returns is not None:
            assert TypeAdapter(method.returns).json_schema(mode="serialization")
