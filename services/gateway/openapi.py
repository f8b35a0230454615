"""The OpenAPI 3.1 document, generated from the routes' declarations and the
pydantic models they validate with — never written by hand."""
import html
import re

from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from services.gateway.http import Route
from services.gateway.schemas import Problem

REF = "#/components/schemas/{model}"
ERROR_STATUSES = {
    "public": ("400", "422", "503"),
    "customer": ("400", "401", "403", "404", "422", "503"),
    "operator": ("400", "401", "403", "404", "422", "503"),
    "authenticated": ("401", "503"),
}


def routes_of(service_class):
    """Every Route entrypoint declared on a service class."""
    found = []
    for name in dir(service_class):
        method = getattr(service_class, name, None)
        for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, Route):
                found.append((name, entrypoint))
    return sorted(found, key=lambda item: (item[1].url, item[1].method))


def openapi_path(url):
    """werkzeug ``/x/<path:p>/<int:n>`` -> OpenAPI ``/x/{p}/{n}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", url)


def _schema_ref(model, schemas):
    schema = model.model_json_schema(ref_template=REF)
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    schemas[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def build_document(service_class, version):
    schemas = {}
    problem_ref = _schema_ref(Problem, schemas)
    paths = {}
    for name, route in routes_of(service_class):
        path = openapi_path(route.url)
        parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                      for p in re.findall(r"{([^}]+)}", path)]
        for method in route.method.split(","):
            operation = {
                "operationId": name,
                "summary": route.summary,
                "tags": [route.tag],
                "x-access": route.access,
                **({"x-scope": route.scope} if route.scope else {}),
                "responses": {},
            }
            if parameters:
                operation["parameters"] = parameters
            if route.access != "public":
                operation["security"] = [{"bearer": []}]
            if route.request_model is not None:
                operation["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": _schema_ref(route.request_model, schemas)}}}
            ok = {"description": "OK"}
            if route.response_model is not None:
                ok["content"] = {"application/json": {
                    "schema": _schema_ref(route.response_model, schemas)}}
            operation["responses"][str(route.status)] = ok
            for status in ERROR_STATUSES[route.access]:
                operation["responses"][status] = {
                    "description": "problem", "content": {"application/problem+json": {"schema": problem_ref}}}
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Vool API", "version": version,
                 "description": "Self-service for the customers of an electricity retailer."},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def docs_page(document):
    """A plain human-readable page of the document (no scripts, no CDN)."""
    rows = []
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}"
                        f"</code></td><td>{html.escape(op['x-access'])}</td>"
                        f"<td>{html.escape(op['summary'])}</td></tr>")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Vool API</title>"
            "<style>body{font-family:sans-serif;margin:2em}td{padding:.2em .8em}</style></head>"
            "<body><h1>Vool API</h1><p>The machine-readable document: "
            "<a href='/api/v1/openapi.json'>/api/v1/openapi.json</a>.</p>"
            "<table><tr><th>method</th><th>path</th><th>access</th><th>what</th></tr>"
            + "".join(rows) + "</table></body></html>")
