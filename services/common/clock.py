"""The one clock of a service, settable by tests.

Everything that asks "what time is it" asks a Clock. Stored times are UTC;
business dates (reading days, billing periods, due dates) are Europe/Tallinn.
"""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from nameko.extensions import DependencyProvider

TALLINN = ZoneInfo("Europe/Tallinn")


def as_utc(moment):
    """A stored timestamp, aware: SQLite gives them back without their zone (UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Clock:
    def __init__(self):
        self._fixed = None
        self._offset = timedelta(0)

    def now(self):
        """The current time, timezone-aware, in UTC."""
        if self._fixed is not None:
            return self._fixed
        return datetime.now(timezone.utc) + self._offset

    def today(self):
        """Today's business date in Tallinn."""
        return self.now().astimezone(TALLINN).date()

    def set(self, moment):
        if moment.tzinfo is None:
            raise ValueError("the clock is set to an aware datetime")
        self._fixed = moment.astimezone(timezone.utc)

    def advance(self, delta):
        if self._fixed is not None:
            self._fixed += delta
        else:
            self._offset += delta

    def reset(self):
        self._fixed = None
        self._offset = timedelta(0)


# One per process: in production a process runs one service; in-process tests
# run several and set them all at once, which is what a test of a flow wants.
clock = Clock()


class ClockProvider(DependencyProvider):
    def get_dependency(self, worker_ctx):
        return clock
