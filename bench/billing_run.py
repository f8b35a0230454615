"""``make bench-billing``: the monthly billing run at 10,000, 100,000 and 700,000 contracts.

The target (the issue): 700,000 contracts, every metering point in Estonia,
invoiced in under 30 s on the 2-core machine with PostgreSQL; plain set-based SQL
writes 700,000 invoices with 1.4 million lines in about 10 s there.

For each size the benchmark creates a fresh database ``vool_bench_billing_<size>``,
migrates billing to head and seeds it set-based (``generate_series``; not
measured, its time is printed): N contracts on BASIC that started before the
period and, per contract, one unbilled reading charge in the period with
``--charge-lines`` lines (energy, network, ...). With ``--history-months k`` it
first bills k earlier months with run() itself (not measured) and marks those
invoices paid: the steady state of a live system instead of the very first run.
Then ``VACUUM ANALYZE`` and a ``CHECKPOINT`` (the state autovacuum leaves a month
of charges in), and it times ``services.billing.runs.run(uow, period, due_days,
progress)`` inside a unit of work *including the commit*, printing each step
run() reports as it finishes (and any other statement of 0.5 s or more; every 30
s, which statement a long one is still in). A run still going after
``--timeout`` seconds is cancelled and reported unfinished. A second run of the
same period must issue nothing; its time is the no-op's.

The unit of work is the real one (services.common.db.UnitOfWork on a
``make_engine`` engine, the billing migrations, a settable clock at 09:00 on the
5th of the next month). There is no broker: the outbox's publisher is a stub that
only counts. run() records itself in ``invoice_runs`` and its invoice_issued events
are published from the invoices after the commit (services/billing/issued.py):
the benchmark does that to the counting stub and prints how long it took, outside
the measured time (with a broker the sending costs more).

The database is dropped afterwards unless ``--keep``. Results go to
bench/results/billing-run-latest.json and, for a full run (the default sizes or
``--record``), to bench/results/billing-run-<YYYY-MM-DD>.json
(``-history<k>.json`` with ``--history-months k``).
"""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # nameko's import

import argparse  # noqa: E402
import contextlib  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import date, datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

from bench.infra import PROJECT_ROOT, Postgres, cpu_model, memory_gib  # noqa: E402
from services.billing import issued as issued_events  # noqa: E402
from services.billing import runs  # noqa: E402
from services.billing.models import metadata  # noqa: E402
from services.common import migrate  # noqa: E402
from services.common.clock import TALLINN, Clock  # noqa: E402
from services.common.db import UnitOfWork, make_engine  # noqa: E402
from services.common.identifiers import is_valid_reference_number  # noqa: E402
from services.common.outbox import Outbox  # noqa: E402

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
MIGRATIONS = PROJECT_ROOT / "services" / "billing" / "migrations"
DEFAULT_SIZES = "10000,100000,700000"
TARGET_SIZE, TARGET_SECONDS, FLOOR_SECONDS = 700_000, 30.0, 10.0
# BASIC's per-kWh components (migration 0002), in the order a charge lists them
COMPONENTS = [("energy", "0.129000"), ("network", "0.056000"), ("renewable", "0.008400"),
              ("excise", "0.002100")]


def _env(name, default, kind=str):
    value = os.environ.get(name)
    return kind(value) if value not in (None, "") else default


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.billing_run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=_env("BENCH_BILLING_SIZES", DEFAULT_SIZES),
                        help=f"comma-separated contract counts (env BENCH_BILLING_SIZES; "
                             f"default {DEFAULT_SIZES})")
    parser.add_argument("--keep", action="store_true",
                        help="keep each vool_bench_billing_<size> database for a look afterwards")
    parser.add_argument("--period", default="2026-10",
                        help="the month billed (default 2026-10; 'today' is the 5th of the "
                             "next month)")
    parser.add_argument("--charge-lines", type=int, default=2, choices=range(1, 5),
                        help="lines per charge, 1-4 of energy, network, renewable, excise "
                             "(default 2: with the monthly fee, 3 invoice lines per contract)")
    parser.add_argument("--history-months", type=int, default=0,
                        help="bill this many months before the period first (run() itself, not "
                             "measured; invoices paid): the steady state of a live system rather "
                             "than the first run on empty invoices (default 0)")
    parser.add_argument("--due-days", type=int, default=14)
    parser.add_argument("--timeout", type=float,
                        default=_env("BENCH_BILLING_TIMEOUT", 600.0, float),
                        help="cancel a run still going after this many seconds and report it "
                             "unfinished (env BENCH_BILLING_TIMEOUT; default 600; 0: never)")
    parser.add_argument("--record", action=argparse.BooleanOptionalAction, default=None,
                        help="also write bench/results/billing-run-<date>.json (default: only "
                             "when run with the default sizes)")
    parser.add_argument("--json", default=str(RESULTS_DIR / "billing-run-latest.json"),
                        help="where the results go ('' for nowhere)")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes: comma-separated whole numbers")
    if not args.sizes or min(args.sizes) < 1:
        parser.error("--sizes: at least one size, each at least 1")
    runs.period_bounds(args.period)  # a YYYY-MM or ValidationFailed
    if args.record is None:
        args.record = args.sizes == [int(s) for s in DEFAULT_SIZES.split(",")]
    return args


