"""The scaled mode for real: several web processes, a Celery worker and clock,
on PostgreSQL and Redis, with python-socketio clients on every web process."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from .formation import Formation
from .live import ROOT, Listener, free_port, wait_for
from .pages import html_page
from .services import PostgresDatabase, RedisServer

pytestmark = pytest.mark.scaled

PAGE = html_page(
    '<title>A &lt;b&gt;local&lt;/b&gt; page</title><meta name="description" content="Made for tests">'
)
# How long a test listens after it heard everything, to catch duplicates.
SETTLE = 1.0


class Api:
    """Register, sign in and post through one web process."""

    def __init__(self, url):
        self.url = url
        self.http = requests.Session()

    def call(self, method, path, token=None, **kwargs):
        headers = {'Authorization': f'Bearer {token}'} if token else {}
        return self.http.request(method, self.url + path, headers=headers, timeout=15, **kwargs)

    def new_user(self, nickname):
        user = self.call('POST', '/api/users', json={'nickname': nickname, 'password': 'correct horse'})
        assert user.status_code == 201, user.text
        return user.json(), self.call('POST', '/api/tokens', auth=(nickname, 'correct horse')).json()['token']

    def post(self, token, source):
        response = self.call('POST', '/api/messages', token, json={'source': source})
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
def services(tmp_path):
    """A PostgreSQL database and a Redis server of the test's own."""
    database = PostgresDatabase()
    redis_server = RedisServer(tmp_path).start()
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


def _no_duplicates(events):
    repeated = [event for event, count in Counter(_frozen(e) for e in events).items() if count > 1]
    assert repeated == [], f'delivered more than once: {repeated}'


def _frozen(model):
    return tuple(sorted((key, str(value)) for key, value in model.items()))


class Honcho:
    """``honcho start`` on the Procfile, as a developer runs the scaled mode locally."""

    def __init__(self, tmp_path, settings, concurrency):
        env_file = tmp_path / 'honcho.env'
        env_file.write_text(''.join(f'{key}={value}\n' for key, value in settings.items()))
        self.base_port = _two_free_ports()
        self.log_path = tmp_path / 'honcho.log'
        self._log = open(self.log_path, 'wb')  # noqa: SIM115  (closed in stop)
        command = [
            'honcho',
            'start',
            '--env',
            str(env_file),
            '--port',
            str(self.base_port),
            '--concurrency',
            concurrency,
            'web',
            'worker',
            'clock',
        ]
        path = f'{Path(sys.executable).parent}{os.pathsep}{os.environ.get("PATH", "")}'
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={'PATH': path},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def web_urls(self, count):
        # honcho numbers the ports of a process type from the base port on.
        return [f'http://127.0.0.1:{self.base_port + n}' for n in range(count)]

    def wait_until_ready(self, web_count):
        for url in self.web_urls(web_count):
            wait_for(lambda url=url: self._healthy(url), f'{url} to answer', patience=60)
        wait_for(lambda: b' ready.' in self.log_path.read_bytes(), 'the worker to be ready', patience=60)

    def _healthy(self, url):
        if self.process.poll() is not None:
            raise AssertionError(self.log_path.read_text(errors='replace'))
        try:
            return requests.get(f'{url}/healthz', timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self):
        """SIGTERM, as the platform stops a release; returns the seconds it took."""
        started = time.monotonic()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log.close()
        return time.monotonic() - started


def _two_free_ports():
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket() as probe:
                probe.bind(('127.0.0.1', port + 1))
            return port
        except OSError:
            continue
    raise AssertionError('no two consecutive free ports')


@pytest.mark.parametrize('async_mode', ['eventlet', 'gevent'])
def test_every_client_of_every_web_process_hears_every_change_exactly_once(
    tmp_path, services, listeners, serve, async_mode
):
    database, redis_server = services
    page = serve()
    page.routes['/page'] = PAGE
    settings = {
        'FLACK_ENV': 'production',
        'SECRET_KEY': 'honcho-secret',
        'DATABASE_URL': database.url,
        'REDIS_URL': redis_server.url,
        'ASYNC_MODE': async_mode,
        'SOCKETIO_TRANSPORTS': 'websocket',
        'LINK_PREVIEWS_ALLOW_PRIVATE': '1',
        'PYTHONWARNINGS': 'ignore::DeprecationWarning',
    }
    subprocess.run(
        ['flask', '--app', 'flack', 'db', 'upgrade'],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**settings, 'PATH': f'{Path(sys.executable).parent}{os.pathsep}{os.environ["PATH"]}'},
    )
    honcho = Honcho(tmp_path, settings, 'web=2,worker=1,clock=1')
    try:
        honcho.wait_until_ready(web_count=2)
        web1, web2 = honcho.web_urls(2)
        clients = [listeners(web1), listeners(web1), listeners(web2), listeners(web2)]
        api1, api2 = Api(web1), Api(web2)
        _, susan = api1.new_user('susan')
        _, david = api2.new_user('david')

        plain = api1.post(susan, 'hello from *web 1*')
        linked = api2.post(david, f'a page: {page.url("/page")}')
        over_socket = clients[0].client.call(
            'post_message', ({'source': 'over Socket.IO'}, susan), timeout=15
        )
        assert (
            api2.call('PUT', f'/api/messages/{plain["id"]}', susan, json={'source': 'edited'}).status_code
            == 204
        )

        def previewed():
            return api1.call('GET', f'/api/messages/{linked["id"]}').json()['html']

        final_linked = wait_for(lambda: '<blockquote>' in previewed() and previewed(), 'the preview', 60)
        edited = api1.call('GET', f'/api/messages/{plain["id"]}').json()
        with_preview = api1.call('GET', f'/api/messages/{linked["id"]}').json()
        expected = Counter(_frozen(m) for m in (plain, linked, over_socket, edited, with_preview))
        for client in clients:
            wait_for(lambda c=client: len(c.messages()) >= len(expected), f'{client.url} to hear 5 changes')
        time.sleep(SETTLE)
        for client in clients:
            assert Counter(_frozen(m) for m in client.messages()) == expected, client.url
            _no_duplicates(client.users())
        assert '&lt;b&gt;local&lt;/b&gt;' in final_linked
        assert sorted(map(_frozen, clients[0].users())) == sorted(map(_frozen, clients[3].users()))

        for _ in range(30):
            api2.call('GET', '/api/users')
        window = 15
        assert api1.call('GET', '/stats').json()['requests_per_second'] * window >= 30
    finally:
        for client in list(locals().get('clients', [])):
            if client.client.connected:
                client.close()
        seconds = honcho.stop()
    assert seconds < 30, honcho.log_path.read_text(errors='replace')[-3000:]
