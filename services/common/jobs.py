"""Long jobs (a billing run, a statement or readings import) run by the service
that owns them, in the background, with their progress in its ``jobs`` table.

Starting a job commits its row (``queued``) and answers at once; the service's
``JobRunner`` claims queued jobs and runs them. A job is claimed by taking a
PostgreSQL advisory lock on it in a connection of its own, held while it runs:
that lock outlives the transactions of the work and goes with the process, so a
job left ``running`` by a process that died is free at once and the next poll of
any replica picks it up again, and two replicas never run one job at the same
time. SQLite has one process per database file: a ``running`` job that process
is not running was left by a dead one.

The same job asked for twice (same kind and idempotency key, e.g. the billing
run's period) while it is queued or running is that one job: a partial unique
index holds it under concurrent starts.
"""
import contextvars
import functools
import logging
import time
import uuid
from datetime import timezone

import eventlet
import sqlalchemy as sa
from eventlet.queue import Empty, LightQueue
from nameko.extensions import DependencyProvider
from sqlalchemy.pool import NullPool

from services.common import config as cfg
from services.common import correlation, tracing
from services.common.clock import clock as process_clock
from services.common.errors import NotFound, VoolError

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
#: the first key of the advisory locks on jobs (the second is the job id's hash)
JOB_LOCKS = 7301100
#: the least time between two writes of a job's progress
PROGRESS_EVERY_SECONDS = 0.25
#: a finished job's arguments: an import's file (payers' names and accounts, readings)
#: is not kept once nothing will run it again; its key still tells it
FINISHED_ARGUMENTS = {}


