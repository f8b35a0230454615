"""``make bench-portal``: the portal's overview page under 10 concurrent browsers (issue #18).

The five services and the gateway run as production runs them (bench/system.py),
on a fresh vhost and databases, each backend service with an ops port of its own
(its ``/metrics`` counts the RPC calls it answered). Seeded through the real RPC
APIs, as the tests do it:

- customer A: three consumption points (three ``contracts.sign_contract`` of one
  person) from 2026-01-01, a reading at the end of each month January-August, and
  eight billing runs (``billing.billing_run("2026-01")`` ... ``"2026-08"``): 24
  invoices;
- customer S: one point from 2026-08-01, one reading, so one invoice;
- delegate D (a point of his own from 2026-08-01) with a mandate from each of A
  and S (``identity.register_mandate``, every scope).

Every browser logs in through the portal's real banklink flow (``POST
/login/testbank``, the bank's signed reply posted to ``/login/testbank/return``,
the session cookie kept) and is one keep-alive connection with its cookies. One
phase per page, each ``--concurrency`` browsers (default 10) GETting it back to
back for ``--warmup`` + ``--duration`` seconds (``--think S``: each waits S seconds
after a page, as a person reading it; the latency is the request's alone):

- ``A overview``: A's ``/`` (3 points, 24 invoices);
- ``D for A``: the delegate's ``/customers/<A>/`` (acting for A under the mandate);
- ``D for S``: the same for S (1 point, 1 invoice);
- ``S overview``: S's ``/``.

Per phase: p50/p99 at the client, pages/s, CPU ms per page of each process (and
PostgreSQL, RabbitMQ), and the RPCs per page: the difference of every service's
``vool_rpc_calls_total`` before and after the phase (nothing else runs then) by
service and method, divided by the pages served; a page fetched once before the
phases cross-checks it. The count must be the same for 3 points/24 invoices as for
1/1 (fixed) besides ``identity.resolve_session`` (the gateway keeps a customer's
principal a while, principals.py; a mandate holder's is asked for on every page),
and the verdict against the targets (p50 <= 50 ms, p99 <= 150 ms).

Back to back, 10 browsers are a closed loop: p50 is about 10 / pages per second
(Little's law), so p50 <= 50 ms asks for ~200 pages/s, i.e. at most ~10 ms of CPU
per page over every process on a 2-core machine; the CPU ms per page is the figure
to compare between runs on a busy machine.
"""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import collections  # noqa: E402
import html  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date, datetime, timedelta, timezone  # noqa: E402
from http.cookies import SimpleCookie  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from services.common.scopes import SCOPES  # noqa: E402

from bench import interrupts  # noqa: E402
from bench.gateway import BANK_ID, make_bank  # noqa: E402
from bench.infra import PROJECT_ROOT, Broker, CpuMeter, Postgres, Spy, free_port  # noqa: E402
from bench.load import closed_loop, http_call, http_client, http_ok, percentile  # noqa: E402
from bench.spy import summarize as spy_summary  # noqa: E402
from bench.system import (SERVICES, contract_command, personal_code,  # noqa: E402
                          running_system, start_proxy)

TARGET_P50_MS, TARGET_P99_MS = 50.0, 150.0
START = date(2026, 1, 1)
LATE_START = date(2026, 8, 1)
PERIODS = [f"2026-{m:02d}" for m in range(1, 9)]          # 8 runs x 3 points = 24 invoices
CLIENT_TIMEOUT = 10
RESULTS = PROJECT_ROOT / "bench" / "results" / "portal-latest.json"
RPC_LINE = re.compile(r'^vool_rpc_calls_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$', re.M)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.portal", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=10, help="browsers per phase")
    parser.add_argument("--duration", type=float, default=15.0, help="measured s per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured s before each")
    parser.add_argument("--phases", default="A,DA,DS,S",
                        help="A (A's overview), DA/DS (the delegate's for A/S), S")
    parser.add_argument("--think", type=float, default=0.0,
                        help="seconds each browser waits after a page before the next (a "
                             "person reading it); 0: back to back (the default)")
    parser.add_argument("--spy", default="", help="processes to sample with py-spy, e.g. gateway")
    parser.add_argument("--json", default=str(RESULTS), help="where to write the results")
    parser.add_argument("--record", action="store_true",
                        help="also write bench/results/portal-<date>.json (one per date)")
    options = parser.parse_args(argv)
    options.spy = [s for s in options.spy.split(",") if s]
    options.phases = [p for p in options.phases.split(",") if p]
    options.points, options.profile = 0, []    # running_system signs none: we seed
    return options


# --- seeding through the RPC APIs ---------------------------------------------------

class Person:
    def __init__(self, n, name):
        self.person_code, self.name = personal_code(n), name
        self.customer_id, self.points = None, []   # points: (point_id, registers, start)


