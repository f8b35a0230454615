"""The gateway's HTTP surface: /health, the OpenAPI document, and problem+json
for unknown routes, wrong methods, bad JSON and services that are down."""
import re
import time

import eventlet
import pytest
import requests
from nameko.containers import ServiceContainer
from nameko.rpc import rpc as nameko_rpc

from services.billing.service import BillingService
from services.contracts.service import ContractsService
from services.gateway import openapi
from services.common.rpc_calls import ForgetfulReplyListener, ServiceRpc
from services.gateway.http import ACCESS_RULES, json_body, route
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from services.notifications.service import NotificationsService

BACKENDS = (IdentityService, ContractsService, MeteringService, BillingService,
            NotificationsService)


@pytest.fixture
def base_url(config):
    return f"http://{config['WEB_SERVER_ADDRESS']}"


def is_problem(response, status, slug):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"] == f"/problems/{slug}"
    assert body["title"]
    assert "Traceback" not in response.text
    return body


def test_health_names_every_service(run_services, base_url):
    run_services(GatewayService, *BACKENDS)
    response = requests.get(f"{base_url}/health", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "services": {
        "identity": "ok", "contracts": "ok", "metering": "ok", "billing": "ok",
        "notifications": "ok"}}


def test_health_is_503_naming_the_services_that_are_down(run_services, base_url):
    run_services(GatewayService, ContractsService, MeteringService)
    started = time.monotonic()
    response = requests.get(f"{base_url}/health", timeout=10)
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert response.json()["services"] == {
        "identity": "unavailable", "contracts": "ok", "metering": "ok",
        "billing": "unavailable", "notifications": "unavailable"}


def test_unknown_routes_and_methods_are_problems(run_services, base_url):
    run_services(GatewayService)
    is_problem(requests.get(f"{base_url}/api/v1/nothing-here", timeout=5), 404, "not-found")
    is_problem(requests.get(f"{base_url}/favicon.ico", timeout=5), 404, "not-found")
    response = requests.delete(f"{base_url}/health", timeout=5)
    is_problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["Allow"]


def test_the_openapi_document_covers_every_route(run_services, base_url):
    run_services(GatewayService)
    document = requests.get(f"{base_url}/api/v1/openapi.json", timeout=5).json()
    assert document["openapi"] == "3.1.0"
    declared = {(openapi.openapi_path(r.url), m.lower())
                for _, r in openapi.routes_of(GatewayService) for m in r.method.split(",")}
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert declared == documented
    health = document["paths"]["/health"]["get"]
    assert health["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Health"}
    assert "Problem" in document["components"]["schemas"]
    page = requests.get(f"{base_url}/api/docs", timeout=5)
    assert page.status_code == 200 and "/api/v1/openapi.json" in page.text
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"


def test_each_problem_type_resolves_to_a_page_that_explains_it(run_services, base_url):
    run_services(GatewayService)
    problem = is_problem(requests.get(f"{base_url}/api/v1/nothing-here", timeout=5), 404,
                         "not-found")
    explained = requests.get(f"{base_url}{problem['type']}", timeout=5)   # RFC 9457
    assert explained.status_code == 200
    assert explained.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "HTTP status <b>404</b>" in explained.text
    index = requests.get(f"{base_url}/problems", timeout=5).text
    for slug in ("validation-failed", "scope-missing", "payload-too-large"):
        assert f"href='/problems/{slug}'" in index
        assert requests.get(f"{base_url}/problems/{slug}", timeout=5).status_code == 200
    is_problem(requests.get(f"{base_url}/problems/no-such-problem", timeout=5), 404,
               "not-found")


