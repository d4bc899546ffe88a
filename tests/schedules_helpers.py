"""The schedules' tests' clock: a wall clock the test moves (``watch_clock`` fixture)."""

import datetime

START = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
PING = {"tool": "ping", "params": {"target": "192.0.2.10"}}


class WallClock:
    """Now as the test says: starts at ``start`` and moves only with ``advance``/``set``."""

    def __init__(self, start=START):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += datetime.timedelta(seconds=seconds)
        return self.now

    def set(self, when):
        self.now = when
        return self.now


def iso(when):
    return when.isoformat().replace("+00:00", "Z")
