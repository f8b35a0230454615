"""Ctrl-C, SIGTERM and SIGHUP under eventlet, without leaving anything behind.

The signal handler only notes the signal: raising from it could land in the
middle of the eventlet hub's bookkeeping or in a load-generating green thread.
A watcher green thread then throws KeyboardInterrupt into the main green thread,
which unwinds through every ``finally`` — but never while a clean-up runs
inside ``shielded()``: stopping processes and dropping the vhost and databases
always finish.
"""
import contextlib
import signal

import eventlet
import eventlet.hubs
import greenlet

_main = None
_signals = []
_shields = [0]


def install():
    """Call once, from the main green thread."""
    global _main
    _main = greenlet.getcurrent()
    # SIGINT too: a shell leaves it ignored for a background job
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    eventlet.spawn_n(_deliver)


def _on_signal(signum, frame):
    if not _signals:
        _signals.append(signum)


def _deliver():
    while not _signals or _shields[0]:
        eventlet.sleep(0.1)
    eventlet.hubs.get_hub().schedule_call_global(
        0, _main.throw, KeyboardInterrupt(f"signal {_signals[0]}"))


@contextlib.contextmanager
def shielded():
    """A clean-up that an interrupt waits for instead of cutting short."""
    _shields[0] += 1
    try:
        yield
    finally:
        _shields[0] -= 1
