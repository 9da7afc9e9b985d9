"""The worker and clock processes (the Procfile's ``worker`` and ``clock``,
both on flack.worker's Celery app): every line they write, Celery's
shutdown notices included, is one ``key=value`` event."""

import pytest

from .formation import Formation
from .live import wait_for
from .services import PostgresDatabase, RedisServer
from .test_logs import parse_event


@pytest.fixture
def scaled(tmp_path):
    """(a released formation on PostgreSQL and a Redis of its own, that Redis)."""
    redis_server = RedisServer(tmp_path).start()
    database = PostgresDatabase()
    try:
        yield Formation(tmp_path, database.url, redis_server.url).release(), redis_server
    finally:
        redis_server.stop()
        database.drop()


@pytest.mark.scaled
def test_each_line_of_the_worker_and_clock_is_one_event_from_start_to_stop(scaled):
    formation, _ = scaled
    worker = formation.start('worker')
    clock = formation.start('clock', wait=False)
    # The clock sends its duties every 5 s; the worker logs running them.
    wait_for(lambda: b'sweep_presence' in worker.output() and b'succeeded' in worker.output(), 'a duty run')
    formation.stop()

    for process in (worker, clock):
        lines = process.output().decode().splitlines()
        assert lines, process.name
        for line in lines:
            try:
                parse_event(line)
            except ValueError as error:
                pytest.fail(f'{process.name} wrote a line that is not one event ({error}): {line!r}')
    assert (
        b'level=INFO logger=celery.apps.worker msg="worker: Cold shutdown (MainProcess)"' in worker.output()
    )
