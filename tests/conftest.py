"""Fixtures: an app on a fresh SQLite file, clients, and signed-in users."""

import base64
import os
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import pytest
import sqlalchemy
from sqlalchemy import Engine, event
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from flack import create_app, models
from flack.extensions import db
from flack.models import Message, User, add_general_channel
from flack.realtime import socketio
from flack.redis_client import connect

from .formation import Formation
from .live import Listener
from .pages import serve  # noqa: F401  (a fixture)
from .services import NEEDS, PostgresDatabase, RedisServer, engine_for, required_services


def pytest_configure(config):
    required_services()  # a FLACK_REQUIRE_SERVICES naming no known service stops the run here


@pytest.fixture(autouse=True, scope='session')
def quick_password_hashes():
    """scrypt at a test's cost in this process: the same algorithm and format,
    a 32nd of the work. At full cost, signing users up and in was two thirds
    of an API test's time. Servers the tests start as processes hash at full cost."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            models, 'generate_password_hash', partial(generate_password_hash, method='scrypt:1024:8:1')
        )
        yield


def pytest_terminal_summary(terminalreporter):
    """One line naming the services whose absence kept tests from running, and how many."""
    needed = Counter()
    for report in terminalreporter.stats.get('skipped', []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        match = NEEDS.search(reason)
        if match:
            needed[match.group(1)] += 1
    if needed:
        counts = ', '.join(
            f'{count} {"test needs" if count == 1 else "tests need"} {service}'
            for service, count in needed.most_common()
        )
        required = os.environ.get('FLACK_REQUIRE_SERVICES') or 'unset'
        terminalreporter.write_line(
            f'not run here: {counts} (FLACK_REQUIRE_SERVICES={required})', yellow=True
        )


# The report of each phase of a test (setup, call, teardown), for fixtures
# that show more when the test failed (see ``failed``).
PHASE_REPORTS = pytest.StashKey[dict]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


def failed(request):
    """Whether the test that asked for the fixture ``request`` failed, for its teardown."""
    reports = request.node.stash.get(PHASE_REPORTS, {})
    return any(report.failed for report in reports.values())


@contextmanager
def database_fails_at(app, fragment):
    """Make ``app``'s database fail every statement containing ``fragment``,
    with the error SQLAlchemy raises for a lost connection."""

    def fail(connection, cursor, statement, *_):
        if fragment in statement:
            raise sqlalchemy.exc.OperationalError(statement, None, ConnectionError('the database went away'))

    with app.app_context():
        engine = db.engine
    event.listen(engine, 'before_cursor_execute', fail)
    try:
        yield
    finally:
        event.remove(engine, 'before_cursor_execute', fail)


def make_environ(tmp_path, **overrides):
    """Environment variables for an embedded Flack on its own SQLite file."""
    environ = {
        'FLACK_ENV': 'testing',
        'SECRET_KEY': 'test-secret-key',
        'DATABASE_URL': f'sqlite:///{tmp_path / "flack.sqlite"}',
        'LOG_LEVEL': 'WARNING',
        # The suite registers many users from one address; the limits have tests of their own.
        'RATELIMIT_ENABLED': '0',
    }
    environ.update({key: str(value) for key, value in overrides.items() if value is not None})
    return environ


@pytest.fixture(scope='session')
def postgres_database():
    """One PostgreSQL database for the session's tests, made and dropped here."""
    database = PostgresDatabase()
    yield database
    database.drop()


@pytest.fixture(params=['sqlite', 'postgresql'])
def database_url(request, tmp_path):
    """Every test that uses the app runs on SQLite and on PostgreSQL."""
    if request.param == 'sqlite':
        return f'sqlite:///{tmp_path / "flack.sqlite"}'
    url = request.getfixturevalue('postgres_database').url
    empty_tables(url)
    return url


def empty_tables(url):
    """Make Flack's tables in the PostgreSQL database at ``url`` if they are missing, and empty them.

    The change counters are kept: they only ever count up, as in production.
    General, which the schema starts with, is made again.
    """
    engine = engine_for(url)
    with engine.begin() as connection:
        db.metadata.create_all(connection)
        tables = ', '.join(t.name for t in db.metadata.sorted_tables if t.name != 'change_counters')
        connection.execute(sqlalchemy.text(f'TRUNCATE {tables} RESTART IDENTITY CASCADE'))
        add_general_channel(connection)
    engine.dispose()


