"""Each service's own database, reached through a unit of work.

``Database`` is the nameko dependency provider: on setup it connects (creating
the PostgreSQL database if needed) and migrates to head; on start it runs the
outbox relay; each worker gets a ``UnitOfWork`` factory. The unit of work is the
single commit point: the change, the events it emits (outbox) and the handled
event id (inbox) commit together, and the events are published right after.
"""
import logging
import time

import eventlet
import sqlalchemy as sa
from nameko.extensions import DependencyProvider
from sqlalchemy.orm import Session, sessionmaker

from services.common import config as cfg
from services.common import correlation, metrics, migrate
from services.common.clock import clock as process_clock
from services.common.events import new_event
from services.common.outbox import EventPublisher, Outbox, insert_events_sql
from services.common.sequences import upsert_insert

log = logging.getLogger(__name__)

try:  # psycopg2 blocks the eventlet hub unless told to yield
    from psycogreen.eventlet import patch_psycopg
    patch_psycopg()
except ImportError:  # pragma: no cover
    pass


#: How long a SQLite statement waits for another process's write lock. sqlite3
#: waits inside C, where eventlet cannot switch green threads, so the whole process
#: stands still meanwhile: write transactions are kept short (milliseconds) so that
#: a wait is short, and none waits on the network (e-mail is sent outside them).
SQLITE_BUSY_TIMEOUT_SECONDS = 5.0


