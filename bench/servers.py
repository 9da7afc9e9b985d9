"""The processes under test, started with the Procfile's own commands."""

import contextlib
import functools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

# The tests' way of starting a process: this environment, with only the Flack settings chosen.
from tests.live import child_environ, descendants

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60
USERS = 10
MESSAGES = 200
ASYNC_MODES = ('eventlet', 'gevent')
# A PostgreSQL server a run may create (and drop) a database of its own on.
DEFAULT_POSTGRES_URL = os.environ.get('BENCH_POSTGRES_URL', 'postgresql://postgres@127.0.0.1:5432/postgres')


def stop_on_sigterm():
    """Make SIGTERM unwind a run's ``with`` blocks, which stop every process it started."""

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def procfile():
    """The Procfile's process types and their commands."""
    lines = (ROOT / 'Procfile').read_text().splitlines()
    return dict(
        (name.strip(), command.strip())
        for name, command in (line.split(':', 1) for line in lines if re.match(r'^\w+:', line))
    )


def floor_command():
    """The web command with the floor app in place of Flack's."""
    web = procfile()['web']
    assert 'flack.wsgi:app' in web, 'the Procfile web command no longer names flack.wsgi:app'
    return web.replace('flack.wsgi:app', 'bench.floor:app')


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def base_environment(async_mode='eventlet', **settings):
    """What every process under test gets: the bench's environment, with Flack settings of the bench's own.

    ``async_mode`` is ``ASYNC_MODE``, from which gunicorn.conf.py picks the
    worker class (eventlet or gevent), the floor's as much as Flack's.
    """
    assert async_mode in ASYNC_MODES, async_mode
    return child_environ(
        {
            'FLACK_ENV': 'production',
            'ASYNC_MODE': async_mode,
            'SECRET_KEY': secrets.token_hex(32),
            # The load comes from a few addresses and tokens that a production
            # deployment would rightly slow down; the bench measures the work.
            'RATELIMIT_ENABLED': '0',
            'LOG_LEVEL': 'warning',
            'PYTHONPATH': str(ROOT),
            **settings,
        }
    )


class Process:
    """One Procfile command in a process group of its own, logging to a file."""

    def __init__(self, name, command, environ, log_dir):
        self.name = name
        self.log_path = Path(log_dir) / f'{name}.log'
        with open(self.log_path, 'ab') as log:
            self.popen = subprocess.Popen(
                ['bash', '-c', command],
                cwd=ROOT,
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait(self):
        code = self.popen.wait(timeout=STARTUP_SECONDS)
        if code != 0:
            raise RuntimeError(f'{self.name} exited with {code}:\n{self.log_tail()}')

    def log_tail(self):
        return self.log_path.read_text(errors='replace')[-3000:]

    def stop(self):
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()

    def memory_mib(self):
        """The memory of the process and all its descendants as the dyno's
        container counts it, each page once, in MiB: the sum of their
        proportional set sizes (a page shared by n processes counts 1/n in
        each). Summing resident sizes would count twice what the gunicorn
        worker shares with its master since the fork (about 40 MiB)."""
        total_kib = 0
        for pid in [self.popen.pid, *descendants(self.popen.pid)]:
            try:
                rollup = Path(f'/proc/{pid}/smaps_rollup').read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            match = re.search(r'^Pss:\s+(\d+) kB', rollup, re.MULTILINE)
            total_kib += int(match.group(1)) if match else 0
        return round(total_kib / 1024, 1)


def wait_until_serving(url, process, path):
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f'{process.name} exited:\n{process.log_tail()}')
        try:
            if requests.get(url + path, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f'{process.name} did not answer {path} in {STARTUP_SECONDS} s')


class Web:
    """A web process on a port of its own, which can be started afresh on it."""

    def __init__(self, name, command, environ, ready_path, log_dir):
        port = free_port()
        self.url = f'http://127.0.0.1:{port}'
        self._start = functools.partial(Process, name, command, dict(environ, PORT=str(port)), log_dir)
        self._ready_path = ready_path
        self.process = None
        self.restart()

    def restart(self):
        """Stop the process if running and start a new one: no memory, no state of earlier loads."""
        if self.process is not None:
            self.process.stop()
        self.process = self._start()
        wait_until_serving(self.url, self.process, self._ready_path)

    def memory_mib(self):
        return self.process.memory_mib()

    def stop(self):
        self.process.stop()


