"""Requests per second, averaged over the last ``REQUEST_STATS_WINDOW`` seconds.

Every request is counted in the app's request counter (``RequestCounter``:
in memory in the embedded mode, in Redis across every web process when
scaled), in one-second buckets.
"""

import threading
from collections import Counter
from typing import Protocol

from flask import current_app

from .models import timestamp
from .redis_client import survives_outage

EXTENSION = 'flack.stats'


class RequestCounter(Protocol):
    """Counts requests; ``MemoryRequestCounter`` and ``RedisRequestCounter`` below."""

    def record(self, now: float) -> None:
        """Count one request at ``now`` (seconds since the epoch)."""

    def rate(self, now: float) -> float:
        """Average requests per second over the window ending at ``now``."""


class MemoryRequestCounter:
    """Counts the requests of one process in one-second buckets (embedded mode)."""

    def __init__(self, window):
        self.window = window
        self._lock = threading.Lock()
        self._buckets = Counter()

    def record(self, now):
        second = int(now)
        with self._lock:
            self._buckets[second] += 1
            if len(self._buckets) > 2 * self.window:
                for old in [s for s in self._buckets if s <= second - self.window]:
                    del self._buckets[old]

    def rate(self, now):
        second = int(now)
        with self._lock:
            total = sum(n for s, n in self._buckets.items() if second - self.window < s <= second)
        return total / self.window


class RedisRequestCounter:
    """Counts the requests of every web process in shared one-second buckets (scaled mode)."""

    PREFIX = 'flack:requests:'

    def __init__(self, redis, window):
        self.redis = redis
        self.window = window

    @survives_outage(None)
    def record(self, now):
        key = f'{self.PREFIX}{int(now)}'
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, self.window + 5)
        pipe.execute()

    @survives_outage(0.0)
    def rate(self, now):
        second = int(now)
        keys = [f'{self.PREFIX}{s}' for s in range(second - self.window + 1, second + 1)]
        return sum(int(count) for count in self.redis.mget(keys) if count) / self.window


def init_app(app, request_counter):
    """Count every request of ``app`` in ``request_counter``."""
    app.extensions[EXTENSION] = request_counter
    app.before_request(record_request)


def counter(app=None) -> RequestCounter:
    """The request counter of ``app`` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION]


def record_request():
    counter().record(timestamp())


def requests_per_second():
    return counter().rate(timestamp())
