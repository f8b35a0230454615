"""The ``@rpc`` entrypoint every service uses.

Our typed errors are expected outcomes (logged briefly, see services/common/logs.py),
anything else is a bug (logged with its traceback).

RPC is a public interface, so no request may stop a service. nameko's own
entrypoint dies on a request without ``reply_to`` or ``content_type`` (its
Responder looks them up unguarded, and the requeued request kills the restarted
service too) and silently drops one it cannot decode. Here a request the service
cannot read — no ``reply_to``, no or a foreign content type, not JSON, not
``{"args": [...], "kwargs": {...}}`` — is parked in ``rpc-<service>.dead-letter``
with its reason (``vool bus dead-letters``) and acked; when it names somewhere to
answer, the caller gets ``nameko.exceptions.MalformedRequest`` at once instead of
waiting for its timeout. A reply that cannot be sent (the broker away) is logged,
not fatal: the caller times out, as it would on a lost reply.
"""
import functools
import inspect
import logging

from kombu.serialization import registry as serializers
from nameko.amqp.publish import Publisher
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY, DEFAULT_SERIALIZER, LOGIN_METHOD_CONFIG_KEY, SERIALIZER_CONFIG_KEY)
from nameko.exceptions import MalformedRequest, serialize
from nameko.rpc import Responder, ReplyListener, Rpc, RpcConsumer, get_rpc_exchange

from services.common import config as cfg
from services.common.errors import VoolError
from services.common.rpc_methods import RpcMethod
from services.common.messaging import (
    SafeQueueConsumer, dead_letter_queue, declare, park, work_queue_arguments)

log = logging.getLogger(__name__)


class RpcQueueConsumer(SafeQueueConsumer):
    """The RPC queue's own connection, as nameko has it."""


class UnconfirmedResponder(Responder):
    """Replies are published without waiting for the broker's confirm. A confirm
    would change nothing: a reply the broker does not take is logged and the request
    acked all the same (handle_result), and its caller times out as on any lost
    reply (reply queues are transient, DESIGN.md). Not waiting saves a round trip
    to RabbitMQ, and RabbitMQ a frame, per call."""

    publisher_cls = functools.partial(Publisher, use_confirms=False)


class GuardedRpcConsumer(RpcConsumer):
    queue_consumer = RpcQueueConsumer()

    def setup(self):
        if self.queue is not None:
            return
        super().setup()
        config = self.container.config
        self.amqp_uri = cfg.amqp_uri(config)
        self.queue.queue_arguments = work_queue_arguments(config)
        self.dead_letter_queue = dead_letter_queue(config, self.queue.name)
        declare(self.amqp_uri, [self.dead_letter_queue])

    def handle_message(self, body, message):
        reason = unreadable(body, message, self.container.accept)
        if reason:
            self.queue_consumer._refuse(self, message, reason)
            return
        super().handle_message(body, message)

    def dead_letter(self, message, reason):
        """Park a request the service cannot read; answer it if it says where."""
        log.warning("refused an RPC request on %s (%s): %s", self.queue.name,
                    message.delivery_info.get("routing_key"), reason)
        park(self.amqp_uri, message, self.queue.name, self.dead_letter_queue.name, reason)
        reply_to = message.properties.get("reply_to")
        if reply_to:
            self._send_error(message, reply_to, MalformedRequest(reason))

    def _send_error(self, message, reply_to, exc):
        try:
            Publisher(self.amqp_uri).publish(
                {"result": None, "error": serialize(exc)}, serializer="json",
                exchange=get_rpc_exchange(self.container.config), routing_key=reply_to,
                correlation_id=message.properties.get("correlation_id"))
        except Exception:
            log.exception("could not send the error reply to %s", reply_to)

    def handle_result(self, message, result, exc_info):
        config = self.container.config
        responder = UnconfirmedResponder(
            self.amqp_uri, get_rpc_exchange(config),
            config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message,
            ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
        try:
            result, exc_info = responder.send_response(result, exc_info)
        except Exception:
            log.exception("could not send the reply of %s; its caller will time out",
                          message.delivery_info.get("routing_key"))
        self.queue_consumer.ack_message(message)
        return result, exc_info


def unreadable(body, message, accept):
    """Why a request cannot be answered as it stands, or None."""
    properties = message.properties
    if not properties.get("reply_to"):
        return "the request has no reply_to: there is nowhere to send the answer"
    content_type = properties.get("content_type")
    if not content_type:
        return "the request has no content_type (application/json expected)"
    if serializers.type_to_name.get(content_type) not in accept:
        return f"content type {content_type} is not one this service reads (application/json)"
    if not (isinstance(body, dict) and isinstance(body.get("args"), list)
            and isinstance(body.get("kwargs"), dict)):
        return 'the request body is not {"args": [...], "kwargs": {...}}'
    return None


class GuardedRpc(Rpc):
    rpc_consumer = GuardedRpcConsumer()


class ReplyQueueConsumer(SafeQueueConsumer):
    """The reply queue's own connection, as nameko has it."""


class SafeReplyListener(ReplyListener):
    """A reply listener that junk on its (exclusive) reply queue cannot stop."""

    queue_consumer = ReplyQueueConsumer()

    def setup(self):
        super().setup()
        # transient, as DESIGN.md has reply queues: a durable one lives on the node
        # that declared it, and with that node down it cannot be declared again on
        # another node of a cluster, so every reply would be lost (make chaos)
        self.queue.durable = False

    def dead_letter(self, message, reason):
        # A reply queue is private to one process and goes with it: there is no
        # dead-letter queue that would outlive it, and no caller waits for junk.
        log.warning("dropped an unreadable message on %s: %s", self.queue.name, reason)


def rpc(fn=None, **options):
    """``@rpc``, ``@rpc(sensitive_arguments=...)``, or ``@rpc(api.method)`` with a
    published RpcMethod (services/common/rpc_methods.py): the call's arguments are
    validated with its model at entry (ValidationFailed naming the field) and the
    handler gets them parsed — a model-valued parameter as the model instance.
    (nameko's decorator drops keyword arguments when it is handed the function
    directly, so they go to ``GuardedRpc.decorator(**options)`` and the function
    to what that returns.)"""
    if isinstance(fn, RpcMethod):
        return _typed(fn, options)
    options.setdefault("expected_exceptions", (VoolError,))
    decorate = GuardedRpc.decorator(**options)
    return decorate if fn is None else decorate(fn)


def _typed(method, options):
    def decorate(handler):
        names = tuple(inspect.signature(handler).parameters)[1:]   # after self
        if handler.__name__ != method.name or names != method.parameters:
            raise TypeError(f"{handler.__name__}{names} does not match its published "
                            f"{method.service}.{method.name}{method.parameters}")

        @functools.wraps(handler)   # nameko checks calls against the wrapped signature
        def entry(self, *args, **kwargs):
            bound = method.bind(args, kwargs)
            result = handler(self, **{name: getattr(bound, name) for name in names})
            return method.check_result(result)
        # nameko reads a method's parameters with inspect.getcallargs, which does not
        # follow functools.wraps: without this it would see (*args, **kwargs), check
        # no call's signature and redact none of the sensitive_arguments
        entry.__signature__ = inspect.signature(handler)
        return rpc(entry, **options)
    return decorate
