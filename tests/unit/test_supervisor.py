"""`vool run`'s restart policy (services/supervisor.py) on real, tiny processes:
a process that dies is started again after a doubling pause, a stable run resets
it, one that cannot start is given up on, and stopping leaves nothing behind."""
import io
import signal
import sys
import time

from services.supervisor import RestartPolicy, Supervisor
from tests.conftest import wait_for


def delays(policy, uptimes):
    quick, waits = 0, []
    for uptime in uptimes:
        quick, wait = policy.after_death(uptime, quick)
        waits.append(wait)
    return waits


def test_the_pause_doubles_to_its_cap_while_a_process_keeps_dying_quickly():
    forever = RestartPolicy(give_up_after=0)
    assert delays(forever, [1] * 8) == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_process_that_stayed_up_is_restarted_after_the_first_pause_again():
    policy = RestartPolicy()
    assert delays(policy, [1, 1, 1, 31, 1]) == [1, 2, 4, 1, 2]


def test_after_five_restarts_that_did_not_hold_it_gives_up():
    assert delays(RestartPolicy(), [1] * 6) == [1, 2, 4, 8, 16, None]
    assert delays(RestartPolicy(give_up_after=2), [1, 1, 1]) == [1, 2, None]


def python(code):
    return [sys.executable, "-c", code]


def test_a_dying_process_is_restarted_and_says_so(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    runs = tmp_path / "runs"
    # dies at once the first two times, then stays up
    code = (f"import pathlib, sys, time; p = pathlib.Path({str(runs)!r}); "
            "n = len(p.read_text()) if p.exists() else 0; p.write_text('x' * (n + 1)); "
            "sys.exit(3) if n < 2 else time.sleep(60)")
    supervisor = Supervisor(RestartPolicy(first_delay=0.1, stable_after=30), out, err)
    supervisor.start("metering", python(code))
    try:
        wait_for(lambda: supervisor.check() and "restart 2)" in out.getvalue()
                 and supervisor.children["metering"].process.poll() is None
                 and runs.exists() and len(runs.read_text()) == 3, timeout=15,
                 message="the third start to hold")
        assert "metering exited with 3; restarting in 0.1 s (restart 1)" in err.getvalue()
        assert "metering exited with 3; restarting in 0.2 s (restart 2)" in err.getvalue()
        assert "restarted metering (pid" in out.getvalue()
        assert not supervisor.failed
    finally:
        supervisor.stop_all(grace=5)
    assert supervisor.children["metering"].process.poll() is not None


def test_a_killed_process_is_named_by_its_signal(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    supervisor = Supervisor(RestartPolicy(first_delay=0.1), out, err)
    child = supervisor.start("billing", python("import time; time.sleep(60)"))
    try:
        child.process.send_signal(signal.SIGKILL)
        wait_for(lambda: supervisor.check() and "restarted billing" in out.getvalue(),
                 timeout=10)
        assert "billing was killed by SIGKILL; restarting in 0.1 s (restart 1)" \
            in err.getvalue()
    finally:
        supervisor.stop_all(grace=5)


def test_a_process_that_cannot_start_is_given_up_on_and_everything_stops():
    out, err = io.StringIO(), io.StringIO()
    supervisor = Supervisor(RestartPolicy(first_delay=0.05, give_up_after=3), out, err)
    supervisor.start("gateway", python("import sys; sys.exit(2)"))
    bystander = supervisor.start("identity", python("import time; time.sleep(60)"))
    started = time.monotonic()
    supervisor.supervise(tick=0.02)      # returns when it gives up
    supervisor.stop_all(grace=5)
    assert supervisor.failed
    # waited 0.05 + 0.1 + 0.2 s between the starts: never a tight loop
    assert time.monotonic() - started >= 0.35
    assert err.getvalue().count("gateway exited with 2; restarting") == 3
    assert "gateway exited with 2; restarted 3 times in a row, never up 30 s: giving up, " \
           "stopping all" in err.getvalue()
    assert bystander.process.poll() is not None


def test_stopping_during_a_pause_starts_nothing_more():
    out, err = io.StringIO(), io.StringIO()
    supervisor = Supervisor(RestartPolicy(first_delay=0.2), out, err)
    child = supervisor.start("contracts", python("import sys; sys.exit(1)"))
    wait_for(lambda: supervisor.check() and child.restart_at is not None, timeout=10)
    supervisor.stop()
    time.sleep(0.3)
    supervisor.check()
    supervisor.stop_all(grace=5)
    assert child.restarts == 0 and "restarted" not in out.getvalue()
