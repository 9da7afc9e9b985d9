"""Connection budgets: how many PostgreSQL and Redis connections each process
type opens, counted on real servers, and whether the default formation fits
the smallest plans across a deploy.

The counts come from the servers themselves (``pg_stat_activity`` of the
test's own database, ``CLIENT LIST`` of a Redis server of the test's own);
each connection is traced from its client port to the socket of a process,
and from that process to the Procfile process type whose process group it is
in (a gunicorn worker, a Celery pool child belong to their dyno's group).
"""

import json
import os
import signal
import subprocess
import threading
import time
from collections import defaultdict
from urllib.parse import urlsplit

import psycopg2
import pytest
import redis

from .formation import Formation
from .live import ROOT, procfile_commands, wait_for
from .pages import LocalServer, Route, html_page, send
from .services import POSTGRES_ADMIN_URL, PostgresDatabase, RedisServer
from .test_scaled import Api

pytestmark = pytest.mark.scaled

SERVICES = ('postgresql', 'redis')
# The plans app.json asks for, and their connection limits: heroku-postgresql
# essential-0 and heroku-redis (Key-Value Store) mini both allow 20.
PLAN_LIMITS = {'postgresql': 20, 'redis': 20}
# Kept free for what a person runs beside the app: a one-off dyno
# (`heroku run python manage.py shell`), `heroku pg:psql`, `heroku redis:cli`.
HEADROOM = 2
CLIENTS = 1000
POSTERS = 20
POST_SECONDS = 5
PREVIEWS = 6
# How often the sampler counts connections while the load runs.
SAMPLE_EVERY = 0.05
# How many times a request turned away with a 503 (every database connection
# busy) is tried again after the Retry-After it gives.
BUSY_RETRIES = 5


def app_json():
    return json.loads((ROOT / 'app.json').read_text())


def default_settings():
    """The settings a deploy from app.json gets (those with a value)."""
    return {name: entry['value'] for name, entry in app_json()['env'].items() if entry.get('value')}


# --- Counting ----------------------------------------------------------------


def _socket_inodes_by_group(groups):
    """{socket inode: process group} for every process in ``groups``."""
    inodes = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            group = os.getpgid(int(entry))
            if group not in groups:
                continue
            descriptors = os.listdir(f'/proc/{entry}/fd')
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue  # the process ended while we looked
        for fd in descriptors:
            try:
                target = os.readlink(f'/proc/{entry}/fd/{fd}')
            except FileNotFoundError:
                continue  # closed while we looked
            if target.startswith('socket:['):
                inodes[int(target[8:-1])] = group
    return inodes


def _client_sockets(server_port):
    """{client port: socket inode} of the TCP connections to ``server_port`` on this machine."""
    sockets = {}
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local_port = int(fields[1].rsplit(':', 1)[1], 16)
                remote_port = int(fields[2].rsplit(':', 1)[1], 16)
                if remote_port == server_port and fields[3] == '01':  # ESTABLISHED
                    sockets[local_port] = int(fields[9])
    return sockets


def _postgres_client_ports(database_name):
    connection = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=3)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                'SELECT client_port FROM pg_stat_activity WHERE datname = %s AND client_port > 0',
                (database_name,),
            )
            return [port for (port,) in cursor.fetchall()]
    finally:
        connection.close()


def _redis_client_ports(client):
    # CLIENT LIST names the connection it came in on: not one of the app's.
    return [int(c['addr'].rsplit(':', 1)[1]) for c in client.client_list() if c['cmd'] != 'client|list']


class ConnectionCounter:
    """Counts, per process name, the connections the servers see right now."""

    def __init__(self, database, redis_server):
        self.database_name = database.name
        self.postgres_port = urlsplit(POSTGRES_ADMIN_URL).port or 5432
        self.redis_port = redis_server.port
        self.redis = redis.Redis(port=redis_server.port, socket_timeout=5, single_connection_client=True)
        self._lock = threading.Lock()  # the samplers and the test share the one connection

    def count(self, groups):
        """{service: {name: connections}} for the processes ``groups`` ({group: name})."""
        ports = {
            'postgresql': (_postgres_client_ports(self.database_name), self.postgres_port),
        }
        with self._lock:
            ports['redis'] = (_redis_client_ports(self.redis), self.redis_port)
        groups = {**groups, os.getpgrp(): 'test'}  # this test's own connections, told apart
        owners = _socket_inodes_by_group(set(groups))
        counts = {}
        for service, (client_ports, server_port) in ports.items():
            sockets = _client_sockets(server_port)
            per_name = defaultdict(int)
            for port in client_ports:
                if port not in sockets:
                    # The server still lists it, but this end is no longer
                    # established: a connection being closed (or just opened)
                    # as we looked, which no process holds any more.
                    per_name['closing'] += 1
                    continue
                per_name[groups.get(owners.get(sockets[port]), 'unknown')] += 1
            counts[service] = dict(per_name)
        return counts


