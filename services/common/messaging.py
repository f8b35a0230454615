"""Event handling that never loses a message and never drops a failure.

nameko's own event handler acks a message whose handler raised. This one:

- parses the envelope first; a message that is not a valid envelope, or cannot
  even be decoded, goes straight to the handler's dead-letter queue;
- on a handler failure, re-publishes the message to a delay queue of the next
  backoff step (a queue with a TTL that dead-letters back to the handler's
  queue), and past the last step to the dead-letter queue ``<queue>.dead-letter``;
- acks the original only after that publish was confirmed by the broker.

Queues, per handler queue Q: ``Q.retry-<seconds>s`` for each backoff step and
``Q.dead-letter``. Operators list and replay dead letters with ``vool bus``.
"""
import logging
import traceback
from functools import partial

import pydantic
from kombu import Connection, Queue
from nameko.amqp.publish import get_producer
from nameko.events import EventHandler
from nameko.messaging import QueueConsumer

from services.common import config as cfg
from services.common.errors import ValidationFailed
from services.common.events import MalformedEvent, parse_event

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-vool-attempt"
ERROR_HEADER = "x-vool-error"
QUEUE_HEADER = "x-vool-queue"
DEAD_LETTER_SUFFIX = ".dead-letter"
DEFAULT_RETRY_DELAYS = "1,5,30,120"

# Failures that another attempt cannot fix: straight to the dead letters.
PERMANENT_FAILURES = (ValidationFailed, MalformedEvent, pydantic.ValidationError)


def retry_delays(config):
    text = str(cfg.setting(config, "VOOL_RETRY_DELAYS", DEFAULT_RETRY_DELAYS))
    return [float(part) for part in text.split(",") if part.strip()]


def retry_queue_name(queue_name, delay):
    return f"{queue_name}.retry-{delay:g}s"


class SafeQueueConsumer(QueueConsumer):
    """A queue consumer that dead-letters a message it cannot decode instead of
    letting the decode error kill the consuming thread."""

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = partial(self._undecodable, provider)
        return consumers

    def _undecodable(self, provider, message, exc):
        log.error("undecodable message on %s: %s", provider.queue.name, exc)
        try:
            provider.dead_letter(message, f"undecodable message: {exc}")
        except Exception:
            log.exception("could not dead-letter it; requeueing")
            message.requeue()
        else:
            message.ack()


class ReliableEventHandler(EventHandler):
    queue_consumer = SafeQueueConsumer()

    def setup(self):
        super().setup()
        config = self.container.config
        self.amqp_uri = cfg.amqp_uri(config)
        self.delays = retry_delays(config)
        name = self.queue.name
        self.retry_queues = [
            Queue(retry_queue_name(name, delay), durable=True,
                  queue_arguments={"x-message-ttl": int(delay * 1000),
                                   "x-dead-letter-exchange": "",
                                   "x-dead-letter-routing-key": name})
            for delay in self.delays
        ]
        self.dead_letter_queue = Queue(name + DEAD_LETTER_SUFFIX, durable=True)
        with Connection(self.amqp_uri) as conn:
            for queue in [*self.retry_queues, self.dead_letter_queue]:
                queue(conn.default_channel).declare()

    def handle_message(self, body, message):
        try:
            event = parse_event(body)
        except MalformedEvent as exc:
            reason = f"malformed event: {exc}"
            log.error("%s on %s", reason, self.queue.name)
            self._settle(message, lambda: self.dead_letter(message, reason))
            return
        super().handle_message(event, message)

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return
        exc = exc_info[1]
        attempt = int((message.headers or {}).get(ATTEMPT_HEADER, 0))
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:1000]
        if isinstance(exc, PERMANENT_FAILURES) or attempt >= len(self.retry_queues):
            self._settle(message, lambda: self.dead_letter(message, error))
        else:
            queue = self.retry_queues[attempt]
            log.warning("%s failed (attempt %d), retrying in %ss: %s",
                        self.queue.name, attempt + 1, self.delays[attempt], error)
            self._settle(message, lambda: self._republish(
                message, queue.name, {ATTEMPT_HEADER: attempt + 1, ERROR_HEADER: error}))

    def _settle(self, message, publish):
        """Ack only after the message is safely elsewhere; else give it back."""
        try:
            publish()
        except Exception:
            log.exception("could not move a message off %s; requeueing it", self.queue.name)
            self.queue_consumer.requeue_message(message)
        else:
            self.queue_consumer.ack_message(message)

    def dead_letter(self, message, reason):
        self._republish(message, self.dead_letter_queue.name,
                        {ERROR_HEADER: reason[:1000], QUEUE_HEADER: self.queue.name})

    def _republish(self, message, queue_name, extra_headers):
        headers = dict(message.headers or {})
        headers.pop("x-death", None)  # RabbitMQ's own bookkeeping, grows each round
        headers.update(extra_headers)
        with get_producer(self.amqp_uri) as producer:
            producer.publish(
                message.body, exchange="", routing_key=queue_name, headers=headers,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                delivery_mode=2, retry=True)


event_handler = ReliableEventHandler.decorator
