"""Logging for the services: a refused request is not a bug.

nameko logs an entrypoint's expected exception (our VoolErrors: not found,
validation, conflict, ...) as a warning *with its traceback*, which buries the
real errors; this filter keeps the one-line message and drops the traceback.
deploy/config/nameko.yaml attaches it to the console handler.

With VOOL_LOG_FORMAT=json (the default in compose) the console writes JSON lines
(JsonLines below); without it, the plain one-line text `make run` shows, with
the first 8 characters of the request id in brackets ("-" outside a request).
"""
import logging
import os
import re
import sys
from datetime import datetime, timezone

from pythonjsonlogger.json import JsonFormatter
from stdnum.ee import ik

from services.common import correlation, tracing

EXPECTED = "(expected) error handling worker"


class RequestContext(logging.Filter):
    """Each line says which request it is part of: ``request_id`` (and ``trace_id``,
    ``span_id`` inside a trace) of the worker or HTTP request of this green thread
    (services/common/correlation.py); none outside one (startup, the relay)."""

    def filter(self, record):
        request_id = correlation.current()
        if request_id is not None:
            record.request_id = request_id
        trace_id, span_id = tracing.ids()
        if trace_id is not None:
            record.trace_id, record.span_id = trace_id, span_id
        return True


#: an 11-digit run that may be an isikukood (checked with stdnum before it is hidden)
_DIGITS = re.compile(r"(?<!\d)[1-6]\d{10}(?!\d)")
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+")
#: an OpenID Connect callback's code and state in a URL (the web server's access line)
_OAUTH_QUERY = re.compile(r"([?&](?:code|state)=)[^&\s\"']+")


def redacted(text):
    """``text`` with every valid personal code, bearer token and OAuth callback code
    and state replaced."""
    text = _DIGITS.sub(lambda m: "<personal code>" if ik.is_valid(m.group()) else m.group(),
                       text)
    text = _OAUTH_QUERY.sub(r"\1<redacted>", text)
    return _BEARER.sub(r"\1<token>", text)


class RedactSecrets(logging.Filter):
    """A safety net, not the fix: no module logs personal codes or tokens (a test
    greps a DEBUG load run for them), but should one slip into a message or a
    traceback (a library's debug line, an exception quoting its input), the line
    says ``<personal code>`` instead."""

    def filter(self, record):
        message = record.getMessage()
        clean = redacted(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, redacted(text)
        elif record.exc_text:
            record.exc_text = redacted(record.exc_text)
        return True


class ExpectedErrorsBrief(logging.Filter):
    def filter(self, record):
        if record.name == "nameko.containers" and str(record.msg).startswith(EXPECTED):
            record.exc_info = None
            record.exc_text = None
        return True


def service_name(argv=None):
    """The service this process runs: VOOL_SERVICE_NAME, or the module `nameko run`
    was given (services.billing.service -> billing)."""
    if os.environ.get("VOOL_SERVICE_NAME"):
        return os.environ["VOOL_SERVICE_NAME"]
    for argument in reversed(argv if argv is not None else sys.argv):
        parts = argument.split(":")[0].split(".")
        if len(parts) >= 2 and parts[0] == "services":
            return parts[1]
    return "vool"


class JsonLines(JsonFormatter):
    """time (ISO 8601, UTC), level, logger, message, service, request_id (and
    trace_id, span_id) from RequestContext and, when there is one, exc_info (the
    traceback text) — plus any `extra=` fields."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)
        self.service = service_name()

    def add_fields(self, log_data, record, message_dict):
        log_data["time"] = datetime.fromtimestamp(record.created, timezone.utc).isoformat(
            timespec="milliseconds")
        super().add_fields(log_data, record, message_dict)
        log_data.setdefault("service", self.service)