class Sampler:
    """Counts connections over and over in a thread; keeps each process's highest count."""

    def __init__(self, counter, groups):
        self.counter = counter
        self.groups = groups
        self.peaks = {service: defaultdict(int) for service in SERVICES}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.take()
            time.sleep(SAMPLE_EVERY)

    def take(self):
        for service, counts in self.counter.count(self.groups).items():
            for name, count in counts.items():
                self.peaks[service][name] = max(self.peaks[service][name], count)
        self.samples += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.take()


# --- Load --------------------------------------------------------------------


def slow_page(handler, stopping):
    """A page that answers after a second, so that every pool child is busy at once."""
    if not stopping.wait(1):
        send(handler, html_page('<title>Slow</title>'))


def busy_once():
    """A page that answers 503 first: the pool child sends a retry of its task."""
    calls = []

    def answer(handler, stopping):
        calls.append(1)
        send(handler, Route(status=503) if len(calls) == 1 else html_page('<title>Slow</title>'))

    return answer


def start_load(mode, web, tokens, started, **options):
    """bench/load.mjs in ``mode``, stopped once its clients are connected; returns
    the process (also appended to ``started``) and how many clients connected."""
    options = dict(options, mode=mode, app='flack', urls=[web.url], post_url=web.url, tokens=tokens)
    load = subprocess.Popen(
        ['node', str(ROOT / 'bench' / 'load.mjs'), json.dumps(dict(options, run_id=mode))],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        # A group of its own: the sampler then skips its thousand sockets,
        # none of them to PostgreSQL or Redis, instead of reading each one.
        start_new_session=True,
    )
    started.append(load)
    connected = json.loads(load.stdout.readline() or '{}')
    assert connected.get('event') == 'connected', f'load.mjs ({mode}) did not connect'
    return load, connected['clients']


# --- The measurement ---------------------------------------------------------


@pytest.fixture(scope='module')
def measured(tmp_path_factory):
    """Idle and peak connections per process type of the default formation.

    The formation runs with app.json's settings (the rate limits raised, so
    that the load is not turned away, but still counted in Redis). Peaks are
    taken while 1000 websocket clients listen, 20 posters post and the
    worker fetches slow link previews; the release is counted as it
    migrates a fresh database.
    """
    tmp_path = tmp_path_factory.mktemp('connections')
    database = PostgresDatabase()
    redis_server = RedisServer(tmp_path).start()
    settings = default_settings() | {
        'LINK_PREVIEWS_ALLOW_PRIVATE': '1',
        'RATELIMIT_TOKENS_PER_ADDRESS': '10000 per minute',
        'RATELIMIT_REGISTRATIONS_PER_ADDRESS': '10000 per hour',
        'RATELIMIT_POSTS_PER_USER': '100000 per minute',
    }
    formation = Formation(tmp_path, database.url, redis_server.url, **settings)
    counter = ConnectionCounter(database, redis_server)
    try:
        result = {'release': _release(formation, counter)}
        processes = [formation.start('web'), formation.start('worker'), formation.start('clock')]
        groups = {p.popen.pid: p.name.split('.')[0] for p in processes}
        # Long enough for the clock to send the periodic duties and the worker to run them.
        time.sleep(6)
        with Sampler(counter, groups) as idle:
            time.sleep(1)
        with Sampler(counter, groups) as peak:
            result['load'] = _load(processes[0], tmp_path)
        result.update(idle=_plain(idle.peaks), peak=_plain(peak.peaks), samples=peak.samples)
        (tmp_path / 'connections.json').write_text(json.dumps(result, indent=2))
        print('\n' + table(result))
        yield result
    finally:
        formation.stop()
        redis_server.stop()
        database.drop()


def _plain(peaks):
    return {service: dict(counts) for service, counts in peaks.items()}


