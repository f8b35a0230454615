"""RPC to another service, bounded in time (the gateway, and contracts asking billing).

nameko's RpcProxy waits forever for a service that is down. Here every call has
a deadline (VOOL_RPC_TIMEOUT seconds); a request message that nobody picked up
by then expires in the queue, so a service that comes back later does not act
on a request whose caller was already told 503.
"""
import logging
import time

import eventlet
from eventlet import corolocal
from kombu.exceptions import OperationalError
from nameko.exceptions import UnknownService, deserialize
from nameko.extensions import DependencyProvider
from nameko.rpc import MethodProxy, RpcReply

from services.common import config as cfg
from services.common import correlation, tracing
from services.common import errors  # noqa: F401  registers our typed errors for replies
from services.common.errors import ServiceUnavailable
from services.common.rpc import SafeReplyListener
from services.common.tracing import SpanKind

log = logging.getLogger(__name__)


class Services:
    """``services.call("metering", "submit_reading", command)`` for one worker."""

    def __init__(self, worker_ctx, reply_listener, timeout):
        self._worker_ctx = worker_ctx
        self._reply_listener = reply_listener
        self.timeout = timeout
        self._deadline = None

    def call(self, service, method, *args, timeout=None, **kwargs):
        with tracing.span(f"{service}.{method}", SpanKind.CLIENT, {
                "rpc.system": "nameko", "rpc.service": service, "rpc.method": method}):
            return self._call(service, method, args, kwargs, timeout)

    def _call(self, service, method, args, kwargs, timeout):
        timeout = timeout or self._remaining()
        proxy = CorrelatedMethodProxy(self._worker_ctx, service, method, self._reply_listener,
                                      expiration=timeout)
        try:
            with eventlet.Timeout(timeout):
                return proxy.call_async(*args, **kwargs).result()
        except eventlet.Timeout:
            self._reply_listener.forget_this_call()
            raise ServiceUnavailable(f"the {service} service did not answer within {timeout:.1f} s") from None
        except UnknownService:
            self._reply_listener.forget_this_call()
            raise ServiceUnavailable(f"the {service} service is not running") from None
        except (OperationalError, OSError) as exc:
            self._reply_listener.forget_this_call()
            log.warning("message broker unreachable: %s", exc)
            raise ServiceUnavailable("the message broker is unreachable") from None

    def _remaining(self):
        """The timeout is the request's, not each call's: a request that first waits
        4 s for identity then calls a service that is down still answers 503
        after VOOL_RPC_TIMEOUT seconds, not twice that (found by make chaos)."""
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self.timeout
        return max(0.05, self._deadline - now)


class QuietReply(RpcReply):
    """nameko's RpcReply logs each answer whole at DEBUG (session tokens, personal
    codes): this one does not."""

    def result(self):
        if self.resp_body is None:
            self.resp_body = self.reply_event.wait()
        error = self.resp_body.get("error")
        if error:
            raise deserialize(error)
        return self.resp_body["result"]


class CorrelatedMethodProxy(MethodProxy):
    """Sends the request id and this call's span (its traceparent) in the context
    data, whichever green thread of the worker makes the call; its reply is quiet."""

    def call_async(self, *args, **kwargs):
        return QuietReply(self._call(*args, **kwargs).reply_event)

    def get_message_headers(self, worker_ctx):
        headers = super().get_message_headers(worker_ctx)
        headers.update({self._get_header_name(key): value
                        for key, value in correlation.rpc_context().items()})
        return headers


class ForgetfulReplyListener(SafeReplyListener):
    """nameko's listener waits for the reply to every call it saw go out, also when
    the caller gave up (timed out, service not running, broker away): an entry per
    such call, kept forever. The caller forgets its call here."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._calls = corolocal.local()   # each green thread's call in progress

    @property
    def waiting(self):
        return len(self._reply_events)

    def get_reply_event(self, correlation_id):
        self._calls.correlation_id = correlation_id
        return super().get_reply_event(correlation_id)

    def forget_this_call(self):
        correlation_id = getattr(self._calls, "correlation_id", None)
        if correlation_id is not None:
            self._reply_events.pop(correlation_id, None)


class ServiceRpc(DependencyProvider):
    reply_listener = ForgetfulReplyListener()

    def setup(self):
        self.timeout = cfg.float_setting(self.container.config, "VOOL_RPC_TIMEOUT", 5.0)

    def get_dependency(self, worker_ctx):
        return Services(worker_ctx, self.reply_listener, self.timeout)