# --- machine ----------------------------------------------------------------------------

def machine(postgres):
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "memory_gb": memory_gib(),
            "python": platform.python_version(), "os": f"{platform.system()} {platform.release()}"}
    with postgres.admin.connect() as conn:
        info["postgresql"] = conn.execute(sa.text("SELECT version()")).scalar()
        info["postgresql_settings"] = {
            name: conn.execute(sa.text(f"SHOW {name}")).scalar()
            for name in ("shared_buffers", "work_mem", "maintenance_work_mem",
                         "effective_cache_size", "synchronous_commit", "max_wal_size",
                         "checkpoint_timeout", "max_parallel_workers_per_gather", "jit")}
    from importlib.metadata import version
    info["sqlalchemy"] = version("sqlalchemy")
    info["psycopg2"] = version("psycopg2-binary") if _installed("psycopg2-binary") else (
        version("psycopg2") if _installed("psycopg2") else "?")
    return info


def code_version():
    """The commit checked out (read from .git, no git command) and a hash of
    runs.py, which may carry uncommitted changes."""
    info = {}
    with contextlib.suppress(OSError):
        head = (PROJECT_ROOT / ".git" / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = PROJECT_ROOT / ".git" / head[5:]
            info["git_head"] = ref.read_text().strip() if ref.exists() else head[5:]
        else:
            info["git_head"] = head
    info["runs_py_sha1"] = hashlib.sha1(Path(runs.__file__).read_bytes()).hexdigest()
    return info


def _installed(name):
    from importlib.metadata import PackageNotFoundError, version
    try:
        version(name)
        return True
    except PackageNotFoundError:
        return False


# --- seeding ----------------------------------------------------------------------------

def months_before(period, count):
    """``['2026-08', '2026-09']`` for ('2026-10', 2): the ``count`` months before, oldest first."""
    first, _ = runs.period_bounds(period)
    index = first.year * 12 + first.month - 1
    return [f"{(i // 12):04d}-{(i % 12) + 1:02d}" for i in range(index - count, index)]


def today_for(period):
    """The day the period is billed on: the 5th of the next month."""
    first, _ = runs.period_bounds(period)
    return date(first.year + first.month // 12, first.month % 12 + 1, 5)


def contract_statements(size, since):
    """The set-based seed of the contracts: (label, SQL). Contract and reference
    numbers are those contracts.signing gives the n-th contract (``VL-000042``,
    the 7-3-1 reference number of 100000 + n)."""
    return [
        ("seed numbers", f"""
            CREATE UNLOGGED TABLE bench_seed AS
            SELECT n,
                   'VL-' || LPAD(n::text, GREATEST(6, LENGTH(n::text)), '0') AS contract_no,
                   md5('customer-' || n)::uuid::text AS customer_id,
                   (100000 + n)::text AS ref_base
            FROM generate_series(1, {size}) AS n"""),
        ("seed contracts", f"""
            INSERT INTO billing_contracts (contract_no, customer_id, reference_no, tariff_plan,
                                           start_date, end_date)
            SELECT s.contract_no, s.customer_id,
                   s.ref_base || ((10 - (SELECT SUM(SUBSTR(REVERSE(s.ref_base), k, 1)::int
                                                    * (ARRAY[7, 3, 1])[(k - 1) % 3 + 1])
                                         FROM generate_series(1, LENGTH(s.ref_base)) AS k)
                                   % 10) % 10)::text,
                   'BASIC', DATE '{since}' - 1 - (s.n % 700), NULL
            FROM bench_seed s"""),
    ]


def charge_statements(period, charge_lines):
    """One unbilled reading charge per contract read in ``period`` (reading day
    1-28, the month since the previous reading), ``charge_lines`` lines each."""
    first, _ = runs.period_bounds(period)
    salt = first.year * 12 + first.month
    components = ", ".join(f"({n}, '{kind}', {price})"
                           for n, (kind, price) in enumerate(COMPONENTS[:charge_lines], 1))
    # consumption 40..739 kWh a month, different each month
    kwh = f"(40 + (s.n::bigint * 7919 + {salt * 37}) % 700)::numeric(14, 3)"
    read_on = f"(DATE '{first}' + (s.n % 28))"
    charge_id = f"md5('charge-{period}-' || s.n)::uuid::text"
    return [
        (f"seed {period} charges", f"""
            INSERT INTO charges (charge_id, reading_id, consumption_point_id, contract_no,
                                 customer_id, period_from, period_to, net, created_at,
                                 invoice_no, registers, register_digits)
            SELECT {charge_id}, md5('reading-{period}-' || s.n)::uuid::text,
                   md5('point-' || s.n)::uuid::text, s.contract_no, s.customer_id,
                   ({read_on} - INTERVAL '1 month')::date, {read_on}, 0,
                   ({read_on} + TIME '09:00') AT TIME ZONE 'Europe/Tallinn', NULL,
                   json_build_object('T1', 10000 + s.n % 80000), '{{"T1": 6}}'::json
            FROM bench_seed s"""),
        (f"seed {period} charge lines", f"""
            INSERT INTO charge_lines (charge_id, line_no, kind, register, kwh, unit_price, net,
                                      period_from, period_to)
            SELECT {charge_id}, p.line_no, p.kind, 'T1', {kwh}, p.price,
                   ROUND({kwh} * p.price, 2), NULL, NULL
            FROM bench_seed s CROSS JOIN (VALUES {components}) AS p (line_no, kind, price)"""),
        (f"seed {period} charge nets", f"""
            UPDATE charges c SET net = l.net
            FROM (SELECT charge_id, SUM(net) AS net FROM charge_lines
                  WHERE charge_id IN (SELECT {charge_id} FROM bench_seed s)
                  GROUP BY charge_id) l
            WHERE l.charge_id = c.charge_id"""),
    ]


def execute_all(engine, statements, say):
    with engine.begin() as conn:
        for label, sql in statements:
            t0 = time.perf_counter()
            rows = conn.execute(sa.text(sql)).rowcount
            say(f"{label}: {max(rows, 0)} rows in {time.perf_counter() - t0:.1f} s")


def bill_history(engine, period, due_days, say):
    """A month before the measured one, billed by run() itself (not measured), its
    invoices then paid and its events published, as a month later they would be.
    With ``enable_nestloop`` off for this transaction: run() on an empty invoices
    table otherwise takes the first-run plan the benchmark measures, and that is
    quadratic (see bench/README.md)."""
    clock = Clock()
    day = today_for(period)
    clock.set(datetime(day.year, day.month, day.day, 9, tzinfo=TALLINN))
    _, unit_of_work = unit_of_work_factory(engine, clock)
    t0 = time.perf_counter()
    with unit_of_work() as uow:
        uow.session.execute(sa.text("SET LOCAL enable_nestloop = off"))
        issued = runs.run(uow, period, due_days)
        uow.session.execute(sa.text(
            "UPDATE invoices SET paid = total, status = 'paid' WHERE period = :p"), {"p": period})
        uow.session.execute(sa.text(
            "UPDATE outbox SET published_at = created_at WHERE published_at IS NULL"))
        uow.session.execute(sa.text(
            "UPDATE invoice_runs SET published_through = last_no, published_at = issued_at"))
    say(f"history {period}: run() issued {issued['invoices_issued']} invoices in "
        f"{time.perf_counter() - t0:.1f} s (seeding, enable_nestloop off); marked paid and "
        f"their events published")


def seed(engine, size, period, charge_lines, history_months, due_days, say):
    started = time.perf_counter()
    history = months_before(period, history_months)
    with engine.begin() as conn:
        monthly_fee = conn.execute(sa.text(
            "SELECT price FROM tariff_components WHERE tariff_plan = 'BASIC' "
            "AND kind = 'monthly_fee' AND valid_until IS NULL")).scalar()
        if monthly_fee is None:
            raise RuntimeError("BASIC has no open monthly_fee component: migration 0002 changed?")
    since = runs.period_bounds((history or [period])[0])[0]
    execute_all(engine, contract_statements(size, since), say)
    with engine.begin() as conn:
        refs = conn.execute(sa.text(
            "SELECT reference_no FROM billing_contracts ORDER BY random() LIMIT 200")).scalars()
        bad = [r for r in refs if not is_valid_reference_number(r)]
        if bad:
            raise RuntimeError(f"seeded reference numbers fail the 7-3-1 check: {bad[:5]}")
    for month in history:
        execute_all(engine, charge_statements(month, charge_lines), say)
        bill_history(engine, month, due_days, say)
    execute_all(engine, charge_statements(period, charge_lines)
                + [("drop seed numbers", "DROP TABLE bench_seed")], say)
    seeded = time.perf_counter() - started
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM (ANALYZE)"))
        conn.execute(sa.text("CHECKPOINT"))
    settled = time.perf_counter() - t0
    say(f"seeded in {seeded:.1f} s; VACUUM ANALYZE + CHECKPOINT {settled:.1f} s "
        f"(neither measured)")
    return {"seed_seconds": round(seeded, 2), "vacuum_analyze_checkpoint_seconds":
            round(settled, 2), "monthly_fee": str(monthly_fee), "history_months": history}


# --- the measured run -------------------------------------------------------------------

class CountingPublisher:
    """No broker in this benchmark: publishing after commit hands messages here."""

    def __init__(self):
        self.messages = 0

    def publish(self, message, headers=None):
        self.messages += 1

    def publish_many(self, messages, headers=None):
        self.messages += len(messages)


class TimedOutbox(Outbox):
    """The real outbox (claim rows, publish, mark published), timed, so that the
    publish after commit is reported apart from the run and its commit."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.publish_seconds = 0.0
        self.publish_calls = 0

    def publish(self, event_ids):
        started = time.perf_counter()
        try:
            return super().publish(event_ids)
        finally:
            self.publish_seconds += time.perf_counter() - started
            self.publish_calls += 1


class StatementTimer:
    """Every statement the run sends, with its rows and time (engine events).

    ``run()`` reports its steps through ``progress`` right after their statements;
    a statement of 0.5 s or more that no step claims (all of them, while run()
    reports none) is printed here as soon as the next one starts, so a long run
    shows its progress either way."""

    QUIET_BELOW = 0.5

    def __init__(self, engine, say):
        self.engine, self.say = engine, say
        self.statements = []
        self.running = None       # (label, started) of the statement in flight
        self._pending = None

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._before)
        sa.event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._before)
        sa.event.remove(self.engine, "after_cursor_execute", self._after)
        self._flush()
        return False

    def step_reported(self, step):
        """``run()`` reported ``step``: the statement just finished was (the last of) it."""
        if self._pending is not None:
            self._pending["step"] = step
            self._pending = None

    def _flush(self):
        s, self._pending = self._pending, None
        if s is not None and s["seconds"] >= self.QUIET_BELOW:
            self.say(f"(sql {s['label']}: {s['rows']} rows in {s['seconds']:.1f} s)")

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self._flush()
        sql = " ".join(statement.split())
        self.running = (statement_label(sql, len(self.statements) + 1), time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        label, started = self.running or ("?", time.perf_counter())
        self.running = None
        self._pending = {"label": label, "sql": " ".join(statement.split()),
                         "rows": cursor.rowcount,
                         "seconds": round(time.perf_counter() - started, 3)}
        self.statements.append(self._pending)


def statement_label(sql, number):
    """``#4 INSERT INTO invoices``, ``#9 UPDATE invoices SET net``: short, for a progress line."""
    words = sql.split()
    head = " ".join(words[:3])
    if words and words[0].upper() == "UPDATE" and len(words) > 3:
        head = " ".join(words[:4])
    elif words and words[0].upper() == "SELECT":
        match = re.search(r"\bFROM\s+(\w+)", sql, re.IGNORECASE)
        head = f"SELECT {words[1][:30]} FROM {match.group(1)}" if match else " ".join(words[:2])
    return f"#{number} {head}"


class Watchdog(threading.Thread):
    """While a run is in flight: says which statement it is in every ``every``
    seconds once one has taken that long, and cancels the run (PQcancel on its
    connection) when it is over ``limit`` seconds."""

    def __init__(self, timer, dbapi_connection, limit, say, every=30.0):
        super().__init__(daemon=True)
        self.timer, self.dbapi_connection = timer, dbapi_connection
        self.limit, self.say, self.every = limit, say, every
        self.started = time.perf_counter()
        self.cancelled_in = None
        self._done = threading.Event()

    def run(self):
        while not self._done.wait(self.every if not self.limit
                                  else min(self.every, max(0.1, self._left()))):
            running = self.timer.running
            if self.limit and self._left() <= 0:
                self.cancelled_in = running[0] if running else "?"
                self.say(f"over the {self.limit:.0f} s limit in {self.cancelled_in}: cancelling "
                         f"the run (--timeout)")
                with contextlib.suppress(Exception):
                    self.dbapi_connection.cancel()
                return
            if running and time.perf_counter() - running[1] >= self.every:
                self.say(f"... still in {running[0]} after "
                         f"{time.perf_counter() - running[1]:.0f} s")

    def _left(self):
        return self.limit - (time.perf_counter() - self.started)

    def stop(self):
        self._done.set()


def unit_of_work_factory(engine, clock):
    outbox = TimedOutbox(engine, metadata.tables["outbox"], CountingPublisher(), clock)
    outbox.handled_table = metadata.tables["handled_events"]
    session_factory = sessionmaker(engine, expire_on_commit=False)
    return outbox, lambda: UnitOfWork(session_factory, outbox, "billing", clock)


def timed_run(engine, clock, period, due_days, say, limit=0):
    """One ``run()`` in one unit of work, timed up to and including its commit.
    Returns a dict: result (None when cancelled at ``limit`` seconds), timings,
    steps as run() reported them and every statement."""
    outbox, unit_of_work = unit_of_work_factory(engine, clock)
    timer = StatementTimer(engine, say)
    steps = []

    def progress(step, rows, seconds):
        timer.step_reported(step)
        steps.append({"step": step, "rows": rows, "seconds": round(seconds, 3)})
        say(f"{step}: {rows} rows in {seconds:.1f} s")

    result = watchdog = None
    started = ran = time.perf_counter()
    try:
        with timer:
            started = time.perf_counter()
            with unit_of_work() as uow:
                # the run's own connection, for the watchdog to cancel (checked out now
                # rather than at run()'s first statement; nothing is sent)
                connection = uow.session.connection().connection.dbapi_connection
                watchdog = Watchdog(timer, connection, limit, say)
                watchdog.start()
                result = runs.run(uow, period, due_days, progress=progress)
                ran = time.perf_counter()
            ended = time.perf_counter()
    except sa.exc.DBAPIError as exc:
        if watchdog is None or watchdog.cancelled_in is None:
            raise
        say(f"cancelled: {exc.orig.__class__.__name__}; rolled back")
        ended = ran = time.perf_counter()
        if timer.running:
            label, began = timer.running
            timer.statements.append({"label": label, "sql": None, "rows": None,
                                     "seconds": round(ended - began, 3), "cancelled": True})
            steps.append({"step": f"cancelled in {label}", "rows": None,
                          "seconds": round(ended - began, 3)})
    finally:
        if watchdog is not None:
            watchdog.stop()
    publish = outbox.publish_seconds
    timings = {"run_seconds": round(ran - started, 3),
               "commit_seconds": round(ended - ran - publish, 3),   # __exit__: commit, then publish
               "seconds": round(ended - started - publish, 3),
               "publish_after_commit_seconds": round(publish, 3),
               "published_events": outbox.publisher.messages}
    return {"result": result, "timings": timings, "steps": steps,
            "statements": timer.statements,
            "cancelled_in": watchdog.cancelled_in if watchdog else None}


def check(engine, period):
    """What the run wrote adds up (not measured)."""
    with engine.connect() as conn:
        row = conn.execute(sa.text("""
            SELECT (SELECT COUNT(*) FROM invoices WHERE period = :p) AS invoices,
                   (SELECT COUNT(*) FROM invoice_lines l JOIN invoices i USING (invoice_no)
                    WHERE i.period = :p) AS lines,
                   (SELECT COUNT(*) FROM invoice_lines l JOIN invoices i USING (invoice_no)
                    WHERE i.period = :p AND l.kind = 'monthly_fee') AS fee_lines,
                   (SELECT COUNT(*) FROM charges WHERE invoice_no IS NULL) AS unbilled_charges,
                   (SELECT COUNT(*) FROM invoices i WHERE i.period = :p AND i.net <>
                       (SELECT SUM(net) FROM invoice_lines l WHERE l.invoice_no = i.invoice_no))
                       AS net_mismatches,
                   (SELECT COUNT(*) FROM invoices WHERE period = :p AND total <> net + vat)
                       AS total_mismatches,
                   (SELECT COALESCE(SUM(total), 0) FROM invoices WHERE period = :p) AS total,
                   (SELECT COUNT(*) FROM outbox WHERE published_at IS NULL) AS outbox_rows,
                   (SELECT COUNT(*) FROM invoices WHERE period = :p AND total > 0)
                       AS to_announce,
                   pg_database_size(current_database()) AS db_bytes
        """), {"p": period}).mappings().one()
    return dict(row)


def bench_size(postgres, size, options, say_base):
    def say(message):
        say_base(f"[{size}] {message}")

    database = f"vool_bench_billing_{size}"
    with postgres.admin.connect() as conn:
        # a database of that name left by an earlier run is ours to drop; one that another
        # benchmark is using right now is not (dropping it WITH (FORCE) would end that run)
        users = conn.execute(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"),
            {"name": database}).scalars().all()
        if users:
            raise RuntimeError(f"{database} is in use (backend pid {', '.join(map(str, users))}):"
                               f" another benchmark running? not touching it")
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}"'))
    url = postgres.url.set(database=database).render_as_string(hide_password=False)
    engine = make_engine(url)  # creates the database, as a service's setup does
    result = {"size": size, "database": database, "charge_lines_per_charge": options.charge_lines,
              "problems": []}
    problems = result["problems"]
    try:
        t0 = time.perf_counter()
        migrate.upgrade(engine, MIGRATIONS)
        say(f"created {database} and migrated billing to head in {time.perf_counter() - t0:.1f} s")
        result.update(seed(engine, size, options.period, options.charge_lines,
                           options.history_months, options.due_days, say))

        clock = Clock()   # "today": the 5th of the month after the period, 09:00 in Tallinn
        today = today_for(options.period)
        clock.set(datetime(today.year, today.month, today.day, 9, tzinfo=TALLINN))
        say(f"billing {options.period} on {today} ...")
        started_at = datetime.now(timezone.utc)
        first_run = timed_run(engine, clock, options.period, options.due_days, say,
                              options.timeout)
        timings = first_run["timings"]
        result.update({**timings, "steps": first_run["steps"],
                       "statements": first_run["statements"],
                       "cancelled_in": first_run["cancelled_in"]})
        if first_run["result"] is None:
            result.update(invoices_issued=None, invoice_lines=None, invoices_per_second=None)
            say(f"NOT FINISHED: cancelled after {timings['seconds']:.0f} s in "
                f"{first_run['cancelled_in']} (--timeout {options.timeout:.0f})")
            return result
        issued = first_run["result"]
        say(f"issued {issued['invoices_issued']} invoices, total {issued['total']} EUR, in "
            f"{timings['seconds']:.1f} s (run {timings['run_seconds']:.1f} s + commit "
            f"{timings['commit_seconds']:.1f} s)")
        if not first_run["steps"]:
            say("(run() reported no steps itself; the sql lines above are its statements)")
        if timings["published_events"] or timings["publish_after_commit_seconds"] > 0.05:
            say(f"after the commit the outbox published {timings['published_events']} event(s) "
                f"to a counting stub (no broker) in "
                f"{timings['publish_after_commit_seconds']:.1f} s (not in the time above)")
        checked = check(engine, options.period)
        say(f"check: {checked['invoices']} invoices, {checked['lines']} lines "
            f"({checked['fee_lines']} monthly fees), {checked['unbilled_charges']} charges left "
            f"unbilled, {checked['net_mismatches']} net / {checked['total_mismatches']} total "
            f"mismatches, {checked['outbox_rows']} events in the outbox, database "
            f"{checked['db_bytes'] / 2**20:.0f} MB")
        t0 = time.perf_counter()
        counting = CountingPublisher()
        announced = issued_events.publish_pending(engine, counting, clock)
        result["announce_seconds"] = time.perf_counter() - t0
        say(f"after the commit: {announced} invoice_issued events published from the invoices "
            f"to a counting stub (no broker) in {result['announce_seconds']:.1f} s (not in the "
            f"run's time)")
        if announced != checked["to_announce"]:
            problems.append(f"{announced} invoice_issued events for {checked['to_announce']} "
                            f"invoices with something to pay")
        if checked["invoices"] != size or issued["invoices_issued"] != size:
            problems.append(f"expected {size} invoices, the run says {issued['invoices_issued']}, "
                            f"the database has {checked['invoices']}")
        if checked["unbilled_charges"] or checked["net_mismatches"] or checked["total_mismatches"]:
            problems.append("the invoices do not add up")
        result.update({
            "invoices_issued": issued["invoices_issued"], "total_eur": issued["total"],
            "invoice_lines": checked["lines"], "monthly_fee_lines": checked["fee_lines"],
            "invoices_per_second": round(issued["invoices_issued"]
                                         / max(timings["seconds"], 1e-9)),
            "database_mb": round(checked["db_bytes"] / 2**20),
            "outbox_rows": checked["outbox_rows"], "invoice_issued_events": announced})

        with engine.connect() as conn:   # what the planner knows of invoices for the re-run
            analyzed = conn.execute(sa.text(
                "SELECT GREATEST(last_analyze, last_autoanalyze) FROM pg_stat_user_tables"
                " WHERE relname = 'invoices'")).scalar()
        result["invoices_analyzed_after_run"] = bool(analyzed and analyzed > started_at)
        say("invoices' statistics for the second run: "
            + ("analyzed since the run started (by the run or autovacuum)" if result[
                "invoices_analyzed_after_run"] else "from before the run (not analyzed since)"))
        again = timed_run(engine, clock, options.period, options.due_days, say, options.timeout)
        result["second_run"] = {"invoices_issued": None, **again["timings"],
                                "steps": again["steps"], "statements": again["statements"],
                                "cancelled_in": again["cancelled_in"]}
        if again["result"] is None:
            say(f"second run of {options.period}: NOT FINISHED, cancelled after "
                f"{again['timings']['seconds']:.0f} s in {again['cancelled_in']}")
            problems.append(f"the second run (a no-op) did not finish in {options.timeout:.0f} s "
                            f"({again['cancelled_in']})")
        else:
            issued_again = result["second_run"]["invoices_issued"] = \
                again["result"]["invoices_issued"]
            say(f"second run of {options.period}: issued {issued_again} in "
                f"{again['timings']['seconds']:.2f} s")
            if issued_again != 0:
                problems.append(f"the second run issued {issued_again}")
        return result
    finally:
        for problem in problems:
            say(f"PROBLEM: {problem}")
        engine.dispose()
        if options.keep:
            say(f"kept database {database}")
        else:
            with postgres.admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


# --- report -----------------------------------------------------------------------------

COLUMNS = [("contracts", 9), ("issued", 8), ("lines", 9), ("run s", 6), ("commit s", 8),
           ("total s", 7), ("invoices/s", 10), ("no-op s", 7)]


def summary_table(results):
    rows = ["  ".join(f"{name:>{width}}" for name, width in COLUMNS),
            "  ".join("-" * width for _, width in COLUMNS)]
    for r in results:
        if "error" in r:
            cells = [r["size"], "failed"] + ["-"] * (len(COLUMNS) - 2)
        elif r.get("invoices_issued") is None:
            cells = [r["size"], "-", "-", f">{r['run_seconds']:.0f}", "-",
                     f">{r['seconds']:.0f}", "-", "-"]
        else:
            again = r.get("second_run") or {}
            noop = ("-" if not again else f">{again['seconds']:.0f}" if again["cancelled_in"]
                    else f"{again['seconds']:.2f}")
            cells = [r["size"], r["invoices_issued"], r["invoice_lines"],
                     f"{r['run_seconds']:.1f}", f"{r['commit_seconds']:.1f}",
                     f"{r['seconds']:.1f}", r["invoices_per_second"], noop]
        rows.append("  ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, COLUMNS)))
    return "\n".join(rows)


def step_table(results):
    """Seconds per step, one column per size: the steps run() reports (their time
    as it measured it), the rest of run() (statements no step covers), the commit.
    When run() reports no steps: every statement."""
    results = [r for r in results if "error" not in r]
    if not results:
        return "(no run finished)"
    by_steps = any(r["steps"] for r in results)
    names = []
    for r in results:
        for s in (r["steps"] if by_steps else r["statements"]):
            name = s["step"] if by_steps else s["label"]
            if name not in names:
                names.append(name)
    extra = ["rest of run()"] if by_steps else []
    width = max(len(n) for n in names + extra + ["step"])
    lines = [f"{'step':<{width}}" + "".join(f"  {r['size']:>9}" for r in results)]
    for name in names + extra + ["commit", "total"]:
        cells = []
        for r in results:
            if name == "commit":
                cells.append(r["commit_seconds"])
            elif name == "total":
                cells.append(r["seconds"])
            elif name == "rest of run()":
                cells.append(r["run_seconds"] - sum(s["seconds"] for s in r["steps"]))
            else:
                found = [s["seconds"] for s in (r["steps"] if by_steps else r["statements"])
                         if (s["step"] if by_steps else s["label"]) == name]
                cells.append(sum(found) if found else None)
        lines.append(f"{name:<{width}}" + "".join(
            f"  {'-':>9}" if c is None else f"  {c:>9.2f}" for c in cells))
    return "\n".join(lines)


def write_json(path, document):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def _interrupted(signum, frame):
    raise KeyboardInterrupt   # unwinds through the finally that drops the database


def main(argv=None):
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGHUP, _interrupted)
    postgres = Postgres(os.environ.get("DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/postgres")
    started = time.monotonic()

    def say(message):
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    info = machine(postgres)
    say(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; "
        f"{info['postgresql'].split(' on ')[0]}")
    results = []
    try:
        for size in options.sizes:
            try:
                results.append(bench_size(postgres, size, options, say))
            except Exception as exc:   # a broken run() or seed: say so, go on with the next size
                say(f"[{size}] FAILED: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
                results.append({"size": size, "error": f"{exc.__class__.__name__}: {exc}",
                                "problems": [f"failed: {exc.__class__.__name__}"],
                                "steps": [], "statements": []})
    except KeyboardInterrupt:
        say("interrupted; the benchmark database was dropped" if not options.keep
            else "interrupted; the benchmark database was kept (--keep)")
        return 130

    print()
    print(summary_table(results))
    print()
    print("seconds per step of run() and its commit:")
    print(step_table(results))
    print()
    for r in results:
        if r["size"] == TARGET_SIZE and "error" not in r:
            finished = r["invoices_issued"] is not None
            verdict = "met" if finished and r["seconds"] < TARGET_SECONDS else "NOT met"
            took = (f"{r['seconds']:.1f} s" if finished
                    else f"not finished in {r['seconds']:.0f} s ({r['cancelled_in']})")
            print(f"target: {TARGET_SIZE} contracts in < {TARGET_SECONDS:.0f} s -> {took}, "
                  f"{verdict} (plain set-based SQL floor: ~{FLOOR_SECONDS:.0f} s for 700,000 "
                  f"invoices with 1.4 M lines)")
    state = (f"the steady state: {options.history_months} earlier month(s) billed first"
             if options.history_months else "the first run: no invoices yet")
    print(f"{state}; lines per invoice: {options.charge_lines} from the reading's charge + 1 "
          f"monthly fee; time = run() + its commit")

    problems = [f"{r['size']}: {p}" for r in results for p in r["problems"]]
    document = {"benchmark": "billing-run",
                "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": info, "code": code_version(),
                "options": {k: v for k, v in vars(options).items() if k not in ("json", "record")},
                "target": {"contracts": TARGET_SIZE, "seconds": TARGET_SECONDS,
                           "plain_sql_floor_seconds": FLOOR_SECONDS},
                "results": results, "problems": problems}
    if options.json:
        print(f"results written to {write_json(options.json, document)}")
    if options.record:
        suffix = f"-history{options.history_months}" if options.history_months else ""
        dated = RESULTS_DIR / f"billing-run-{datetime.now(timezone.utc):%Y-%m-%d}{suffix}.json"
        print(f"results written to {write_json(dated, document)}")
    say("done")
    if problems:
        print("PROBLEMS:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
