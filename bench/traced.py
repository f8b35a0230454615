"""Run a module under tracemalloc and keep writing where its memory grew:
``python -m bench.traced OUT -m nameko run ...`` (bench/infra.py starts a service so
for ``make bench-memory --trace <service>``).

After ``BENCH_TRACE_SETTLE`` seconds (default 60: imports, pools and caches filled)
it takes a first snapshot; then every ``BENCH_TRACE_EVERY`` seconds (30) it writes to
OUT the allocation sites (``BENCH_TRACE_FRAMES`` frames, default 8) that grew most
since that first snapshot. Tracing costs CPU and memory of its own: a traced
process's RSS is not the figure to judge, its growth by site is.
"""
import os
import runpy
import sys
import threading
import tracemalloc
from time import monotonic, sleep as real_sleep  # before nameko patches time for eventlet

TOP = 25


def report(first, now, elapsed):
    stats = now.compare_to(first, "traceback")
    grown = sum(s.size_diff for s in stats)
    lines = [f"after {elapsed:.0f}s: traced memory {sum(s.size for s in stats) / 1e6:.1f} MB, "
             f"{grown / 1e6:+.2f} MB since the first snapshot; the sites that grew most:"]
    for stat in sorted(stats, key=lambda s: -s.size_diff)[:TOP]:
        if stat.size_diff <= 0:
            break
        lines.append(f"{stat.size_diff / 1e3:+10.1f} kB {stat.count_diff:+8d} blocks "
                     f"(now {stat.size / 1e3:.1f} kB)")
        lines.extend("      " + line for line in stat.traceback.format()[-2 * 4:])
    return "\n".join(lines) + "\n"


def watch(out, settle, every):
    started = monotonic()
    real_sleep(settle)
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    first = tracemalloc.take_snapshot().filter_traces(filters)
    while True:
        real_sleep(every)
        now = tracemalloc.take_snapshot().filter_traces(filters)
        text = report(first, now, monotonic() - started)
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, out)


def main():
    out, flag, module, *rest = sys.argv[1:]
    if flag != "-m":
        raise SystemExit("usage: python -m bench.traced OUT -m MODULE [ARGS...]")
    tracemalloc.start(int(os.environ.get("BENCH_TRACE_FRAMES", "8")))
    # a real thread, started before the service monkey-patches threading for eventlet
    threading.Thread(target=watch, daemon=True, name="tracemalloc",
                     args=(out, float(os.environ.get("BENCH_TRACE_SETTLE", "60")),
                           float(os.environ.get("BENCH_TRACE_EVERY", "30")))).start()
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