def _sqlite_for_concurrent_use(dbapi_connection, _record):
    """WAL: readers never wait for the writer nor it for them (the inbox and health
    answer while the sweep writes); synchronous=NORMAL: a commit waits for no fsync
    (WAL stays consistent; a power cut may lose the last commits, never corrupt)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


#: a pooled PostgreSQL connection is replaced after this long, whatever happened
POOL_RECYCLE_SECONDS = 1800


def make_engine(url):
    """hide_parameters: a statement's parameters (personal codes, session keys) stay
    out of SQLAlchemy's log lines and out of its errors, which end in tracebacks.

    No ``pool_pre_ping``: its ``SELECT 1`` on every checkout was a round trip (and
    ~0.1 ms of CPU on each side) per transaction. A connection PostgreSQL dropped (a
    restart, an admin's kill) fails at its first statement instead; SQLAlchemy then
    invalidates it and every connection pooled before it, and ``ReconnectingSession``
    runs that first statement again on a fresh connection."""
    url = sa.engine.make_url(url)
    if url.drivername.startswith("sqlite"):
        engine = sa.create_engine(url, hide_parameters=True, connect_args={
            "check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        sa.event.listen(engine, "connect", _sqlite_for_concurrent_use)
        return engine
    migrate.ensure_database(url)
    engine = sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=False,
                              pool_recycle=POOL_RECYCLE_SECONDS, hide_parameters=True)
    sa.event.listen(engine, "checkout", _refuse_a_dropped_connection)
    return engine


_os_select = eventlet.patcher.original("select")   # a poll that never yields to the hub


def _said_goodbye(dbapi_connection):
    """An idle connection has nothing to read: if its socket is readable, PostgreSQL
    has closed it (a restart or a kill sends a FATAL message, then EOF). One poll,
    no round trip."""
    poller = _os_select.poll()
    poller.register(dbapi_connection.fileno(),
                    _os_select.POLLIN | _os_select.POLLERR | _os_select.POLLHUP)
    return bool(poller.poll(0))


def _refuse_a_dropped_connection(dbapi_connection, _record, _proxy):
    """Checkout: a connection the server closed is replaced before it is used, and
    with it every connection pooled before (a restart closed them all)."""
    if dbapi_connection.closed or _said_goodbye(dbapi_connection):
        raise sa.exc.InvalidatePoolError("the database closed this pooled connection")


class ReconnectingSession(Session):
    """A session whose transaction's first statement survives a dead pooled
    connection: when it fails because the connection was lost, nothing of this
    transaction reached the database (it had not begun, or died uncommitted), so it
    is run once more on a new connection. A loss later in the transaction (or at
    commit, where the outcome is unknown) is raised as before."""

    def execute(self, statement, *args, **kwargs):
        if self.in_transaction():
            return super().execute(statement, *args, **kwargs)
        try:
            return super().execute(statement, *args, **kwargs)
        except sa.exc.DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            log.warning("the database connection was lost before the transaction's first "
                        "statement; running it again on a new connection")
            self.rollback()
            return super().execute(statement, *args, **kwargs)


def session_factory(engine):
    """The sessions of a unit of work (ReconnectingSession)."""
    return sessionmaker(engine, class_=ReconnectingSession, expire_on_commit=False)


class UnitOfWork:
    """One transaction on the service's database; use as a context manager."""

    def __init__(self, session_factory, outbox, service_name, clock):
        self._session_factory = session_factory
        self._outbox = outbox
        self.service_name = service_name
        self.clock = clock
        self.session = None
        self._emitted = []

    def __enter__(self):
        self.session = self._session_factory()
        self._emitted = []
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.session.commit()
            else:
                self.session.rollback()
        finally:
            self.session.close()
        if exc_type is None and self._emitted:
            try:
                self._outbox.publish(self._emitted)
            except Exception:  # the relay will send them
                log.warning("publishing after commit failed; left to the relay", exc_info=True)
        return False

    @property
    def now(self):
        return self.clock.now()

    def emit(self, event_type, data, version=1):
        """Record an event to be published once this unit of work commits."""
        event = new_event(self.service_name, event_type, data, self.clock.now(), version)
        message, headers = event.as_message(), correlation.event_headers()
        self.session.execute(self._outbox.insert_event, dict(
            event_id=event.event_id, event_type=event_type,
            message=message, created_at=event.occurred_at, headers=headers))
        # published from memory after commit: the row is not read back
        self._emitted.append((event.event_id, message, headers))
        return event

    def emit_event(self, payload):
        """Record the event whose data is ``payload`` (an EventData model from the
        publisher's api.py): built through the model consumers parse with."""
        return self.emit(payload.event_type, payload.as_data(), payload.version)

    def emit_events(self, payloads):
        """``emit_event`` for many at once: one statement for all their rows."""
        now, headers = self.clock.now(), correlation.event_headers()
        events = [new_event(self.service_name, p.event_type, p.as_data(), now, p.version)
                  for p in payloads]
        if events:
            messages = [e.as_message() for e in events]
            self.session.execute(self._outbox.insert_event, [
                {"event_id": e.event_id, "event_type": e.event_type, "message": message,
                 "created_at": e.occurred_at, "headers": headers}
                for e, message in zip(events, messages)])
            # published from memory after commit, as emit's
            self._emitted.extend((e.event_id, message, headers)
                                 for e, message in zip(events, messages))
        return events

    def emit_each(self, event_type, data_columns, from_sql, params):
        """Record an event per row of ``from_sql`` in one statement (set-based
        work); the relay publishes them. returns how many."""
        dialect = self.session.get_bind().dialect.name
        now = self.clock.now()
        sql = insert_events_sql(dialect, self.service_name, event_type, data_columns, from_sql)
        return self.session.execute(sa.text(sql), {
            **params, "occurred_at": now.isoformat(), "created_at": now,
            "headers": correlation.event_headers_json()}).rowcount

    def handled_before(self, event, handler):
        """Record ``event`` as handled by ``handler`` in this transaction.

        True if it was already recorded: the caller skips its work. A concurrent
        duplicate waits on the primary key and then sees the first one's row.
        """
        table = self._outbox.handled_table
        result = self.session.execute(
            upsert_insert(self.session)(table).values(handler=handler, event_id=event.event_id,
                                 handled_at=self.clock.now())
            .on_conflict_do_nothing())
        return result.rowcount == 0

    def handled_before_each(self, events, handler):
        """``handled_before`` for many events in one statement (a batch): returns the
        ids of those already recorded. Rows go in event id order, so that two
        replicas' batches take the primary key's locks in one order (no deadlock)."""
        table = self._outbox.handled_table
        ids = sorted({event.event_id for event in events})
        now = self.clock.now()
        recorded = self.session.execute(
            upsert_insert(self.session)(table)
            .values([{"handler": handler, "event_id": event_id, "handled_at": now}
                     for event_id in ids])
            .on_conflict_do_nothing().returning(table.c.event_id)).scalars().all()
        return set(ids).difference(recorded)


def _each(uow, events, change, args):
    for event in events:
        with correlation.handling(event):
            change(uow, event, *args)


class Database(DependencyProvider):
    def __init__(self, metadata, migrations_dir):
        self.metadata = metadata
        self.migrations_dir = migrations_dir
        self._relay_running = False
        self._relay = None

    def setup(self):
        config = self.container.config
        self.service_name = self.container.service_name
        self.url = cfg.database_url(config, self.service_name)
        self.engine = make_engine(self.url)
        self.create_schema()
        self.session_factory = session_factory(self.engine)
        publisher = EventPublisher(cfg.amqp_uri(config), self.service_name, config)
        self.outbox = Outbox(self.engine, self.metadata.tables["outbox"], publisher,
                             process_clock)
        self.outbox.handled_table = self.metadata.tables["handled_events"]
        self.relay_interval = cfg.float_setting(config, "VOOL_OUTBOX_RELAY_INTERVAL", 2.0)
        self.relay_grace = cfg.float_setting(config, "VOOL_OUTBOX_RELAY_GRACE", 1.0)

    def create_schema(self):
        migrate.upgrade(self.engine, self.migrations_dir)

    def start(self):
        self._relay_running = True
        self._relay = self.container.spawn_managed_thread(self._relay_loop,
                                                          identifier="outbox-relay")

    def stop(self):
        self._relay_running = False
        if self._relay is not None:
            # it only sleeps or re-sends; whatever it leaves, it sends next time
            self._relay.kill()
        self.engine.dispose()

    def kill(self):
        self.stop()

    def _relay_loop(self):
        while self._relay_running:
            try:
                sent = self.outbox.relay(self.relay_grace)
                if sent:
                    log.info("outbox relay re-sent %d event(s)", sent)
            except Exception:
                log.warning("outbox relay failed; will retry", exc_info=True)
            eventlet.sleep(self.relay_interval)

    def pause_between_batches(self, started, longest=0.2):
        """Between two batches (short transactions) of a long job, begun at monotonic
        ``started``: let the process's other green threads run. sqlite3 never yields
        to eventlet, so a batch on SQLite held the whole process: pause as long as it
        took (up to ``longest``), giving the job at most half of the process. On
        PostgreSQL every query yielded already."""
        pause = 0.0
        if self.engine.dialect.name == "sqlite":
            pause = min(time.monotonic() - started, longest)
        eventlet.sleep(pause)

    def health(self):
        """What a service's ``health`` RPC reports: can we reach our database?"""
        try:
            try:
                self._select_one()
            except sa.exc.DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                self._select_one()   # a pooled connection the database had dropped
            return {"status": "ok", "database": "ok"}
        except Exception as exc:
            log.warning("database health check failed: %s", exc)
            return {"status": "degraded", "database": "unreachable"}

    def _select_one(self):
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def apply_once(self, event, handler, change, *args):
        """Apply ``change(uow, *args)`` for ``event`` unless ``handler`` already did:
        the handled event id and the change commit together."""
        with self.unit_of_work() as uow:
            if uow.handled_before(event, handler):
                metrics.event_was_duplicate()
            else:
                change(uow, *args)

    def apply_batch(self, events, handler, change, *args):
        """Apply ``change(uow, fresh, *args)`` to those of ``events`` that ``handler``
        has not handled yet, in one transaction with their handled event ids (one
        statement for them all); each of the others is said to be a duplicate."""
        with self.unit_of_work() as uow:
            handled = uow.handled_before_each(events, handler)
            for event_id in handled:
                metrics.event_was_duplicate(event_id)
            fresh = [event for event in events if event.event_id not in handled]
            if fresh:
                change(uow, fresh, *args)

    def apply_each(self, events, handler, change, *args):
        """``apply_batch`` with ``change(uow, event, *args)`` for each fresh event in
        turn, each with its own request id current (its log lines, the events it
        emits carry it)."""
        self.apply_batch(events, handler, _each, change, args)

    def unit_of_work(self):
        return UnitOfWork(self.session_factory, self.outbox, self.service_name, process_clock)

    def get_dependency(self, worker_ctx):
        return self
