"""Who may call which customer route: every customer route of the gateway against
every kind of caller, each cell with exactly the status it must have.

The routes come from the gateway itself, so a new customer route without a row
here fails the test instead of going unchecked.
"""
import itertools
from datetime import datetime, timedelta, timezone

import pytest
import requests

from services.billing.service import BillingService
from services.common.scopes import SCOPES, expand
from services.contracts.service import ContractsService
from services.gateway.openapi import routes_of
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from services.notifications.service import NotificationsService
from tests.banking import customer_token, make_banks
from tests.conftest import wait_for
from tests.samples import GRANDMOTHER, contract_command, personal_code

T0 = datetime(2026, 3, 1, 9, tzinfo=timezone.utc)
LATER = T0 + timedelta(days=10)        # when the matrix is walked

HALF_A = ["contract:read", "contact:write", "feedback:write", "consumption-points:claim"]
HALF_B = ["readings:write", "invoices:read", "payments:write"]   # readings:read implied

CALLERS = ("self", "grantee", "grantee_a", "grantee_b", "limited", "expired", "revoked",
           "not_yet_valid", "stranger", "anonymous")
_serial = itertools.count(100)


def person(name):
    return {"code": personal_code("3800101", f"{next(_serial):03d}"), "name": name}


@pytest.fixture
def world(run_services, config, rpc, tmp_path, real_time_clock):
    real_time_clock.set(T0)
    banks = make_banks(tmp_path)
    run_services(GatewayService, IdentityService, ContractsService, MeteringService,
                 BillingService, NotificationsService, VOOL_BANKS_FILE=str(banks.banks_file))
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    rpc.identity.add_operator("desk", "admin", "correct-horse-battery")

    home = rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
    cottage = rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
    people = {role: person(role.title()) for role in (
        "grantee", "grantee_a", "grantee_b", "limited", "expired", "revoked",
        "not_yet_valid", "stranger", "newcomer", "leaving")}
    for who in people.values():
        rpc.contracts.sign_contract(contract_command(person_code=who["code"], name=who["name"],
                                                     start_date="2026-01-01"))
    for who in people.values():
        wait_for(lambda: rpc.identity.is_eligible(who["code"]), timeout=15)
    cid = home["customer_id"]

    def mandate(role, scopes=SCOPES, **terms):
        return rpc.identity.register_mandate({
            "grantor_person_code": GRANDMOTHER, "grantee_person_code": people[role]["code"],
            "scopes": list(scopes), **terms}, "desk")["mandate_id"]

    mandate("grantee")
    mandate("grantee_a", HALF_A)
    mandate("grantee_b", HALF_B)
    mandate("limited", consumption_point_ids=[cottage["consumption_point_id"]])
    mandate("expired", valid_until=(T0.date() + timedelta(days=5)).isoformat())
    rpc.identity.revoke_mandate(cid, mandate("revoked"), GRANDMOTHER)
    mandate("not_yet_valid", valid_from=(T0.date() + timedelta(days=60)).isoformat())
    leaving = mandate("leaving")

    def invoiced():
        rpc.billing.billing_run("2026-01")
        return [i for i in rpc.billing.invoices_of(cid) if i["contract_no"] == home["contract_no"]]
    [invoice] = wait_for(invoiced, timeout=15)

    real_time_clock.set(LATER)
    tokens = {"self": customer_token(base, banks, GRANDMOTHER, "Õie Mäger", LATER)}
    # her inbox has something to mark read: the news of her contracts
    inbox = wait_for(lambda: requests.get(
        f"{base}/api/v1/customers/{cid}/notifications", timeout=10,
        headers={"Authorization": f"Bearer {tokens['self']}"}).json(), timeout=15)
    for role in CALLERS[1:-1]:
        tokens[role] = customer_token(base, banks, people[role]["code"], people[role]["name"],
                                      LATER)
    return {"base": base, "cid": cid, "cp": home["consumption_point_id"],
            "invoice_no": invoice["invoice_no"], "reference_no": home["reference_no"],
            "tokens": tokens, "newcomer": people["newcomer"]["code"], "leaving": leaving,
            "notification_id": inbox[0]["notification_id"], "rpc": rpc}


READINGS = itertools.count(1700)
CLAIMS = itertools.count(1)


