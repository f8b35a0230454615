"""How a change under a mandate ended, written to the grantor's access log.

identity logs the change as attempted when it authorizes it (services/gateway/auth.py
notes the entry on the request); here, once the route's or page's handler has
answered, the entry gets its outcome: done for a 2xx/3xx answer, refused for a
4xx (the service said no: validation, conflict). A 5xx answer, or a gateway that
stops on the way, leaves it attempted: nobody knows whether it happened. Only a
change under a mandate costs the one more call.

The provider also names the use for the log: the handler's name (an API route's
OpenAPI operationId, a portal page's method), unless the handler names its own.
"""
import functools
import logging

from nameko.extensions import DependencyProvider
from nameko.web.handlers import HttpRequestHandler

from services.common.errors import ServiceUnavailable
from services.gateway.problems import status_of

log = logging.getLogger(__name__)

#: the most the outcome's call may wait (the request's own deadline may be spent)
OUTCOME_TIMEOUT = 5.0


def outcome_of(response=None, exc=None):
    """done, refused, or None when it is not known (a 5xx, a bug)."""
    if exc is not None:
        known = status_of(exc)
        status = known[0] if known else 500
    else:
        status = getattr(response, "status_code", 200)
    if status < 400:
        return "done"
    return "refused" if status < 500 else None


def record(services, request, outcome):
    pending = getattr(request, "pending_use", None)
    if pending is None or outcome is None:
        return
    entry_id, customer_id = pending
    request.pending_use = None
    try:
        services.call("identity", "record_use_outcome", entry_id, customer_id, outcome,
                      timeout=OUTCOME_TIMEOUT)
    except ServiceUnavailable:     # the entry stays attempted; the answer stands
        log.warning("the outcome of access-log entry %s could not be recorded", entry_id)


class UseOutcomes(DependencyProvider):
    """Wraps each HTTP handler of the worker: names the use, records the outcome
    before the answer leaves (so the grantor's log already says it)."""

    def worker_setup(self, worker_ctx):
        if not isinstance(worker_ctx.entrypoint, HttpRequestHandler) or not worker_ctx.args:
            return
        service, name = worker_ctx.service, worker_ctx.entrypoint.method_name
        handler = getattr(service, name)
        request = worker_ctx.args[0]
        request.use_code = name

        @functools.wraps(handler)
        def and_outcome(*args, **kwargs):
            try:
                response = handler(*args, **kwargs)
            except Exception as exc:
                record(service.services, request, outcome_of(exc=exc))
                raise
            record(service.services, request, outcome_of(response))
            return response
        # the worker's own instance: this request's handler only
        setattr(service, name, and_outcome)

    def get_dependency(self, worker_ctx):
        return None
