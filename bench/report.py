"""Summaries of a scenario and the printed tables."""
from bench.infra import OTHER
from bench.load import percentile
from bench.spy import lines as spy_lines


def _ms(seconds):
    return None if seconds is None else seconds * 1000


def stage(name, seconds):
    """One leg of a request's journey: its p50/p99 over every measured request."""
    return {"stage": name, "n": len(seconds), "p50_ms": _ms(percentile(seconds, 50)),
            "p99_ms": _ms(percentile(seconds, 99))}


def scenario_summary(name, result, lag_p50=None, lag_p99=None, stages=(), **extra):
    summary = {
        "scenario": name,
        "requests": len(result.ok),
        "errors": len(result.errors),
        "error_examples": result.error_summary(),
        "window_s": result.window,
        "throughput_per_s": result.throughput,
        "p50_ms": result.latency_ms(50),
        "p99_ms": result.latency_ms(99),
        "event_lag_p50_ms": _ms(lag_p50),
        "event_lag_p99_ms": _ms(lag_p99),
        "stages": list(stages),
    }
    meter = getattr(result, "meter", None)
    if meter:
        requests = max(1, len(result.ok))
        summary["cpu"] = {
            "machine_busy_pct_of_all_cores": 100 * meter["machine_busy"] / meter["elapsed"]
            / _cores(),
            "by_process": {label: {"ms_per_request": 1000 * used / requests,
                                   "pct_of_one_core": 100 * used / meter["elapsed"]}
                           for label, used in meter["by_process"].items()},
        }
    summary.update(extra)
    return summary


def _cores():
    import os
    return os.cpu_count() or 1


def _fmt(value, spec=".1f"):
    return "-" if value is None else format(value, spec)


def table(rows, headers, aligns):
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.ljust(w) if a == "<" else c.rjust(w)
                         for c, w, a in zip(cells, widths, aligns))

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def main_table(summaries):
    rows = [[s["scenario"], str(s["requests"]), _fmt(s["throughput_per_s"]),
             _fmt(s["p50_ms"]), _fmt(s["p99_ms"]), _fmt(s["event_lag_p99_ms"])]
            for s in summaries]
    return table(rows, ["scenario", "requests", "throughput/s", "p50 ms", "p99 ms",
                        "event lag p99 ms"], "<>>>>>")


def ratio_lines(real, floor, real_label, floor_label):
    if not (real and floor and floor["throughput_per_s"] and floor["p50_ms"]
            and real["p50_ms"] is not None):
        return []
    line = (f"{real_label}/{floor_label}: throughput "
            f"x{real['throughput_per_s'] / floor['throughput_per_s']:.2f}, "
            f"p50 latency x{real['p50_ms'] / floor['p50_ms']:.2f}")
    if floor["p99_ms"] and real["p99_ms"] is not None:
        line += f", p99 latency x{real['p99_ms'] / floor['p99_ms']:.2f}"
    return [line]


def details(summary):
    """Errors, stages and CPU of one scenario, as printable lines."""
    lines = [f"{summary['scenario']}:"]
    if summary["errors"]:
        lines.append(f"  errors: {summary['errors']}")
        for error, count in summary["error_examples"]:
            lines.append(f"    {count} x {error}")
    for key, label in (("lag_missing", "events never received"),
                       ("incomplete", "readings not charged/rescheduled in time")):
        if summary.get(key):
            lines.append(f"  {label}: {summary[key]}")
    completion = summary.get("completion")
    if completion:
        slowest = min(completion["charges_committed_per_s"],
                      completion["reminders_written_per_s"])
        behind = slowest < 0.95 * completion["submitted_per_s"]
        lines.append(f"  during the window: {completion['submitted_per_s']:.1f} readings "
                     f"submitted/s, {completion['charges_committed_per_s']:.1f} charges "
                     f"committed/s, {completion['reminders_written_per_s']:.1f} reminders "
                     "written/s" + (" (fewer than submitted: a backlog was building)"
                                    if behind else ""))
    if summary["stages"]:
        rows = [[s["stage"], str(s["n"]), _fmt(s["p50_ms"]), _fmt(s["p99_ms"])]
                for s in summary["stages"]]
        lines.extend("  " + l for l in table(rows, ["stage", "n", "p50 ms", "p99 ms"],
                                              "<>>>").splitlines())
    cpu = summary.get("cpu")
    if cpu:
        lines.append(f"  CPU during the measured window: machine "
                     f"{cpu['machine_busy_pct_of_all_cores']:.0f}% busy of {_cores()} cores")
        rows = [[label, _fmt(v["ms_per_request"], ".2f"), _fmt(v["pct_of_one_core"], ".0f")]
                for label, v in sorted(cpu["by_process"].items(),
                                       key=lambda kv: -kv[1]["ms_per_request"])]
        lines.extend("  " + l for l in table(rows, ["process", "CPU ms/request",
                                                     "% of one core"], "<>>").splitlines())
        other = cpu["by_process"].get(OTHER, {}).get("pct_of_one_core", 0)
        if other > 25:
            lines.append(f"  warning: {other:.0f}% of a core went to something other than this "
                         "benchmark, its services, RabbitMQ and PostgreSQL (another workload?); "
                         "these numbers are pessimistic")
    for key, label in (("log_problems", "warnings/errors in service logs"),
                       ("retries", "handler retries / dead letters")):
        if summary.get(key):
            lines.append(f"  {label}: {summary[key]}")
    for note in summary.get("notes", []):
        lines.append(f"  note: {note}")
    lines.extend(spy_lines(summary))
    return lines
