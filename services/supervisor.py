"""What `vool run` does with the processes it starts: a process that dies is
started again after a pause, as compose's restart policy does in deploy/.

The pause doubles from 1 s to at most 30 s while a process keeps dying soon after
its start, and is back to 1 s once it stayed up 30 s. A process restarted
``give_up_after`` (5) times in a row without once staying up that long cannot
start (a taken port, a configuration error): retrying would only repeat its
traceback, so the supervisor gives up and stops everything, exit code 1 — after
about a minute, never in a tight loop. ``give_up_after=0`` retries for ever, as
``restart: unless-stopped`` does.
"""
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STABLE_AFTER = 30.0     # up this long: its next death counts as a first one again
GIVE_UP_AFTER = 5       # restarts in a row that did not hold: "it cannot start"


@dataclass
class RestartPolicy:
    first_delay: float = FIRST_DELAY
    max_delay: float = MAX_DELAY
    stable_after: float = STABLE_AFTER
    give_up_after: int = GIVE_UP_AFTER

    def after_death(self, uptime, quick_deaths):
        """``(deaths in a row now, seconds to wait or None to give up)`` for a process
        that died after ``uptime`` seconds, ``quick_deaths`` in a row before it (a
        death after a stable run is a first one again)."""
        quick_deaths = 1 if uptime >= self.stable_after else quick_deaths + 1
        if self.give_up_after and quick_deaths - 1 >= self.give_up_after:
            return quick_deaths, None
        return quick_deaths, min(self.first_delay * 2 ** (quick_deaths - 1), self.max_delay)


@dataclass
class Child:
    name: str
    command: list
    process: subprocess.Popen = None
    started_at: float = 0.0
    restarts: int = 0
    quick_deaths: int = 0
    restart_at: float = None           # dead, waiting to be started again
    popen_options: dict = field(default_factory=dict)

    def start(self):
        self.process = subprocess.Popen(self.command, **self.popen_options)
        self.started_at, self.restart_at = time.monotonic(), None


def how_it_ended(returncode):
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with {returncode}"


class Supervisor:
    """Starts the children, restarts the ones that die, stops them all once."""

    def __init__(self, policy=None, out=sys.stdout, err=sys.stderr):
        self.policy = policy or RestartPolicy()
        self.children = {}
        self.out, self.err = out, err
        self.stopping = False
        self.failed = False

    def say(self, text, stream=None):
        print(f"vool: {text}", file=stream or self.out, flush=True)

    def start(self, name, command, **popen_options):
        child = self.children[name] = Child(name, command, popen_options=popen_options)
        child.start()
        self.say(f"started {name} (pid {child.process.pid})")
        return child

    def check(self):
        """Restart what is due, note what died; False once it gave up on one."""
        now = time.monotonic()
        for child in self.children.values():
            if child.restart_at is not None:
                if now >= child.restart_at and not self.stopping:
                    child.restarts += 1
                    child.start()
                    self.say(f"restarted {child.name} (pid {child.process.pid}, "
                             f"restart {child.restarts})")
                continue
            if child.process.poll() is None:
                continue
            ended = how_it_ended(child.process.returncode)
            child.quick_deaths, delay = self.policy.after_death(
                now - child.started_at, child.quick_deaths)
            if delay is None:
                self.say(f"{child.name} {ended}; restarted {child.quick_deaths - 1} "
                         f"times in a row, never up {self.policy.stable_after:g} s: "
                         "giving up, stopping all", self.err)
                self.failed = self.stopping = True
                return False
            child.restart_at = now + delay
            self.say(f"{child.name} {ended}; restarting in {delay:g} s "
                     f"(restart {child.restarts + 1})", self.err)
        return True

    def supervise(self, tick=0.2):
        """Until ``stop()`` (a signal handler calls it) or giving up."""
        while not self.stopping and self.check():
            time.sleep(tick)

    def stop(self, *_):
        self.stopping = True

    def stop_all(self, grace=15):
        """SIGTERM to every live child, SIGKILL to those still there after ``grace``."""
        self.stopping = True
        alive = [c.process for c in self.children.values()
                 if c.restart_at is None and c.process.poll() is None]
        for process in alive:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in alive:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
