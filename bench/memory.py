"""``make bench-memory``: every service process's memory under 10 minutes of paced load.

Issue #18's P5: each of identity, contracts, metering, billing, notifications and the
gateway at most 150 MB resident after 10 minutes of load, and not growing over its
last 5. The benchmark starts them as (c) of ``make bench-readings`` does (bench/
gateway.py: one ``nameko run`` each, fresh vhost and databases, every customer
logged in through the banklink flow), measures (c)'s saturated rate with a short
closed loop of 50 clients (``--rate`` skips that), then POSTs readings open loop at
half of it for ``--minutes`` while it reads each process's VmRSS from /proc every
``--every`` seconds. It prints each one's RSS at 5 and 10 minutes, its peak, and the
least-squares slope over the last 5 minutes (MB/min and what it adds up to), against
<= 150 MB and "no growth": the fitted growth over the last 5 minutes below 1 MB
(``--growth-limit``), printed with the samples' noise around that line.
"""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # its import notice

import eventlet  # noqa: E402

eventlet.monkey_patch()  # before anything imports socket, threading, time

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

from bench import gateway, interrupts, rss  # noqa: E402
from bench.infra import PROJECT_ROOT, Broker, Postgres  # noqa: E402
from bench.report import table, target_lines  # noqa: E402
from bench.run import machine, write_json  # noqa: E402

RESULTS = PROJECT_ROOT / "bench" / "results"
LIMIT_MB = 150.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="minutes of paced load (default 10)")
    parser.add_argument("--every", type=float, default=5.0,
                        help="seconds between RSS samples (default 5)")
    parser.add_argument("--fraction", type=float, default=0.5,
                        help="the paced rate as a fraction of (c)'s saturated rate (default 0.5)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="readings per second; skips measuring the saturated rate")
    parser.add_argument("--concurrency", type=int, default=50,
                        help="clients of the saturated probe (default 50)")
    parser.add_argument("--probe", type=float, default=10.0,
                        help="measured seconds of the saturated probe (default 10)")
    parser.add_argument("--points", type=int, default=1000,
                        help="contracts signed, one customer each (default 1000: 10 minutes at "
                             "40/s is ~24 readings per point, so no point's history grows "
                             "unlike a real one's)")
    parser.add_argument("--growth-limit", type=float, default=1.0,
                        help="MB of fitted growth over the last 5 minutes that still counts as "
                             "no growth (default 1)")
    parser.add_argument("--trace", default="",
                        help="comma-separated processes to run under tracemalloc "
                             "(bench/traced.py) and print where they grew; their own RSS is "
                             "then inflated by the tracing, so not a verdict")
    parser.add_argument("--trace-after", type=float, default=60.0,
                        help="seconds of paced load before the traced processes start tracing "
                             "(default 60)")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--record", action="store_true",
                        help="write bench/results/memory-<date>.json")
    options = parser.parse_args(argv)
    # what the shared scenario code (bench/system.py) reads
    options.profile, options.spy, options.raw = [], [], ""
    options.trace = [s.strip() for s in options.trace.split(",") if s.strip()]
    options.warmup = 3.0
    options.duration = options.probe
    return options


def sampler(pids, every, series, started):
    """Forever: ``(seconds since started, {label: MB})`` into ``series``, every ``every`` s."""
    while True:
        series.append((time.monotonic() - started, rss.sample(pids)))
        eventlet.sleep(every - (time.monotonic() - started) % every)


def memory_lines(report, minutes, growth_limit):
    half = int(minutes * 30)
    rows = []
    for label, r in report.items():
        at = r["at"]
        rows.append([label, _f(at.get(str(half))), _f(at.get(str(half * 2))), _f(r["peak_mb"]),
                     _f(r["slope_mb_per_min"], ".3f"), _f(r["growth_last_mb"], ".2f"),
                     _f(r["noise_mb"], ".2f"),
                     "met" if r["within_limit"] else "NOT MET",
                     "met" if r["no_growth"] else "NOT MET"])
    head = ["process", f"RSS MB at {half / 60:g} min", f"at {2 * half / 60:g} min", "peak",
            f"slope MB/min (last {half / 60:g} min)", "growth MB", "noise MB",
            f"<= {LIMIT_MB:g} MB", f"no growth (< {growth_limit:g} MB)"]
    return ["Issue #18 P5, memory:"] + ["  " + line for line in table(
        rows, head, "<>>>>>><<").splitlines()]


def _f(value, spec=".1f"):
    return "-" if value is None else format(value, spec)


def main(argv=None):
    options = parse_args(argv)
    interrupts.install()
    broker = Broker(os.environ.get("AMQP_URI") or "amqp://guest:guest@127.0.0.1:5672/",
                    os.environ.get("RABBIT_MANAGEMENT_URL") or "http://127.0.0.1:15672")
    postgres = Postgres(os.environ.get("DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/postgres")
    log_dir = Path(tempfile.mkdtemp(prefix="vool-bench-memory-"))
    started = time.monotonic()

    def say(message):
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    info = machine(broker, postgres)
    seconds = options.minutes * 60
    summaries, series = [], []
    try:
        with gateway.gateway_system(broker, postgres, options, log_dir, say) as (system, port):
            rate = options.rate
            if not rate:
                summaries.append(gateway.saturated(system, port, broker, postgres, options, say))
                rate = options.fraction * summaries[-1]["throughput_per_s"]
            pids = system.processes.pids()
            watcher = eventlet.spawn(sampler, pids, options.every, series, time.monotonic())
            tracing = [eventlet.spawn_after(options.trace_after, os.kill, pids[label],
                                            signal.SIGUSR1) for label in options.trace]
            try:
                summaries.append(gateway.paced(
                    system, port, broker, postgres, options, say, rate, 0.0, seconds,
                    name=f"(c) paced for {options.minutes:g} min, open loop"))
            finally:
                watcher.kill()
                for thread in tracing:
                    thread.cancel()
            traces = {label: system.processes.trace_file(label) for label in options.trace}
    except KeyboardInterrupt:
        say(f"interrupted; everything the benchmark started has been stopped and removed "
            f"(service logs in {log_dir})")
        return 130
    say(f"done; service logs in {log_dir}")
    # samples after the schedule ended (the drain) are no longer "under load"
    under_load = [(t, values) for t, values in series if t <= seconds + options.every / 2]
    report = rss.analyse(under_load, at=(int(seconds / 2), int(seconds)), last=seconds / 2,
                         limit_mb=LIMIT_MB, growth_limit_mb=options.growth_limit)
    print()
    print("\n".join(memory_lines(report, options.minutes, options.growth_limit)))
    print()
    by_key = {s["key"]: s for s in summaries}
    print("\n".join(target_lines(by_key)))
    for label, path in traces.items():
        print(f"\n{label} under tracemalloc ({path}):")
        try:
            print("\n".join(path.read_text().splitlines()[:60]))
        except OSError:
            print("  (nothing written: did the load last past --trace-after plus "
                  "BENCH_TRACE_EVERY?)")
    if options.record:
        document = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "machine": info, "options": vars(options), "rate_per_s": rate,
                    "memory": report, "samples": under_load, "scenarios": summaries}
        path = write_json(RESULTS / f"memory-{document['when'][:10]}.json", document)
        print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
