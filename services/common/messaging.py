"""Event handling that never loses a message and never drops a failure.

nameko's own event handler acks a message whose handler raised. This one:

- parses the envelope first; a message that is not a valid envelope, cannot even
  be decoded, or carries an event ``version`` the handler does not read goes
  straight to the handler's dead-letter queue;
- on a handler failure, re-publishes the message to a delay queue of the next
  backoff step (a queue with a TTL that dead-letters back to the handler's
  queue), and past the last step to the dead-letter queue ``<queue>.dead-letter``;
  a validation failure (PERMANENT_FAILURES) skips the retries;
- acks the original only after that publish was confirmed by the broker.

A lost broker connection does not stop a service: an ack or requeue on a dead
channel is given up (the broker redelivers what was not acked, handlers are
idempotent by event_id), publishing reconnects and retries, and the consumer
reconnects on its own (kombu's ConsumerMixin).

``batch_event_handler`` is the same handler taking what the broker has already
delivered, up to 200 events, in one transaction (BatchEventHandler below): for
the queues that carry bursts (readings, a billing run's invoices).

Queues, per handler queue Q: ``Q.retry-<seconds>s`` for each backoff step and
``Q.dead-letter``. Operators list and replay dead letters with ``vool bus``.
Under ``VOOL_QUEUE_TYPE=quorum`` all of them are quorum queues.
"""
import collections
import contextlib
import logging
import time
import traceback
from dataclasses import replace
from functools import partial

import eventlet.event

import pydantic
from kombu import Connection, Queue
from nameko.amqp.publish import get_producer
from nameko.events import EventHandler
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import QueueConsumer
from nameko.utils import sanitize_url

from services.common import config as cfg
from services.common import correlation, metrics
from services.common.errors import ValidationFailed
from services.common.events import MalformedEvent, parse_event

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-vool-attempt"
ERROR_HEADER = "x-vool-error"
QUEUE_HEADER = "x-vool-queue"
ROUTING_KEY_HEADER = "x-vool-routing-key"
DEAD_LETTER_SUFFIX = ".dead-letter"
DEFAULT_RETRY_DELAYS = "1,5,30,120"

# Failures that another attempt cannot fix: straight to the dead letters.
PERMANENT_FAILURES = (ValidationFailed, MalformedEvent, pydantic.ValidationError)

# How long a move to another queue keeps reconnecting before it gives the
# message back to the broker (about 10 s).
PUBLISH_RETRY_POLICY = {"max_retries": 5, "interval_start": 0.5, "interval_step": 1,
                        "interval_max": 3}


def retry_delays(config):
    text = str(cfg.setting(config, "VOOL_RETRY_DELAYS", DEFAULT_RETRY_DELAYS))
    return [float(part) for part in text.split(",") if part.strip()]


def retry_queue_name(queue_name, delay):
    return f"{queue_name}.retry-{delay:g}s"


def work_queue_arguments(config, **arguments):
    """Declaration arguments of a queue that holds work (durable, shared)."""
    if cfg.queue_type(config) == "quorum":
        arguments["x-queue-type"] = "quorum"
    return arguments


def delay_queue_arguments(config, ttl_ms, back_to):
    arguments = {"x-message-ttl": ttl_ms, "x-dead-letter-exchange": "",
                 "x-dead-letter-routing-key": back_to}
    if cfg.queue_type(config) == "quorum":
        # a message whose delay is over must reach its queue even while a node
        # is away: at-least-once dead-lettering (RabbitMQ 3.10+, quorum only)
        arguments.update({"x-dead-letter-strategy": "at-least-once",
                          "x-overflow": "reject-publish"})
    return work_queue_arguments(config, **arguments)


def dead_letter_queue(config, queue_name):
    return Queue(queue_name + DEAD_LETTER_SUFFIX, durable=True,
                 queue_arguments=work_queue_arguments(config))


def declare(amqp_uri, queues):
    with Connection(amqp_uri) as conn:
        for queue in queues:
            queue(conn.default_channel).declare()


def republish(amqp_uri, message, queue_name, extra_headers):
    """The message, unchanged but for its headers, onto ``queue_name``; returns
    once the broker confirmed it, reconnecting if it has to."""
    headers = dict(message.headers or {})
    headers.pop("x-death", None)  # RabbitMQ's own bookkeeping, grows each round
    headers.update(extra_headers)
    with get_producer(amqp_uri) as producer:
        producer.publish(
            message.body, exchange="", routing_key=queue_name, headers=headers,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            delivery_mode=2, retry=True, retry_policy=PUBLISH_RETRY_POLICY)