def sign(proxy, person, n, start):
    command = contract_command(n, start)
    command.update(person_code=person.person_code, name=person.name)
    signed = proxy.contracts.sign_contract(command)
    person.customer_id = signed["customer_id"]
    person.points.append((signed["consumption_point_id"],
                          [r["code"] for r in command["consumption_point"]["meter"]["registers"]],
                          start))


def month_ends(start, last):
    day = start
    while True:
        nxt = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        if nxt - timedelta(days=1) > last:
            return
        yield nxt - timedelta(days=1)
        day = nxt


def wait_until(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout}s")
        time.sleep(0.3)


def count(postgres, database, sql):
    engine = postgres.engine(database)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


def seed(system, postgres, say):
    a, s, d = Person(900001, "Bench Grantor A"), Person(900002, "Bench Grantor S"), \
        Person(900003, "Bench Delegate D")
    standalone, proxy = start_proxy(system.config)
    try:
        for n in (1, 2, 3):
            sign(proxy, a, 900000 + n, START)
        sign(proxy, s, 900004, LATE_START)
        sign(proxy, d, 900005, LATE_START)
        everyone = [a, s, d]
        points = [p for person in everyone for p in person.points]

        def known():
            try:
                return len(proxy.metering.reading_overview([p[0] for p in points])) == len(points)
            except Exception:
                return False
        wait_until(known, "metering learns the meters")
        say("portal: contracts signed")
        readings = 0
        for person in everyone:
            for point_id, registers, start in person.points:
                values = {code: 1000 for code in registers}
                for day in month_ends(start, date(2026, 8, 31)):
                    days = (day - start).days + 1
                    values = {c: 1000 + days * (10 if c == "T1" else 5) for c in registers}
                    answer = proxy.metering.submit_reading({
                        "consumption_point_id": point_id, "customer_id": person.customer_id,
                        "reading_date": day.isoformat(), "registers": values,
                        "source": "customer"})
                    if answer.get("status") != "accepted":
                        raise RuntimeError(f"reading not accepted: {answer}")
                    readings += 1
        billing = f"{system.prefix}_billing"
        wait_until(lambda: count(postgres, billing, "SELECT count(*) FROM charges") >= readings,
                   "billing charges every reading")
        wait_until(lambda: count(postgres, billing, "SELECT count(*) FROM billing_contracts")
                   >= len(points), "billing knows every contract")
        say(f"portal: {readings} readings charged")
        for period in PERIODS:
            proxy.billing.billing_run(period)
        for grantor in (a, s):
            proxy.identity.register_mandate({"grantor_person_code": grantor.person_code,
                                             "grantee_person_code": d.person_code,
                                             "scopes": list(SCOPES)}, "desk")
        invoices = {p.name: len(proxy.billing.invoices_of(p.customer_id)) for p in everyone}
    finally:
        standalone.stop()
    say(f"portal: seeded {len(points)} points, {readings} readings, invoices {invoices}, "
        f"2 mandates to {d.name}")
    if invoices[a.name] != 24 or invoices[s.name] != 1:
        raise RuntimeError(f"expected 24 and 1 invoices, got {invoices}")
    return a, s, d


# --- browsers -----------------------------------------------------------------------

