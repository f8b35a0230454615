"""The OpenAPI 3.1 document, generated from the routes' declarations (``Route`` in
services/gateway/http.py) and the pydantic models they validate with and answer
with — never written by hand. The reference page /api/docs and the problem pages
/problems/<type> are rendered from the same document and table, on the server
(no scripts, nothing from another site)."""
import html
import importlib
import json
import re

from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from pydantic import TypeAdapter

from services.common.scopes import IMPLIED, SCOPES
from services.gateway.http import FORM, JSON, Route
from services.gateway.problems import PROBLEM_JSON, PROBLEM_TYPES, PROBLEMS, problem_type
from services.gateway.schemas import Problem

REF = "#/components/schemas/{model}"

#: werkzeug's default converter takes one path segment, never empty
SEGMENT = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
UUID = {"type": "string", "format": "uuid"}

#: the path parameters routes share: their schema and what they are
PATH_PARAMETERS = {
    "cid": (UUID, "A customer's id (`customer_id` in GET /api/v1/me)"),
    "cp": (UUID, "A consumption point's id (`id` in the customer's consumption points)"),
    "mandate_id": (UUID, "A mandate's id"),
    "grant_id": (UUID, "A sharing grant's id (GET /api/v1/customers/{cid}/sharing-grants)"),
    "notification_id": (UUID, "A notification's id"),
    "claim_id": (UUID, "A consumption-point claim's id"),
    "case_id": (UUID, "A desk case's id"),
    "reading_id": (UUID, "A reading's id"),
    "invoice_no": ({**SEGMENT, "maxLength": 40}, "An invoice's number"),
    "contract_no": ({**SEGMENT, "maxLength": 40, "examples": ["VL-000001"]},
                    "A contract's number"),
    "bank": ({**SEGMENT, "maxLength": 40, "examples": ["testbank"]},
             "A bank's id (GET /api/v1/auth/banks)"),
    "provider": ({**SEGMENT, "maxLength": 32, "examples": ["testid"]},
                 "An OpenID Connect provider's id (GET /api/v1/auth/providers, kind oidc)"),
    "reference_no": ({"type": "string", "pattern": "^[0-9]{2,20}$"},
                     "A payment reference number (viitenumber): 2 to 20 digits, the last "
                     "the 7-3-1 check digit"),
    "slug": ({"type": "string", "enum": sorted(PROBLEM_TYPES)}, "A problem type"),
    "job_id": ({**SEGMENT, "maxLength": 64,
                "examples": ["billing-0b7e2a55-5b1c-4f57-9a39-5d2f3c1e8a10"]},
               "A long job's id (`job_id` in the answer that started it)"),
}

STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No content",
               303: "See other", 400: "Bad request", 401: "Unauthenticated",
               403: "Forbidden", 404: "Not found", 409: "Conflict",
               413: "Body too large", 415: "Unsupported media type",
               422: "Not valid", 429: "Too many attempts", 503: "Service unavailable"}