def park(amqp_uri, message, queue_name, dead_letter_queue_name, reason):
    """Into the dead letters, saying why and where it came from."""
    republish(amqp_uri, message, dead_letter_queue_name, {
        ERROR_HEADER: reason[:1000], QUEUE_HEADER: queue_name,
        ROUTING_KEY_HEADER: (message.delivery_info or {}).get("routing_key", "")})

# How often a consumer tries the broker again once it is gone: kombu's default
# backs off to 10 s and more, so a broker back after 6 s was found only at 16 s.
RECONNECT_POLICY = {"interval_start": 0, "interval_step": 0.5, "interval_max": 1}


def safe_url(amqp_uri):
    """The URI without its passwords, also each host of a failover URI
    (``amqp://h1/v;amqp://h2/v``), whose later parts nameko leaves as they are."""
    return ";".join(sanitize_url(part) for part in str(amqp_uri).split(";"))


class SafeQueueConsumer(QueueConsumer):
    """A queue consumer no message and no lost connection can stop:

    - a message it cannot decode goes to its provider's ``dead_letter(message,
      reason)`` and is acked, instead of the decode error killing the consumer;
    - a provider that raises while taking a message in (a bug: nameko would kill
      the container) has the message dead-lettered, or given back;
    - an ack or requeue on a channel whose connection is gone is given up: the
      broker redelivers every message that was not acked."""

    @contextlib.contextmanager
    def establish_connection(self):
        with self.create_connection() as conn:
            conn.ensure_connection(self.on_connection_error, self.connect_max_retries,
                                   **RECONNECT_POLICY)
            yield conn

    def on_connection_error(self, exc, interval):
        log.warning("Error connecting to broker at %s (%s). Retrying in %s seconds.",
                    safe_url(self.amqp_uri), exc, interval)

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = partial(self._undecodable, provider)
            # RabbitMQ applies a (non-global) basic.qos to the consumers started
            # after it: each consumer starts right after its own prefetch is set
            # (a batching handler's is larger than nameko's max_workers); the
            # ConsumerMixin's consume() later finds them started
            consumer.qos(prefetch_count=getattr(provider, "prefetch_count", None)
                         or self.prefetch_count)
            consumer.consume()
        return consumers

    def handle_message(self, provider, body, message):
        if getattr(provider, "takes_in_place", False):   # only buffers it: never blocks
            self._take_in(provider, body, message)
            return
        ident = f"{type(provider).__name__}.handle_message[{message.delivery_info['routing_key']}]"
        self.container.spawn_managed_thread(
            partial(self._take_in, provider, body, message), identifier=ident)

    def _take_in(self, provider, body, message):
        try:
            provider.handle_message(body, message)
        except Exception as exc:
            log.exception("taking a message in from %s failed", provider.queue.name)
            self._refuse(provider, message, f"could not be taken in: {exc!r}")

    def _undecodable(self, provider, message, exc):
        log.error("undecodable message on %s: %s", provider.queue.name, exc)
        self._refuse(provider, message, f"undecodable message: {exc}")

    def _refuse(self, provider, message, reason):
        try:
            provider.dead_letter(message, reason)
        except Exception:
            log.exception("could not dead-letter it; requeueing")
            self.requeue_message(message)
        else:
            self.ack_message(message)

    def ack_message(self, message):
        self._settle(message, message.ack, "ack")

    def requeue_message(self, message):
        self._settle(message, message.requeue, "requeue")

    def _settle(self, message, settle, what):
        if not message.channel.connection:
            return  # that connection is gone: the broker has taken the message back
        try:
            settle()
        except Exception as exc:  # a dead socket shows as any of a dozen errors
            log.warning("could not %s a message (%r); the broker redelivers it", what, exc)


