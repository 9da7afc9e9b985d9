"""The database goes away and comes back: 503s with Retry-After meanwhile,
never a 500 nor a half-written message, and recovery without a restart."""

import logging
import re
import threading
import time
from collections import Counter
from unittest.mock import ANY

import pytest
import requests
import socketio as python_socketio
from sqlalchemy import text

from flack import create_app
from flack.api.errors import RETRY_AFTER_SECONDS
from flack.extensions import db
from flack.realtime import socketio

from .conftest import empty_tables, make_environ
from .formation import Formation
from .live import Listener, wait_for
from .pages import html_page, send
from .services import PostgresServer, RedisServer
from .test_scaled import Api

# Seconds the database stays down while the clients go on.
OUTAGE = 4


@pytest.fixture
def unreachable_database(tmp_path):
    """An app whose database cannot be opened: a real driver error, no mock."""
    unreachable = f'sqlite:///{tmp_path / "no such folder" / "flack.sqlite"}'
    return create_app(make_environ(tmp_path, DATABASE_URL=unreachable))


def test_a_rate_limited_route_still_says_when_the_database_may_be_back(tmp_path):
    # Flask-Limiter puts its window's reset (up to a minute) in Retry-After
    # on every answer of a limited route; on a 503 the outage's is meant.
    unreachable = f'sqlite:///{tmp_path / "no such folder" / "flack.sqlite"}'
    app = create_app(make_environ(tmp_path, DATABASE_URL=unreachable, RATELIMIT_ENABLED=1))
    client = app.test_client()

    posted = client.post('/api/messages', json={'source': 'hi'}, headers={'Authorization': 'Bearer x'})
    registered = client.post('/api/users', json={'nickname': 'susan', 'password': 'correct horse'})

    for response in (posted, registered):
        assert response.status_code == 503
        assert response.headers['Retry-After'] == str(RETRY_AFTER_SECONDS)
        assert 'X-RateLimit-Limit' in response.headers  # the limiter's own headers stay


def test_a_request_the_database_cannot_answer_is_a_503_with_retry_after(unreachable_database, caplog):
    client = unreachable_database.test_client()

    with caplog.at_level(logging.WARNING):
        posted = client.post('/api/users', json={'nickname': 'susan', 'password': 'correct horse'})
        read = client.get('/api/messages')

    for response in (posted, read):
        assert response.status_code == 503
        assert response.json['error'] == 'service unavailable'
        assert int(response.headers['Retry-After']) >= 1
    # One warning line per request, no traceback, nothing at ERROR.
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split()[0] for r in lines] == ['event=database_unavailable'] * 2
    assert not any(r.exc_info for r in lines)


def test_a_socketio_post_the_database_cannot_answer_is_acknowledged_with_a_503(unreachable_database, caplog):
    client = socketio(unreachable_database).test_client(unreachable_database)
    try:
        with caplog.at_level(logging.WARNING):
            ack = client.emit('post_message', {'source': 'hello'}, 'some token', callback=True)
    finally:
        client.disconnect()

    assert ack['error'] == 'service unavailable'
    assert [r.levelname for r in caplog.records if r.levelno >= logging.WARNING] == ['WARNING']


def test_a_connection_the_database_dropped_mid_transaction_is_replaced(tmp_path):
    database = PostgresServer()
    try:
        database.start()
        app = create_app(make_environ(tmp_path, DATABASE_URL=database.url))
        with app.app_context():
            db.session.execute(text('SELECT 1'))  # a transaction holds a connection
            database.stop()
            database.start()
        # Leaving the context rolled back on a dead connection, without raising.

        with app.app_context():
            assert db.session.execute(text('SELECT 1')).scalar() == 1
        with app.app_context():
            db.engine.dispose()
        assert database.connections() == 0
    finally:
        database.remove()


