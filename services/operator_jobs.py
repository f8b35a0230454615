"""``vool jobs``: an operator starts a long job through the gateway's HTTP API (a
billing run, a statement or readings import) or looks one up, and follows it with a
progress bar until it is done; then its result is printed (JSON on stdout).

The gateway is ``--url`` (or VOOL_URL, default http://localhost:8000); the operator
``--operator`` (or VOOL_OPERATOR) with the password in VOOL_OPERATOR_PASSWORD (or
asked for). Neither the password nor the session token is ever printed. Exit status:
0 when the job is done, 1 when it failed or the gateway refused, 2 when it could not
be reached or logged in to.
"""
import getpass
import json
import os
import sys
import time

import requests
from tqdm import tqdm

DEFAULT_URL = "http://localhost:8000"
ASYNC = {"Prefer": "respond-async"}
FINISHED = ("done", "failed")
#: what a job's progress counts, by its kind
UNITS = {"billing_run": " contracts", "statement_import": " entries",
         "readings_import": " lines"}


class Refused(Exception):
    """The gateway answered with a problem (or not at all): what to tell the operator."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def add_arguments(parser):
    parser.add_argument("--url", default=os.environ.get("VOOL_URL", DEFAULT_URL),
                        help="the gateway (default: VOOL_URL or %(default)s)")
    parser.add_argument("--operator", default=os.environ.get("VOOL_OPERATOR"),
                        help="the operator's user name (default: VOOL_OPERATOR); the "
                             "password from VOOL_OPERATOR_PASSWORD, or asked for")
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds between two looks at the job (default %(default)s)")
    commands = parser.add_subparsers(dest="jobs_command", required=True)
    run = commands.add_parser("billing-run", help="invoice every contract for a month")
    run.add_argument("period", help="the month, YYYY-MM")
    statement = commands.add_parser("import-statement",
                                    help="import an ISO 20022 camt.053 bank statement (XML)")
    statement.add_argument("file")
    readings = commands.add_parser("import-readings", help="import readings from a CSV file")
    readings.add_argument("file")
    status = commands.add_parser("status", help="a job's state, followed until it is done")
    status.add_argument("job_id")
    status.add_argument("--no-wait", action="store_true",
                        help="print its state now instead of following it")


def main(args):
    try:
        session = _login(args)
        job = _start(session, args)
        if getattr(args, "no_wait", False):
            print(json.dumps(job, indent=2, ensure_ascii=False))
            return 0 if job["state"] != "failed" else 1
        job = follow(session, args.url, job, args.interval)
    except Refused as exc:
        print(f"vool jobs: {exc}", file=sys.stderr)
        return exc.status
    if job["state"] == "failed":
        print(f"vool jobs: job {job['job_id']} failed: {job.get('error')}", file=sys.stderr)
        return 1
    print(json.dumps(job.get("result"), indent=2, ensure_ascii=False))
    return 0


def _login(args):
    if not args.operator:
        raise Refused("who is the operator? give --operator or set VOOL_OPERATOR", 2)
    password = os.environ.get("VOOL_OPERATOR_PASSWORD") or getpass.getpass(
        f"password of {args.operator}: ")
    session = requests.Session()
    answer = _call(session, "POST", f"{args.url}/api/v1/operator/login",
                   json={"username": args.operator, "password": password})
    session.headers["Authorization"] = f"Bearer {answer['token']}"
    return session


def _start(session, args):
    base = f"{args.url}/api/v1/operator"
    if args.jobs_command == "billing-run":
        return _call(session, "POST", f"{base}/jobs/billing-run", json={"period": args.period})
    if args.jobs_command == "status":
        return _call(session, "GET", f"{base}/jobs/{args.job_id}")
    path, media = {"import-statement": ("bank-statements", "application/xml"),
                   "import-readings": ("readings/import", "text/csv")}[args.jobs_command]
    try:
        with open(args.file, "rb") as file:
            body = file.read()
    except OSError as exc:
        raise Refused(f"cannot read {args.file}: {exc.strerror}", 2) from None
    return _call(session, "POST", f"{base}/{path}", data=body,
                 headers={**ASYNC, "Content-Type": media})


def follow(session, url, job, interval=0.5, out=None):
    """Show the job's progress until it is done or failed; returns it then."""
    bar = tqdm(total=job.get("total"), desc=f"{job['kind']} {job['job_id']}",
               unit=UNITS.get(job["kind"], ""), file=out or sys.stderr, mininterval=0, dynamic_ncols=True)
    try:
        while True:
            if job.get("total") is not None and bar.total != job["total"]:
                bar.total = job["total"]
            bar.n = job.get("done") or 0
            bar.set_postfix_str(job["state"], refresh=False)
            bar.refresh()
            if job["state"] in FINISHED:
                return job
            time.sleep(interval)
            job = _call(session, "GET", f"{url}/api/v1/operator/jobs/{job['job_id']}")
    finally:
        bar.close()


def _call(session, method, url, **kwargs):
    try:
        response = session.request(method, url, timeout=30, **kwargs)
    except requests.RequestException as exc:
        raise Refused(f"the gateway at {url.split('/api/')[0]} did not answer: "
                      f"{type(exc).__name__}", 2) from None
    if response.status_code >= 400:
        try:
            problem = response.json()
            detail = problem.get("detail") or problem.get("title")
            fields = "; ".join(f"{e['field']}: {e['message']}" for e in problem.get("errors", ()))
        except ValueError:
            detail, fields = response.reason, ""
        # a single field's problem often says it all in its detail already
        said = f" ({fields})" if fields and fields != detail else ""
        raise Refused(f"{response.status_code} {detail}{said}",
                      2 if response.status_code == 401 else 1)
    return response.json()