class ReliableEventHandler(EventHandler):
    """``@event_handler(source, event_type)``; ``versions=(1, 2)`` for a handler
    that reads more than version 1 of the event."""

    queue_consumer = SafeQueueConsumer()

    def __init__(self, source_service, event_type, versions=(1,), **kwargs):
        self.versions = tuple(versions)
        super().__init__(source_service, event_type, **kwargs)

    def setup(self):
        super().setup()
        config = self.container.config
        self.amqp_uri = cfg.amqp_uri(config)
        self.delays = retry_delays(config)
        name = self.queue.name
        if not (self.queue.exclusive or self.queue.auto_delete):  # not a broadcast
            self.queue.queue_arguments = work_queue_arguments(config)
        self.retry_queues = [
            Queue(retry_queue_name(name, delay), durable=True,
                  queue_arguments=delay_queue_arguments(config, int(delay * 1000), name))
            for delay in self.delays
        ]
        self.dead_letter_queue = dead_letter_queue(config, name)
        declare(self.amqp_uri, [*self.retry_queues, self.dead_letter_queue])

    def handle_message(self, body, message):
        event = self._event_in(body, message)
        if event is not None:
            super().handle_message(event, message)

    def _event_in(self, body, message):
        """The message's event (with its worker context), or None once it was
        refused: not an envelope, or a version this handler does not read."""
        try:
            event = parse_event(body)
        except MalformedEvent as exc:
            self._refuse(message, f"malformed event: {exc}")
            return None
        if event.version not in self.versions:
            understood = ", ".join(str(v) for v in self.versions)
            self._refuse(message, f"event version {event.version} is not one this handler "
                                  f"reads ({understood})")
            return None
        return replace(event, context=self.unpack_message_headers(message))

    def unpack_message_headers(self, message):
        return correlation.context_of_event(message.headers)

    def _refuse(self, message, reason):
        # refused before any worker: the line carries the sender's request id itself
        request_id = correlation.context_of_event(message.headers).get(correlation.REQUEST_ID)
        with correlation.bound(request_id and correlation.accept(request_id)):
            log.error("%s on %s", reason, self.queue.name)
        self._measure(message, "dead_lettered")
        self._settle(message, lambda: self.dead_letter(message, reason))

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            self._measure(message, "ok")
            self.queue_consumer.ack_message(message)
            return
        exc = exc_info[1]
        attempt = int((message.headers or {}).get(ATTEMPT_HEADER, 0))
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:1000]
        if isinstance(exc, PERMANENT_FAILURES) or attempt >= len(self.retry_queues):
            self._measure(message, "dead_lettered")
            self._settle(message, lambda: self.dead_letter(message, error))
        else:
            queue = self.retry_queues[attempt]
            self._measure(message, "retried")
            log.warning("%s failed (attempt %d), retrying in %ss: %s",
                        self.queue.name, attempt + 1, self.delays[attempt], error)
            self._settle(message, lambda: republish(
                self.amqp_uri, message, queue.name,
                {ATTEMPT_HEADER: attempt + 1, ERROR_HEADER: error}))

    def _measure(self, message, outcome):
        metrics.event_settled(self.container.service_name, self.event_type, outcome, message)

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
        park(self.amqp_uri, message, self.queue.name, self.dead_letter_queue.name, reason)


#: the most events a batching handler applies in one transaction
DEFAULT_MAX_BATCH = 200


