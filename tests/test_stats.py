"""Requests per second: both request counters held to one contract."""

import pytest

from flack.stats import MemoryRequestCounter, RedisRequestCounter

from .live import wait_for

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


def test_the_rate_counts_the_requests_of_every_web_process_within_a_second(redis_connection):
    one = RedisRequestCounter(redis_connection, window=WINDOW)
    other = RedisRequestCounter(redis_connection, window=WINDOW)
    for _ in range(10):
        one.record(500.2)
    for _ in range(5):
        other.record(500.7)

    # Each process adds its counts a second after the first it has not sent
    # (one Redis round trip a second, not one a request), with no request
    # to carry them, or at once when asked for the rate.
    assert one.rate(now=500.9) == 10 / WINDOW
    wait_for(lambda: one.rate(now=501.5) == 15 / WINDOW, "the other process's counts", patience=5)