TAGS = {
    "system": "Health, this document, problem types",
    "auth": "Customers' login through their bank, sessions",
    "customers": "A customer's own data: details, contracts, consumption points, messages",
    "readings": "Meter readings",
    "invoices": "Invoices, payments, payment books",
    "mandates": "Mandates: acting for another customer",
    "operator": "The service desk (operators)",
    "sharing": "Sharing consumption data with third-party applications (OAuth 2): the "
               "token endpoint, the customer's grants, and what an application reads",
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


def _named(declared):
    if isinstance(declared, str):
        module, _, attribute = declared.rpartition(".")
        return getattr(importlib.import_module(module), attribute)
    return declared


def resolve_model(declared):
    """The type a declaration names: a model or type as is; the dotted name of one
    (``services.metering.api.Reading``); an RPC method of a service's api.py (its
    ``returns``: the route answers with that result as-is)."""
    declared = _named(declared)
    if not isinstance(declared, type) and hasattr(declared, "returns"):
        declared = declared.returns
    return declared


def problem_statuses(route, has_path_parameters):
    """The 4xx and 5xx a route can answer: from its access rule, its body, its
    parameters, and what it declares beyond those."""
    statuses = set() if route.standalone else {503}
    if route.access != "public":
        statuses.add(401)                       # no session, or a dead one
    if route.access in ("customer", "operator", "application"):
        statuses.add(403)                       # the other kind of session; a scope
    if (route.access == "customer" and "<cid>" in route.url or has_path_parameters
            or route.access == "application"):
        statuses.add(404)                       # no such thing, or not theirs
    if route.reads_body:
        statuses.update((413, 415, 422))        # too large, wrong type, invalid
        if route.request_media == JSON:
            statuses.add(400)                   # not JSON
    if route.query is not None or route.header_parameters:
        statuses.add(422)
    statuses.update(route.problems)
    # what the RPC methods it calls may raise (their api.py says), as the
    # gateway's table answers each
    for method in (route.response_model, *route.calls):
        for error in getattr(_named(method), "raises", None) or ():
            for error_class, (status, _, _) in PROBLEMS.items():
                if issubclass(error, error_class):
                    statuses.add(status)
                    break
    return sorted(statuses)


class _Schemas:
    """Every type the document names, turned into JSON Schema in one go, so that
    pydantic names each model once (two models of one name get distinct names)."""

    def __init__(self):
        self.wanted = {}

    def want(self, declared, mode):
        key = (id(declared), mode)
        self.wanted.setdefault(key, (declared, mode))
        return key

    def build(self):
        inputs = [(key[0], mode, TypeAdapter(declared))
                  for key, (declared, mode) in self.wanted.items()]
        mapping, definitions = TypeAdapter.json_schemas(inputs, ref_template=REF)
        return mapping, definitions.get("$defs", {})


def build_document(service_class, version):
    schemas = _Schemas()
    problem_key = schemas.want(Problem, "serialization")
    planned = []
    for name, route in routes_of(service_class):
        path = openapi_path(route.url)
        keys = {}
        if route.request_model is not None:
            keys["request"] = schemas.want(route.request_model, "validation")
        if route.response_model is not None:
            keys["response"] = schemas.want(resolve_model(route.response_model),
                                            "serialization")
        if route.query is not None:
            keys["query"] = schemas.want(route.query, "validation")
        for status, model in route.responses.items():
            keys[status] = schemas.want(resolve_model(model), "serialization")
        planned.append((name, route, path, keys))
    mapping, components = schemas.build()

    def schema_of(key):
        return dict(mapping[key])

    paths = {}
    for name, route, path, keys in planned:
        parameters = []
        for parameter in re.findall(r"{([^}]+)}", path):
            schema, description = route.path_schemas.get(
                parameter, PATH_PARAMETERS.get(parameter, (SEGMENT, parameter)))
            parameters.append({"name": parameter, "in": "path", "required": True,
                               "description": description, "schema": schema})
        if "query" in keys:
            parameters.extend(_query_parameters(schema_of(keys["query"]), components))
        for header, (schema, description) in route.header_parameters.items():
            parameters.append({"name": header, "in": "header", "required": False,
                               "description": description, "schema": schema})
        for method in route.method.split(","):
            operation = {
                "operationId": name,
                "summary": route.summary,
                "tags": [route.tag],
                "x-access": route.access,
                **({"x-scope": route.scope} if route.scope else {}),
                "responses": {},
            }
            if route.description:
                operation["description"] = route.description
            if parameters:
                operation["parameters"] = parameters
            if route.access == "application":
                operation["security"] = [{"sharing": [route.scope] if route.scope else []}]
            elif route.access != "public":
                roles = [route.scope] if route.scope else []
                operation["security"] = [{"bearer": roles}]
                if method in ("GET", "HEAD"):     # reading only: the portal's links
                    operation["security"].append({"session_cookie": roles})
            if route.reads_body:
                operation["requestBody"] = _request_body(route, keys, schema_of)
            operation["responses"][str(route.status)] = _success(route, keys, schema_of)
            has_path = bool(re.search(r"{[^}]+}", path))
            for status in problem_statuses(route, has_path):
                operation["responses"][str(status)] = _problem_response(
                    status, schema_of(problem_key))
            for status in route.responses:
                operation["responses"][str(status)] = {
                    "description": STATUS_TEXT.get(status, "Answer"),
                    "content": {JSON: {"schema": schema_of(keys[status])}}}
                if status in route.response_headers:
                    operation["responses"][str(status)]["headers"] = {
                        name: {"description": text, "schema": {"type": "string"}}
                        for name, text in route.response_headers[status].items()}
            paths.setdefault(path, {})[method.lower()] = operation
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Vool API", "version": version,
                 "description": "Self-service for the customers of an electricity "
                                "retailer: readings, invoices, payments, mandates, and "
                                "the service desk. Errors are application/problem+json "
                                "(RFC 9457); each `type` is a page under /problems/."},
        "tags": [{"name": tag, "description": text} for tag, text in TAGS.items()],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "A session token: a customer's from the banklink login "
                               "(POST /api/v1/auth/banklink/{bank}/return), an operator's "
                               "from POST /api/v1/operator/login. On a customer's route "
                               "the caller is that customer, or holds a mandate from them "
                               "covering the route's scope.",
                "x-scopes": _scopes()},
                "sharing": {
                    "type": "oauth2",
                    "description": "A third-party application's access token from the "
                                   "authorization code grant (PKCE S256 supported): the "
                                   "customer consents at /oauth/authorize in the portal; "
                                   "the application exchanges the code at "
                                   "POST /api/v1/oauth/token (client_secret_basic or "
                                   "client_secret_post) for an access token (an hour) and "
                                   "a refresh token (rotated on every use). Tokens read "
                                   "only the grant's consumption points and scopes, until "
                                   "its last day; a revoked grant stops at once.",
                    "flows": {"authorizationCode": {
                        "authorizationUrl": "/oauth/authorize",
                        "tokenUrl": "/api/v1/oauth/token",
                        "refreshUrl": "/api/v1/oauth/token",
                        "scopes": {"readings:read": "the chosen consumption points, their "
                                                    "readings and consumption",
                                   "invoices:read": "the invoices of those points"}}}},
                "session_cookie": {
                    "type": "apiKey", "in": "cookie", "name": "vool_session",
                    "description": "The portal's session cookie (HttpOnly, SameSite=Lax) "
                                   "counts for reading only (GET): the portal's links to "
                                   "invoice PDFs. A call that changes something must "
                                   "carry Authorization."}},
        },
    }
    _drop_unreferenced(document)
    return document


