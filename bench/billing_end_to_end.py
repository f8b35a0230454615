"""``make bench-billing-e2e``: the monthly billing run end to end (issue #18, P2).

The target: 700,000 contracts billed in at most 30 s *and* every invoice_issued
event published and handled by notifications (each customer's invoice message in
the inbox and queued for e-mail) within 10 minutes of the run's start.

billing and notifications run as production runs them (one ``nameko run`` process
each, bench/infra.py) on a fresh RabbitMQ vhost and fresh databases
(``vbench_<id>_billing``, ``vbench_<id>_notifications``), e-mail going to a counting
SMTP server (bench/mail_sink.py) as it would to a real one (``--smtp none``: no
server, the e-mails are written to the log instead). Once both services are ready,
billing is seeded set-based as ``bench.billing_run`` seeds it (N contracts, one
unbilled charge each in last month) and notifications' directory with the N
customers' contact details (an e-mail address each; every fifth in English), then
both are VACUUM ANALYZEd (none of this is measured).

The run is started as an operator starts it (``billing.start_billing_run``, a job)
and from then on the benchmark polls the two databases every ``--poll`` seconds:

- run committed: its ``invoice_runs`` row exists (the job commits run and row at once);
- events published: billing's publisher (services/billing/issued.py) walks the run's
  invoices, ``invoice_runs.published_through`` says how far;
- events handled: notifications' inbox rows and queued e-mails (``deliveries``) of
  kind invoice_issued, until both number N.

Each stage's time (from the run's start) and rate are printed, with the CPU each
process (and PostgreSQL, RabbitMQ) spent in the window. Then the counts are checked
exactly: N inbox rows and N e-mails for the N customers billed (the same customers:
a digest of the sorted ids on both sides), no customer twice, N handled events,
nothing in a retry or dead-letter queue. ``--spy billing,notifications`` samples
those processes with py-spy (collapsed stacks in the log directory).
"""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # nameko's import

import eventlet  # noqa: E402

eventlet.monkey_patch()  # before anything imports socket, threading, time (the RPC client)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date, datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from bench import billing_run  # noqa: E402
from bench import interrupts  # noqa: E402
from bench.infra import (PROJECT_ROOT, Broker, CpuMeter, Postgres, ServiceProcesses,  # noqa: E402
                         Spy, free_port, service_env)
from services.common.clock import TALLINN  # noqa: E402

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
TARGET_SIZE, RUN_TARGET_S, END_TO_END_TARGET_S = 700_000, 30.0, 600.0
HANDLER = "notifications.on_invoice_issued"
HANDLER_QUEUE = f"evt-billing-invoice_issued--{HANDLER}"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.billing_end_to_end",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=TARGET_SIZE,
                        help=f"contracts billed (default {TARGET_SIZE})")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="give up this many seconds after the run's start (default 1800)")
    parser.add_argument("--poll", type=float, default=1.0,
                        help="seconds between two looks at the databases (default 1)")
    parser.add_argument("--smtp", choices=("sink", "none"), default="sink",
                        help="sink: a counting SMTP server gets the e-mails (default); none: "
                             "no SMTP_HOST, notifications writes them to its log")
    parser.add_argument("--spy", default="",
                        help="py-spy these processes during the window (billing,notifications)")
    parser.add_argument("--env", action="append", default=[],
                        help="NAME=VALUE for both service processes (repeatable)")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the service logs' directory (it is printed)")
    parser.add_argument("--json", default=str(RESULTS_DIR / "billing-e2e-latest.json"),
                        help="where the results go ('' for nowhere)")
    parser.add_argument("--record", action="store_true",
                        help="also write bench/results/billing-e2e-<date>.json")
    return parser.parse_args(argv)


