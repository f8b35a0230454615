"""Errors leave the gateway as application/problem+json (RFC 9457).

The one table below maps every error the gateway knows to its HTTP status, a
stable problem type and a title. Anything not in it is an internal error: a
500 with no details, its traceback only in the log.
"""
import json
import logging

from nameko.exceptions import RemoteError, UnknownService
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from services.common import errors

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class MalformedJson(errors.VoolError):
    """The request body is not the JSON it should be."""


class UnsupportedMediaType(errors.VoolError):
    pass


#: error class -> (status, problem type slug, title)
PROBLEMS = {
    MalformedJson: (400, "malformed-json", "The request body is not valid JSON"),
    errors.Unauthenticated: (401, "unauthenticated", "Authentication is required"),
    errors.Forbidden: (403, "forbidden", "Not allowed"),
    errors.NotFound: (404, "not-found", "Not found"),
    errors.Conflict: (409, "conflict", "Conflict"),
    errors.TooManyAttempts: (429, "too-many-attempts", "Too many attempts"),
    UnsupportedMediaType: (415, "unsupported-media-type", "Unsupported media type"),
    errors.ValidationFailed: (422, "validation-failed", "The request is not valid"),
    errors.ServiceUnavailable: (503, "service-unavailable", "A service is unavailable"),
    UnknownService: (503, "service-unavailable", "A service is unavailable"),
}

#: what a service raises when it cannot reach its database (PostgreSQL restarting,
#: SQLite locked): the service is unavailable for now, not broken, so a 503 the
#: client may retry, never a 500
DATABASE_UNAVAILABLE = ("OperationalError", "InterfaceError", "DisconnectionError")

HTTP_STATUS_TYPES = {
    404: "not-found", 405: "method-not-allowed", 400: "bad-request",
    413: "payload-too-large", 415: "unsupported-media-type",
}


def problem_type(slug):
    return f"/problems/{slug}"


def problem(status, slug, title, detail="", field_errors=None, headers=None):
    body = {"type": problem_type(slug), "title": title, "status": status, "detail": detail}
    if field_errors:
        body["errors"] = field_errors
    return Response(json.dumps(body, ensure_ascii=False), status=status,
                    content_type=PROBLEM_JSON, headers=headers)


def status_of(exc):
    """``(status, title)`` of a known error, None for anything else (a bug)."""
    for error_class, (status, _, title) in PROBLEMS.items():
        if isinstance(exc, error_class):
            return status, title
    return None


def problem_from_exception(exc):
    for error_class, (status, slug, title) in PROBLEMS.items():
        if isinstance(exc, error_class):
            detail = str(exc) if isinstance(exc, errors.VoolError) else title
            if isinstance(exc, UnknownService):
                detail = f"the {exc} service is not running"
            headers = None
            if isinstance(exc, errors.TooManyAttempts):
                headers = {"Retry-After": str(exc.retry_after)}
            return problem(status, getattr(exc, "code", None) or slug, title, detail,
                           getattr(exc, "errors", None), headers)
    if isinstance(exc, HTTPException):
        return problem_from_http_exception(exc)
    if isinstance(exc, RemoteError) and exc.exc_type in DATABASE_UNAVAILABLE:
        log.warning("a service could not reach its database: %s", exc)
        return problem(503, "service-unavailable", "A service is unavailable",
                       "a service could not reach its database; try again shortly")
    if isinstance(exc, RemoteError):
        log.error("a service failed: %s", exc)
    else:
        log.error("unhandled error in the gateway", exc_info=exc)
    return problem(500, "internal-error", "Internal error",
                   "Something went wrong on our side; it has been logged.")


def problem_from_http_exception(exc: HTTPException):
    status = exc.code or 500
    slug = HTTP_STATUS_TYPES.get(status, "http-error")
    headers = None
    if status == 405 and getattr(exc, "valid_methods", None):
        headers = {"Allow": ", ".join(exc.valid_methods)}
    return problem(status, slug, exc.name, exc.description or "", headers=headers)