def _drop_unreferenced(document):
    """The query models' components: their fields are parameters, the models
    themselves are named nowhere."""
    components = document["components"]["schemas"]
    while True:
        text = json.dumps({"paths": document["paths"], "components": components})
        unused = [name for name in components
                  if f'"{REF.format(model=name)}"' not in text]
        if not unused:
            return
        for name in unused:
            del components[name]


def _scopes():
    described = {scope: f"implies {', '.join(IMPLIED[scope])}" if scope in IMPLIED else ""
                 for scope in SCOPES}
    described["self"] = "only the customer themselves, never under a mandate"
    return described


def _query_parameters(schema, components):
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    required = set(schema.get("required", ()))
    parameters = []
    for field, definition in schema.get("properties", {}).items():
        definition = dict(definition)
        description = definition.pop("description", None)
        definition.pop("title", None)
        parameter = {"name": field, "in": "query", "required": field in required,
                     "schema": definition}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _request_body(route, keys, schema_of):
    if "request" in keys:
        schema = schema_of(keys["request"])
    else:
        schema = {"type": "string"}
    if route.request_media == FORM:
        # the fields are sent as text; every value of a form is a string
        schema = schema_of(keys["request"]) if "request" in keys else {
            "type": "object", "additionalProperties": {"type": "string"}}
    return {"required": True, "content": {route.request_media: {"schema": schema}}}