class Clients:
    """Posters and readers on every web process, recording every answer they get."""

    def __init__(self, apis, tokens, socket_poster):
        self.apis, self.tokens, self.socket_poster = apis, tokens, socket_poster
        self.answers = []  # (started at, kind, status, Retry-After, source, id)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._post, args=(n,)) for n in range(len(apis))]
        self._threads += [threading.Thread(target=self._read, args=(api,)) for api in apis]
        self._threads.append(threading.Thread(target=self._post_over_socketio))

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _record(self, *answer):
        with self._lock:
            self.answers.append(answer)

    def _paced(self):
        """Each client's turns, a little apart: two shared cores run everything."""
        number = 0
        while not self._stopping.wait(0.05):
            number += 1
            yield number

    def _post(self, n):
        api, token = self.apis[n], self.tokens[n]
        for number in self._paced():
            source = f'over REST {n}.{number}'
            started = time.monotonic()
            response = api.call('POST', '/api/messages', token, json={'source': source})
            body = response.json()
            self._record(
                started,
                'post',
                response.status_code,
                response.headers.get('Retry-After'),
                source,
                body.get('id'),
            )

    def _read(self, api):
        for _ in self._paced():
            started = time.monotonic()
            response = api.call('GET', f'/api/messages?updated_since={int(time.time()) - 5}')
            self._record(
                started, 'read', response.status_code, response.headers.get('Retry-After'), None, None
            )

    def _post_over_socketio(self):
        listener, token = self.socket_poster
        for number in self._paced():
            source = f'over a websocket {number}'
            started = time.monotonic()
            ack = listener.client.call('post_message', ({'source': source}, token), timeout=15)
            status = 201 if 'id' in ack else {'service unavailable': 503}.get(ack.get('error'), ack)
            self._record(started, 'socket post', status, None, source, ack.get('id'))

    def of(self, kind, start=0, end=float('inf')):
        with self._lock:
            return [a for a in self.answers if a[1] == kind and start <= a[0] < end]


def _access_log(process):
    """(path, status) of each request the web process logged."""
    return re.findall(rb'event=request method=\w+ path="([^"]*)" status=(\d+)', process.output())


def _health(process):
    response = requests.get(f'{process.url}/healthz', timeout=5)
    return response.status_code, response.json()


@pytest.mark.scaled
def test_posting_and_reading_through_a_postgresql_restart(tmp_path, serve):
    """Two web processes (eventlet, gevent), a worker and a clock on a
    PostgreSQL of the test's own, with posters over REST and Socket.IO and
    readers on both; the server stops for a few seconds with a preview
    half done, and starts again. Nothing is restarted but PostgreSQL."""
    database = PostgresServer()
    redis_server = RedisServer(tmp_path)
    formation = None
    try:
        database.start()
        redis_server.start()
        formation = Formation(
            tmp_path,
            database.url,
            redis_server.url,
            DATABASE_POOL_SIZE=2,
            PENDING_PREVIEWS_GRACE=3,
            RATELIMIT_POSTS_PER_USER='10000 per minute',
        ).release()
        # One web process on each green-thread library: each has its own
        # wait callback making psycopg2 cooperative (flack/green.py).
        web1 = formation.start('web', wait=False)
        formation.environ['ASYNC_MODE'] = 'gevent'
        web2 = formation.start('web', wait=False)
        worker = formation.start('worker', wait=False)
        formation.start('clock', wait=False)
        for web in (web1, web2):
            wait_for(web.healthy, f'{web.name} to answer /healthz', 60)
        wait_for(lambda: b' ready.' in worker.output(), 'the worker to be ready', 60)
        _run_the_outage(database, formation, web1, web2, worker, serve)
    finally:
        if formation is not None:
            formation.stop()
        redis_server.stop()
        database.remove()


def _connect_refusal(url, token):
    """What a websocket connection with ``token`` was refused with (None if it was not)."""
    client = python_socketio.Client(reconnection=False)
    refusals = []
    client.on('connect_error', refusals.append)
    try:
        client.connect(url, transports=['websocket'], auth={'token': token}, wait_timeout=10)
    except python_socketio.exceptions.ConnectionError:
        return refusals[0] if refusals else 'refused, with no reason'
    client.disconnect()
    return None


