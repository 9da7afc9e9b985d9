"""Requests per second: both request counters held to one contract."""

import pytest

from flack.stats import MemoryRequestCounter, RedisRequestCounter

from .test_redis_client import redis_connection, redis_server  # noqa: F401  (fixtures)

WINDOW = 10


@pytest.fixture(params=['memory', 'redis'])
def counter(request):
    """Each request counter: the embedded mode's, and the scaled mode's on a Redis of its own."""
    if request.param == 'memory':
        return MemoryRequestCounter(window=WINDOW)
    return RedisRequestCounter(request.getfixturevalue('redis_connection'), window=WINDOW)


def test_requests_of_one_second_are_averaged_over_the_window(counter):
    for _ in range(30):
        counter.record(1000.25)

    assert counter.rate(now=1000.5) == 30 / WINDOW
    assert counter.rate(now=1000 + WINDOW - 0.1) == 30 / WINDOW
    assert counter.rate(now=1000 + WINDOW) == 0.0


def test_a_counter_forgets_requests_older_than_the_window(counter):
    for second in range(100, 130):
        counter.record(second + 0.5)

    assert counter.rate(now=129.9) == 1.0
    assert counter.rate(now=200) == 0.0
