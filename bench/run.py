"""``make bench``: the bare nameko floor against Vool's real reading flow.

(a)  floor: HTTP -> RPC -> event through bare nameko, three processes;
(a') the same floor without the HTTP hop (RPC -> event), the shape of (b);
(b)  real: ``metering.submit_reading`` over RPC with the five services running,
     until billing's charge and notifications' reminder are committed;
(c)  gateway: the same readings POSTed through the gateway's HTTP API by logged-in
     customers (``make bench-readings``: floor, skeleton and gateway at 50 clients);
(d)  skeleton: (c)'s path built from services/common with no domain: a row and an
     event in one unit of work, two consumers writing a row each (the least (c)
     could cost with these parts).

Every knob is a flag or a ``BENCH_*`` environment variable; see ``--help`` and
bench/README.md. Everything the run starts (processes, a RabbitMQ vhost per
scenario, PostgreSQL databases) is removed again, also on error or Ctrl-C.
"""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # its import notice

import eventlet  # noqa: E402

eventlet.monkey_patch()  # before anything imports socket, threading, time


import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

from bench import floor, gateway, interrupts, real, skeleton  # noqa: E402
from bench.infra import PROJECT_ROOT, Broker, Postgres, cpu_model, machine_busy_seconds  # noqa: E402
from bench.report import (details, main_table, ratio_lines,  # noqa: E402
                          target_lines)

RESULTS = PROJECT_ROOT / "bench" / "results" / "latest.json"


def _env(name, default, kind=str):
    value = os.environ.get(name)
    return kind(value) if value not in (None, "") else default


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default=_env("BENCH_SCENARIOS", "floor,real"),
                        help="comma-separated: floor, real, gateway, skeleton (env "
                             "BENCH_SCENARIOS; default floor,real)")
    parser.add_argument("--concurrency", type=int, default=_env("BENCH_CONCURRENCY", 8, int),
                        help="concurrent clients (env BENCH_CONCURRENCY; default 8)")
    parser.add_argument("--duration", type=float, default=_env("BENCH_DURATION", 15.0, float),
                        help="measured seconds per scenario (env BENCH_DURATION; default 15)")
    parser.add_argument("--warmup", type=float, default=_env("BENCH_WARMUP", 3.0, float),
                        help="unmeasured seconds before each (env BENCH_WARMUP; default 3)")
    parser.add_argument("--points", type=int, default=_env("BENCH_POINTS", 200, int),
                        help="contracts signed for (b) and (c), one reading per point per round "
                             "(env BENCH_POINTS; default 200)")
    parser.add_argument("--drain-timeout", type=float,
                        default=_env("BENCH_DRAIN_TIMEOUT", 60.0, float),
                        help="seconds (b) and (c) wait for billing/notifications after the load "
                             "(env BENCH_DRAIN_TIMEOUT; default 60)")
    parser.add_argument("--paced", type=float, default=_env("BENCH_PACED", 0.0, float),
                        help="after (c) saturated, run (c) again open loop at this fraction of "
                             "its rate, e.g. 0.5: the issue's tail targets (env BENCH_PACED; "
                             "default 0: not)")
    parser.add_argument("--record", default=_env("BENCH_RECORD", ""),
                        help="also write bench/results/<RECORD>-<date>.json, e.g. readings "
                             "(env BENCH_RECORD)")
    parser.add_argument("--json", default=_env("BENCH_JSON", str(RESULTS)),
                        help=f"where to write the results (env BENCH_JSON; default "
                             f"{RESULTS.relative_to(PROJECT_ROOT)}; '' for nowhere)")
    parser.add_argument("--profile", default=_env("BENCH_PROFILE", ""),
                        help="comma-separated real services to run under cProfile, e.g. "
                             "metering,billing,gateway (env BENCH_PROFILE; default none: it slows "
                             "them down, so the numbers are not comparable)")
    parser.add_argument("--spy", default=_env("BENCH_SPY", ""),
                        help="comma-separated real services (or gateway) to sample with py-spy "
                             "during the measured window of (b)/(c), e.g. gateway,identity,"
                             "metering; prints where their CPU per request goes (env BENCH_SPY; "
                             "needs `pip install py-spy`)")
    parser.add_argument("--raw", default=_env("BENCH_RAW", ""),
                        help="also write every reading's timestamps of (b) or (c) to this CSV file "
                             "(env BENCH_RAW)")
    args = parser.parse_args(argv)
    args.profile = [s.strip() for s in args.profile.split(",") if s.strip()]
    args.spy = [s.strip() for s in args.spy.split(",") if s.strip()]
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - {"floor", "real", "gateway", "skeleton"}
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if args.concurrency < 1 or args.duration <= 0 or args.warmup < 0 or args.points < 1:
        parser.error("concurrency, duration and points must be positive, warmup not negative")
    if not 0 <= args.paced <= 1:
        parser.error("--paced is a fraction of (c)'s saturated rate, between 0 and 1")
    if args.paced and "gateway" not in args.scenarios:
        parser.error("--paced needs the gateway scenario")
    return args