class Browser:
    """One keep-alive connection with its cookies, as a browser keeps them."""

    def __init__(self, port):
        self.conn = http_client(port, timeout=CLIENT_TIMEOUT)
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        headers["Accept-Language"] = "en"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.conn.request(method, path, body, headers)
            response = self.conn.getresponse()
            data = response.read()
        except Exception:
            self.conn.close()
            raise
        for header in response.headers.get_all("Set-Cookie") or ():
            for name, morsel in SimpleCookie(header).items():
                if morsel["expires"] and "1970" in morsel["expires"] or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response.status, data

    def log_in(self, bank, person, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            status, page = self.request("POST", f"/login/{BANK_ID}")
            if status != 200:
                raise RuntimeError(f"portal login: HTTP {status}: {page[:300]!r}")
            fields = {html.unescape(k): html.unescape(v)
                      for k, v in HIDDEN.findall(page.decode())}
            reply = bank.authentication_reply(fields, person.person_code, person.name,
                                              datetime.now(timezone.utc))
            status, page = self.request("POST", f"/login/{BANK_ID}/return", urlencode(reply),
                                        {"Content-Type": "application/x-www-form-urlencoded"})
            if status == 303:
                return
            if status != 403 or time.monotonic() > deadline:
                raise RuntimeError(f"portal return for {person.name}: HTTP {status}: "
                                   f"{page[:300]!r}")
            time.sleep(0.2)

    def page(self, path, must_show, think=0.0):
        if think:       # she read the last page: the wait is not the page's latency
            eventlet.sleep(think)
        started = time.monotonic()
        status, data = self.request("GET", path)
        took = time.monotonic() - started
        if status != 200 or must_show not in data:
            raise RuntimeError(f"GET {path}: HTTP {status}, {len(data)} bytes"
                               + ("" if status != 200 else f", without {must_show!r}"))
        return len(data), took

    def close(self):
        self.conn.close()


def rpc_counts(ports):
    """``{(service, method): calls answered}`` over every service's /metrics."""
    counts = collections.Counter()
    for service, port in ports.items():
        conn = http_client(port, timeout=5)
        try:
            status, body = http_call(conn, "GET", "/metrics")
        finally:
            conn.close()
        if status != 200:
            raise RuntimeError(f"{service} /metrics: HTTP {status}")
        for match in RPC_LINE.finditer(body.decode()):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
            counts[(labels["service"], labels["method"])] += float(match["value"])
    return counts


def delta(after, before):
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def per_page(calls, pages):
    return {f"{s}.{m}": round(v / pages, 3) for (s, m), v in sorted(calls.items())}


def run(options, say):
    broker = Broker(os.environ.get("AMQP_URI") or "amqp://guest:guest@127.0.0.1:5672/",
                    os.environ.get("RABBIT_MANAGEMENT_URL") or "http://127.0.0.1:15672")
    postgres = Postgres(os.environ.get("DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/postgres")
    log_dir = Path(tempfile.mkdtemp(prefix="vool-bench-portal-"))
    port = free_port()
    banks_file, bank = make_bank(log_dir / "gateway" / "banks")
    env = {"VOOL_GATEWAY_ADDRESS": f"127.0.0.1:{port}", "VOOL_BANKS_FILE": banks_file,
           "VOOL_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    results = {"options": {k: v for k, v in vars(options).items() if k != "json"},
               "phases": []}
    with running_system(broker, postgres, options, log_dir, say, "portal",
                        extra=[("gateway", "services.gateway.service")], env=env,
                        ready=lambda: http_ok(port, "/health")) as system:
        # each service's own ops port (bench/infra.py gives every process one)
        ops_ports = {service: int(system.processes.ops_addresses[service].rsplit(":", 1)[1])
                     for service in SERVICES}
        a, s, d = seed(system, postgres, say)
        phases = {"A": ("A overview (3 points, 24 invoices)", a, "/", a),
                  "DA": ("D acting for A (3 points, 24 invoices)", d, f"/customers/{a.customer_id}/", a),
                  "DS": ("D acting for S (1 point, 1 invoice)", d, f"/customers/{s.customer_id}/", s),
                  "S": ("S overview (1 point, 1 invoice)", s, "/", s)}
        browsers = {}
        t0 = time.monotonic()
        for person in (a, s, d):
            browsers[person.name] = []
            for _ in range(options.concurrency):
                browser = Browser(port)
                browser.log_in(bank, person)
                browsers[person.name].append(browser)
        say(f"portal: {3 * options.concurrency} browsers logged in through the portal's "
            f"banklink flow in {time.monotonic() - t0:.1f}s")
        try:
            for key in options.phases:
                label, person, path, shown = phases[key]
                must_show = f'id="point-{shown.points[0][0]}"'.encode()
                group = browsers[person.name]
                # one page alone first: its calls, to cross-check the load's average
                before = rpc_counts(ops_ports)
                size, _ = group[0].page(path, must_show)
                once = delta(rpc_counts(ops_ports), before)
                say(f"portal {label}: {size} bytes; one page asked "
                    f"{sum(once.values()):g} RPCs: {per_page(once, 1)}")
                meter = CpuMeter(system.processes.pids())
                spy = None
                if options.spy:
                    (log_dir / key).mkdir(parents=True, exist_ok=True)
                    spy = Spy({k: v for k, v in system.processes.pids().items()
                               if k in options.spy}, log_dir / key)
                    meter = spy.wrap(meter)
                before = rpc_counts(ops_ports)
                result = closed_loop(lambda n: group[n],
                                     lambda browser, n: browser.page(path, must_show,
                                                                     options.think),
                                     options.concurrency, options.warmup, options.duration,
                                     meter=meter)
                calls = delta(rpc_counts(ops_ports), before)
                served = len([x for x in result.all if x.error is None])
                results["phases"].append(summary(key, label, result, calls, served, once,
                                                 spy, say))
                system.processes.check_alive()
        finally:
            for group in browsers.values():
                for browser in group:
                    browser.close()
        problems = system.processes.log_problems()
        if problems:
            results["log_problems"] = {k: v[:3] for k, v in problems.items()}
    results["log_dir"] = str(log_dir)
    return results


def summary(key, label, result, calls, served, once, spy, say):
    latencies = [x.result[1] * 1000 for x in result.ok]   # the request's, not her reading
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    used = result.meter["by_process"] if result.meter else {}
    ok = len(result.ok)
    cpu = {k: round(v * 1000 / ok, 2) for k, v in used.items()} if ok else {}
    rpcs = per_page(calls, served) if served else {}
    phase = {"key": key, "page": label, "pages": ok, "errors": len(result.errors),
             "error_examples": result.error_summary(), "pages_per_s": round(result.throughput, 1),
             "p50_ms": p50, "p99_ms": p99,
             "meets": bool(p50 is not None and p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS),
             "rpcs_per_page": rpcs, "rpcs_total_per_page": round(sum(rpcs.values()), 3),
             "rpcs_one_page": per_page(once, 1), "cpu_ms_per_page": cpu}
    if spy is not None:
        phase["spy"] = {label: {"file": str(path), **spy_summary(path, cpu.get(label))}
                        for label, path in spy.files.items()}
    say(f"portal {label}: {ok} pages, {phase['pages_per_s']}/s, p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms, {len(result.errors)} errors")
    return phase


SESSION = "identity.resolve_session"


def page_calls(rpcs):
    return {k: v for k, v in rpcs.items() if k != SESSION}


def report(results):
    think = results["options"].get("think")
    lines = [f"browsers: {results['options']['concurrency']} per page, "
             + (f"each waiting {think:g} s after a page" if think else "back to back")]
    lines += [f"{'page':42} {'pages':>6} {'/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'RPCs':>5}  "
             f"verdict (p50 <= {TARGET_P50_MS:g}, p99 <= {TARGET_P99_MS:g})"]
    for p in results["phases"]:
        lines.append(f"{p['page']:42} {p['pages']:6d} {p['pages_per_s']:6.1f} "
                     f"{p['p50_ms'] or 0:7.1f} {p['p99_ms'] or 0:7.1f} "
                     f"{p['rpcs_total_per_page']:5g}  {'met' if p['meets'] else 'NOT met'}"
                     + (f"  ({p['errors']} errors: {p['error_examples']})" if p['errors'] else ""))
    lines.append("")
    for p in results["phases"]:
        lines.append(f"{p['page']}: RPCs per page {p['rpcs_per_page']}")
        if p["rpcs_per_page"] != p["rpcs_one_page"]:
            lines.append(f"  (one page alone: {p['rpcs_one_page']})")
        lines.append("  CPU ms per page: " + ", ".join(
            f"{k} {v:.2f}" for k, v in sorted(p["cpu_ms_per_page"].items(),
                                               key=lambda kv: -kv[1]) if v >= 0.01))
        for label, views in (p.get("spy") or {}).items():
            lines.append(f"  py-spy {label} ({views['samples']} samples), CPU ms/page:")
            for view in ("ours", "leaf"):
                lines.append(f"    by {view}:")
                lines.extend(f"      {ms:6.2f}  {name}" for name, ms in views[view])
    by_key = {p["key"]: p for p in results["phases"]}
    for big, small, who in (("A", "S", "customer"), ("DA", "DS", "delegate")):
        if big in by_key and small in by_key:
            # identity.resolve_session: the gateway keeps a customer's principal a
            # while (principals.py), a mandate holder's is asked for on every page
            big_calls, small_calls = (page_calls(by_key[k]["rpcs_per_page"]) for k in (big, small))
            same = big_calls == small_calls and all(v == int(v) for v in big_calls.values())
            lines.append(f"{who}: RPCs per page besides identity.resolve_session, 3 points/24 "
                         f"invoices {sum(big_calls.values()):g} vs 1 point/1 invoice "
                         f"{sum(small_calls.values()):g}: {'fixed' if same else 'NOT the same'}"
                         f"; resolve_session {by_key[big]['rpcs_per_page'].get(SESSION, 0):g} vs "
                         f"{by_key[small]['rpcs_per_page'].get(SESSION, 0):g} per page")
    return "\n".join(lines)


def main(argv=None):
    options = parse_args(argv)
    interrupts.install()
    started = time.monotonic()

    def say(message):
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    try:
        results = run(options, say)
    except KeyboardInterrupt:
        say("interrupted; everything the benchmark started has been stopped and removed")
        return 130
    print()
    print(report(results))
    results["when"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if options.json:
        path = Path(options.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"results written to {path}")
    if options.record:
        dated = RESULTS.with_name(f"portal-{datetime.now(timezone.utc):%Y-%m-%d}.json")
        dated.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"results written to {dated}")
    return 0   # measured; the verdicts are in the report, as make bench-readings prints them


if __name__ == "__main__":
    sys.exit(main())
