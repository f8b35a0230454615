"""Summaries of a scenario and the printed tables."""
import math

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
    if value is None:
        return "-"
    return "never" if value == math.inf else format(value, spec)


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


#: what is not on a reading's path: left out of its CPU total (and printed apart)
OFF_PATH = ("load generator (bench)", OTHER)

#: issue #18's targets: CPU per reading, the tail at half the rate (ms), throughput ratios
CPU_TARGET_MS = 11.0
TAIL_TARGETS = (("p99 request -> 201", "p99_ms_counting_errors", 100.0),
                ("p99 201 -> charge committed", "charge_after_answer_p99_ms", 500.0),
                ("p99 201 -> reminder committed", "reminder_after_answer_p99_ms", 500.0))
RATIO_TARGETS = (("c", "a", 0.40), ("c", "d", 0.8))


def path_cpu_ms(summary):
    """CPU ms per request of every process on the path (services, gateway,
    PostgreSQL, RabbitMQ; not the load generator nor "other"); None unmetered."""
    cpu = summary.get("cpu") if summary else None
    if not cpu:
        return None
    return sum(v["ms_per_request"] for label, v in cpu["by_process"].items()
               if label not in OFF_PATH)


def verdict(value, bound, at_most=True):
    if value is None:
        return "not measured"
    return "met" if (value <= bound if at_most else value >= bound) else "NOT MET"


def target_lines(by_key):
    """Issue #18's P1 targets against this run's figures, with a verdict each."""
    rows = []
    paced = by_key.get("c_paced")
    if paced:
        figures = {**paced, **paced.get("paced", {})}
        rate = figures.get("rate_per_s")
        rows.append([f"(c) paced at {rate:.1f}/s: p50 request -> 201",
                     _fmt(paced["p50_ms"]) + " ms", "", ""])
        for label, key, bound in TAIL_TARGETS:
            value = figures.get(key)
            rows.append([f"(c) paced: {label}", _fmt(value) + " ms", f"<= {bound:g} ms",
                         verdict(value, bound)])
    for flow, floor, bound in RATIO_TARGETS:
        f, b = by_key.get(flow), by_key.get(floor)
        if f and b and b["throughput_per_s"]:
            value = f["throughput_per_s"] / b["throughput_per_s"]
            rows.append([f"({flow})/({floor}) throughput, saturated", f"{value:.2f}",
                         f">= {bound:g}", verdict(value, bound, at_most=False)])
    cpu = path_cpu_ms(by_key.get("c"))
    if cpu is not None:
        rows.append(["(c) CPU per reading, whole path", f"{cpu:.1f} ms",
                     f"<= {CPU_TARGET_MS:g} ms", verdict(cpu, CPU_TARGET_MS)])
    if not rows:
        return []
    lines = ["Issue #18 targets:"]
    lines.extend("  " + l for l in table(rows, ["figure", "measured", "target", "verdict"],
                                         "<><<").splitlines())
    if paced:
        p = paced.get("paced", {})
        lines.append(f"  (c) paced: {paced['requests']} readings answered, {paced['errors']} "
                     f"errors, {paced.get('incomplete', 0)} never charged/reminded in time; "
                     f"sends late by p99 {_fmt(p.get('send_delay_p99_ms'))} ms, at most "
                     f"{p.get('most_in_flight')} in flight")
        if (p.get("send_delay_p99_ms") or 0) > 20:
            lines.append("  warning: the load generator itself kept the schedule late by more "
                         "than 20 ms at p99 (a busy machine?); latency still counts from the "
                         "schedule")
    lines.extend(cpu_table(by_key))
    return lines


#: the floor's and the skeleton's processes in the row of the service whose place they take
ROLE = {"floor_gateway": "gateway", "floor_echo": "metering", "floor_listener": "billing",
        "skeleton_gateway": "gateway", "skeleton_metering": "metering",
        "skeleton_billing": "billing", "skeleton_notifications": "notifications"}


def cpu_table(by_key, keys=("a", "d", "c", "c_paced")):
    """CPU ms per request of each process, one column per scenario, with the path's
    total (what the 11 ms target is about) and what was off the path."""
    columns = []
    for key in keys:
        summary = by_key.get(key)
        if summary and summary.get("cpu"):
            per_role = {}
            for label, value in summary["cpu"]["by_process"].items():
                role = ROLE.get(label, label)
                per_role[role] = per_role.get(role, 0.0) + value["ms_per_request"]
            columns.append((key, per_role, path_cpu_ms(summary)))
    if not columns:
        return []
    roles = []
    for _, per_role, _ in columns:
        roles.extend(r for r in per_role if r not in roles and r not in OFF_PATH)
    main = next((c[1] for c in columns if c[0] == "c"), columns[-1][1])
    roles.sort(key=lambda role: -main.get(role, 0))

    def cell(per_role, role):
        return _fmt(per_role.get(role), ".2f")

    rows = [[role] + [cell(c[1], role) for c in columns] for role in roles]
    rows.append(["total on the path"] + [_fmt(c[2], ".2f") for c in columns])
    rows.extend([role] + [cell(c[1], role) for c in columns] for role in OFF_PATH)
    names = {"c_paced": "(c) paced"}
    return ([f"CPU ms per request, by process (target for (c)'s path: <= {CPU_TARGET_MS:g} ms; "
             "(a)'s echo and listener in metering's and billing's rows, (d)'s processes in "
             "those they stand for):"]
            + ["  " + line for line in table(
                rows, ["process"] + [names.get(c[0], f"({c[0]})") for c in columns],
                "<" + ">" * len(columns)).splitlines()])
