"""The scaled mode for real: several web processes, a Celery worker and clock,
on PostgreSQL and Redis, with python-socketio clients on every web process."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest
import redis
import requests

from .live import ROOT, answers_healthz, child_environ, free_port, wait_for
from .pages import Route, html_page, send
from .test_logs import parse_event

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
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            # Flack's settings come from the env file alone, which honcho adds to its own environment.
            env=child_environ(),
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
        return answers_healthz(url, self.process, self.log_path)

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
        'SECRET_KEY': secrets.token_hex(32),
        'DATABASE_URL': database.url,
        'REDIS_URL': redis_server.url,
        'ASYNC_MODE': async_mode,
        'SOCKETIO_TRANSPORTS': 'websocket',
        'LINK_PREVIEWS_ALLOW_PRIVATE': '1',
        'PYTHONWARNINGS': 'ignore::DeprecationWarning',
    }
    subprocess.run(
        [sys.executable, 'manage.py', 'db', 'upgrade'],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env=child_environ(settings),
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
        # Each process adds its request counts to the shared rate within a second.
        window = 15
        wait_for(
            lambda: api1.call('GET', '/stats').json()['requests_per_second'] * window >= 30,
            'the requests to web 2 in the rate web 1 answers',
            patience=5,
        )
    finally:
        for client in list(locals().get('clients', [])):
            if client.client.connected:
                client.close()
        seconds = honcho.stop()
    assert seconds < 30, honcho.log_path.read_text(errors='replace')[-3000:]


def _online_events(watcher, user_id):
    return [u['online'] for u in watcher.users() if u['id'] == user_id]


def test_presence_started_on_one_web_process_ends_on_the_other_exactly_once(formation, listeners):
    flack = formation(PRESENCE_TIMEOUT=300)
    web1, web2 = flack.start('web'), flack.start('web')
    user, token = Api(web1.url).new_user('susan')
    watcher = listeners(web2.url)
    on_web1, on_web2 = listeners(web1.url), listeners(web2.url)

    on_web1.client.call('ping_user', token, timeout=10)
    on_web2.client.call('ping_user', token, timeout=10)
    on_web1.close()
    time.sleep(SETTLE)
    assert Api(web2.url).call('GET', f'/api/users/{user["id"]}').json()['online'] is True

    on_web2.close()
    wait_for(lambda: _online_events(watcher, user['id']) == [False], 'one offline event')
    time.sleep(SETTLE)
    assert _online_events(watcher, user['id']) == [False]


def test_a_silent_user_is_swept_offline_once_even_with_two_clocks(formation, listeners):
    flack = formation(PRESENCE_TIMEOUT=2)
    web = flack.start('web')
    flack.start('worker')
    watcher = listeners(web.url)
    user, _ = Api(web.url).new_user('susan')  # signing in brings her online

    flack.start('clock')
    flack.start('clock')

    wait_for(lambda: _online_events(watcher, user['id']) == [False, True, False], 'the sweep', 30)
    time.sleep(8)  # more sweeps of both clocks
    # Registered (offline), signed in (online), swept (offline): once each.
    assert _online_events(watcher, user['id']) == [False, True, False]


def slow_page(handler, stopping):
    """A page that takes a few seconds to answer: long enough to kill a worker mid-task."""
    if stopping.wait(4):
        return
    body = b'<title>Worth the wait</title>'
    try:
        handler.send_response(200)
        handler.send_header('Content-Type', 'text/html')
        handler.send_header('Content-Length', str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except OSError:
        pass  # the worker that asked is gone


def _message_html(api, message_id):
    response = api.call('GET', f'/api/messages/{message_id}')
    assert response.status_code == 200, response.text
    return response.json()['html']


@pytest.mark.parametrize('stop_signal', [signal.SIGKILL, signal.SIGTERM], ids=['killed', 'terminated'])
def test_a_preview_survives_its_worker_stopping_mid_task(formation, listeners, serve, stop_signal):
    flack = formation(PENDING_PREVIEWS_GRACE=3)
    web = flack.start('web')
    worker = flack.start('worker')
    flack.start('clock')
    page = serve()
    page.routes['/slow'] = slow_page
    api = Api(web.url)
    _, token = api.new_user('susan')
    watcher = listeners(web.url)

    message = api.post(token, f'wait for it: {page.url("/slow")}')
    wait_for(lambda: page.requests, 'the worker to start fetching')
    worker.signal(stop_signal)
    exit_code = worker.wait(timeout=30)
    flack.start('worker')  # the platform starts a new one

    wait_for(lambda: 'Worth the wait' in _message_html(api, message['id']), 'the preview', 60)
    time.sleep(SETTLE)
    previews = [m for m in watcher.messages() if m['id'] == message['id'] and 'Worth the wait' in m['html']]
    assert len(previews) == 1
    if stop_signal == signal.SIGTERM:
        assert exit_code is not None, 'the worker outlived the shutdown window'


def test_posting_and_reading_go_on_while_redis_is_down_and_nothing_is_lost(
    formation, services, listeners, serve
):
    _, redis_server = services
    flack = formation(PENDING_PREVIEWS_GRACE=3)
    web = flack.start('web')
    flack.start('worker')
    flack.start('clock')
    page = serve()
    page.routes['/page'] = PAGE
    api = Api(web.url)
    _, token = api.new_user('susan')
    before = listeners(web.url)

    redis_server.stop()
    during = [api.post(token, 'while Redis is down'), api.post(token, f'with a link: {page.url("/page")}')]
    for path in ('/api/messages', '/api/users', f'/api/messages/{during[0]["id"]}', '/stats', '/'):
        assert api.call('GET', path, token).status_code == 200, path
    assert api.call('GET', '/healthz').status_code == 503
    stored = [m['id'] for m in api.call('GET', '/api/messages').json()['messages']]
    assert [m['id'] for m in during] == stored[-2:]

    redis_server.start()
    wait_for(
        lambda: '<blockquote>' in _message_html(api, during[1]['id']), 'the preview after Redis is back', 60
    )
    watcher = listeners(web.url)
    wait_for(lambda: _fan_out_works(api, token, watcher), 'fan-out after Redis is back', 30)
    assert api.call('GET', '/healthz').status_code == 200
    # The events published while the subscription was down are gone: a client
    # connected through the outage is disconnected, to reconnect and read them.
    wait_for(lambda: not before.client.connected, 'the clients of the outage to be sent to resync', 30)
    assert b'event=socketio_resync' in web.output()


def test_a_subscription_lost_and_quietly_restored_still_sends_the_clients_to_resync(
    formation, services, listeners
):
    # redis-py reconnects a lost subscription by itself, silently, when it
    # can: unless the listener hears of it, the clients of that process never
    # learn of what was published while it was away. Killing the
    # subscription's connection leaves Redis up, so that the reconnection
    # always succeeds at once.
    _, redis_server = services
    flack = formation()
    web = flack.start('web')
    client = listeners(web.url)
    wait_for(lambda: client.client.connected, 'the client to connect')

    killed = redis.Redis.from_url(redis_server.url).client_kill_filter(_type='pubsub')
    assert killed == 1

    wait_for(lambda: not client.client.connected, 'the client to be sent to resync', 30)
    output = web.output().decode()
    assert 'event=socketio_resync' in output
    assert 'Cannot receive from redis' in output
    for line in output.splitlines():  # python-socketio's errors too, each once, as one event
        parse_event(line)
    watcher = listeners(web.url)
    api = Api(web.url)
    _, token = api.new_user('susan')
    wait_for(lambda: _fan_out_works(api, token, watcher), 'fan-out after the subscription is back', 30)


def test_a_client_that_stays_through_a_redis_outage_misses_nothing_posted_on_either_process(
    formation, services, listeners
):
    _, redis_server = services
    flack = formation()
    web1, web2 = flack.start('web'), flack.start('web')
    api1, api2 = Api(web1.url), Api(web2.url)
    _, token = api1.new_user('susan')
    client = listeners(web1.url)
    wait_for(lambda: client.client.connected, 'the client to connect')
    before = api1.post(token, 'before the outage')
    wait_for(lambda: client.messages(), 'the first message')

    redis_server.stop()
    elsewhere = api2.post(token, 'posted on the other process')
    # A later second: a client that heard the next one live would ask for
    # changes since then, and skip this one it never heard.
    time.sleep(2.1)
    here = api1.post(token, 'posted on its own process')
    redis_server.start()
    wait_for(lambda: not client.client.connected, 'the client to be sent to resync', 30)

    # What the browser client does on reconnecting: changes since the latest it heard, less a second.
    last_seen = max(m['updated_at'] for m in client.messages())
    caught_up = api1.call('GET', f'/api/messages?updated_since={last_seen - 1}', token).json()['messages']
    has = {m['id'] for m in client.messages()} | {m['id'] for m in caught_up}
    assert {before['id'], elsewhere['id'], here['id']} <= has


def _fan_out_works(api, token, watcher):
    message = api.post(token, 'are you there?')
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if any(m['id'] == message['id'] for m in watcher.messages()):
            return True
        time.sleep(0.05)
    return False


def test_clients_of_a_stopped_web_process_reconnect_to_the_other_and_miss_nothing(formation, listeners):
    flack = formation()
    web1, web2 = flack.start('web'), flack.start('web')
    api = Api(web2.url)
    _, token = api.new_user('susan')
    before = api.post(token, 'before the restart')
    client = listeners(web1.url)
    wait_for(lambda: client.client.connected, 'the client to connect')
    last_seen = before['updated_at']

    web1.signal(signal.SIGTERM)
    wait_for(lambda: not client.client.connected, 'the client to be disconnected', 30)
    meanwhile = [api.post(token, f'while you were away {n}') for n in range(3)]
    assert web1.wait(timeout=30) == 0

    # The router sends the reconnecting client to the web process still up.
    client = listeners(web2.url)
    missed = api.call('GET', f'/api/messages?updated_since={last_seen - 1}').json()['messages']
    assert {m['id'] for m in meanwhile} <= {m['id'] for m in missed}
    after = api.post(token, 'welcome back')
    wait_for(lambda: any(m['id'] == after['id'] for m in client.messages()), 'live events again')


def test_a_preview_is_retried_until_a_busy_page_answers(formation, listeners, serve):
    flack = formation()
    web = flack.start('web')
    flack.start('worker')
    page = serve()
    answers = iter([Route(status=503), PAGE])

    def busy_then_fine(handler, stopping):
        send(handler, next(answers, PAGE))

    page.routes['/busy'] = busy_then_fine
    api = Api(web.url)
    _, token = api.new_user('susan')

    message = api.post(token, page.url('/busy'))

    wait_for(lambda: '<blockquote>' in _message_html(api, message['id']), 'the retried preview', 60)
    assert len(page.requests) == 2


# Commits like a web process, then dies by SIGKILL before anything that
# follows the commit (the broadcast, queueing previews) can run.
KILLED_AFTER_COMMIT = """
import os, signal, sys
from sqlalchemy import event
from flack import create_app
from flack.chat import post_message
from flack.extensions import db
from flack.models import User

