"""The gateway's HTTP entrypoint: nameko's ``@http`` with JSON in and out,
problem+json for every error, and a declared access rule and schema per route
(the OpenAPI document and the access checks are built from these declarations).
"""
import functools
import json
import logging

from nameko.extensions import DependencyProvider
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WsgiApp
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Request, Response

from services.common import config as cfg
from services.common import correlation, metrics
from services.common.errors import NotFound, ValidationFailed, VoolError
from services.common.validation import NUL, NUL_CODE, NUL_MESSAGE, parse, refuse_nul
from services.common.web import ExclusiveWebServer
from services.gateway.auth import authorize
from services.gateway.problems import (MalformedJson, UnsupportedMediaType,
                                       problem_from_exception, problem_from_http_exception)

log = logging.getLogger(__name__)

#: who may call a route (enforced by services/gateway/auth.py)
ACCESS_RULES = ("public", "customer", "operator", "authenticated",
                # a third-party application with a sharing access token (OAuth 2)
                "application")

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

#: the most a request body may hold (Werkzeug's max_content_length): JSON and the
#: banks' forms are small; a route that takes a file (CSV, camt.053) names its own
MAX_BODY_BYTES = 64 * 1024
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
#: the most a form's fields may hold in memory, and how many parts it may have
MAX_FORM_MEMORY_BYTES = 64 * 1024
MAX_FORM_PARTS = 100
#: deeper JSON is refused before it is parsed (a client's data is never this deep;
#: json.loads would recurse until RecursionError)
MAX_JSON_DEPTH = 32


def limit_request(request, provider):
    """Werkzeug's limits on every request the gateway reads, API route or portal
    page: a body over the limit is refused (413) before anyone parses it."""
    request.max_content_length = getattr(provider, "max_body", MAX_BODY_BYTES)
    request.max_form_memory_size = MAX_FORM_MEMORY_BYTES
    request.max_form_parts = MAX_FORM_PARTS
    if request.content_length is not None and request.content_length > request.max_content_length:
        raise RequestEntityTooLarge(
            f"the body may hold at most {request.max_content_length} bytes here")
    if request.mimetype in (FORM, "multipart/form-data"):
        # parsed here, within the limits, so that a portal page refuses a form as the
        # API does (the handler finds it parsed)
        request.shallow = False
        request.form


class ProblemWsgiApp(WsgiApp):
    """Routing failures (unknown path, wrong method) answer problem+json too, or the
    page of the server's ``error_page`` renderer when it gives one (the portal's,
    to a browser outside the API)."""

    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
            environ[metrics.ROUTE_ENVIRON_KEY] = provider.url   # counted by its template
            if any(NUL in value for value in values.values()):   # no such resource
                raise NotFound(f"{request.path!r} names nothing here")
            for name, value in request.args.items(multi=True):
                if NUL in name or NUL in value:
                    raise ValidationFailed.field(name.replace(NUL, ""), NUL_MESSAGE, NUL_CODE)
            request.path_values = values
            limit_request(request, provider)
            response = provider.handle_request(request)
        except HTTPException as exc:
            page = self.server.error_page(request, exc) if self.server.error_page else None
            response = page if page is not None else problem_from_http_exception(exc)
        except Exception as exc:  # never a stack trace to the client
            response = problem_from_exception(exc)
        return response(environ, start_response)


class ProblemWebServer(ExclusiveWebServer):
    address_setting = "VOOL_GATEWAY_ADDRESS"

    #: ``(request, HTTPException) -> Response | None``: a page for a routing failure,
    #: None for problem+json. Given by the layer above (the portal's pages) so that
    #: this plumbing knows nothing of pages.
    error_page = None

    def render_errors_with(self, error_page):
        self.error_page = error_page

    def get_wsgi_app(self):
        app = ProblemWsgiApp(self)
        app = correlation.RequestIds(metrics.measured_wsgi(app), app.url_map)
        # Behind an ingress or load balancer every connection comes from the proxy:
        # with VOOL_TRUSTED_PROXIES=N the client is the address N hops back in
        # X-Forwarded-For (what the login limits count); 0 trusts no header at all,
        # since a client can send one itself.
        hops = cfg.int_setting(self.container.config, "VOOL_TRUSTED_PROXIES", 0)
        return ProxyFix(app, x_for=hops, x_proto=0, x_host=0) if hops > 0 else app

    def context_data_from_headers(self, request):
        return correlation.rpc_context()   # the request id and span RequestIds made current


