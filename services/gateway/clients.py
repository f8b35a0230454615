"""RPC from the gateway to the services, bounded in time.

nameko's RpcProxy waits forever for a service that is down. Here every call has
a deadline (VOOL_RPC_TIMEOUT seconds); a request message that nobody picked up
by then expires in the queue, so a service that comes back later does not act
on a request whose caller was already told 503.
"""
import logging

import eventlet
from kombu.exceptions import OperationalError
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import MethodProxy, ReplyListener

from services.common import config as cfg
from services.common import errors  # noqa: F401  registers our typed errors for replies
from services.common.errors import ServiceUnavailable

log = logging.getLogger(__name__)


class Services:
    """``services.call("metering", "submit_reading", command)`` for one worker."""

    def __init__(self, worker_ctx, reply_listener, timeout):
        self._worker_ctx = worker_ctx
        self._reply_listener = reply_listener
        self.timeout = timeout

    def call(self, service, method, *args, timeout=None, **kwargs):
        timeout = timeout or self.timeout
        proxy = MethodProxy(self._worker_ctx, service, method, self._reply_listener,
                            expiration=timeout)
        reply = None
        try:
            with eventlet.Timeout(timeout):
                reply = proxy.call_async(*args, **kwargs)
                return reply.result()
        except eventlet.Timeout:
            if reply is not None:
                self._reply_listener.forget(reply.reply_event)
            raise ServiceUnavailable(f"the {service} service did not answer within {timeout:g} s") from None
        except UnknownService:
            raise ServiceUnavailable(f"the {service} service is not running") from None
        except (OperationalError, OSError) as exc:
            log.warning("message broker unreachable: %s", exc)
            raise ServiceUnavailable("the message broker is unreachable") from None


class ForgetfulReplyListener(ReplyListener):
    """nameko's listener keeps waiting for the reply to a call whose caller gave up
    (an entry per timed-out call, forever, while a service is down); forget it."""

    @property
    def waiting(self):
        return len(self._reply_events)

    def forget(self, reply_event):
        for correlation_id, event in list(self._reply_events.items()):
            if event is reply_event:
                del self._reply_events[correlation_id]


class ServiceRpc(DependencyProvider):
    reply_listener = ForgetfulReplyListener()

    def setup(self):
        self.timeout = cfg.float_setting(self.container.config, "VOOL_RPC_TIMEOUT", 5.0)

    def get_dependency(self, worker_ctx):
        return Services(worker_ctx, self.reply_listener, self.timeout)