def last_month(today):
    return (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


# --- seeding (not measured) ---------------------------------------------------------------

def contact_statements(size, now):
    """notifications' copy of the N customers' contact details, as contract_signed
    would have left it: the customer ids billing's seed uses."""
    return [("seed contacts", f"""
        INSERT INTO contacts (customer_id, name, email, phone, language, as_of)
        SELECT md5('customer-' || n)::uuid::text, 'Bench Customer ' || n,
               'customer' || n || '@example.ee', '+3725' || LPAD(n::text, 7, '0'),
               CASE WHEN n % 5 = 0 THEN 'en' ELSE 'et' END, TIMESTAMPTZ '{now.isoformat()}'
        FROM generate_series(1, {size}) AS n""")]


def settle(engine):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM (ANALYZE)"))
        conn.execute(sa.text("CHECKPOINT"))


def wait_until(what, condition, timeout, processes, every=0.3):
    deadline = time.monotonic() + timeout
    while True:
        processes.check_alive()
        with contextlib.suppress(Exception):
            if condition():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s (logs in "
                               f"{processes.log_dir})")
        time.sleep(every)


# --- the measured window --------------------------------------------------------------------

class Progress:
    """The two databases looked at: one connection each, held for the whole window."""

    def __init__(self, billing, notifications):
        self.billing = billing.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.notes = notifications.connect().execution_options(isolation_level="AUTOCOMMIT")

    def close(self):
        self.billing.close()
        self.notes.close()

    def run(self):
        return self.billing.execute(sa.text(
            "SELECT first_no, last_no, invoices, published_through, published_at, issued_at "
            "FROM invoice_runs ORDER BY issued_at LIMIT 1")).mappings().first()

    def published(self, run):
        if run is None or run["published_through"] is None:
            return 0
        return self.billing.execute(sa.text(
            "SELECT count(*) FROM invoices WHERE invoice_no BETWEEN :a AND :b AND total > 0"),
            {"a": run["first_no"], "b": run["published_through"]}).scalar()

    def handled(self):
        return self.notes.execute(sa.text(
            "SELECT (SELECT count(*) FROM inbox WHERE kind = 'invoice_issued'),"
            "       (SELECT count(*) FROM deliveries WHERE kind = 'invoice_issued'),"
            "       (SELECT count(*) FROM deliveries WHERE kind = 'invoice_issued'"
            "                                        AND status = 'sent')")).one()


def start_run(amqp_uri, period):
    from nameko.standalone.rpc import ClusterRpcProxy
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=60) as rpc:
        return rpc.billing.start_billing_run(period, "operator:bench")


def job_of(amqp_uri, job_id):
    from nameko.standalone.rpc import ClusterRpcProxy
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=60) as rpc:
        return rpc.billing.get_job(job_id)


def window(progress, size, options, processes, say, started):
    """Poll until every stage is done (or the timeout): the moments each stage
    ended, in seconds since ``started``, and a sample per poll."""
    marks, samples, last_said = {}, [], 0.0
    run = None
    while True:
        processes.check_alive()
        now = time.monotonic() - started
        if run is None or run["published_at"] is None:
            run = progress.run()
        if run is not None and "committed" not in marks:
            marks["committed"] = now
            say(f"run committed: {run['invoices']} invoices at {now:.1f} s")
        published = (progress.published(run) if "published" not in marks else samples[-1][1])
        inbox, queued, sent = progress.handled()
        samples.append((round(now, 2), published, inbox, queued, sent))
        if run is not None and run["published_at"] is not None and "published" not in marks:
            marks["published"] = now
            say(f"every event published at {now:.1f} s ({published})")
        if inbox >= size and "inbox" not in marks:
            marks["inbox"] = now
        if queued >= size and "queued" not in marks:
            marks["queued"] = now
        if "inbox" in marks and "queued" in marks and "published" in marks:
            say(f"every invoice in the inbox and queued for e-mail at {now:.1f} s")
            return marks, samples
        if now - last_said >= 30:
            last_said = now
            say(f"{now:6.0f} s: published {published}, inbox {inbox}, e-mails queued "
                f"{queued} (sent {sent})")
        if now > options.timeout:
            say(f"TIMEOUT after {now:.0f} s: published {published}, inbox {inbox}, "
                f"queued {queued}")
            return marks, samples
        time.sleep(options.poll)


def first_moment(samples, column, above=0):
    return next((s[0] for s in samples if s[column] > above), None)


def stages(marks, samples, size, run_job):
    """Each stage: when it began and ended (s since the run's start) and its rate."""
    def rate(count, began, ended):
        return round(count / (ended - began)) if (began is not None and ended is not None
                                                  and ended > began) else None

    committed = marks.get("committed")
    rows = {"run": {"from_s": 0.0, "to_s": committed, "per_s": rate(size, 0.0, committed)}}
    if run_job and run_job.get("started_at") and run_job.get("finished_at"):
        took = (datetime.fromisoformat(run_job["finished_at"])
                - datetime.fromisoformat(run_job["started_at"])).total_seconds()
        rows["run"]["job_seconds"] = round(took, 2)
    began = first_moment(samples, 1) or committed
    rows["publish"] = {"from_s": began, "to_s": marks.get("published"),
                       "per_s": rate(size, committed, marks.get("published"))}
    for name, column, mark in (("inbox", 2, "inbox"), ("e-mail queued", 3, "queued")):
        began = first_moment(samples, column)
        rows[name] = {"from_s": began, "to_s": marks.get(mark),
                      "per_s": rate(size, began, marks.get(mark))}
    rows["e-mail queued"]["sent_by_then"] = next(
        (s[4] for s in samples if s[0] >= (marks.get("queued") or 1e18)), samples[-1][4])
    return rows


# --- checks -----------------------------------------------------------------------------------