class Route(HttpRequestHandler):
    """A gateway route and its declaration, from which the access checks and the
    OpenAPI document (services/gateway/openapi.py) are made:

    - ``request_model``: what the body must be (a pydantic model, for JSON; for
      ``request_media`` of another type its schema, or none: text);
    - ``response_model``: what a 2xx answer holds: a pydantic model or type
      (``list[Invoice]``), an RPC method of a service's api.py whose result the
      route returns as-is (anything with ``returns``), or the dotted name of one
      (``"services.metering.api.Reading"``), resolved when the document is made;
    - ``query``: a pydantic model whose fields are the query parameters;
      ``header_parameters``: request headers it reads, name -> (schema, what);
    - ``path``: schemas of path parameters beyond the common ones (openapi.py);
    - ``problems``: the 4xx it can answer beyond what its access rule and its
      body imply (409, 422, 429, ...), and ``calls``: the RPC methods (of the
      services' api.py) it calls besides ``response_model``'s, whose ``raises``
      count too; ``headers``: of its 2xx answer;
    - ``responses``: answers other than a problem, by status (``{503: Health}``),
      and ``response_headers``: the headers of those, by status;
    - ``standalone``: it asks no service, so it never answers 503;
    - ``max_body``: the largest body it takes, in bytes.
    """
    server = ProblemWebServer()

    def __init__(self, method, url, access, summary, scope=None, request_model=None,
                 response_model=None, status=200, tag="system", *, request_media=JSON,
                 response_media=JSON, query=None, header_parameters=None, path=None,
                 problems=(), headers=None,
                 description=None, responses=None, response_headers=None, standalone=False,
                 calls=(), max_body=None, alternative_media=(), **kwargs):
        if access not in ACCESS_RULES:
            raise ValueError(f"unknown access rule {access!r}")
        if "<cid>" in url and (access != "customer" or scope is None):
            raise ValueError(f"{url}: a customer's route names the scope it needs")
        self.access = access
        self.scope = scope
        self.summary = summary
        self.description = description
        self.request_model = request_model
        self.request_media = request_media
        self.reads_body = request_model is not None or request_media != JSON
        self.response_model = response_model
        self.response_media = response_media
        #: other forms of the same answer a client may ask for with Accept
        self.alternative_media = tuple(alternative_media)
        self.status = status
        self.tag = tag
        self.query = query
        self.header_parameters = header_parameters or {}
        self.path_schemas = path or {}
        self.problems = tuple(problems)
        self.calls = tuple(calls)
        self.headers = headers or {}
        self.responses = responses or {}
        self.response_headers = response_headers or {}
        self.standalone = standalone
        self.max_body = max_body or (MAX_BODY_BYTES if request_media in (JSON, FORM)
                                     else MAX_UPLOAD_BYTES)
        # a refused request is an answer (4xx/503), not a bug: logged in one line
        kwargs.setdefault("expected_exceptions", (VoolError, HTTPException))
        super().__init__(method, url, **kwargs)

    def response_from_result(self, result):
        if isinstance(result, Response):
            return result
        return Response(json.dumps(result, ensure_ascii=False), status=self.status,
                        content_type="application/json")

    def response_from_exception(self, exc):
        return problem_from_exception(exc)