def _release(formation, counter):
    """Run the Procfile's release, counting its connections until it ends."""
    process = subprocess.Popen(
        ['bash', '-c', procfile_commands()['release']],
        cwd=ROOT,
        env=formation.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    sampler = Sampler(counter, {process.pid: 'release'})
    while process.poll() is None:
        sampler.take()
    output = process.stdout.read()
    assert process.returncode == 0, output
    return _plain(sampler.peaks)


def _load(web, tmp_path):
    page = LocalServer('127.0.0.1')
    try:
        return _load_on(web, page)
    finally:
        page.stop()


class PatientApi(Api):
    """An API client that, like the browser client, waits as long as a 503's
    Retry-After asks and tries again: under this load a request can find
    every database connection busy for longer than the pool's wait."""

    def call(self, method, path, token=None, **kwargs):
        for _ in range(BUSY_RETRIES):
            response = super().call(method, path, token, **kwargs)
            if response.status_code != 503 or 'Retry-After' not in response.headers:
                break
            time.sleep(int(response.headers['Retry-After']))
        return response


def _load_on(web, page):
    for n in range(PREVIEWS):
        page.routes[f'/slow/{n}'] = slow_page if n % 2 else busy_once()
    api = PatientApi(web.url)
    tokens = [api.new_user(f'user{n}')[1] for n in range(POSTERS)]
    loads = []
    try:
        listening, clients = start_load('fanout', web, tokens, loads, clients=CLIENTS, messages=5, rounds=1)
        # No warm-up: the benchmark's fifty rounds of posts, each heard by a
        # thousand listeners, take a minute and use no connection that the
        # five timed seconds of posts do not.
        posting, _ = start_load(
            'write',
            web,
            tokens,
            loads,
            posters=POSTERS,
            seconds=POST_SECONDS,
            via='http',
            listen_url=web.url,
            warm_up_rounds=0,
        )
        for load in loads:
            load.stdin.write('go\n')
            load.stdin.flush()
        messages = [api.post(tokens[n], f'have a look: {page.url(f"/slow/{n}")}') for n in range(PREVIEWS)]
        results = [json.loads(load.stdout.readline()) for load in loads]
        for load in loads:
            load.wait(timeout=60)
    finally:
        for load in loads:  # a load generator left running would outlive the test
            if load.poll() is None:
                os.killpg(load.pid, signal.SIGKILL)
                load.wait()
    wait_for(lambda: all('Slow' in _message(api, m['id'])['html'] for m in messages), 'the previews', 60)
    return {'clients': clients, 'fanout': results[0], 'write': results[1]}


def _message(api, message_id):
    return api.call('GET', f'/api/messages/{message_id}').json()


def table(result):
    """The README's table: connections per process type, idle and at peak, on each service."""
    lines = [
        '| process | PostgreSQL idle | PostgreSQL peak | Redis idle | Redis peak |',
        '|---|---|---|---|---|',
    ]
    for name in ('web', 'worker', 'clock', 'release'):
        figures = []
        for service in SERVICES:
            if name == 'release':
                figures += ['–', str(result['release'][service].get('release', 0))]
            else:
                figures += [str(result[phase][service].get(name, 0)) for phase in ('idle', 'peak')]
        lines.append(f'| `{name}` | ' + ' | '.join(figures) + ' |')
    return '\n'.join(lines)


def bounds(settings):
    """What each process type may open by its settings (flack.app, flack.redis_client, flack.work)."""
    web_workers = int(settings['WEB_CONCURRENCY'])
    pool_children = int(settings['WORKER_CONCURRENCY'])
    database_pool = int(settings['DATABASE_POOL_SIZE']) + int(settings['DATABASE_MAX_OVERFLOW'])
    return {
        'postgresql': {
            'web': web_workers * database_pool,
            'worker': pool_children,  # one per pool child
            'clock': 0,
            'release': 1,
        },
        'redis': {
            # Flack's pool, Socket.IO's subscription, Celery's connection to send tasks.
            'web': web_workers * (int(settings['REDIS_MAX_CONNECTIONS']) + 2),
            # The consumer's two (BRPOP, acknowledgements); each pool child:
            # Flack's pool of one and Celery's connection to send (retries).
            'worker': 2 + pool_children * 2,
            'clock': 1,
            'release': 0,
        },
    }


def peaks(measured):
    """{service: {process type: peak}}, the release included."""
    return {
        service: {
            **measured['peak'][service],
            'release': measured['release'][service].get('release', 0),
        }
        for service in SERVICES
    }


@pytest.mark.timeout(400)
def test_every_process_type_stays_within_its_bounds(measured):
    assert measured['load']['clients'] == CLIENTS
    assert measured['load']['write']['posts'] > 0
    expected = bounds(default_settings())
    for service in SERVICES:
        for name, peak in peaks(measured)[service].items():
            if name not in ('test', 'closing'):
                assert peak <= expected[service].get(name, 0), (service, name, measured)
    # The counts are of real work: the web process used its pools, each pool
    # child its database connection, and the release migrated.
    assert peaks(measured)['postgresql']['web'] >= 2
    assert peaks(measured)['postgresql']['worker'] >= 1
    assert peaks(measured)['postgresql']['release'] == 1
    assert peaks(measured)['redis']['web'] >= 3


@pytest.mark.timeout(400)
def test_the_default_formation_fits_the_plans_across_a_deploy(measured):
    """Old and new dynos of every type overlap during a deploy, and the
    release runs beside them: from the measured peaks, that stays within
    each plan's limit, with some connections to spare."""
    formation = {name: entry['quantity'] for name, entry in app_json()['formation'].items()}
    for service in SERVICES:
        measured_peaks = peaks(measured)[service]
        during_deploy = (
            2 * sum(quantity * measured_peaks.get(name, 0) for name, quantity in formation.items())
            + measured_peaks['release']
        )
        assert during_deploy + HEADROOM <= PLAN_LIMITS[service], (service, during_deploy, measured_peaks)