def requests_of(world):
    """A valid request for every customer route: ``(path values, json body)``; the
    reading goes on from a plausible 10 kWh a day since 1000 on 2026-01-01."""
    return {
        ("GET", "/api/v1/customers/<cid>"): ({}, None),
        ("PUT", "/api/v1/customers/<cid>/contact"): ({}, {"phone": "+37255500001"}),
        ("GET", "/api/v1/customers/<cid>/contact-history"): ({}, None),
        ("GET", "/api/v1/customers/<cid>/contracts"): ({}, None),
        ("GET", "/api/v1/customers/<cid>/consumption-points"): ({}, None),
        ("POST", "/api/v1/customers/<cid>/consumption-point-claims"): (
            {}, {"address": f"Sauna tn {next(CLAIMS)}, Kuressaare"}),
        ("GET", "/api/v1/customers/<cid>/consumption-point-claims"): ({}, None),
        ("GET", "/api/v1/customers/<cid>/consumption-points/<cp>/readings"): ({}, None),
        ("POST", "/api/v1/customers/<cid>/consumption-points/<cp>/readings"): (
            {}, {"reading_date": LATER.date().isoformat(), "registers": {"T1": next(READINGS)}}),
        ("GET", "/api/v1/customers/<cid>/consumption-points/<cp>/consumption"): ({}, None),
        # made when it is asked: a reading of hers held for review to withdraw
        ("DELETE", "/api/v1/customers/<cid>/consumption-points/<cp>/readings/<reading_id>"): (
            lambda: {"reading_id": held_reading(world)}, None),
        ("GET", "/api/v1/customers/<cid>/invoices"): ({}, None),
        ("GET", "/api/v1/customers/<cid>/invoices/<invoice_no>"): ({}, None),
        ("GET", "/api/v1/customers/<cid>/invoices/<invoice_no>.pdf"): ({}, None),
        ("GET", "/api/v1/customers/<cid>/payments"): ({}, None),
        ("POST", "/api/v1/customers/<cid>/payments"): (
            {}, {"bank": "testbank", "invoice_nos": [world["invoice_no"]]}),
        ("GET", "/api/v1/payment-books/<reference_no>"): ({}, None),
        ("GET", "/api/v1/me"): ({}, None),
        ("GET", "/api/v1/customers/<cid>/notifications"): ({}, None),
        ("POST", "/api/v1/customers/<cid>/notifications/<notification_id>/read"): (
            {"notification_id": world["notification_id"]}, None),
        ("POST", "/api/v1/customers/<cid>/feedback"): (
            {}, {"kind": "question", "subject": "Arve", "body": "Miks on arve suurem?"}),
        ("GET", "/api/v1/customers/<cid>/feedback"): ({}, None),
        ("GET", "/api/v1/customers/<cid>/mandates"): ({}, None),
        ("POST", "/api/v1/customers/<cid>/mandates"): (
            {}, {"grantee_person_code": world["newcomer"], "scopes": ["invoices:read"]}),
        ("DELETE", "/api/v1/customers/<cid>/mandates/<mandate_id>"): (
            {"mandate_id": world["leaving"]}, None),
        ("GET", "/api/v1/customers/<cid>/access-log"): ({}, None),
        ("GET", "/api/v1/customers/<cid>/sharing-grants"): ({}, None),
        # made when it is asked: her grant to an application, to revoke
        ("DELETE", "/api/v1/customers/<cid>/sharing-grants/<grant_id>"): (
            lambda: {"grant_id": sharing_grant(world)}, None),
    }


def sharing_grant(world):
    """The customer lets an application read the home's readings for 30 days."""
    rpc = world["rpc"]
    app = rpc.identity.register_application(
        {"name": "Matrix", "purpose": "Counting", "redirect_uris": ["https://a.example/cb"]},
        "desk")
    return rpc.identity.consent_to_sharing(world["tokens"]["self"], {
        "client_id": app["client_id"], "redirect_uri": "https://a.example/cb",
        "customer_id": world["cid"], "scopes": ["readings:read"],
        "consumption_point_ids": [world["cp"]],
        "valid_until": (LATER.date() + timedelta(days=30)).isoformat()})["grant_id"]


def held_reading(world):
    """A slipped decimal point on the home's meter, held for review (it replaces
    one that an earlier caller could not withdraw)."""
    return world["rpc"].metering.submit_reading({
        "consumption_point_id": world["cp"], "reading_date": LATER.date().isoformat(),
        "registers": {"T1": 900_000}, "source": "customer"})["reading_id"]


#: routes about one consumption point's things, reached through the point they belong to
ABOUT_THE_POINT = {"/api/v1/customers/<cid>/invoices/<invoice_no>",
                   "/api/v1/customers/<cid>/invoices/<invoice_no>.pdf",
                   "/api/v1/customers/<cid>/payments"}


def expected(route, caller):
    """The one right status of a caller on a route."""
    done = route.status
    if caller == "anonymous":
        return 401
    if route.url == "/api/v1/me":
        return 200     # everyone may ask who they are and whom they may act for
    if route.url == "/api/v1/payment-books/<reference_no>":
        # no customer in the path: a reference number one may not read does not exist
        may_read = caller in ("self", "grantee", "grantee_b")
        return 200 if may_read else 404
    if caller == "stranger":
        return 404
    if caller in ("expired", "revoked", "not_yet_valid"):
        return 403
    if caller == "self":
        return done
    if route.scope == "self":
        return 403
    if caller == "grantee":
        return done
    if caller in ("grantee_a", "grantee_b"):
        held = expand(HALF_A if caller == "grantee_a" else HALF_B)
        return done if route.scope in held else 403
    # limited to the cottage; these requests are about the home
    if "<cp>" in route.url:
        return 403
    if route.url in ABOUT_THE_POINT and route.method != "GET":
        return 404     # paying the home's invoice: it is not there for this caller
    if route.url in ABOUT_THE_POINT and "<invoice_no>" in route.url:
        return 404
    return done


def test_every_customer_route_answers_every_kind_of_caller_exactly(world):
    customer_routes = [r for _, r in routes_of(GatewayService)
                       if r.access == "customer"]
    table = requests_of(world)
    missing = [(r.method, r.url) for r in customer_routes if (r.method, r.url) not in table]
    assert missing == [], "customer routes without a request in this matrix"

    wrong = []
    # the customer herself last: her DELETE revokes a mandate the others must meet first
    for caller in sorted(CALLERS, key=lambda c: c == "self"):
        table = requests_of(world)
        for route in customer_routes:
            values, body = table[(route.method, route.url)]
            values = values() if callable(values) else values
            values = {"cid": world["cid"], "cp": world["cp"], "invoice_no": world["invoice_no"],
                      "reference_no": world["reference_no"], **values}
            path = route.url
            for name, value in values.items():
                path = path.replace(f"<{name}>", value)
            headers = {}
            if caller != "anonymous":
                headers["Authorization"] = f"Bearer {world['tokens'][caller]}"
            answer = requests.request(route.method, world["base"] + path, json=body,
                                      headers=headers, timeout=30)
            if answer.status_code != expected(route, caller):
                wrong.append((caller, route.method, route.url, answer.status_code,
                              expected(route, caller), answer.text[:160]))
    assert wrong == []