def machine(broker, postgres):
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}"}
    try:
        info["rabbitmq"] = broker.version()
    except Exception as exc:
        info["rabbitmq"] = f"? ({exc.__class__.__name__})"
    try:
        info["postgresql"] = postgres.version()
    except Exception as exc:
        info["postgresql"] = f"? ({exc.__class__.__name__})"
    from importlib.metadata import version
    info["nameko"] = version("nameko")
    info["eventlet"] = version("eventlet")
    return info


def idle_check(seconds=1.0):
    """How busy the machine is before we start, in % of all cores."""
    before, t0 = machine_busy_seconds(), time.monotonic()
    time.sleep(seconds)
    busy = machine_busy_seconds() - before
    return 100 * busy / (time.monotonic() - t0) / (os.cpu_count() or 1)


def main(argv=None):
    options = parse_args(argv)
    interrupts.install()

    broker = Broker(os.environ.get("AMQP_URI") or "amqp://guest:guest@127.0.0.1:5672/",
                    os.environ.get("RABBIT_MANAGEMENT_URL") or "http://127.0.0.1:15672")
    postgres = Postgres(os.environ.get("DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/postgres")
    log_dir = Path(tempfile.mkdtemp(prefix="vool-bench-"))
    started = time.monotonic()

    def say(message):
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    info = machine(broker, postgres)
    say(f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, "
        f"RabbitMQ {info['rabbitmq']}, PostgreSQL {info['postgresql']}")
    info["busy_before_pct"] = idle_check()
    if info["busy_before_pct"] > 15:
        say(f"warning: the machine was already {info['busy_before_pct']:.0f}% busy before the "
            "benchmark started; something else is running and the numbers will suffer")
    summaries = []
    try:
        if "floor" in options.scenarios:
            summaries.extend(floor.run(broker, options, log_dir, say))
        if "real" in options.scenarios:
            summaries.append(real.run(broker, postgres, options, log_dir, say))
        if "skeleton" in options.scenarios:
            summaries.append(skeleton.run(broker, postgres, options, log_dir, say))
        if "gateway" in options.scenarios:
            summaries.extend(gateway.run(broker, postgres, options, log_dir, say))
    except KeyboardInterrupt:
        if os.environ.get("BENCH_DEBUG"):
            import traceback
            traceback.print_exc()
        say(f"interrupted; everything the benchmark started has been stopped and removed "
            f"(service logs in {log_dir})")
        return 130
    except Exception as exc:
        say(f"failed: {exc}")
        say(f"service logs: {log_dir}")
        raise
    say(f"done; service logs in {log_dir}")

    print()
    print(main_table(summaries))
    by_key = {s["key"]: s for s in summaries}
    floor_http, floor_rpc = by_key.get("a"), by_key.get("a_rpc")
    print()
    for key in ("b", "c", "d"):
        flow = by_key.get(key)
        for line in (ratio_lines(flow, floor_http, f"({key})", "(a)")
                     + ratio_lines(flow, floor_rpc, f"({key})", "(a')")):
            print(line)
    for line in ratio_lines(by_key.get("c"), by_key.get("d"), "(c)", "(d)"):
        print(line + "  (what Vool's own rules and checks cost over the skeleton)")
    for key in ("b", "c", "c_paced"):
        flow = by_key.get(key)
        if flow:
            label = {"c_paced": "(c) paced"}.get(key, f"({key})")
            print(f"{label} end-to-end lag from submit: charge committed p50 "
                  f"{_f(flow['charge_lag_p50_ms'])} / p99 {_f(flow['charge_lag_p99_ms'])} ms"
                  f", reminder rescheduled p50 {_f(flow['reminder_lag_p50_ms'])} / p99 "
                  f"{_f(flow['reminder_lag_p99_ms'])} ms (the table shows the later of the two)")
    print("(a)/(a') event lag: dispatch -> handler; (b)/(c) event lag: client submit -> charge "
          "AND reminder committed")
    print()
    for summary in summaries:
        print("\n".join(details(summary)))
        print()
    targets = target_lines(by_key)
    if targets:
        print("\n".join(targets))
        print()

    results = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": info,
               "options": {k: v for k, v in vars(options).items() if k != "json"},
               "scenarios": summaries}
    paths = [options.json] if options.json else []
    if options.record:  # one file per scenario and date: a later run of the day replaces it
        paths.append(PROJECT_ROOT / "bench" / "results"
                     / f"{options.record}-{results['when'][:10]}.json")
    for path in paths:
        print(f"results written to {write_json(path, results)}")
    say("total")
    return 0


def write_json(target, document):
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def _f(value):
    return "-" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    sys.exit(main())
