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
    """Counts the requests of every web process in shared one-second buckets (scaled mode).

    A process counts in memory and adds its counts to Redis a second after
    the first one it has not sent (a timer, a green thread under eventlet
    or gevent), or at once when asked for the rate: one Redis round trip a
    second and process, not one a request. So the rate lags by a second at
    most.
    """

    PREFIX = 'flack:requests:'
    SEND_AFTER = 1.0

    def __init__(self, redis, window):
        self.redis = redis
        self.window = window
        self._lock = threading.Lock()
        self._unsent = Counter()
        self._timer = None

    def record(self, now):
        with self._lock:
            self._unsent[int(now)] += 1
            if self._timer is None:
                self._timer = threading.Timer(self.SEND_AFTER, self._send)
                self._timer.daemon = True
                self._timer.start()

    def rate(self, now):
        self._send()
        return self._shared_rate(int(now))

    @survives_outage(0.0)
    def _shared_rate(self, second):
        keys = [f'{self.PREFIX}{s}' for s in range(second - self.window + 1, second + 1)]
        return sum(int(count) for count in self.redis.mget(keys) if count) / self.window

    def _send(self):
        with self._lock:
            unsent, self._unsent = self._unsent, Counter()
            self._timer = None
        if unsent:
            self._add(unsent)

    @survives_outage(None)
    def _add(self, counts):
        # Counts that an outage keeps from Redis are lost: the rate is a gauge.
        pipe = self.redis.pipeline(transaction=False)
        for second, count in counts.items():
            key = f'{self.PREFIX}{second}'
            pipe.incrby(key, count)
            pipe.expire(key, self.window + 5)
        pipe.execute()


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
