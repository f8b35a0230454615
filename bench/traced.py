"""Run a module, and on SIGUSR1 trace its allocations from then on and keep writing
where its memory grew: ``python -m bench.traced OUT -m nameko run ...`` (bench/infra.py
starts a service so for ``make bench-memory --trace <service>``).

Tracing starts only at the signal (the benchmark sends it once the load has run a
while), so the imports, pools and caches of the start are neither traced (under
tracemalloc a service takes minutes to start) nor counted as growth: what the
report shows is what was allocated since and is still alive. Every
``BENCH_TRACE_EVERY`` seconds (default 30) it writes to OUT the allocation sites
(``BENCH_TRACE_FRAMES`` frames, default 4) holding most of that. Tracing costs CPU and
memory of its own: a traced process's RSS is not the figure to judge, its growth by
site is.
"""
import linecache
import os
import runpy
import signal
import sys
import threading
import tracemalloc
from time import monotonic, sleep as real_sleep  # before nameko patches time for eventlet

TOP = 25


def report(first, now, elapsed):
    stats = now.compare_to(first, "traceback")
    grown = sum(s.size_diff for s in stats)
    lines = [f"{elapsed:.0f}s after tracing started: traced memory {sum(s.size for s in stats) / 1e6:.1f} MB, "
             f"{grown / 1e6:+.2f} MB since the first snapshot; the sites that grew most:"]
    for stat in sorted(stats, key=lambda s: -s.size_diff)[:TOP]:
        if stat.size_diff <= 0:
            break
        lines.append(f"{stat.size_diff / 1e3:+10.1f} kB {stat.count_diff:+8d} blocks "
                     f"(now {stat.size / 1e3:.1f} kB)")
        lines.extend("      " + line for line in stat.traceback.format()[-2 * 4:])
    return "\n".join(lines) + "\n"


def watch(out, every, started):
    """In a real thread: once tracing has started, a report every ``every`` seconds."""
    started.wait()
    began = monotonic()
    # the report's own source lines (linecache) and tracemalloc's are not the service's
    filters = [tracemalloc.Filter(False, tracemalloc.__file__),
               tracemalloc.Filter(False, linecache.__file__)]
    first = tracemalloc.take_snapshot().filter_traces(filters)
    while True:
        real_sleep(every)
        now = tracemalloc.take_snapshot().filter_traces(filters)
        text = report(first, now, monotonic() - began)
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, out)


def main():
    out, flag, module, *rest = sys.argv[1:]
    if flag != "-m":
        raise SystemExit("usage: python -m bench.traced OUT -m MODULE [ARGS...]")
    started = threading.Event()

    def start_tracing(signum, frame):
        if not tracemalloc.is_tracing():
            tracemalloc.start(int(os.environ.get("BENCH_TRACE_FRAMES", "4")))
        started.set()

    signal.signal(signal.SIGUSR1, start_tracing)
    # a real thread, started before the service monkey-patches threading for eventlet
    threading.Thread(target=watch, daemon=True, name="tracemalloc",
                     args=(out, float(os.environ.get("BENCH_TRACE_EVERY", "30")),
                           started)).start()
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
