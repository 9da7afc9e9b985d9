"""Every process the tests start inherits this process's environment.

Heroku's Python is a shared library that the dynamic loader finds through
the dyno's ``LD_LIBRARY_PATH``: a process started with an environment built
from nothing would not even load. Each test here sets ``LD_LIBRARY_PATH`` to
a directory only it names, runs the processes a helper of the suite starts,
and reads the environment of every one of them from ``/proc``, down to the
gunicorn and Celery workers they fork.
"""

import os
import secrets
import threading
from pathlib import Path

import pytest

from . import test_paas
from .formation import Formation
from .live import LiveFlack, descendants, wait_for
from .services import PostgresDatabase, RedisServer
from .test_scaled import Honcho

# Often enough to see a short-lived process such as the release step, which
# imports Flack and Alembic before it ends.
LOOK_EVERY = 0.02


@pytest.fixture
def library_path(tmp_path, monkeypatch):
    """``LD_LIBRARY_PATH`` as a dyno sets it, with a directory no other test names."""
    value = os.pathsep.join(filter(None, [str(tmp_path / 'lib'), os.environ.get('LD_LIBRARY_PATH')]))
    monkeypatch.setenv('LD_LIBRARY_PATH', value)
    return value


@pytest.fixture
def started(library_path):
    """Watches every process this test starts, until the test ends."""
    with Descendants() as watched:
        yield watched


class Descendants:
    """Every process started from this one (children, their children...), as seen in ``/proc``.

    A thread looks every few milliseconds and notes each program with the
    environment it was started with: a process replaced by ``exec`` (bash
    running ``exec gunicorn ...``) is noted once per program.
    """

    def __init__(self):
        self.seen = {}  # (pid, command line) -> environment
        self.ignored = set()
        self._own_command = _command_line(os.getpid())
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()

    def _watch(self):
        while not self._done.wait(LOOK_EVERY):
            self.look()

    def look(self):
        for pid in descendants(os.getpid()):
            try:
                command = _command_line(pid)
                environ = _environ(pid)
            except OSError:  # ended meanwhile
                continue
            # A zombie has no command line; a child forked but not yet
            # replaced by its program is still a copy of this process.
            if command and command != self._own_command and pid not in self.ignored:
                self.seen[pid, command] = environ

    def ignore(self, pid):
        """Leave out a process that is not the tests' Flack (a Redis server, say)."""
        self.ignored.add(pid)
        self.seen = {(seen, command): value for (seen, command), value in self.seen.items() if seen != pid}

    def running(self, program):
        """How many processes of ``program`` (a part of their command line) were seen."""
        return len({pid for pid, command in self.seen if program in command})

    def without(self, value):
        """The processes seen whose ``LD_LIBRARY_PATH`` was not ``value``."""
        return self.having(lambda environ: environ.get('LD_LIBRARY_PATH') != value)

    def having(self, condition):
        """The processes seen whose environment meets ``condition``."""
        return [f'{pid}: {command}' for (pid, command), environ in self.seen.items() if condition(environ)]


def _command_line(pid):
    return Path(f'/proc/{pid}/cmdline').read_bytes().replace(b'\0', b' ').decode(errors='replace').strip()


def _environ(pid):
    """The environment ``pid`` was started with (what its program received from its parent)."""
    items = Path(f'/proc/{pid}/environ').read_bytes().decode(errors='replace').split('\0')
    return dict(item.split('=', 1) for item in items if '=' in item)


def test_the_release_and_web_processes_of_live_flack_inherit_the_environment(tmp_path, started, library_path):
    with LiveFlack(tmp_path):
        started.look()  # the web process and its worker, surely running now

    assert started.running('manage.py db upgrade') == 1
    assert started.running('gunicorn') == 2  # the master and its worker
    assert started.without(library_path) == []


def test_flack_settings_of_this_environment_do_not_reach_live_flack(tmp_path, started, monkeypatch):
    # What a CI dyno sets, which would turn the embedded server into a scaled one with four workers.
    monkeypatch.setenv('REDIS_URL', 'redis://127.0.0.1:1/0')
    monkeypatch.setenv('WEB_CONCURRENCY', '4')
    with LiveFlack(tmp_path):
        started.look()

    assert started.running('gunicorn') == 2
    assert (
        started.having(lambda environ: 'REDIS_URL' in environ or environ.get('WEB_CONCURRENCY') == '4') == []
    )


def test_the_processes_of_the_paas_tests_inherit_the_environment(tmp_path, started, library_path):
    test_paas.test_a_bad_setting_stops_a_process_with_one_line_naming_it(
        tmp_path, 'web', {'SECRET_KEY': secrets.token_hex(32), 'PORT': 'eighty'}, 'PORT'
    )
    test_paas.test_a_bad_setting_stops_a_process_with_one_line_naming_it(
        tmp_path, 'release', {}, 'SECRET_KEY'
    )
    test_paas.test_manage_config_prints_the_settings_with_secrets_masked()

    assert started.running('gunicorn') >= 1
    assert started.running('manage.py db upgrade') == 1
    assert started.running('manage.py config') == 1
    assert started.without(library_path) == []


@pytest.fixture
def services(tmp_path, started):
    """A Redis server and a PostgreSQL database of the test's own (the Redis server first:
    without the program, the test skips before it has made a database)."""
    redis_server = RedisServer(tmp_path)
    database = PostgresDatabase()
    redis_server.start()
    # redis-server writes its process title over the environment /proc shows.
    started.ignore(redis_server.process.pid)
    yield database, redis_server
    redis_server.stop()
    database.drop()


@pytest.mark.scaled
def test_every_process_of_a_formation_inherits_the_environment(tmp_path, services, started, library_path):
    database, redis_server = services
    formation = Formation(tmp_path, database.url, redis_server.url, WORKER_CONCURRENCY=2).release()
    try:
        formation.start('web')
        formation.start('worker')
        clock = formation.start('clock')
        wait_for(lambda: b'beat: Starting' in clock.output(), 'the clock to start')
        started.look()
    finally:
        formation.stop()

    assert started.running('manage.py db upgrade') == 1
    assert started.running('gunicorn') == 2
    assert started.running('worker --loglevel') == 3  # the worker and its two pool processes
    assert started.running('beat --loglevel') == 1
    assert started.without(library_path) == []


@pytest.mark.scaled
def test_every_process_honcho_starts_inherits_the_environment(tmp_path, services, started, library_path):
    database, redis_server = services
    settings = {
        'FLACK_ENV': 'production',
        'SECRET_KEY': secrets.token_hex(32),
        'DATABASE_URL': database.url,
        'REDIS_URL': redis_server.url,
        'SOCKETIO_TRANSPORTS': 'websocket',
        'WORKER_CONCURRENCY': '2',
    }
    LiveFlack(tmp_path, **settings).run('release', capture_output=True)
    honcho = Honcho(tmp_path, settings, 'web=1,worker=1,clock=1')
    try:
        honcho.wait_until_ready(web_count=1)
        wait_for(lambda: b'beat: Starting' in honcho.log_path.read_bytes(), 'the clock to start')
        started.look()
    finally:
        honcho.stop()

    assert started.running('honcho start') >= 1  # and its forks, before they run the commands
    assert started.running('gunicorn') == 2
    assert started.running('worker --loglevel') == 3
    assert started.running('beat --loglevel') == 1
    assert started.without(library_path) == []