def _success(route, keys, schema_of):
    answer = {"description": STATUS_TEXT.get(route.status, "OK")}
    if route.headers:
        answer["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                             for name, text in route.headers.items()}
    if route.status == 204 or 300 <= route.status < 400:   # no body; a redirect's Location
        return answer
    if "response" in keys:
        schema = schema_of(keys["response"])
    elif route.response_media == JSON:
        schema = {}
    else:
        schema = {"type": "string", "contentMediaType": route.response_media}
    answer["content"] = {route.response_media: {"schema": schema}}
    for media in getattr(route, "alternative_media", ()):
        answer["content"][media] = {"schema": {"type": "string", "contentMediaType": media}}
    return answer


def _problem_response(status, problem_schema):
    types = [slug for slug, (code, _, _) in PROBLEM_TYPES.items() if code == status]
    listed = ", ".join(f"[{slug}]({problem_type(slug)})" for slug in types)
    return {"description": f"{STATUS_TEXT.get(status, 'Problem')}; type one of: {listed}",
            "content": {PROBLEM_JSON: {"schema": problem_schema}}}


# -- the pages ----------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;line-height:1.45}
header{background:#1d2330;color:#fff;padding:1em 2em}header a{color:#9cf}
main{display:flex}nav{width:24em;flex:none;padding:1em;border-right:1px solid #ddd;
font-size:.85em;position:sticky;top:0;height:100vh;overflow:auto}nav a{display:block;
color:#245;text-decoration:none;padding:.1em 0;white-space:nowrap;overflow:hidden;
text-overflow:ellipsis}nav b{display:block;margin-top:.6em}
section.op{border:1px solid #ddd;border-radius:6px;
margin:1em 0;padding:.6em 1em}article{padding:1em 2em;max-width:70em;flex:1;min-width:0;
overflow-wrap:anywhere}
code,pre{font-family:ui-monospace,monospace;font-size:.9em}pre{background:#f5f6f8;
padding:.6em;overflow:auto;border-radius:4px}table{border-collapse:collapse;margin:.4em 0}
td,th{border:1px solid #ddd;padding:.2em .6em;text-align:left;vertical-align:top}
.m{display:inline-block;min-width:4.5em;font-weight:bold;color:#fff;border-radius:3px;
text-align:center;margin-right:.5em}.get{background:#2b7}.post{background:#27c}
.put{background:#c82}.delete{background:#c33}.tag{color:#666;font-size:.85em}
"""


def _e(value):
    return html.escape(str(value))


def _page(title, body, nav=""):
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width'><title>{_e(title)}</title>"
            f"<style>{STYLE}</style></head><body><header><strong>{_e(title)}</strong> · "
            "<a href='/api/docs'>API reference</a> · <a href='/problems'>problem types</a> · "
            "<a href='/api/v1/openapi.json'>openapi.json</a></header><main>"
            f"{('<nav>' + nav + '</nav>') if nav else ''}<article>{body}</article>"
            "</main></body></html>")


#: example text for a string field, by the end of its name
NAMED_EXAMPLES = (("_id", "6f1c2d4e-8a7b-4c3d-9e2f-1a2b3c4d5e6f"), ("contract_no", "VL-000001"),
                  ("invoice_no", "2026000123"), ("reference_no", "1000012"),
                  ("person_code", "44903136520"), ("eic", "38ZEE-00001001-W"),
                  ("email", "mari@example.ee"), ("phone", "+37255512345"),
                  ("language", "et"), ("period", "2026-02"), ("name", "Õie Mäger"),
                  ("address", "Pärnu mnt 10-5, Tallinn"))


def example_of(schema, components, depth=0, name=""):
    """An example value for a schema: its own example, else one made from its type
    (and for text, from the field's name)."""
    if depth > 8:
        return None
    if "$ref" in schema:
        return example_of(components.get(schema["$ref"].rsplit("/", 1)[1], {}), components,
                          depth + 1, name)
    for key in ("examples",):
        if schema.get(key):
            return schema[key][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example_of(options[0], components, depth + 1, name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        if "properties" in schema:
            return {field: example_of(s, components, depth + 1, field)
                    for field, s in schema["properties"].items()}
        extra = schema.get("additionalProperties")
        return {"T1": example_of(extra, components, depth + 1)} if isinstance(extra, dict) else {}
    if kind == "array":
        return [example_of(schema.get("items", {}), components, depth + 1, name)]
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "string":
        for ending, text in NAMED_EXAMPLES:
            if name.endswith(ending) and "format" not in schema:
                return text
        return {"date": "2026-01-31", "date-time": "2026-01-31T12:00:00+02:00",
                "uuid": "6f1c2d4e-8a7b-4c3d-9e2f-1a2b3c4d5e6f", "email": "mari@example.ee",
                "decimal": "12.34"}.get(schema.get("format"), "text")
    return None


def _schema_text(schema):
    """A schema as the page shows it: JSON with links to the components."""
    text = _e(json.dumps(schema, indent=2, ensure_ascii=False))
    return re.sub(r"&quot;#/components/schemas/([^&]+)&quot;",
                  lambda m: f"&quot;<a href='#schema-{m.group(1)}'>#/components/schemas/"
                            f"{m.group(1)}</a>&quot;", text)


def operations_of(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def docs_page(document):
    """The reference page of the document: every operation with who may call it
    (access rule, scope), its parameters, body and answers with examples; the
    scopes; every schema; the problem types."""
    components = document["components"]["schemas"]
    nav, body = [], []
    body.append(f"<h1>{_e(document['info']['title'])} {_e(document['info']['version'])}</h1>"
                f"<p>{_e(document['info']['description'])}</p>")
    security = document["components"]["securitySchemes"]["bearer"]
    needing = {}
    for path, method, op in operations_of(document):
        if "x-scope" in op:
            needing.setdefault(op["x-scope"], []).append(
                f"<a href='#op-{op['operationId']}'>{_e(method.upper())} {_e(path)}</a>")
    body.append("<h2 id='auth'>Authentication and scopes</h2>"
                f"<p>{_e(security['description'])}</p><p>"
                f"{_e(document['components']['securitySchemes']['session_cookie']['description'])}"
                "</p><table><tr><th>scope</th><th></th>"
                "<th>routes that need it</th></tr>"
                + "".join(f"<tr><td><code>{_e(s)}</code></td><td>{_e(t)}</td>"
                          f"<td>{'<br>'.join(needing.get(s, []))}</td></tr>"
                          for s, t in security["x-scopes"].items()) + "</table>")
    nav.append("<a href='#auth'><b>Authentication, scopes</b></a>")
    by_tag = {}
    for path, method, op in operations_of(document):
        by_tag.setdefault(op["tags"][0], []).append((path, method, op))
    for tag in document["tags"]:
        items = by_tag.get(tag["name"], [])
        if not items:
            continue
        nav.append(f"<a href='#tag-{_e(tag['name'])}'><b>{_e(tag['name'])}</b></a>")
        body.append(f"<h2 id='tag-{_e(tag['name'])}'>{_e(tag['name'])}</h2>"
                    f"<p>{_e(tag['description'])}</p>")
        for path, method, op in items:
            anchor = f"op-{op['operationId']}"
            nav.append(f"<a href='#{anchor}' title='{_e(op['summary'])}'>"
                       f"{_e(method.upper())} {_e(path.removeprefix('/api/v1'))}</a>")
            body.append(_operation_html(anchor, path, method, op, components))
    nav.append("<a href='#schemas'><b>Schemas</b></a>")
    body.append("<h2 id='schemas'>Schemas</h2>")
    for name, schema in sorted(components.items()):
        body.append(f"<h3 id='schema-{_e(name)}'>{_e(name)}</h3>"
                    + (f"<p>{_e(schema['description'])}</p>" if schema.get("description") else "")
                    + f"<pre>{_schema_text(schema)}</pre>")
    return _page("Vool API", "".join(body), "".join(nav))


def _operation_html(anchor, path, method, op, components):
    who = op["x-access"] + (f", scope <code>{_e(op['x-scope'])}</code>" if "x-scope" in op
                            else "")
    parts = [f"<section class='op' id='{anchor}'><h3><span class='m {method}'>"
             f"{_e(method.upper())}</span><code>{_e(path)}</code></h3>"
             f"<p>{_e(op['summary'])}</p><p class='tag'>Who: {who}</p>"]
    if op.get("description"):
        parts.append(f"<p>{_e(op['description'])}</p>")
    if op.get("parameters"):
        parts.append("<table><tr><th>parameter</th><th>in</th><th>schema</th><th></th></tr>"
                     + "".join(f"<tr><td><code>{_e(p['name'])}</code>"
                               f"{'' if p['required'] else ' (optional)'}</td><td>{p['in']}</td>"
                               f"<td><code>{_e(json.dumps(p['schema']))}</code></td>"
                               f"<td>{_e(p.get('description', ''))}</td></tr>"
                               for p in op["parameters"]) + "</table>")
    if "requestBody" in op:
        [(media, content)] = op["requestBody"]["content"].items()
        parts.append(f"<p>Body: <code>{_e(media)}</code></p>"
                     f"<pre>{_schema_text(content['schema'])}</pre>")
        if media in (JSON, FORM):
            parts.append("<p>Example:</p><pre>" + _e(json.dumps(
                example_of(content["schema"], components), indent=2, ensure_ascii=False))
                + "</pre>")
    rows = []
    for status, answer in op["responses"].items():
        content = answer.get("content", {})
        media = ", ".join(content)
        schema = next(iter(content.values()), {}).get("schema")
        shown = ""
        if status.startswith("2") and schema and JSON in content:
            shown = ("<pre>" + _e(json.dumps(example_of(schema, components), indent=2,
                                             ensure_ascii=False)) + "</pre>")
        elif schema:
            shown = f"<pre>{_schema_text(schema)}</pre>" if status.startswith("2") else ""
        description = _e(answer["description"])
        description = re.sub(r"\[([a-z-]+)\]\((/problems/[a-z-]+)\)",
                             r"<a href='\2'>\1</a>", description)
        rows.append(f"<tr><td>{_e(status)}</td><td><code>{_e(media)}</code></td>"
                    f"<td>{description}{shown}</td></tr>")
    parts.append("<table><tr><th>status</th><th>content</th><th>what</th></tr>"
                 + "".join(rows) + "</table></section>")
    return "".join(parts)


def problem_page(slug):
    """The page a problem ``type`` resolves to (RFC 9457)."""
    status, title, text = PROBLEM_TYPES[slug]
    return _page(f"Problem: {slug}", (
        f"<h1>{_e(title)}</h1><p>Type <code>{_e(problem_type(slug))}</code>, HTTP status "
        f"<b>{status}</b>.</p><p>{_e(text)}</p><p>The body of such an answer is "
        "<code>application/problem+json</code>: <code>{type, title, status, detail, "
        "errors?}</code>; <code>detail</code> says what happened this time, "
        "<code>errors</code> lists <code>{field, message}</code> for each invalid field."
        "</p>"))


def problems_index():
    rows = "".join(f"<tr><td><a href='{problem_type(slug)}'>{_e(slug)}</a></td>"
                   f"<td>{status}</td><td>{_e(title)}</td></tr>"
                   for slug, (status, title, _) in sorted(PROBLEM_TYPES.items(),
                                                          key=lambda i: (i[1][0], i[0])))
    return _page("Problem types", "<h1>Problem types</h1><p>Every <code>type</code> of an "
                 "application/problem+json answer of the Vool API.</p><table><tr><th>type"
                 "</th><th>status</th><th>title</th></tr>" + rows + "</table>")
