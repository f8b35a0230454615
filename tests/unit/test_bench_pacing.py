"""The benchmark's open loop (bench/load.py), the tail figures it reports
(bench/system.py, bench/report.py) and the RSS slope of bench/rss.py: these decide
whether issue #18's P1 tail and P5 memory targets read as met, so they must not
flatter (no coordinated omission, no missing reading left out of a p99)."""
import math
import os

import eventlet
import pytest
from eventlet import patcher

from bench import rss
from bench.load import LoadResult, Sample, arrival_schedule, open_loop
from bench.report import path_cpu_ms, target_lines
from bench.system import summarize

blocking_sleep = patcher.original("time").sleep  # stalls the whole hub, like a busy machine


# --- the schedule -------------------------------------------------------------------------

def test_the_schedule_is_fixed_and_does_not_drift():
    assert arrival_schedule(4, 10.0, 1.0) == [10.0, 10.25, 10.5, 10.75]
    long = arrival_schedule(3, 100.0, 600.0)
    assert len(long) == 1800
    assert long[-1] == 100.0 + 1799 / 3  # computed from the start, not summed up


def test_a_schedule_needs_a_rate():
    with pytest.raises(ValueError):
        arrival_schedule(0, 0.0, 1.0)


# --- the open loop --------------------------------------------------------------------------

def test_slow_answers_do_not_delay_the_next_sends():
    def slow(client, n):
        eventlet.sleep(0.5)
        return "ok"

    result = open_loop(lambda n: object(), slow, rate=20, warmup=0, duration=0.5)
    assert len(result.ok) == 10
    assert max(s.send_delay for s in result.ok) < 0.05  # each left when it was due
    assert result.clients >= 9  # a sender of its own while the others wait
    assert all(0.5 <= s.latency < 0.6 for s in result.ok)


def test_latency_counts_from_when_the_request_was_due():
    """A stalled generator sends late; the requests due meanwhile must carry the
    stall in their latency (a closed loop would report them as fast)."""
    calls = []

    def request(client, n):
        calls.append(n)
        if len(calls) == 1:
            blocking_sleep(0.3)  # the first one stalls everything for 0.3 s
        return "ok"

    result = open_loop(lambda n: object(), request, rate=50, warmup=0, duration=0.4)
    assert len(result.ok) == 20  # none omitted
    first_due = min(s.started for s in result.ok)
    stalled = [s for s in result.ok if 0.05 <= s.started - first_due <= 0.2]
    assert stalled
    for s in stalled:
        # it could only leave after the stall ended, 0.3 s after the first was due
        assert s.latency >= 0.3 - (s.started - first_due) - 0.01
        assert s.send_delay > 0.05


def test_an_answer_that_never_comes_is_an_error_not_left_out():
    def hangs(client, n):
        eventlet.sleep(5)
        return "ok"

    result = open_loop(lambda n: object(), hangs, rate=10, warmup=0, duration=0.3,
                       drain_timeout=0.1)
    assert len(result.measured) == 3
    assert len(result.errors) == 3 and not result.ok
    assert "no answer" in result.errors[0].error


def test_nothing_to_send_is_skipped_not_counted():
    result = open_loop(lambda n: object(), lambda c, n: None, rate=20, warmup=0, duration=0.2)
    assert result.skipped == 4 and not result.measured


def test_the_open_loop_counts_what_was_due_in_the_window_however_late_its_answer():
    due_inside_answered_after = Sample(1000.0, 9.5, 12.0, result="late")
    due_before = Sample(999.0, 8.0, 9.5, result="warm-up")
    result = LoadResult([due_inside_answered_after, due_before], 9.0, 10.0,
                        counted_by="started")
    assert result.ok == [due_inside_answered_after]
    assert result.latency_ms(99) == pytest.approx(2500)
    closed = LoadResult([due_inside_answered_after, due_before], 9.0, 10.0)
    assert closed.ok == [due_before]


# --- 201 -> charge / reminder committed ---------------------------------------------------

def _timings(charges, reminders):
    return {"stored": {}, "outbox": {}, "charges": charges, "billing_handled": {},
            "notifications_handled": {}, "reminders": reminders}


def _answered(reading_id, point_id, due_wall, latency):
    return Sample(due_wall, 10.0, 10.0 + latency, result=(reading_id, point_id, 1, "2026-02-01"))


def _summary(samples, timings):
    result = LoadResult(samples, 9.0, 11.0, counted_by="started")
    result.window_wall = (999.0, 1001.0)
    return summarize(result, samples, timings, {}, {}, "(c) paced", "c_paced")


def test_the_lag_runs_from_the_201_to_the_commit():
    sample = _answered("r1", "p1", 1000.0, 0.050)  # 201 at 1000.050
    summary = _summary([sample], _timings({"r1": 1000.250},
                                          {"p1": [(1000.300, "pending", "2026-02-01")]}))
    assert summary["charge_after_answer_p99_ms"] == pytest.approx(200)
    assert summary["reminder_after_answer_p99_ms"] == pytest.approx(250)
    assert summary["charge_lag_p99_ms"] == pytest.approx(250)  # from the (due) send
    assert summary["incomplete"] == 0