class Deployment:
    """A set of web processes on loopback ports, and what they need."""

    def __init__(self):
        self.workdir = tempfile.mkdtemp(prefix='flack-bench-')
        self.web = []
        self.tokens = []
        # The settings every Flack process of it gets, for a bench that works
        # on its data with Flack's own code (bench/channels.py).
        self.environ = None

    def start_web(self, command, environ, ready_path):
        web = Web(f'web{len(self.web) + 1}', command, environ, ready_path, self.workdir)
        self.web.append(web)
        return web.url

    def restart_web(self):
        for web in self.web:
            web.restart()

    def run(self, name, command, environ):
        Process(name, command, environ, self.workdir).wait()

    def stop(self):
        for web in self.web:
            web.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()


@contextlib.contextmanager
def floor(message_queue=None, web_processes=1, async_mode='eventlet'):
    """The floor app; with ``message_queue`` (a Redis URL, the run's own) its
    broadcasts go through Redis, as Flack's do when scaled out, and
    ``web_processes`` of it share them. ``async_mode`` as for Flack: the same
    command picks the same worker class from it."""
    with Deployment() as deployment:
        # Set or unset explicitly, so that none leaks in from the shell.
        environ = base_environment(async_mode, FLOOR_MESSAGE_QUEUE=message_queue)
        for _ in range(web_processes):
            deployment.start_web(floor_command(), environ, '/api/messages')
        yield deployment


@contextlib.contextmanager
def flack_embedded(async_mode='eventlet'):
    with Deployment() as deployment:
        environ = base_environment(async_mode, DATABASE_URL=f'sqlite:///{deployment.workdir}/flack.sqlite')
        url = _start_flack(deployment, environ, web_processes=1)
        deployment.tokens = seed(url)
        yield deployment


@contextlib.contextmanager
def flack_scaled(database_url, redis_url, web_processes=2, async_mode='eventlet'):
    with Deployment() as deployment:
        environ = base_environment(async_mode, DATABASE_URL=database_url, REDIS_URL=redis_url)
        deployment.environ = environ
        url = _start_flack(deployment, environ, web_processes)
        deployment.tokens = seed(url)
        yield deployment


def _start_flack(deployment, environ, web_processes):
    """The Procfile's release, then its web command; the first web URL."""
    commands = procfile()
    deployment.run('release', commands['release'], environ)
    urls = [deployment.start_web(commands['web'], environ, '/healthz') for _ in range(web_processes)]
    return urls[0]


def seed(url):
    """Ten users with a token each and 200 Markdown messages among them."""
    http = requests.Session()
    tokens = []
    for number in range(USERS):
        nickname, password = f'bench{number}', secrets.token_urlsafe(12)
        http.post(f'{url}/api/users', json={'nickname': nickname, 'password': password}).raise_for_status()
        answer = http.post(f'{url}/api/tokens', auth=(nickname, password))
        answer.raise_for_status()
        tokens.append(answer.json()['token'])
    for number in range(MESSAGES):
        # No links: a preview would be a fetch from outside the machine.
        source = f'Message number {number}, with *some* `Markdown` in it.'
        http.post(
            f'{url}/api/messages',
            json={'source': source},
            headers={'Authorization': f'Bearer {tokens[number % USERS]}'},
        ).raise_for_status()
    return tokens


class Services:
    """A PostgreSQL database and a Redis server of the run's own, removed after."""

    def __init__(self, postgres_url):
        import psycopg2

        self._psycopg2 = psycopg2
        self.admin_url = postgres_url
        self.database = f'flack_bench_{secrets.token_hex(4)}'
        self._admin(f'CREATE DATABASE {self.database}')
        self.database_url = postgres_url.rsplit('/', 1)[0] + '/' + self.database
        port = free_port()
        self.redis = subprocess.Popen(
            ['redis-server', '--bind', '127.0.0.1', '--port', str(port), '--save', '', '--appendonly', 'no'],
            stdout=subprocess.DEVNULL,
        )
        self.redis_url = f'redis://127.0.0.1:{port}/0'
        deadline = time.monotonic() + STARTUP_SECONDS
        while (
            subprocess.run(['redis-cli', '-p', str(port), 'ping'], capture_output=True).stdout.strip()
            != b'PONG'
        ):
            if time.monotonic() > deadline:
                raise RuntimeError('redis-server did not start')
            time.sleep(0.1)

    def _admin(self, statement):
        connection = self._psycopg2.connect(self.admin_url)
        connection.autocommit = True  # CREATE and DROP DATABASE refuse a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def close(self):
        self.redis.terminate()
        self.redis.wait()
        self._admin(f'DROP DATABASE IF EXISTS {self.database} WITH (FORCE)')

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()
