import json
"""The OpenAPI 3.1 document: valid (openapi-spec-validator), complete (every
route's parameters, body and answers), and its problem types explained."""
import re
from pathlib import Path

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from services.gateway import openapi, problems
from services.gateway.http import JSON
from services.gateway.service import API_VERSION, GatewayService

SERVICES = Path(__file__).resolve().parents[2] / "services"


@pytest.fixture(scope="module")
def document():
    return openapi.build_document(GatewayService, API_VERSION)


def operations(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_the_document_is_valid_openapi_3_1(document):
    errors = [str(e.message) for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []
    assert document["openapi"] == "3.1.0"


def test_every_path_parameter_is_declared_with_a_real_schema(document):
    for path, method, operation in operations(document):
        named = set(re.findall(r"{([^}]+)}", path))
        declared = {p["name"]: p for p in operation.get("parameters", ()) if p["in"] == "path"}
        assert set(declared) == named, (method, path)
        for parameter in declared.values():
            assert parameter["schema"] != {"type": "string"}, (method, path, parameter["name"])
            assert parameter["name"] in openapi.PATH_PARAMETERS, parameter["name"]


def test_every_route_names_its_answers(document):
    for path, method, operation in operations(document):
        answers = operation["responses"]
        ok = [s for s in answers if s.startswith("2")]
        # one answer, or also a job's 202 for a client that prefers it (RFC 7240)
        parameters = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "header"}
        assert len(ok) == 1 or (ok == ["200", "202"] and "Prefer" in parameters
                                and "Location" in answers["202"]["headers"]), (method, path)
        access = operation["x-access"]
        if access == "application":     # a third party's OAuth 2 access token only
            assert {"401", "403", "404", "503"} <= set(answers), (method, path)
            assert operation["security"] == [{"sharing": [operation["x-scope"]]}]
        elif access != "public":
            assert {"401", "503"} <= set(answers), (method, path)
            roles = [operation["x-scope"]] if "x-scope" in operation else []
            assert operation["security"][0] == {"bearer": roles}
            # the portal's cookie counts for reading only
            assert operation["security"][1:] == ([{"session_cookie": roles}]
                                                 if method == "get" else [])
        if access in ("customer", "operator"):
            assert "403" in answers, (method, path)
        if "{" in path:
            assert "404" in answers, (method, path)
        if "requestBody" in operation:
            assert {"413", "415", "422"} <= set(answers), (method, path)
        for status, answer in answers.items():
            if status.startswith(("4", "5")) and "application/problem+json" in answer["content"]:
                assert answer["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"}


def test_every_json_answer_has_its_schema(document):
    for path, method, operation in operations(document):
        for status, answer in operation["responses"].items():
            for media, content in answer.get("content", {}).items():
                if media == JSON:
                    assert content["schema"], (method, path, status)


def test_bodies_and_answers_that_are_not_json_have_their_media_types(document):
    paths = document["paths"]
    for bank_return in ("/api/v1/auth/banklink/{bank}/return",
                        "/api/v1/payments/banklink/{bank}/return"):
        form = paths[bank_return]["post"]["requestBody"]["content"]
        assert list(form) == ["application/x-www-form-urlencoded"]
        assert form["application/x-www-form-urlencoded"]["schema"] == {
            "$ref": "#/components/schemas/BanklinkReply"}
    assert list(paths["/api/v1/operator/readings/import"]["post"]["requestBody"]["content"]
                ) == ["text/csv"]
    assert list(paths["/api/v1/operator/bank-statements"]["post"]["requestBody"]["content"]
                ) == ["application/xml"]
    pdf = paths["/api/v1/customers/{cid}/invoices/{invoice_no}.pdf"]["get"]
    assert list(pdf["responses"]["200"]["content"]) == ["application/pdf"]
    assert {p["name"]: p["in"] for p in pdf["parameters"]}["lang"] == "query"
    health = paths["/health"]["get"]["responses"]
    assert health["503"]["content"][JSON]["schema"] == {"$ref": "#/components/schemas/Health"}
    reading = paths["/api/v1/customers/{cid}/consumption-points/{cp}/readings"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in reading["parameters"] if p["in"] == "header"}
    assert "409" in reading["responses"]


def test_every_problem_type_is_explained():
    slugs = {slug for _, slug, _ in problems.PROBLEMS.values()}
    slugs |= set(problems.HTTP_STATUS_TYPES.values()) | {"http-error", "internal-error"}
    # and every code a service raises an error with, which becomes the type
    for source in SERVICES.rglob("*.py"):
        slugs |= set(re.findall(r'code="([a-z-]+)"', source.read_text(encoding="utf-8")))
    assert slugs - set(problems.PROBLEM_TYPES) == set()
    for slug, (status, title, text) in problems.PROBLEM_TYPES.items():
        assert 400 <= status < 600 and title and len(text) > 20, slug


def test_the_reference_page_is_rendered_from_the_document_and_needs_nothing_else(document):
    page = openapi.docs_page(document)
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", page)   # nothing from elsewhere
    for path, method, operation in operations(document):
        assert f"id='op-{operation['operationId']}'" in page
    for scope in ("invoices:read", "readings:write", "self"):
        assert f"<code>{scope}</code>" in page
    for name in document["components"]["schemas"]:
        assert f"id='schema-{name}'" in page
    assert "/problems/not-found" in page
    assert '&quot;reading_date&quot;: &quot;2026-01-31&quot;' in page   # an example body


def test_each_problem_page_says_what_it_means():
    for slug in problems.PROBLEM_TYPES:
        page = openapi.problem_page(slug)
        assert problems.PROBLEM_TYPES[slug][2].split(";")[0][:30] in page.replace("&#x27;", "'")
    index = openapi.problems_index()
    assert all(f"href='/problems/{slug}'" in index for slug in problems.PROBLEM_TYPES)


def test_long_jobs_answer_202_with_where_to_follow_them(document):
    paths = document["paths"]
    run = paths["/api/v1/operator/jobs/billing-run"]["post"]["responses"]
    assert [s for s in run if s.startswith("2")] == ["202"]
    assert "Location" in run["202"]["headers"]
    job = paths["/api/v1/operator/jobs/{job_id}"]["get"]
    assert job["x-access"] == "operator" and "404" in job["responses"]
    shapes = json.dumps(job["responses"]["200"]["content"][JSON]["schema"])
    assert "BillingJob" in shapes and "MeteringJob" in shapes
    for path in ("/api/v1/operator/bank-statements", "/api/v1/operator/readings/import"):
        answers = paths[path]["post"]["responses"]
        assert {"200", "202"} <= set(answers), path
        assert "respond-async" in json.dumps(paths[path]["post"]["parameters"])
