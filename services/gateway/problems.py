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


#: every problem ``type`` the gateway answers with -> (status, title, what it means and
#: what the client can do). Each is a page at /problems/<slug> (RFC 9457: a type
#: URI should resolve to documentation for people). Codes the services raise with
#: (``code="..."`` on an error) are here too; a test holds the two lists together.
PROBLEM_TYPES = {
    "malformed-json": (400, "The request body is not valid JSON",
                       "The body could not be read as JSON (UTF-8). Fix the client's "
                       "serialisation; sending it again unchanged will fail again."),
    "bad-request": (400, "Bad request", "The HTTP request itself is malformed."),
    "unauthenticated": (401, "Authentication is required",
                        "The route needs a session: send Authorization: Bearer <token>, "
                        "the token from a banklink login or POST /api/v1/operator/login."),
    "session-invalid": (401, "Authentication is required",
                        "The token is not one Vool issued, or its session has ended "
                        "(logout). Log in again."),
    "session-expired": (401, "Authentication is required",
                        "The session's time is up. Log in again."),
    "bad-credentials": (401, "Authentication is required",
                        "The user name or the password is wrong. Repeated failures are "
                        "slowed down (too-many-attempts)."),
    "forbidden": (403, "Not allowed",
                  "You are logged in but may not do this."),
    "wrong-principal": (403, "Not allowed",
                        "The route is for customers and the session is an operator's, "
                        "or the other way round."),
    "scope-missing": (403, "Not allowed",
                      "You act for this customer under a mandate that does not cover the "
                      "scope this route needs (see the route's scope in /api/docs)."),
    "self-only": (403, "Not allowed",
                  "Only the customer themselves may do this (manage mandates, read the "
                  "access log); a mandate never allows it."),
    "mandate-consumption-point": (403, "Not allowed",
                                  "Your mandate covers other consumption points of this "
                                  "customer, not this one."),
    "no-active-contract": (403, "Not allowed",
                           "The bank vouched for you, but you have no active contract and "
                           "no mandate from anyone: there is nothing to show you yet."),
    "form-token-mismatch": (403, "Not allowed",
                            "A portal form that did not come from your session's page "
                            "(cross-site request). Reload the page and send it again."),
    "invalid-client": (401, "Authentication is required",
                       "At the token endpoint: the application's client_id is not known or "
                       "its client secret is wrong (RFC 6749 error invalid_client)."),
    "invalid-token": (401, "Authentication is required",
                      "A sharing access token that is not valid: unknown, expired, or its "
                      "grant was revoked or has ended. Refresh it, or ask the customer "
                      "again."),
    "invalid-grant": (403, "Not allowed",
                      "At the token endpoint: the authorization code or refresh token is "
                      "not valid (expired, used, another client's, a wrong redirect_uri or "
                      "code_verifier); RFC 6749 error invalid_grant. A used one presented "
                      "again revokes the grant."),
    "insufficient-scope": (403, "Not allowed",
                           "The customer's sharing grant does not cover this data (its "
                           "scopes)."),
    "outside-grant-dates": (403, "Not allowed",
                            "The period asked for reaches beyond the last day of the "
                            "customer's sharing grant."),
    "not-found": (404, "Not found",
                  "No such resource, or not one you may see: another customer's data is "
                  "never revealed to exist."),
    "unknown-client": (404, "Not found",
                       "No registered application has this client_id."),
    "invalid-request": (422, "The request is not valid",
                        "At the token endpoint: a parameter is missing or given twice "
                        "(RFC 6749 error invalid_request)."),
    "banklink-unknown-bank": (404, "Not found",
                              "No bank with this id; GET /api/v1/auth/banks lists them."),
    "oidc-unknown-provider": (401, "Authentication is required",
                              "No OpenID Connect provider with this id; GET "
                              "/api/v1/auth/providers lists them (kind oidc)."),
    "oidc-provider-unavailable": (503, "A service is unavailable",
                                  "The OpenID Connect provider's discovery document, keys "
                                  "or token endpoint could not be reached. Try again "
                                  "shortly."),
    "oidc-unknown-state": (401, "Authentication is required",
                           "The callback's state was not issued by Vool for this provider. "
                           "Start the login again."),
    "oidc-reused-state": (401, "Authentication is required",
                          "This login's state was already used once (a replayed callback). "
                          "Start the login again."),
    "oidc-expired-state": (401, "Authentication is required",
                           "The login was started more than 10 minutes ago. Start it "
                           "again."),
    "oidc-other-browser": (401, "Authentication is required",
                           "The login was started by another browser or client (the "
                           "vool_oidc cookie of the start is missing or different)."),
    "oidc-provider-refused": (401, "Authentication is required",
                              "The provider sent an error instead of a code (the person "
                              "cancelled, or the provider refused)."),
    "oidc-no-code": (401, "Authentication is required",
                     "The callback carries no authorization code."),
    "oidc-token-refused": (401, "Authentication is required",
                           "The provider's token endpoint did not exchange the code for an "
                           "ID token (a used or expired code, or our client was refused)."),
    "oidc-malformed-token": (401, "Authentication is required",
                             "The ID token is not a signed JWT Vool can read, or lacks a "
                             "claim it needs."),
    "oidc-unknown-key": (401, "Authentication is required",
                         "The ID token is signed with a key the provider does not publish "
                         "(its key set was fetched again, at most once a minute)."),
    "oidc-bad-signature": (401, "Authentication is required",
                           "The ID token's signature does not verify with the provider's "
                           "published key."),
    "oidc-wrong-issuer": (401, "Authentication is required",
                          "The ID token's iss is not the configured provider's issuer."),
    "oidc-wrong-audience": (401, "Authentication is required",
                            "The ID token's aud is not Vool's client id at the provider."),
    "oidc-expired-token": (401, "Authentication is required",
                           "The ID token's exp has passed (30 seconds of clock skew "
                           "allowed)."),
    "oidc-bad-iat": (401, "Authentication is required",
                     "The ID token's iat is in the future or more than 10 minutes ago."),
    "oidc-nonce-mismatch": (401, "Authentication is required",
                            "The ID token's nonce is not the one this login sent."),
    "oidc-reused-nonce": (401, "Authentication is required",
                          "The ID token carries the nonce of another, earlier login (a "
                          "replayed token)."),
    "oidc-acr-too-low": (401, "Authentication is required",
                         "The login's level of assurance (acr) is below the provider's "
                         "configured minimum_acr."),
    "oidc-bad-person-code": (401, "Authentication is required",
                             "The ID token's person claim does not hold a valid Estonian "
                             "personal code (TARA: EE and the code)."),
    "oidc-bad-name": (401, "Authentication is required",
                      "The ID token names no person (no given and family name)."),
    "payment-order-unknown": (404, "Not found",
                              "The bank's payment reply names a payment Vool did not start."),
    "method-not-allowed": (405, "Method not allowed",
                           "The path exists but not with this method; the Allow header "
                           "lists the ones it has."),
    "conflict": (409, "Conflict",
                 "The request contradicts the resource's current state."),
    "idempotency-key-reused": (409, "Conflict",
                               "This Idempotency-Key was used before with another reading. "
                               "Use a new key for a new reading; the same key with the same "
                               "body answers the first answer again."),
    "reading-under-review": (409, "Conflict",
                             "A reading of this consumption point is held for review; "
                             "another waits until the desk has decided."),
    "reading-decided": (409, "Conflict",
                        "The reading has been decided (accepted or rejected): only a reading "
                        "held for review can be withdrawn."),
    "already-linked": (409, "Conflict",
                       "The consumption point is already linked to this customer."),
    "mandate-overlaps": (409, "Conflict",
                         "The person already holds a mandate from this customer for the same "
                         "time; revoke it first or change its dates."),
    "payment-reply-mismatch": (409, "Conflict",
                               "The bank's payment reply does not match the payment Vool "
                               "started (amount, reference or account)."),
    "payload-too-large": (413, "Request Entity Too Large",
                          "The body (or a form's fields) is larger than this route takes; "
                          "the limit is in the problem's detail."),
    "unsupported-media-type": (415, "Unsupported media type",
                               "The body's Content-Type is not the one this route takes "
                               "(application/json unless the route says otherwise)."),
    "validation-failed": (422, "The request is not valid",
                          "Well-formed, but not valid: ``errors`` lists each field "
                          "(a dotted path, or ``body``) with what is wrong with it."),
    "too-many-attempts": (429, "Too many attempts",
                          "Too many failed attempts in a short time; wait the seconds of "
                          "the Retry-After header."),
    "http-error": (400, "Bad request",
                   "The HTTP request could not be handled as sent; the detail says why."),
    "internal-error": (500, "Internal error",
                       "A bug on Vool's side; it has been logged. Retrying may not help."),
    "service-unavailable": (503, "A service is unavailable",
                            "A service behind the gateway did not answer in time or cannot "
                            "reach its database. Safe to retry shortly (readings with the "
                            "same Idempotency-Key)."),
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
    if isinstance(exc, HTTPException) and exc.code and exc.code < 500:
        return exc.code, exc.name      # a body over the limit, say
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
