"""The transactional outbox: events are rows written with the change that caused
them, published after commit, and re-sent by a relay if a crash left them behind.

The relays of several replicas claim rows with ``FOR UPDATE SKIP LOCKED``. The
committing worker already holds its events' messages: it claims its own rows by
marking them published in one ``UPDATE ... RETURNING`` (row locks held, so a relay
skips them), publishes what that returned and commits — nothing re-selected. A
crash before that commit rolls the mark back and the relay sends them; so the
committing worker and the relays never publish the same row at the same time.
SQLite has no row locks (nor replicas: one process per database file): there the
committing worker re-selects its rows as the relay does, and the two take turns
within the process. Delivery is at least once; consumers are idempotent by event_id.
"""
import contextlib
import logging
import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from kombu import Connection, Producer
from nameko.amqp.publish import Publisher
from nameko.standalone.events import get_event_exchange

log = logging.getLogger(__name__)


class BatchNotConfirmed(Exception):
    """The broker did not confirm every message of a batch (a nack, a timeout or a
    lost connection): none of it counts as sent, the caller sends it all again."""


class EventPublisher:
    """Publishes envelopes to ``<service>.events`` with routing key = event type."""

    #: how long a batch may wait for its confirms before it counts as not sent
    CONFIRM_TIMEOUT_SECONDS = 30
    #: a connection unused for longer is not trusted again
    IDLE_SECONDS = 60

    def __init__(self, amqp_uri, service_name, nameko_config=None):
        self.amqp_uri = amqp_uri
        self.exchange = get_event_exchange(service_name, nameko_config or {})
        self._publisher = Publisher(amqp_uri, declare=[self.exchange])
        self._idle = []   # confirm-mode channels not in use (one per concurrent caller)

    def publish(self, message, headers=None):
        """``headers``: the AMQP headers of the request that caused it
        (services/common/correlation.py), beside the envelope, not in it."""
        self._publisher.publish(message, exchange=self.exchange,
                                routing_key=message["event_type"], headers=headers or {})

    def publish_many(self, messages, headers=None):
        """Publish every message, then wait once until the broker has confirmed
        them all (instead of a round trip and a disk sync per message). Raises
        BatchNotConfirmed if any was nacked or not confirmed in time, or the
        connection broke: then none counts as sent and the caller sends the
        batch again (event ids are stable, consumers handle each once).
        ``headers``: one dict for all, or a list of one per message."""
        messages = list(messages)
        if not messages:
            return
        each = headers if isinstance(headers, list) else [headers] * len(messages)
        # a connection found broken (the broker restarted while it was idle) is
        # given one more try on a new one, the whole batch again; a nack or a
        # timeout is not
        for attempt in (1, 2):
            confirmer = None
            try:
                confirmer = self._take()
                confirmer.publish_all(messages, each, self.CONFIRM_TIMEOUT_SECONDS)
            except BatchNotConfirmed:
                confirmer.close()   # its delivery tags are unknowable now
                raise
            except Exception as exc:
                if confirmer is not None:
                    confirmer.close()
                if attempt == 2:
                    raise BatchNotConfirmed(f"{type(exc).__name__}: {exc}") from exc
                log.info("publishing a batch failed (%r); again on a new connection", exc)
            else:
                self._idle.append(confirmer)
                return

    def _take(self):
        confirmer = self._idle.pop() if self._idle else None
        if confirmer is not None and confirmer.idle_for() > self.IDLE_SECONDS:
            confirmer.close()   # long unused: a firewall may have dropped it silently
            confirmer = None
        return confirmer or _Confirmer(self.amqp_uri, self.exchange)