def digest_sql(table, where):
    return (f"SELECT count(*), count(DISTINCT customer_id), "
            f"md5(string_agg(customer_id, ',' ORDER BY customer_id)) FROM {table} WHERE {where}")


def check(billing, notifications, size, period, broker, vhost):
    problems = []
    with billing.connect() as conn:
        invoices, customers, billed = conn.execute(sa.text(
            digest_sql("invoices", "period = :p AND total > 0")), {"p": period}).one()
        unpublished = conn.execute(sa.text(
            "SELECT count(*) FROM invoice_runs WHERE published_at IS NULL")).scalar()
    with notifications.connect() as conn:
        inbox = conn.execute(sa.text(digest_sql("inbox", "kind = 'invoice_issued'"))).one()
        mails = conn.execute(sa.text(digest_sql(
            "deliveries", "kind = 'invoice_issued' AND channel = 'email'"))).one()
        handled = conn.execute(sa.text(
            "SELECT count(*) FROM handled_events WHERE handler = :h"), {"h": HANDLER}).scalar()
    if invoices != size or customers != size:
        problems.append(f"billing: {invoices} invoices to announce for {customers} customers, "
                        f"expected {size}")
    if unpublished:
        problems.append(f"billing: {unpublished} run(s) not fully published")
    for name, (count, distinct, digest) in (("inbox", inbox), ("e-mails queued", mails)):
        if count != size or distinct != size:
            problems.append(f"{name}: {count} rows for {distinct} customers, expected {size}")
        elif digest != billed:
            problems.append(f"{name}: not the customers billed")
    if handled != size:
        problems.append(f"notifications handled {handled} invoice_issued events, expected {size}")
    # the management API's counts lag by a few seconds: the last acks show up late
    deadline = time.monotonic() + 20
    while True:
        stuck = {name: q["messages"] for name, q in broker.queues(vhost).items()
                 if q["messages"] and (".retry-" in name or name.endswith(".dead-letter")
                                       or name == HANDLER_QUEUE)}
        if not stuck or time.monotonic() > deadline:
            break
        time.sleep(1)
    if stuck:
        problems.append(f"messages left in queues: {stuck}")
    return {"invoices_announced": invoices, "inbox_rows": inbox[0], "emails_queued": mails[0],
            "handled_events": handled, "queues_left": stuck}, problems


# --- the whole run -------------------------------------------------------------------------

def bench(options, say):
    broker = Broker(os.environ.get("AMQP_URI") or "amqp://guest:guest@127.0.0.1:5672/",
                    os.environ.get("RABBIT_MANAGEMENT_URL") or "http://127.0.0.1:15672")
    postgres = Postgres(os.environ.get("DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/postgres")
    size = options.size
    today = datetime.now(TALLINN).date()
    period = last_month(today)
    log_dir = Path(tempfile.mkdtemp(prefix="vool-billing-e2e-"))
    vhost, amqp_uri = broker.new_vhost("billing-e2e")
    prefix, database_url = postgres.new_prefix()
    processes = ServiceProcesses(log_dir / "logs")
    sink = None
    result = {"size": size, "period": period, "smtp": options.smtp, "log_dir": str(log_dir),
              "env": options.env}
    try:
        extra = dict(item.split("=", 1) for item in options.env)
        if options.smtp == "sink":
            sink_file, smtp_port = log_dir / "mail.txt", free_port()
            sink = subprocess.Popen(
                [sys.executable, "-m", "aiosmtpd", "-n", "-c", "bench.mail_sink.Counting",
                 str(sink_file), "-l", f"127.0.0.1:{smtp_port}"], cwd=PROJECT_ROOT,
                stdout=subprocess.DEVNULL, stderr=open(log_dir / "smtp.log", "ab"))
            extra.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_port,
                         VOOL_MAIL_FROM="Vool <arved@vool.test>")
        env = service_env(AMQP_URI=amqp_uri, DATABASE_URL=database_url, **extra)
        for service in ("billing", "notifications"):
            processes.start(service, f"services.{service}.service", env)
        say(f"billing and notifications starting on vhost {vhost}, databases {prefix}_*, "
            f"logs in {log_dir}")

        def consuming():
            queues = broker.queues(vhost)
            return (queues.get(HANDLER_QUEUE, {}).get("consumers", 0) > 0
                    and queues.get("rpc-billing", {}).get("consumers", 0) > 0)

        wait_until("billing's and notifications' queues", consuming, 120, processes)
        billing = postgres.engine(f"{prefix}_billing")
        notifications = postgres.engine(f"{prefix}_notifications")
        t0 = time.monotonic()
        first, _ = billing_run.runs.period_bounds(period)
        billing_run.execute_all(billing, billing_run.contract_statements(size, first), say)
        billing_run.execute_all(billing, billing_run.charge_statements(period, 2)
                                + [("drop seed numbers", "DROP TABLE bench_seed")], say)
        billing_run.execute_all(notifications, contact_statements(
            size, datetime.now(timezone.utc)), say)
        settle(billing)
        settle(notifications)
        result["seed_s"] = round(time.monotonic() - t0, 1)
        say(f"seeded {size} contracts and customers in {result['seed_s']} s (not measured)")

        meter = CpuMeter(processes.pids())
        spy = None
        if options.spy:
            spy = Spy({k: v for k, v in processes.pids().items()
                       if k in options.spy.split(",")}, processes.log_dir)
            meter = spy.wrap(meter)
        progress = Progress(billing, notifications)
        meter.start()
        started = time.monotonic()
        job = start_run(amqp_uri, period)
        say(f"billing {period}: job {job['job_id']} {job['state']}")
        try:
            marks, samples = window(progress, size, options, processes, say, started)
        finally:
            cpu = meter.stop()
            progress.close()
        run_job = job_of(amqp_uri, job["job_id"])
        result["stages"] = stages(marks, samples, size, run_job)
        result["marks"] = {k: round(v, 2) for k, v in marks.items()}
        result["cpu_s"] = {k: round(v, 1) for k, v in cpu["by_process"].items()}
        result["elapsed_s"] = round(cpu["elapsed"], 1)
        result["samples"] = samples
        if spy is not None:
            result["spy"] = {k: str(v) for k, v in spy.files.items()}
        time.sleep(1)
        result["counts"], result["problems"] = check(billing, notifications, size, period,
                                                     broker, vhost)
        log_problems = processes.log_problems()
        result["log_problems"] = {k: len(v) for k, v in log_problems.items()}
        result["log_problem_examples"] = {k: v[:3] for k, v in log_problems.items()}
        billing.dispose()
        notifications.dispose()
        return result
    finally:
        with interrupts.shielded():
            cleanup(processes, sink, broker, vhost, postgres, prefix, options, result, log_dir)