@pytest.fixture
def app_factory(tmp_path, database_url):
    """Make apps with settings of the test's choosing, all on one database."""
    made = []

    def make(**settings):
        app = create_app(make_environ(tmp_path, DATABASE_URL=database_url, **settings))
        with app.app_context():
            db.create_all()
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_factory):
    return app_factory()


@pytest.fixture
def sql():
    """``with sql() as sent:`` collects the text of each statement sent meanwhile, by any engine."""

    @contextmanager
    def record():
        sent = []

        def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
            sent.append(statement)

        event.listen(Engine, 'before_cursor_execute', before_cursor_execute)
        try:
            yield sent
        finally:
            event.remove(Engine, 'before_cursor_execute', before_cursor_execute)

    return record


@pytest.fixture
def redis_server(tmp_path):
    """A Redis server of the test's own (see tests/services.py for when it is missing)."""
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def redis_connection(redis_server):
    """A client on it, on a pool made as Flack makes its own."""
    client = connect({'REDIS_URL': redis_server.url, 'REDIS_TLS_VERIFY': False}, max_connections=2)
    yield client
    client.connection_pool.disconnect()


@pytest.fixture
def client(app):
    return app.test_client()


def basic_auth(nickname, password):
    credentials = base64.b64encode(f'{nickname}:{password}'.encode()).decode()
    return {'Authorization': f'Basic {credentials}'}


def bearer(token):
    return {'Authorization': f'Bearer {token}'}


@dataclass
class SignedIn:
    """A registered user with a token, as a client would hold them."""

    id: int
    nickname: str
    password: str
    token: str

    @property
    def headers(self):
        return bearer(self.token)


class Accounts:
    """Registers users and signs them in through the API."""

    def __init__(self, client):
        self.client = client

    def register(self, nickname, password='correct horse'):
        response = self.client.post('/api/users', json={'nickname': nickname, 'password': password})
        assert response.status_code == 201, response.json
        return response.json

    def sign_in(self, nickname, password='correct horse'):
        response = self.client.post('/api/tokens', headers=basic_auth(nickname, password))
        assert response.status_code == 200, response.json
        return response.json['token']

    def new(self, nickname, password='correct horse'):
        user = self.register(nickname, password)
        return SignedIn(user['id'], nickname, password, self.sign_in(nickname, password))


@pytest.fixture
def accounts(client):
    return Accounts(client)


@pytest.fixture
def susan(accounts):
    return accounts.new('susan')


@pytest.fixture
def david(accounts):
    return accounts.new('david')


def stored_counts(app):
    """How many users and messages are stored, and a digest of their rows."""
    with app.app_context():
        users = db.session.query(User.id, User.nickname, User.password_hash, User.token_hash).all()
        messages = db.session.query(Message.id, Message.source, Message.html, Message.updated_at).all()
        return sorted(users), sorted(messages)


@pytest.fixture
def serve_app():
    """Serve apps on free loopback ports (Werkzeug, a thread each) until the test ends; gives their URLs."""
    servers = []

    def start(app):
        server = make_server('127.0.0.1', 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f'http://127.0.0.1:{server.server_port}'

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture
def socket_client(app):
    """Make Flask-SocketIO test clients; each is disconnected afterwards."""
    made = []

    def connect(auth=None):
        test_client = socketio(app).test_client(app, auth=auth)
        made.append(test_client)
        return test_client

    yield connect
    for test_client in made:
        if test_client.is_connected():
            test_client.disconnect()


# The scaled mode for real (tests/test_scaled.py and others).
@pytest.fixture
def services(tmp_path):
    """A PostgreSQL database and a Redis server of the test's own."""
    # Redis first: a test skipped for want of redis-server leaves no database behind.
    redis_server = RedisServer(tmp_path).start()
    database = PostgresDatabase()
    yield database, redis_server
    redis_server.stop()
    database.drop()


@pytest.fixture
def formation(tmp_path, services):
    made = []

    def make(**settings):
        database, redis_server = services
        made.append(Formation(tmp_path, database.url, redis_server.url, **settings).release())
        return made[-1]

    yield make
    for started in made:
        started.stop()


@pytest.fixture
def listeners():
    made = []

    def connect(url, **kwargs):
        made.append(Listener(url, transports=['websocket'], **kwargs))
        return made[-1]

    yield connect
    for listener in made:
        if listener.client.connected:
            listener.close()