class _Confirmer:
    """One connection and a channel in confirm mode (RabbitMQ numbers the messages
    published on it 1, 2, 3, ... and acks or nacks them by that number, several at
    once with ``multiple``)."""

    def __init__(self, amqp_uri, exchange):
        self.connection = Connection(amqp_uri, transport_options={"confirm_publish": False})
        self.connection.ensure_connection(max_retries=2, interval_start=0.5, interval_step=0.5)
        self.channel = self.connection.channel()
        self.channel.confirm_select()
        self.channel.events["basic_ack"].add(self._acked)
        self.channel.events["basic_nack"].add(self._nacked)
        self.producer = Producer(self.channel, exchange=exchange, serializer="json")
        self.producer.declare()
        self.published = 0   # delivery tag of the last message published
        self.confirmed = 0   # every tag up to this one acked
        self.acked = set()   # tags above ``confirmed`` acked one by one
        self.nacked = False
        self.used_at = time.monotonic()

    def idle_for(self):
        return time.monotonic() - self.used_at

    def _acked(self, delivery_tag, multiple):
        if multiple:
            self.confirmed = max(self.confirmed, delivery_tag)
        else:
            self.acked.add(delivery_tag)
        while self.confirmed + 1 in self.acked:
            self.confirmed += 1
            self.acked.discard(self.confirmed)

    def _nacked(self, delivery_tag, multiple):
        self.nacked = True

    def publish_all(self, messages, headers, timeout):
        for message, extra in zip(messages, headers):
            self.producer.publish(message, routing_key=message["event_type"],
                                  headers=extra or {}, delivery_mode=2, retry=False)
            self.published += 1
        deadline = time.monotonic() + timeout
        while self.confirmed < self.published:
            if self.nacked:
                raise BatchNotConfirmed("the broker refused (nacked) a message of the batch")
            left = deadline - time.monotonic()
            if left <= 0:
                raise BatchNotConfirmed(f"not confirmed within {timeout} s")
            self.connection.drain_events(timeout=left)
        if self.nacked:
            raise BatchNotConfirmed("the broker refused (nacked) a message of the batch")
        self.used_at = time.monotonic()

    def close(self):
        with contextlib.suppress(Exception):
            self.connection.release()


class Outbox:
    def __init__(self, engine, table, publisher, clock, batch_size=500):
        self.engine = engine
        self.table = table
        self.publisher = publisher
        self.clock = clock
        self.batch_size = batch_size
        # built once (a statement's construction and cache key cost more CPU than
        # sending it): the unit of work's insert, the committing worker's claim
        self.insert_event = sa.insert(table)
        self._claim_committed = (
            sa.update(table)
            .where(table.c.event_id.in_(sa.bindparam("event_ids", expanding=True)),
                   table.c.published_at.is_(None))
            .values(published_at=sa.bindparam("now", type_=table.c.published_at.type))
            .returning(table.c.event_id))
        # green under eventlet's monkey patching, as every service runs
        self._turns = (threading.Lock() if engine.dialect.name == "sqlite"
                       else contextlib.nullcontext())

    def publish(self, events):
        """Right after commit: publish these ``(event_id, message, headers)`` unless
        someone else already is (or did)."""
        events = list(events)   # a unit of work may emit more than a batch
        for start in range(0, len(events), self.batch_size):
            self._publish_committed(events[start:start + self.batch_size])

    def _publish_committed(self, events):
        t = self.table
        ids = [event_id for event_id, _message, _headers in events]
        if self.engine.dialect.name == "sqlite":   # its turn, as the relay takes it
            self._publish_batch(t.c.event_id.in_(ids))
            return
        with self.engine.begin() as conn:
            claimed = set(conn.execute(self._claim_committed, {
                "event_ids": ids, "now": self.clock.now()}).scalars())
            for event_id, message, headers in events:
                if event_id in claimed:    # else a relay sent it already
                    self.publisher.publish(message, headers=headers)

    def relay(self, grace_seconds):
        """Publish every row left unpublished for longer than the grace period."""
        cutoff = self.clock.now() - timedelta(seconds=grace_seconds)
        total = 0
        while True:
            sent = self._publish_batch(self.table.c.created_at <= cutoff)
            total += sent
            if sent < self.batch_size:
                return total

    def _publish_batch(self, condition):
        t = self.table
        with self._turns, self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(t.c.event_id, t.c.message, t.c.headers)
                .where(t.c.published_at.is_(None), condition)
                .order_by(t.c.created_at)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:   # one wait for the broker's confirms; a failure marks none
                self.publisher.publish_many([r.message for r in rows], [r.headers for r in rows])
                conn.execute(sa.update(t)
                             .where(t.c.event_id.in_([r.event_id for r in rows]))
                             .values(published_at=self.clock.now()))
        return len(rows)