app = create_app()
with app.app_context():
    die = lambda session: os.kill(os.getpid(), signal.SIGKILL)
    event.listen(db.session, 'after_commit', die, insert=True)
    user = db.session.get(User, int(sys.argv[1]))
    if sys.argv[2] == 'post':
        post_message(user, sys.argv[3])
    else:
        user.nickname = sys.argv[3]
        db.session.commit()
"""


def _sources(api, token):
    return [m['source'] for m in api.call('GET', '/api/messages', token).json()['messages']]


def _nickname(api, token, user_id):
    return api.call('GET', f'/api/users/{user_id}', token).json()['nickname']


def test_a_change_on_one_web_process_is_in_the_very_next_read_on_the_other(formation, services):
    _, redis_server = services
    flack = formation()
    one, other = Api(flack.start('web').url), Api(flack.start('web').url)
    susan, token = one.new_user('susan')

    def read_your_writes(n):
        # Each read on the other process right after the write, with its caches warm.
        assert _sources(other, token)[-1:] != [f'message {n}']
        one.post(token, f'message {n}')
        assert _sources(other, token)[-1] == f'message {n}'
        assert other.call('GET', '/api/messages', token).json()['messages'][-1]['source'] == f'message {n}'
        renamed = one.call('PUT', f'/api/users/{susan["id"]}', token, json={'nickname': f'susan{n}'})
        assert renamed.status_code == 204, renamed.text
        assert _nickname(other, token, susan['id']) == f'susan{n}'

    for n in range(5):
        read_your_writes(n)

    # Reads and writes go on while Redis is down, and after it is back.
    redis_server.stop()
    read_your_writes('during the Redis outage')
    redis_server.start()
    read_your_writes('after Redis restarted')

    # Signing out on one process is seen on the other at once.
    assert _sources(other, token)
    assert one.call('DELETE', '/api/tokens', token).status_code == 204
    assert other.call('GET', '/api/messages', token).status_code == 401


def test_a_process_killed_right_after_its_commit_leaves_no_stale_read(formation):
    flack = formation()
    web = Api(flack.start('web').url)
    susan, token = web.new_user('susan')
    web.post(token, 'before')
    assert _sources(web, token) == ['before'] and _nickname(web, token, susan['id']) == 'susan'

    for action, value in (('post', 'committed, then killed'), ('rename', 'susan2')):
        died = subprocess.run(
            [sys.executable, '-c', KILLED_AFTER_COMMIT, str(susan['id']), action, value],
            cwd=ROOT,
            env=flack.environ,
            capture_output=True,
        )
        assert died.returncode == -signal.SIGKILL, died.stderr.decode(errors='replace')

    assert _sources(web, token) == ['before', 'committed, then killed']
    assert _nickname(web, token, susan['id']) == 'susan2'