def test_a_reading_never_charged_makes_the_p99_never_not_better():
    samples = [_answered("r1", "p1", 1000.0, 0.05), _answered("r2", "p2", 1000.1, 0.05)]
    summary = _summary(samples, _timings(
        {"r1": 1000.1},
        {"p1": [(1000.1, "pending", "2026-02-01")], "p2": [(1000.2, "pending", "2026-02-01")]}))
    assert summary["charge_after_answer_p99_ms"] == math.inf
    assert summary["incomplete"] == 1
    paced = {**summary, "paced": {"rate_per_s": 40.0, "p99_ms_counting_errors": 50.0}}
    lines = "\n".join(target_lines({"c_paced": paced}))
    charge_line = next(line for line in lines.splitlines() if "201 -> charge" in line)
    assert "never" in charge_line and "NOT MET" in charge_line


# --- the verdicts -------------------------------------------------------------------------

def _flow(throughput, cpu=None):
    flow = {"throughput_per_s": throughput}
    if cpu:
        flow["cpu"] = {"by_process": {k: {"ms_per_request": v} for k, v in cpu.items()}}
    return flow


def test_the_cpu_total_is_the_path_without_the_load_generator():
    c = _flow(80, {"gateway": 2.0, "metering": 5.0, "postgresql": 3.0,
                   "load generator (bench)": 1.0, "other (kernel, anything else running)": 0.5})
    assert path_cpu_ms(c) == pytest.approx(10.0)
    lines = "\n".join(target_lines({"c": c, "a": _flow(400), "d": _flow(100)}))
    verdicts = {line.split()[0]: line for line in lines.splitlines() if "throughput" in line}
    assert "NOT MET" in verdicts["(c)/(a)"]  # 0.20 < 0.40
    assert "NOT MET" not in verdicts["(c)/(d)"]  # 0.80 >= 0.8
    cpu_line = next(line for line in lines.splitlines() if "CPU per reading" in line)
    assert "10.0 ms" in cpu_line and "NOT MET" not in cpu_line


# --- RSS ------------------------------------------------------------------------------------

def test_rss_of_a_live_process_and_of_none():
    assert 1 < rss.rss_mb(os.getpid()) < 10_000
    assert rss.rss_mb(2 ** 22 + 12345) is None  # above any pid_max default


def test_the_slope_of_a_steady_climb():
    points = [(t, 100 + 0.01 * t) for t in range(0, 301, 5)]
    per_minute, noise = rss.slope(points)
    assert per_minute == pytest.approx(0.6)
    assert noise == pytest.approx(0, abs=1e-9)


def test_noise_is_not_growth():
    points = [(t, 80 + (0.5 if (t // 5) % 2 else -0.5)) for t in range(0, 300, 5)]
    per_minute, noise = rss.slope(points)
    assert abs(per_minute) < 0.02
    assert noise == pytest.approx(0.5, abs=0.01)


def test_the_verdicts_per_process():
    series = [(t, {"metering": 90 + 0.01 * t, "billing": 70.0 + (0.3 if t % 10 else 0),
                   "gateway": 160.0}) for t in range(0, 601, 5)]
    report = rss.analyse(series, at=(300, 600), last=300, limit_mb=150, growth_limit_mb=1.0)
    assert report["metering"]["at"] == {"300": pytest.approx(93), "600": pytest.approx(96)}
    assert report["metering"]["growth_last_mb"] == pytest.approx(3.0)
    assert report["metering"]["no_growth"] is False and report["metering"]["within_limit"]
    assert report["billing"]["no_growth"] is True and report["billing"]["within_limit"]
    assert report["gateway"]["within_limit"] is False and report["gateway"]["no_growth"]
    assert rss.slope([(1.0, 5.0)]) == (None, None)


def test_the_floor_and_the_skeleton_sit_in_the_rows_of_what_they_stand_for():
    a = _flow(400, {"floor_gateway": 1.0, "floor_echo": 1.5, "floor_listener": 0.5})
    c = _flow(80, {"gateway": 2.0, "metering": 5.0, "billing": 4.0})
    lines = target_lines({"a": a, "c": c})
    metering = next(line for line in lines if line.strip().startswith("metering"))
    assert metering.split()[1:] == ["1.50", "5.00"]
    total = next(line for line in lines if "total on the path" in line)
    assert total.split()[-2:] == ["3.00", "11.00"]


def test_the_trace_names_the_site_that_grew():
    import tracemalloc

    from bench.traced import report

    kept = []
    tracemalloc.start(4)
    try:
        first = tracemalloc.take_snapshot()
        kept.extend(bytearray(10_000) for _ in range(100))  # ~1 MB that stays
        now = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    text = report(first, now, 90)
    assert text.startswith("90s after tracing started:")
    grown, *where = text.splitlines()[1:10]  # the top site: its growth, then its frames
    assert float(grown.split()[0]) > 900  # kB, of the ~1 MB kept
    assert any("test_bench_pacing.py" in line for line in where)
