"""The real backing services: PostgreSQL on loopback, Redis servers of our own.

A test that needs a service this machine lacks is skipped, and counted in
one line of the pytest summary, unless ``FLACK_REQUIRE_SERVICES`` requires
that service: then it fails, so that a CI run cannot pass by skipping.
``FLACK_REQUIRE_SERVICES=1`` requires every service (``.ci/run`` sets it); a
comma-separated list of names (``SERVICES``) requires those only: a Heroku
CI dyno has PostgreSQL, but neither chromium nor the redis-server program.
"""

import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import sqlalchemy

from .live import free_port, wait_for

# A server where the tests may create databases: the local one by default;
# a platform's CI points this at the database it provides.
POSTGRES_ADMIN_URL = os.environ.get(
    'FLACK_TEST_POSTGRES_URL', 'postgresql://postgres@127.0.0.1:5432/postgres'
)


# What a test may need that a machine may lack, by the names FLACK_REQUIRE_SERVICES takes.
SERVICES = ('postgresql', 'redis-server', 'chromium', 'foreman', 'honcho')
# How a skip names the service it is missing; the summary counts them.
NEEDS = re.compile(r'needs ([\w-]+) \(')


def required_services():
    """The services whose absence fails a test rather than skipping it."""
    value = os.environ.get('FLACK_REQUIRE_SERVICES', '').strip()
    if value in ('', '0'):
        return set()
    if value == '1':
        return set(SERVICES)
    names = {name.strip() for name in value.split(',') if name.strip()}
    if names - set(SERVICES):
        # A misspelt name must not quietly require nothing.
        raise pytest.UsageError(
            f'FLACK_REQUIRE_SERVICES names {", ".join(sorted(names - set(SERVICES)))}; '
            f'it takes 1 or names among {", ".join(SERVICES)}'
        )
    return names


def service_missing(service, reason):
    """Skip the test for want of ``service``, or fail it where that service is required."""
    assert service in SERVICES, f'{service} is missing from SERVICES'
    if service in required_services():
        pytest.fail(f'required service missing: {service} ({reason})', pytrace=False)
    pytest.skip(f'needs {service} ({reason})')


def _admin_connection():
    import psycopg2

    try:
        connection = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=3)
    except psycopg2.OperationalError as error:
        service_missing('postgresql', f'it does not answer: {" ".join(str(error).split())}')
    connection.autocommit = True
    return connection


def engine_for(url):
    """A SQLAlchemy engine on the database at ``url`` (a Flack ``DATABASE_URL``), through
    the driver Flack uses: psycopg2 for PostgreSQL (SQLAlchemy 2.1 reads a bare
    ``postgresql://`` as psycopg 3)."""
    return sqlalchemy.create_engine(url.replace('postgresql://', 'postgresql+psycopg2://', 1))


class PostgresDatabase:
    """A database of its own on the local PostgreSQL, dropped afterwards."""

    def __init__(self):
        self.name = f'flack_test_{uuid.uuid4().hex[:12]}'
        self._execute(f'CREATE DATABASE {self.name}')
        self.url = urlunsplit(
            urlsplit(POSTGRES_ADMIN_URL)._replace(scheme='postgresql', path=f'/{self.name}')
        )

    def drop(self):
        self._execute(f'DROP DATABASE IF EXISTS {self.name} WITH (FORCE)')

    @staticmethod
    def _execute(statement):
        # Outside any transaction block, as CREATE and DROP DATABASE require.
        connection = _admin_connection()
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()


class RedisServer:
    """A redis-server of our own on a free loopback port, keeping nothing on disk.

    Its own server, not the shared one on 6379: test runs never see each
    other's keys, queues or channels, and a test may stop and restart it.
    """

    def __init__(self, tmp_path):
        if shutil.which('redis-server') is None:
            service_missing('redis-server', 'the program is not installed')
        self.port = free_port()
        self.url = f'redis://127.0.0.1:{self.port}/0'
        self.log = tmp_path / f'redis-{self.port}.log'
        self.process = None

    def start(self):
        command = [
            'redis-server',
            '--port',
            str(self.port),
            '--bind',
            '127.0.0.1',
            '--save',
            '',
            '--appendonly',
            'no',
            '--logfile',
            str(self.log),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, f'redis-server on port {self.port}')
        return self

    def _answers(self):
        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
        except redis.ConnectionError:
            return False

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