def test_no_route_hides_another_by_its_method_name():
    names = [name for cls in GatewayService.__mro__ for name, value in vars(cls).items()
             if callable(value) and getattr(value, "nameko_entrypoints", None)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_every_gateway_route_declares_who_may_call_it():
    routes = openapi.routes_of(GatewayService)
    assert routes
    for name, declared in routes:
        assert declared.access in ACCESS_RULES, name
        assert declared.summary, name


def test_every_route_that_is_not_public_refuses_a_caller_without_a_session(run_services,
                                                                         base_url):
    run_services(GatewayService)
    guarded = [(r, m) for _, r in openapi.routes_of(GatewayService) if r.access != "public"
               for m in r.method.split(",")]
    assert guarded
    for declared, method in guarded:
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", "x", declared.url)
        response = requests.request(method, f"{base_url}{path}", timeout=5)
        is_problem(response, 401, "unauthenticated")


class ProbeGateway:
    """The gateway's HTTP layer with a JSON route that calls a named service:
    the real Route entrypoint, json_body and ServiceRpc, nothing stubbed."""
    name = "probe_gateway"
    services = ServiceRpc()

    @route("POST", "/api/v1/probe/<service>", access="public", summary="probe")
    def probe(self, request, service):
        body = json_body(request)
        return {"echo": body, "answer": self.services.call(service, "health")}


@pytest.mark.parametrize("payload, content_type", [
    (b"{\"broken\": ", "application/json"),
    (b"\xff\xfe\x00", "application/json"),
    (b"[1, 2,]", "application/json"),
])
def test_bad_json_is_a_400_problem(run_services, base_url, payload, content_type):
    run_services(ProbeGateway)
    response = requests.post(f"{base_url}/api/v1/probe/metering", data=payload,
                             headers={"Content-Type": content_type}, timeout=5)
    body = is_problem(response, 400, "malformed-json")
    assert body["detail"].startswith("the body is not valid JSON")


def test_a_body_that_is_not_json_is_a_415_problem(run_services, base_url):
    run_services(ProbeGateway)
    response = requests.post(f"{base_url}/api/v1/probe/metering", data="a=1",
                             headers={"Content-Type": "application/x-www-form-urlencoded"},
                             timeout=5)
    is_problem(response, 415, "unsupported-media-type")


def test_a_service_that_never_ran_is_a_503_problem(run_services, base_url):
    gateway = run_services(ProbeGateway)
    for _ in range(3):
        response = requests.post(f"{base_url}/api/v1/probe/billing", json={}, timeout=5)
        body = is_problem(response, 503, "service-unavailable")
        assert "billing" in body["detail"]
    assert reply_listener(gateway).waiting == 0     # no reply is waited for in vain


def reply_listener(container):
    [listener] = [e for e in container.extensions if isinstance(e, ForgetfulReplyListener)]
    return listener


def test_a_service_that_stopped_answers_503_within_the_timeout(run_services, base_url, config,
                                                              bus):
    gateway = run_services(ProbeGateway, VOOL_RPC_TIMEOUT=1)
    billing = run_services(BillingService)
    ok = requests.post(f"{base_url}/api/v1/probe/billing", json={"a": 1}, timeout=5)
    assert ok.status_code == 200
    assert ok.json() == {"echo": {"a": 1}, "answer": {"status": "ok", "database": "ok"}}

    billing.stop()   # its queue stays; nobody consumes it
    started = time.monotonic()
    response = requests.post(f"{base_url}/api/v1/probe/billing", json={}, timeout=10)
    assert time.monotonic() - started < 3
    body = is_problem(response, 503, "service-unavailable")
    assert "did not answer" in body["detail"]
    # the caller was told: the gateway no longer waits for that reply
    assert reply_listener(gateway).waiting == 0

    # the request expires in the queue, so a billing that comes back later
    # does not act on a request whose caller was already told 503
    time.sleep(0.5)
    assert bus.depth("rpc-billing") == 0
    restarted = ServiceContainer(BillingService, config)
    restarted.start()
    try:
        again = requests.post(f"{base_url}/api/v1/probe/billing", json={}, timeout=5)
        assert again.status_code == 200
    finally:
        restarted.stop()


class Sluggish:
    """A service that takes its time to answer."""
    name = "sluggish"

    @nameko_rpc
    def health(self):
        eventlet.sleep(1.5)
        return {"status": "ok"}


class TwoHopGateway:
    """A route that asks one service, then another: like authorize, then the work."""
    name = "two_hop_gateway"
    services = ServiceRpc()

    @route("POST", "/api/v1/probe-two/<service>", access="public", summary="probe")
    def probe(self, request, service):
        self.services.call("sluggish", "health")
        return {"answer": self.services.call(service, "health")}


def test_the_timeout_is_the_requests_not_each_calls(run_services, base_url):
    """Found by make chaos: a request that waited for identity and then for a
    service that was down answered 503 after twice VOOL_RPC_TIMEOUT."""
    run_services(TwoHopGateway, Sluggish, VOOL_RPC_TIMEOUT=2)
    billing = run_services(BillingService)
    billing.stop()   # its queue stays; nobody consumes it
    started = time.monotonic()
    response = requests.post(f"{base_url}/api/v1/probe-two/billing", json={}, timeout=10)
    elapsed = time.monotonic() - started
    is_problem(response, 503, "service-unavailable")
    assert 1.5 <= elapsed < 2.8      # 1.5 s for sluggish, what was left of 2 s for billing


def test_every_client_of_a_service_that_is_down_has_its_503_within_the_timeout(
        run_services, base_url):
    """Found by make chaos: with the services' 10 workers, the 11th request waited
    for a worker before its own wait, and had its 503 after twice the timeout."""
    billing = run_services(BillingService)
    billing.stop()   # its queue stays; nobody answers: each /health waits its 1 s
    run_services(GatewayService)

    def health(_):
        started = time.monotonic()
        status = requests.get(f"{base_url}/health", timeout=10).status_code
        return status, time.monotonic() - started

    answers = list(eventlet.GreenPool(30).imap(health, range(30)))
    assert {status for status, _ in answers} == {503}
    assert max(elapsed for _, elapsed in answers) < 2.0, sorted(e for _, e in answers)