def route(method, url, access, summary, scope=None, **options):
    """Declare a gateway route. Its handler runs only after ``authorize`` let the
    caller through under the declared access rule; ``request.principal`` is who
    they are (None on public routes). The service needs a ``services`` ServiceRpc,
    and ``principals`` (services/gateway/principals.py) unless all its routes are
    public."""
    query = options.get("query")

    def decorate(handler):
        @functools.wraps(handler)
        def guarded(self, request, **path):
            request.principal = None if access == "public" else authorize(
                self.services, self.principals, request, access, scope,
                path.get("cid"), path.get("cp"), summary)
            if query is not None:   # the declared parameters, each named when refused
                names = [field.alias or name for name, field in query.model_fields.items()]
                request.query = parse(query, {name: request.args[name] for name in names
                                              if name in request.args})
            return handler(self, request, **path)
        return Route.decorator(method, url, access=access, summary=summary, scope=scope,
                               **options)(guarded)
    return decorate


def public_url(config):
    """Where customers' browsers and the banks reach the gateway, without a final /."""
    return cfg.setting(config, "VOOL_PUBLIC_URL", "http://localhost:8000").rstrip("/")


def json_response(body, status=200, headers=None):
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=headers,
                    content_type="application/json")


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings
    do not count); valid or not, it is measured without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:          # backslash
                escaped = True
            elif byte == 0x22:          # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):      # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):      # ] }
            depth -= 1
    return deepest


def json_body(request, model=None, prefix=""):
    """The request's JSON body, validated against ``model`` when given."""
    if request.mimetype not in ("application/json", "") and not request.mimetype.endswith("+json"):
        raise UnsupportedMediaType(f"send application/json, not {request.mimetype}")
    raw = request.get_data(cache=True)
    if json_depth(raw) > MAX_JSON_DEPTH:   # well-formed or not, no model is this deep
        raise ValidationFailed.field(prefix or "body",
                                     f"nested deeper than {MAX_JSON_DEPTH} levels",
                                     "json-too-deep", max_depth=MAX_JSON_DEPTH)
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedJson(f"the body is not valid JSON: {exc}") from None
    refuse_nul(body, prefix)
    return parse(model, body, prefix) if model is not None else body


def form_body(request):
    """An application/x-www-form-urlencoded body (as banks post them), as a dict."""
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise UnsupportedMediaType(f"send a form, not {request.mimetype or 'nothing'}")
    form = {key: value for key, value in request.form.items()}
    refuse_nul(form)
    return form


class RequestWorkers(DependencyProvider):
    """The gateway's own number of workers, ``VOOL_GATEWAY_MAX_WORKERS`` (100), not
    the services' ``VOOL_MAX_WORKERS``: a request mostly waits for a service, and
    with 10 workers the 11th client of a service that was down waited its turn for a
    worker first and had its 503 after twice the timeout (make chaos)."""

    def setup(self):
        size = cfg.int_setting(self.container.config, "VOOL_GATEWAY_MAX_WORKERS", 100)
        metrics.serving(self.container.service_name)   # the gateway's /metrics names it
        self.container.max_workers = size
        self.container._worker_pool.resize(size)   # made before any provider's setup

    def get_dependency(self, worker_ctx):
        return None


#: a client that would rather follow a job than wait for its answer says so (RFC 7240)
PREFER_ASYNC = {"Prefer": (
    {"type": "string", "examples": ["respond-async"]},
    "`respond-async` (RFC 7240): answer 202 at once with the job doing the work "
    "(`Location` names it: GET it for its state, progress and result) instead of "
    "waiting for the result")}
JOB_HEADERS = {"Location": "The job: GET /api/v1/operator/jobs/{job_id}",
               "Preference-Applied": "respond-async, when the client asked for it"}


def prefers_async(request):
    """Whether the request's Prefer header (RFC 7240) holds ``respond-async``."""
    for header in request.headers.getlist("Prefer"):
        for preference in header.split(","):
            token = preference.split(";", 1)[0].split("=", 1)[0].strip().lower()
            if token == "respond-async":
                return True
    return False


def job_accepted(job, applied=False):
    """202 with the job and where to follow it."""
    headers = {"Location": f"/api/v1/operator/jobs/{job['job_id']}", "Vary": "Prefer"}
    if applied:
        headers["Preference-Applied"] = "respond-async"
    return json_response(job, status=202, headers=headers)