class BatchEventHandler(ReliableEventHandler):
    """``@batch_event_handler(source, event_type)``: the method takes a list of
    events and applies them in one transaction (``Database.apply_each`` or
    ``apply_batch``), each still once. The guarantees are ReliableEventHandler's:

    - no waiting to fill a batch: when the handler is idle it takes what the
      broker has already delivered (1 to ``max_batch``), so batches grow only
      with the load; a lone event takes the one-message path;
    - one batch at a time per handler; the queue's prefetch is twice ``max_batch``,
      so that the next batch is arriving while one is being handled;
    - a batch's messages are acked only after its commit (each: the channel's
      delivery tags are shared with the service's other queues); a connection lost
      before that leaves them all with the broker, and their redelivery finds them
      in handled_events;
    - a batch that fails in any way is rolled back and each of its events handled
      alone, so the one that cannot succeed is retried or dead-lettered on its own
      and the others commit;
    - metrics, the ``handled`` log line and the request id stay per event."""

    batched = True
    takes_in_place = True

    def __init__(self, source_service, event_type, max_batch=DEFAULT_MAX_BATCH, **kwargs):
        self.max_batch = max(1, int(max_batch))
        super().__init__(source_service, event_type, **kwargs)

    @property
    def prefetch_count(self):
        return 2 * self.max_batch

    def setup(self):
        super().setup()
        self._waiting = collections.deque()   # (event, message) delivered, not yet taken
        self._draining = None
        self._stopping = False

    def stop(self):
        super().stop()   # nothing more is delivered
        self._stopping = True
        while self._waiting:   # not taken: back to the queue now, for another replica
            self.queue_consumer.requeue_message(self._waiting.popleft()[1])

    def kill(self):
        self._stopping = True
        super().kill()

    def handle_message(self, body, message):
        """In the consumer's thread: parse, buffer, and have the buffer drained."""
        event = self._event_in(body, message)
        if event is None:
            return
        self._waiting.append((event, message))
        if self._draining is None and not self._stopping:
            self._draining = self.container.spawn_managed_thread(
                self._drain, identifier=f"{type(self).__name__}.drain[{self.queue.name}]")

    def _refuse(self, message, reason):
        # parking it waits on the broker's confirm: not in the consumer's thread
        self.container.spawn_managed_thread(
            partial(super()._refuse, message, reason),
            identifier=f"{type(self).__name__}.refuse[{self.queue.name}]")

    def _drain(self):
        try:
            while self._waiting and not self._stopping:
                batch = self._take()
                metrics.batch_taken(self.container.service_name, self.event_type, len(batch))
                try:
                    if len(batch) == 1:
                        self._handle_alone(*batch[0])
                    elif batch:
                        self._handle_batch(batch)
                except Exception:   # a bug here must not kill the container
                    log.exception("handling a batch on %s failed; requeueing it",
                                  self.queue.name)
                    for _, message in batch:
                        self.queue_consumer.requeue_message(message)
        finally:
            self._draining = None

    def _take(self):
        """What was delivered, up to max_batch; the messages of a connection that
        is gone are left out (the broker has them back and delivers them again)."""
        batch = []
        while self._waiting and len(batch) < self.max_batch:
            event, message = self._waiting.popleft()
            if message.channel.connection:
                batch.append((event, message))
        return batch

    def _run(self, events, context_data, handle_result):
        """A worker for ``events``; returns once it is over. False if it could not
        run (the container being killed) or ended before its result was handled."""
        handled = eventlet.event.Event()

        def result_handled(worker_ctx, result=None, exc_info=None):
            try:
                return handle_result(worker_ctx, result, exc_info)
            finally:
                handled.send(True)

        try:
            worker_ctx = self.container.spawn_worker(
                self, (events,), {}, context_data=context_data, handle_result=result_handled)
        except ContainerBeingKilled:
            return False
        # nameko's own thread of the worker: should it die before its result (a
        # dependency's worker_setup raising, a kill), stop waiting all the same
        thread = self.container._worker_threads.get(worker_ctx)
        if thread is not None:
            thread.link(lambda _: handled.ready() or handled.send(False))
        return handled.wait()

    def _handle_alone(self, event, message):
        """ReliableEventHandler's one-message path: ok, retried or dead-lettered."""
        if not self._run([event], event.context,
                         lambda worker_ctx, result=None, exc_info=None:
                         self.handle_result(message, worker_ctx, result, exc_info)):
            self.queue_consumer.requeue_message(message)

    def _handle_batch(self, batch):
        started = time.monotonic()
        first, repeated = {}, []   # one event published twice: applied once
        for event, message in batch:
            if event.event_id in first:
                repeated.append((event, message))
            else:
                first[event.event_id] = (event, message)
        unique = list(first.values())
        failure = []

        def settle(worker_ctx, result=None, exc_info=None):
            # in the worker, after the method returned: after its commit
            if exc_info is not None:
                failure.append(exc_info[1])
                return result, exc_info
            handled_before = metrics.duplicates_seen()
            ms = (time.monotonic() - started) * 1000
            for event, message in unique:
                self._settled(event, message, "duplicate" if event.event_id in handled_before
                              else "ok", len(batch), ms)
            for event, message in repeated:
                self._settled(event, message, "duplicate", len(batch), ms)
            return result, exc_info

        # one event (published twice) is that event's worker; several, nobody's
        context_data = (unique[0][0].context or {}) if len(unique) == 1 else {}
        if self._run([event for event, _ in unique], context_data, settle) and not failure:
            return
        log.warning("a batch of %d on %s failed (%s); handling each alone", len(batch),
                    self.queue.name, failure[0] if failure else "its worker ended")
        for event, message in batch:
            if self._stopping:
                self.queue_consumer.requeue_message(message)
            else:
                self._handle_alone(event, message)

    def _settled(self, event, message, outcome, size, ms):
        with correlation.bound(accept_request_id(event)):
            # the lone worker's line (Correlation's), and which batch it was in
            log.info("handled %s.%s by %s in %.0f ms (one of a batch of %d%s)",
                     self.source_service, self.event_type, self.method_name, ms, size,
                     "; a duplicate" if outcome == "duplicate" else "")
        metrics.event_settled(self.container.service_name, self.event_type, outcome, message,
                              event.occurred_at)
        self.queue_consumer.ack_message(message)


def accept_request_id(event):
    return correlation.accept((event.context or {}).get(correlation.REQUEST_ID))


event_handler = ReliableEventHandler.decorator
batch_event_handler = BatchEventHandler.decorator