def cleanup(processes, sink, broker, vhost, postgres, prefix, options, result, log_dir):
    processes.stop()
    if sink is not None:
        sink.terminate()
        sink.wait()
    broker.drop_vhost(vhost)
    with contextlib.suppress(Exception):
        postgres.drop_prefix(prefix)
    if not options.keep_logs and not result.get("problems"):
        import shutil
        shutil.rmtree(log_dir, ignore_errors=True)


def report(result):
    lines = [f"{'stage':<16} {'from s':>7} {'to s':>7} {'per s':>8}"]
    for name, row in result["stages"].items():
        cells = [row["from_s"], row["to_s"]]
        lines.append(f"{name:<16} " + " ".join(
            f"{'-' if c is None else f'{c:.1f}':>7}" for c in cells)
            + f" {row['per_s'] if row['per_s'] is not None else '-':>8}")
    lines.append("")
    lines.append(f"CPU s in the window of {result['elapsed_s']} s: " + ", ".join(
        f"{k} {v}" for k, v in result["cpu_s"].items()))
    marks = result["marks"]
    run_s = marks.get("committed")
    done = max(marks.get("inbox", 1e18), marks.get("queued", 1e18), marks.get("published", 1e18))
    lines.append(f"run committed at {run_s if run_s is not None else '-'} s "
                 f"(target {RUN_TARGET_S:.0f} s at {TARGET_SIZE}); everything published, in the "
                 f"inbox and queued for e-mail at "
                 f"{done if done < 1e18 else 'not within the timeout'} s (target "
                 f"{END_TO_END_TARGET_S:.0f} s)")
    if result["size"] == TARGET_SIZE:
        met = (run_s is not None and run_s <= RUN_TARGET_S and done <= END_TO_END_TARGET_S
               and not result["problems"])
        lines.append(f"target: {'met' if met else 'NOT met'}")
    return "\n".join(lines)


def main(argv=None):
    options = parse_args(argv)
    interrupts.install()   # Ctrl-C, SIGTERM: everything stopped and dropped all the same
    started = time.monotonic()

    def say(message):
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    result = bench(options, say)
    print()
    print(report(result))
    for problem in result["problems"]:
        print(f"PROBLEM: {problem}")
    if result["log_problems"]:
        print(f"log lines of WARNING and above: {result['log_problems']}; e.g. "
              f"{json.dumps(result['log_problem_examples'])[:600]}")
    document = {"benchmark": "billing-end-to-end",
                "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": {"cores": os.cpu_count()}, "code": billing_run.code_version(),
                **result}
    if options.json:
        print(f"results written to {billing_run.write_json(options.json, document)}")
    if options.record:
        dated = RESULTS_DIR / f"billing-e2e-{date.today():%Y-%m-%d}.json"
        print(f"results written to {billing_run.write_json(dated, document)}")
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