def jobs_table(metadata):
    active = sa.text("state IN ('queued', 'running')")
    return sa.Table(
        "jobs", metadata,
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("arguments", sa.JSON, nullable=False),
        sa.Column("done", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("result", sa.JSON),
        sa.Column("error", sa.Text),
        # the request id and traceparent of the request that asked for it: the job's
        # log lines and the events it emits carry them (services/common/correlation.py)
        sa.Column("headers", sa.JSON),
        sa.Index("ix_jobs_active_key", "kind", "idempotency_key", unique=True,
                 postgresql_where=active, sqlite_where=active),
        sa.Index("ix_jobs_created_at", "created_at"),
    )


def create_jobs_table(op):
    """For the service's migration that adds its jobs: the table and its indexes."""
    jobs_table(sa.MetaData()).create(op.get_bind())


def _utc(moment):
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def view(row, live=None):
    """A job as its RPC methods answer it (services/common/job_model.py)."""
    done, total = (row.done, row.total) if live is None else live
    answer = {"job_id": row.job_id, "kind": row.kind, "state": row.state,
              "done": done, "total": total,
              "created_at": _utc(row.created_at).isoformat(),
              "started_at": row.started_at and _utc(row.started_at).isoformat(),
              "finished_at": row.finished_at and _utc(row.finished_at).isoformat(),
              "requested_by": row.requested_by, "error": row.error}
    if row.state == "done":
        answer["result"] = row.result
    return answer


def start(conn, table, prefix, kind, key, arguments, requested_by, now, total=None):
    """The queued or running job of ``kind`` with ``key``, or a new queued one:
    ``(row, created)``."""
    def active():
        return conn.execute(sa.select(table).where(
            table.c.kind == kind, table.c.idempotency_key == key,
            table.c.state.in_(ACTIVE))).first()

    found = active()
    if found is not None:
        return found, False
    job_id = f"{prefix}-{uuid.uuid4()}"
    try:
        with conn.begin_nested():   # a concurrent start of the same job wins the index
            conn.execute(sa.insert(table).values(
                job_id=job_id, kind=kind, idempotency_key=key, state="queued",
                arguments=arguments, done=0, total=total, requested_by=requested_by,
                attempts=0, created_at=now, headers=correlation.event_headers()))
    except sa.exc.IntegrityError:
        found = active()
        if found is not None:
            return found, False
        raise
    return conn.execute(sa.select(table).where(table.c.job_id == job_id)).first(), True


class JobTakenOver(Exception):
    """This claim of the job is no longer its runner's: the lock's connection was
    lost and another process claimed it again (its ``attempts`` moved on)."""


class Job:
    """What a job's work function is handed: its arguments, a way to report its
    progress, and ``finished(session, result)`` to record it done in the work's own
    transaction (so a crash right after the commit does not run it again).

    Every write is fenced by the claim's attempt number: should the lock's
    connection drop while the work goes on and another replica claim the job, the
    first one's ``finished`` raises JobTakenOver and its work's transaction rolls
    back, so only one claim's work ever commits."""

    def __init__(self, runner, row):
        self.runner = runner
        self.job_id = row.job_id
        self.kind = row.kind
        self.arguments = row.arguments
        self.requested_by = row.requested_by
        self.attempt = row.attempts
        self.db = runner.db
        self.config = runner.container.config
        self._written = 0.0
        self._pending = False

    def progress(self, done, total=None):
        """``done`` of ``total`` (None: unchanged): this process answers with it at
        once, the database has it within 0.25 s (for the other replicas)."""
        live = self.runner.live
        total = live.get(self.job_id, (0, None))[1] if total is None else total
        live[self.job_id] = (done, total)
        if self.runner.sqlite:   # read from memory: one process per database file
            return
        wait = PROGRESS_EVERY_SECONDS - (time.monotonic() - self._written)
        if wait > 0 and done != total:   # the latest is written when the time comes
            if not self._pending:
                self._pending = True
                # in the job's context: a line it logs carries the job's request id
                eventlet.spawn_after(wait, contextvars.copy_context().run, self._write)
            return
        self._write()

    def _write(self):
        self._pending = False
        self._written = time.monotonic()
        live = self.runner.live.get(self.job_id)
        if live is None:   # over: its end is recorded with it
            return
        t = self.runner.table
        try:
            with self.runner.engine.begin() as conn:
                conn.execute(sa.update(t).where(t.c.job_id == self.job_id,
                                                t.c.state == "running",
                                                t.c.attempts == self.attempt)
                             .values(done=live[0], total=live[1]))
        except sa.exc.SQLAlchemyError as exc:   # progress is a courtesy, the work goes on
            log.warning("could not record the progress of job %s: %s", self.job_id, exc)

    def finished(self, session, result):
        t = self.runner.table
        done, total = self.runner.live.get(self.job_id, (None, None))
        recorded = session.execute(
            sa.update(t).where(t.c.job_id == self.job_id, t.c.state.in_(ACTIVE),
                               t.c.attempts == self.attempt)
            .values(state="done", result=result, finished_at=process_clock.now(),
                    arguments=FINISHED_ARGUMENTS,
                    **({"done": done, "total": total} if done is not None else {}))).rowcount
        if not recorded:
            raise JobTakenOver(f"job {self.job_id} is no longer claim {self.attempt}'s")


class JobRunner(DependencyProvider):
    """Runs the service's jobs: ``JobRunner("billing", {"billing_run": work, ...})``
    where ``work(job)`` (a ``Job``) does it and returns its result. The service's
    RPC methods ``start`` and ``get`` jobs through it. Needs the service's
    ``Database`` (services/common/db.py) as ``db`` and a ``jobs`` table in its
    metadata.

    Settings: VOOL_JOB_POLL_INTERVAL (seconds between looks for queued jobs left
    by others, default 1), VOOL_JOB_CONCURRENCY (jobs at once per process, 2; 0: a
    replica that only answers about jobs and runs none)."""

    def __init__(self, prefix, work, database_attr="db"):
        self.prefix = prefix
        self.work = dict(work)
        self.database_attr = database_attr
        self.live = {}
        self.running = set()
        self._running = False
        self._loop = None

    def setup(self):
        config = self.container.config
        self.poll_interval = cfg.float_setting(config, "VOOL_JOB_POLL_INTERVAL", 1.0)
        self.concurrency = cfg.int_setting(config, "VOOL_JOB_CONCURRENCY", 2)
        self._wake = LightQueue()

    def start(self):
        # the Database has set up by now (every provider sets up before any starts)
        [self.db] = [d for d in self.container.dependencies
                     if getattr(d, "attr_name", None) == self.database_attr]
        self.engine = self.db.engine
        self.table = self.db.metadata.tables["jobs"]
        self.sqlite = self.engine.dialect.name == "sqlite"
        # the locks' connections are never pooled: closing one must end its session
        # (and so its lock); a pooled one would keep the lock after its job
        self.lock_engine = None if self.sqlite else sa.create_engine(
            self.engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self._running = True
        self._loop = self.container.spawn_managed_thread(self._claim_loop,
                                                         identifier="job-runner")

    def stop(self):
        self._running = False
        if self._loop is not None:
            self._loop.kill()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return self

    # -- what the service's RPC methods call ---------------------------------------

    def submit(self, kind, key, arguments, requested_by, total=None):
        """Start the job (or find the same one queued or running): its view."""
        if kind not in self.work:
            raise ValueError(f"{self.prefix} runs no job of kind {kind}")
        with self.engine.begin() as conn:
            row, created = start(conn, self.table, self.prefix, kind, key, arguments,
                                 requested_by, process_clock.now(), total)
        if created:
            log.info("job %s (%s) queued by %s", row.job_id, kind, requested_by)
            self._wake.put(row.job_id)
        return self._view(row)

    def get(self, job_id):
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(self.table)
                               .where(self.table.c.job_id == job_id)).first()
        if row is None:
            raise NotFound(f"no job {job_id}")
        return self._view(row)

    def recent(self, limit=20, kind=None):
        query = sa.select(self.table).order_by(self.table.c.created_at.desc()).limit(limit)
        if kind is not None:
            query = query.where(self.table.c.kind == kind)
        with self.engine.connect() as conn:
            return [self._view(row) for row in conn.execute(query)]

    def _view(self, row):
        return view(row, self.live.get(row.job_id) if row.state == "running" else None)

    # -- claiming and running ----------------------------------------------------------

    def _claim_loop(self):
        while self._running:
            try:
                while len(self.running) < self.concurrency:
                    claimed = self._claim()
                    if claimed is None:
                        break
                    row, lock = claimed
                    self.running.add(row.job_id)
                    self.container.spawn_managed_thread(
                        functools.partial(self._run, row, lock), identifier=f"job {row.job_id}")
            except Exception:
                log.warning("claiming jobs failed; will retry", exc_info=True)
            try:
                self._wake.get(timeout=self.poll_interval)
            except Empty:
                pass

    def _claim(self):
        t = self.table
        with self.engine.connect() as conn:
            waiting = [job_id for job_id in conn.execute(
                sa.select(t.c.job_id).where(t.c.state.in_(ACTIVE))
                .order_by(t.c.created_at).limit(50)).scalars()
                if job_id not in self.running]
        for job_id in waiting:
            lock = None
            if not self.sqlite:
                lock = self.lock_engine.connect()
                taken = lock.execute(sa.text("SELECT pg_try_advisory_lock(:key, hashtext(:id))"),
                                     {"key": JOB_LOCKS, "id": job_id}).scalar()
                if not taken:   # another process runs it
                    lock.close()
                    continue
            try:
                with self.engine.begin() as conn:
                    claimed = conn.execute(
                        sa.update(t).where(t.c.job_id == job_id, t.c.state.in_(ACTIVE))
                        .values(state="running", attempts=t.c.attempts + 1,
                                started_at=sa.func.coalesce(t.c.started_at,
                                                            process_clock.now()))
                    ).rowcount
                    row = conn.execute(sa.select(t).where(t.c.job_id == job_id)).first()
            except Exception:   # not claimed after all: nor kept from the others
                if lock is not None:
                    lock.close()
                raise
            if claimed:
                if row.attempts > 1:
                    log.warning("job %s (%s) resumed: attempt %d", job_id, row.kind,
                                row.attempts)
                return row, lock
            if lock is not None:   # it finished meanwhile
                lock.close()
        return None

    def _run(self, row, lock):
        # a green thread starts with an empty context: the job's own is the request's
        headers = row.headers or {}
        with correlation.bound(correlation.accept(headers.get(correlation.EVENT_REQUEST_ID))):
            activation = tracing.begin(f"job {row.kind}", tracing.SpanKind.INTERNAL, headers,
                                       {"vool.job.kind": row.kind})
            try:
                self._run_bound(row, lock)
            finally:
                activation.end()

    def _run_bound(self, row, lock):
        job = Job(self, row)
        started = time.monotonic()
        try:
            log.info("job %s (%s) running", row.job_id, row.kind)
            result = self.work[row.kind](job)
            self._finish(job, "done", result=result)
            log.info("job %s (%s) done in %.1f s", row.job_id, row.kind,
                     time.monotonic() - started)
        except JobTakenOver:   # its work rolled back; the other claim's is the job's
            log.warning("job %s (%s) was claimed again elsewhere while this claim (attempt "
                        "%d) ran: its work is rolled back", row.job_id, row.kind, job.attempt)
        except VoolError as exc:   # an expected refusal: the job's answer
            log.info("job %s (%s) failed: %s", row.job_id, row.kind, exc)
            self._finish(job, "failed", error=str(exc))
        except Exception as exc:
            log.exception("job %s (%s) failed", row.job_id, row.kind)
            self._finish(job, "failed", error=(
                f"the job failed unexpectedly ({type(exc).__name__}); "
                f"see the {self.prefix} service's log"))
        finally:   # also when the process stops: the job stays running, free to claim
            self.running.discard(row.job_id)
            self.live.pop(row.job_id, None)
            if lock is not None:
                try:
                    lock.close()
                except Exception:
                    log.warning("closing the lock of job %s failed", row.job_id, exc_info=True)

    def _finish(self, job, state, result=None, error=None):
        job_id, t = job.job_id, self.table
        values = {"state": state, "finished_at": process_clock.now(), "error": error,
                  "arguments": FINISHED_ARGUMENTS}
        if state == "done":
            values["result"] = result
        done, total = self.live.get(job_id, (None, None))
        if done is not None:
            values.update(done=done, total=total)
        for try_no in range(3):   # the database may be briefly away
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.update(t).where(t.c.job_id == job_id,
                                                    t.c.state.in_(ACTIVE),
                                                    t.c.attempts == job.attempt)
                                 .values(**values))
                return
            except sa.exc.OperationalError:
                log.warning("recording job %s %s failed (try %d)", job_id, state,
                            try_no + 1, exc_info=True)
                eventlet.sleep(1 + try_no)