class PostgresServer:
    """A PostgreSQL server of our own on a free loopback port, that a test may stop and start.

    Not the shared server on 5432, which other tests use at the same time.
    Its data directory is made in the system's temporary folder rather than
    under pytest's ``tmp_path``: as root, the server has to run as the
    ``postgres`` user, which may not enter root's private ``tmp_path``.
    """

    DATABASE = 'flack'

    def __init__(self):
        self.bindir = _postgres_bindir()
        # initdb and postgres refuse to run as root.
        self.run_as = ['runuser', '-u', 'postgres', '--'] if os.geteuid() == 0 else []
        if self.run_as and (shutil.which('runuser') is None or not _user_exists('postgres')):
            service_missing('postgresql', 'running as root, with no runuser or postgres user to run it as')
        self.port = free_port()
        self.url = f'postgresql://postgres@127.0.0.1:{self.port}/{self.DATABASE}'
        self.directory = Path(tempfile.mkdtemp(prefix='flack-pg-'))
        self.data = self.directory / 'data'
        self.log = self.directory / 'server.log'
        if self.run_as:
            shutil.chown(self.directory, 'postgres', 'postgres')
        # Trust on loopback: the tests connect as postgres without a password.
        self._run('initdb', '-D', self.data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8')
        self.running = False

    def start(self):
        options = (
            f'-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} '
            # A test server: nothing it holds has to survive a power cut.
            '-c fsync=off -c full_page_writes=off'
        )
        self._run('pg_ctl', 'start', '-w', '-D', self.data, '-l', self.log, '-o', options)
        self.running = True
        if self.DATABASE not in self.query('SELECT datname FROM pg_database'):
            self.query(f'CREATE DATABASE {self.DATABASE}')
        return self

    def stop(self):
        """A fast shutdown, as a managed database's restart: sessions are ended, transactions rolled back."""
        self._run('pg_ctl', 'stop', '-w', '-D', self.data, '-m', 'fast')
        self.running = False

    def remove(self):
        if self.running:
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def connections(self):
        """The sessions of clients on the test's database, this one's left out."""
        return self.query(
            'SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()',
            (self.DATABASE,),
        )[0]

    def query(self, statement, parameters=None, database='postgres'):
        """The first column of each row ``statement`` returns (none for a statement without rows)."""
        import psycopg2

        connection = psycopg2.connect(
            host='127.0.0.1', port=self.port, user='postgres', dbname=database, connect_timeout=3
        )
        connection.autocommit = True  # CREATE DATABASE runs outside a transaction block
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement, parameters)
                return [row[0] for row in cursor.fetchall()] if cursor.description else []
        finally:
            connection.close()

    def _run(self, program, *arguments):
        command = [*self.run_as, str(Path(self.bindir) / program), *map(str, arguments)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            log = self.log.read_text(errors='replace')[-3000:] if self.log.exists() else ''
            raise AssertionError(f'{program} failed: {result.stdout}{result.stderr}{log}')


def _postgres_bindir():
    """Where initdb and pg_ctl are: on the PATH, or where pg_config says the server's programs are."""
    initdb = shutil.which('initdb')
    if initdb:
        return str(Path(initdb).resolve().parent)
    if shutil.which('pg_config'):
        found = subprocess.run(['pg_config', '--bindir'], capture_output=True, text=True).stdout.strip()
        if found and (Path(found) / 'initdb').exists():
            return found
    service_missing('postgresql', 'initdb and pg_ctl are not installed')


def _user_exists(name):
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
