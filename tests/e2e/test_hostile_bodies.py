"""Hostile bodies over real HTTP: whatever the entry (a JSON route, the banks'
public form routes, a portal page), a body or a form over its limit is refused
with 413 problem+json before anyone parses it, and JSON nested deeper than any
request of ours is a 422 naming the body."""
import json

import pytest
import requests

from services.gateway import http
from services.gateway.service import GatewayService

PROBLEM = "application/problem+json"
FORM_ROUTES = ("/api/v1/auth/banklink/testbank/return",
               "/api/v1/payments/banklink/testbank/return",
               "/login/testbank/return", "/payments/testbank/return")


@pytest.fixture
def base(run_services, config):
    # no service behind it: whatever is refused here is refused before any RPC
    run_services(GatewayService)
    return f"http://{config['WEB_SERVER_ADDRESS']}"


def too_large(response):
    assert response.status_code == 413, response.text[:300]
    assert response.headers["Content-Type"] == PROBLEM
    body = response.json()
    assert (body["type"], body["status"]) == ("/problems/payload-too-large", 413)
    return body


@pytest.mark.parametrize("path", FORM_ROUTES)
def test_an_oversized_form_is_refused_on_every_form_entry(base, path):
    fields = {"VK_SERVICE": "1111", "VK_MAC": "x" * (http.MAX_BODY_BYTES + 1)}
    body = too_large(requests.post(f"{base}{path}", data=fields, timeout=10))
    assert str(http.MAX_BODY_BYTES) in body["detail"]
    # multipart too, which the bank routes parse as well
    too_large(requests.post(f"{base}{path}", files={"VK_MAC": ("mac", b"x" * 200_000)},
                            timeout=10))


@pytest.mark.parametrize("path", FORM_ROUTES)
def test_a_form_of_too_many_parts_is_refused(base, path):
    # within the byte limit: the number of parts is limited on its own
    fields = {f"VK_{n}": "1" for n in range(http.MAX_FORM_PARTS + 50)}
    too_large(requests.post(f"{base}{path}", files={k: (None, v) for k, v in fields.items()},
                            timeout=10))


def test_a_multipart_field_larger_than_the_form_memory_is_refused(base, run_services):
    # a field held in memory may not exceed max_form_memory_size, whatever the body
    assert http.MAX_FORM_MEMORY_BYTES <= http.MAX_BODY_BYTES
    path = "/api/v1/auth/banklink/testbank/return"
    big = "x" * (http.MAX_FORM_MEMORY_BYTES - 100)
    too_large(requests.post(f"{base}{path}", files={"a": (None, big), "b": (None, big)},
                            timeout=10))


def test_an_oversized_json_body_is_refused_before_any_service_is_asked(base):
    body = json.dumps({"username": "mari", "password": "x" * (http.MAX_BODY_BYTES + 1)})
    too_large(requests.post(f"{base}/api/v1/operator/login", data=body,
                            headers={"Content-Type": "application/json"}, timeout=10))


def test_a_body_without_a_length_is_never_read_past_the_limit(base):
    def chunks():          # chunked transfer: no Content-Length to refuse it by
        yield b'{"username": "mari", "password": "'
        for _ in range(http.MAX_BODY_BYTES // 1000 + 10):
            yield b"x" * 1000
        yield b'"}'
    response = requests.post(f"{base}/api/v1/operator/login", data=chunks(),
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.headers["Content-Type"] == PROBLEM
    if response.status_code != 413:
        # eventlet's server does not mark chunked input as terminated, so Werkzeug
        # reads none of it: an empty body, refused for what it lacks
        assert response.status_code == 422, response.text[:300]
        assert {e["field"] for e in response.json()["errors"]} == {"username", "password"}


def test_a_file_upload_route_takes_more_than_a_json_route(base):
    # a 1 MB statement gets as far as the access check (401), not refused for its size
    statement = b"<Document>" + b" " * 1_000_000 + b"</Document>"
    response = requests.post(f"{base}/api/v1/operator/bank-statements", data=statement,
                             headers={"Content-Type": "application/xml"}, timeout=10)
    assert response.status_code == 401, response.text[:300]
    too_large(requests.post(f"{base}/api/v1/operator/bank-statements",
                            data=b" " * (http.MAX_UPLOAD_BYTES + 1),
                            headers={"Content-Type": "application/xml"}, timeout=30))


def test_deeply_nested_json_is_a_422_naming_the_body(base):
    for nested in ("[" * 10_000 + "]" * 10_000, '{"a":' * 5_000 + "1" + "}" * 5_000,
                   "[" * 50_000):                     # not even closed
        response = requests.post(f"{base}/api/v1/operator/login", data=nested,
                                 headers={"Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 422, response.text[:300]
        assert response.headers["Content-Type"] == PROBLEM
        assert response.json()["errors"] == [
            {"field": "body", "message": f"nested deeper than {http.MAX_JSON_DEPTH} levels",
             "code": "json-too-deep", "params": {"max_depth": str(http.MAX_JSON_DEPTH)}}]