def insert_events_sql(dialect, source, event_type, data_columns, from_sql):
    """One ``INSERT ... SELECT`` writing an event per row of ``from_sql``.

    For set-based work (a billing run over 700,000 contracts) an event per row
    built in Python would cost more than the work itself. ``data_columns`` maps
    each field of the event's data to an SQL expression over ``from_sql``'s rows;
    the statement takes ``:occurred_at`` (ISO 8601 text), ``:created_at`` and
    ``:headers`` (JSON text or None: the AMQP headers every event gets, see
    services/common/correlation.py). The envelope is the one services/common/events.py
    builds.
    """
    names = list(data_columns)
    inner = ", ".join(f"{data_columns[n]} AS c{i}" for i, n in enumerate(names))
    if dialect == "postgresql":
        # time-ordered ids (the UUIDv7 layout: milliseconds, version 7, 40 random
        # bits drawn once per statement, then the row's number in 32 bits): a million
        # new keys append to the primary key's right edge instead of landing all
        # over it, and two statements in one millisecond collide once in 2^40
        build, event_id = "json_build_object", (
            "s.ms || '-' || s.ms2 || '-7' || s.r3 || '-8' || s.r3b || '-' || s.r4 || "
            "LPAD(TO_HEX(ROW_NUMBER() OVER ()), 8, '0')")
    else:  # sqlite: a random uuid from 16 random bytes
        build = "json_object"
        event_id = ("lower(substr(h,1,8)||'-'||substr(h,9,4)||'-4'||substr(h,14,3)||'-'||"
                    "substr('89ab', 1 + (abs(random()) % 4), 1)||substr(h,18,3)||'-'||"
                    "substr(h,21,12))")
    data = ", ".join(f"'{n}', x.c{i}" for i, n in enumerate(names))
    headers = "CAST(:headers AS JSON)" if dialect == "postgresql" else ":headers"
    nested = "y.data" if dialect == "postgresql" else "json(y.data)"  # stays an object
    random_hex = "" if dialect == "postgresql" else ", hex(randomblob(16)) AS h"
    # the time-ordered ids' milliseconds and random part, drawn once (MATERIALIZED)
    seed, with_seed = "", ""
    if dialect == "postgresql":
        seed = " CROSS JOIN s"
        with_seed = """WITH s AS MATERIALIZED (
            SELECT SUBSTR(t.h, 1, 8) AS ms, SUBSTR(t.h, 9, 4) AS ms2,
                   SUBSTR(r.h, 1, 3) AS r3, SUBSTR(r.h, 4, 3) AS r3b, SUBSTR(r.h, 7, 4) AS r4
            FROM (SELECT LPAD(TO_HEX(CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)
                                          AS BIGINT)), 12, '0') AS h) t,
                 (SELECT MD5(CAST(random() AS TEXT)) AS h) r)"""
    return f"""{with_seed}
        INSERT INTO outbox (event_id, event_type, message, created_at, headers)
        SELECT y.event_id, '{event_type}',
               {build}('event_id', y.event_id, 'event_type', '{event_type}',
                       'occurred_at', CAST(:occurred_at AS TEXT), 'version', 1,
                       'source', '{source}', 'data', {nested}),
               :created_at, {headers}
        FROM (SELECT {event_id} AS event_id, {build}({data}) AS data
              FROM (SELECT {inner}{random_hex} {from_sql}) x{seed}) y"""