def _run_the_outage(database, formation, web1, web2, worker, serve):
    apis = [Api(web1.url), Api(web2.url)]
    tokens = [apis[0].new_user('susan')[1], apis[1].new_user('david')[1]]
    listener = Listener(web1.url, transports=['websocket'])
    socket_poster = Listener(web2.url, transports=['websocket'])
    page = serve()
    database_stopped = threading.Event()

    def answers_once_the_database_is_down(handler, stopping):
        # The worker is mid-task, between reading the message and storing
        # its preview, when the database stops.
        database_stopped.wait(30)
        send(handler, html_page('<title>Worth the wait</title>'))

    page.routes['/page'] = answers_once_the_database_is_down
    clients = Clients(apis, tokens, (socket_poster, tokens[1])).start()
    try:
        time.sleep(2)  # the web processes' pools have their connections
        linked = apis[0].post(tokens[0], f'just before: {page.url("/page")}')
        wait_for(lambda: page.requests, 'the worker to fetch the page')
        before = database.connections()  # the worker's too, now

        stopped_at = time.monotonic()
        database.stop()
        database_stopped.set()
        time.sleep(OUTAGE / 2)
        during = [_health(web1), _health(web2)]
        socket_refusals = [_connect_refusal(web.url, tokens[0]) for web in (web1, web2)]
        time.sleep(OUTAGE / 2)
        database.start()
        restarted_at = time.monotonic()
        for web in (web1, web2):
            wait_for(web.healthy, f'{web.name} to answer /healthz again')
        recovered_at = time.monotonic()
        time.sleep(3)
    finally:
        clients.stop()
    wait_for(
        lambda: 'Worth the wait' in apis[1].call('GET', f'/api/messages/{linked["id"]}').json()['html'],
        'the preview after the database is back',
        30,
    )
    previewed_at = time.monotonic()
    time.sleep(1)  # any connection being closed is gone
    after = database.connections()

    posts = clients.of('post') + clients.of('socket post')
    reads = clients.of('read')
    failed = [a for a in posts + reads if a[2] != 201 and a[2] != 200]
    print(
        f'\ntimeline: database stopped at 0 s, started at {restarted_at - stopped_at:.1f} s, both web '
        f'processes healthy at {recovered_at - stopped_at:.1f} s, preview stored at '
        f'{previewed_at - stopped_at:.1f} s; {len(posts)} posts ({Counter(a[2] for a in posts)}), '
        f'{len(reads)} reads ({Counter(a[2] for a in reads)}); '
        f'database connections {before} before, {after} after'
    )

    # During the outage: 503s with Retry-After, nothing else; healthz names the database.
    assert {a[2] for a in failed} == {503}, failed
    assert all(int(a[3]) >= 1 for a in failed if a[1] != 'socket post')
    assert {a[1] for a in failed} == {'post', 'read', 'socket post'}
    for status, body in during:
        assert (status, body) == (503, {'status': 'unavailable', 'database': 'unavailable', 'redis': 'ok'})
    # A Socket.IO connection whose token cannot be checked is refused, not let in unchecked.
    assert socket_refusals == [{'message': 'service unavailable', 'data': ANY}] * 2, socket_refusals
    assert socket_refusals[0]['data']['error'] == 'service unavailable'
    # Recovery without a restart: every request sent once both answer /healthz succeeds.
    assert clients.of('post', start=recovered_at) and clients.of('read', start=recovered_at)
    assert all(a[0] < recovered_at for a in failed)
    for process in formation.processes:
        assert process.popen.poll() is None, process.name
    assert [web.output().count(b'Booting worker') for web in (web1, web2)] == [1, 1]
    # Every post answered 201 is stored exactly once, and announced; a 503 stored nothing.
    stored = Counter(database.query('SELECT source FROM messages', database=database.DATABASE))
    accepted = {a[4]: a[5] for a in posts if a[2] == 201}
    refused = {a[4] for a in posts if a[2] == 503}
    assert all(stored[source] == 1 for source in accepted)
    assert not refused & set(stored)
    heard = {m['id'] for m in listener.messages()}
    assert set(accepted.values()) <= heard
    # The access logs: no 5xx but 503, and one 503 for each REST request that got one.
    logged = _access_log(web1) + _access_log(web2)
    assert not [line for line in logged if line[1].startswith(b'5') and line[1] != b'503']
    api_503s = [line for line in logged if line[1] == b'503' and line[0] != b'/healthz']
    assert len(api_503s) == len([a for a in failed if a[1] != 'socket post'])
    # One warning line per failed request or event, and no traceback anywhere.
    warnings = sum(
        p.output().count(b'level=WARNING logger=flack.api.errors event=database_unavailable')
        for p in (web1, web2)
    )
    assert warnings == len(failed) + len(socket_refusals)
    for process in formation.processes:
        assert b'exception=' not in process.output() and b'Traceback' not in process.output(), process.name
    assert b'event=database_unavailable task=add_previews' in worker.output()
    assert len(page.requests) >= 2  # fetched again after the database came back
    # No connection leaked: back within each process's pool.
    budget = 2 * 2 + 1  # DATABASE_POOL_SIZE per web process, one per worker pool process
    assert before <= budget and after <= budget
    listener.close()
    socket_poster.close()


def test_a_request_that_finds_every_connection_busy_is_a_503_not_a_500(tmp_path, postgres_database):
    empty_tables(postgres_database.url)
    app = create_app(make_environ(tmp_path, DATABASE_URL=postgres_database.url, DATABASE_POOL_SIZE=1))
    client = app.test_client()
    assert client.get('/api/messages').status_code == 200
    with app.app_context():
        held = db.engine.connect()  # the pool's one connection, busy for longer than the pool waits
    try:
        busy = client.get('/api/messages')
    finally:
        held.close()

    assert busy.status_code == 503
    assert busy.headers['Retry-After'] == str(RETRY_AFTER_SECONDS)
    assert busy.json['message'].startswith('Every database connection is busy')
    assert client.get('/api/messages').status_code == 200
    with app.app_context():
        db.engine.dispose()
