"""The reconnect storm: a web process restarted under its clients (issue 15, point 4).

The platform restarts every dyno at least daily and on each deploy. C
websocket clients (``bench/storm.mjs``, socket.io-client as the browser
client uses it) are connected to the first web process of the scaled
formation while a poster posts through the second, about 10 messages a
second; then the first gets SIGTERM, as the platform sends it. Each client
comes back to the second with socket.io-client's own backoff and reads what
it missed with ``updated_since``, as ``flack/static/js/main.js`` does.
Meanwhile the database's sessions and Redis's clients are counted every
100 ms. Then the first web process is started again.

    python -m bench.storm --clients 200
"""

import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .markdown import cell, table
from .measure import start_node

POSTS_PER_SECOND = 10  # steady and modest, open loop
RESYNC_TIMEOUT_SECONDS = 120
POLL_SECONDS = 0.1
NODE_TIMEOUT_SECONDS = 300
# README.md, "Connection budgets": heroku-postgresql:essential-0 and
# heroku-redis:mini allow 20 connections each; a web process holds at most
# 5 database connections (DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW, one
# gunicorn worker) and 4 Redis connections (REDIS_MAX_CONNECTIONS, the
# Socket.IO subscription, Celery's connection to send previews).
PLAN_CONNECTION_LIMIT = 20
WEB_DATABASE_CONNECTIONS = 5
WEB_REDIS_CONNECTIONS = 4
# Web log lines (flack.logs.KeyValueFormatter, gunicorn's access lines) that
# tell of an error, and of something to look at.
LOG_ERROR = re.compile(r'level=(ERROR|CRITICAL)|exception=|Traceback|status=5\d\d\b')
LOG_WARNING = re.compile(r'level=WARNING')
LOG_KIND_CHARS = 240


class ConnectionCounter:
    """Counts, every ``POLL_SECONDS`` in a thread of its own, the database's
    sessions (``pg_stat_activity``, this counter's own left out) and Redis's
    clients (``INFO clients``, this counter's own left out)."""

    def __init__(self, database_url, redis_url):
        import psycopg2
        import redis

        self._database = psycopg2.connect(database_url)
        self._database.autocommit = True
        self._redis = redis.Redis.from_url(redis_url)
        self.samples = []  # (time.time(), database, redis)
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _count(self):
        with self._database.cursor() as cursor:
            cursor.execute(
                'SELECT count(*) FROM pg_stat_activity '
                'WHERE datname = current_database() AND pid <> pg_backend_pid()'
            )
            database = cursor.fetchone()[0]
        return database, self._redis.info('clients')['connected_clients'] - 1

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append((time.time(), *self._count()))
            except Exception:  # a sample missed is not the storm's failure
                self.errors += 1
            self._stop.wait(POLL_SECONDS)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()
        self._database.close()
        self._redis.close()

    def peak(self, since, until=None):
        """The most database and Redis connections sampled from ``since``."""
        window = [s for s in self.samples if s[0] >= since and (until is None or s[0] <= until)]
        return (max((s[1] for s in window), default=None), max((s[2] for s in window), default=None))


def _kind(line):
    """What an error line of a web log says, without what differs from one occurrence to the next:
    its log, logger, event and status, and the last line of its traceback."""
    name = line.split(':', 1)[0]
    fields = dict(re.findall(r'\b(logger|event|status|path)=("[^"]*"|\S+)', line))
    exception = re.search(r'exception="(.*)"\s*$', line)
    last = ''
    if exception:
        frames = [frame for frame in exception.group(1).split('\\n') if frame.strip()]
        last = ': ' + (frames[-1].strip().replace('\\"', '"') if frames else '')
    said = ' '.join(f'{key}={fields[key]}' for key in ('logger', 'event', 'status', 'path') if key in fields)
    return f'{name} {said}{last}'[:LOG_KIND_CHARS]


def _log_offsets(deployment):
    return {web.process.log_path: _size(web.process.log_path) for web in deployment.web}


def _size(path):
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _log_lines(offsets):
    """The lines of the web logs written since ``offsets``, each with its log's name."""
    lines = []
    for path, offset in offsets.items():
        try:
            with open(path, 'rb') as log:
                log.seek(offset)
                text = log.read().decode(errors='replace')
        except FileNotFoundError:
            continue
        lines += [f'{path.stem}: {line.strip()}' for line in text.splitlines()]
    return lines


def _exit_seconds(popen, since, result):
    """Waits for the SIGTERMed process group's leader; how long it took, into ``result``."""
    try:
        popen.wait(timeout=NODE_TIMEOUT_SECONDS)
        result['web1_exit_s'] = round(time.time() - since, 2)
    except subprocess.TimeoutExpired:
        result['web1_exit_s'] = None


def _expect(node, event):
    line = node.stdout.readline()
    message = json.loads(line) if line.strip() else {}
    if message.get('event') != event:
        raise RuntimeError(f'storm.mjs: expected {event!r}, got {line!r}')
    return message


def run(deployment, services, clients, run_id, posts_per_second=POSTS_PER_SECOND):
    """The storm on a running ``servers.flack_scaled`` deployment with two web
    processes; its figures. The first web process is started again after."""
    first, second = deployment.web[0], deployment.web[1]
    options = {
        'clients': clients,
        'connect_url': first.url,
        'reconnect_url': second.url,
        'post_url': second.url,
        'tokens': deployment.tokens,
        'post_interval_ms': 1000 / posts_per_second,
        'run_id': run_id,
        'resync_timeout_s': RESYNC_TIMEOUT_SECONDS,
    }
    counter = ConnectionCounter(services.database_url, services.redis_url)
    node = start_node('storm.mjs', options)
    offsets = _log_offsets(deployment)
    exit_time = {}
    sigterm_at = None
    try:
        connected = _expect(node, 'connected')
        counter.start()
        node.stdin.write('post\n')
        node.stdin.flush()
        _expect(node, 'posting')
        time.sleep(1)  # a second of samples before: the baseline
        before = time.time() - 1
        database_before, redis_before = counter.peak(before)
        sigterm_at = time.time()
        # As the platform does, and as servers.Process.stop: the whole process group.
        os.killpg(first.process.popen.pid, signal.SIGTERM)
        waiter = threading.Thread(
            target=_exit_seconds, args=(first.process.popen, sigterm_at, exit_time), daemon=True
        )
        waiter.start()
        node.stdin.write(f'sigterm {int(sigterm_at * 1000)}\n')
        node.stdin.flush()
        result = _expect(node, 'result')
        ended = time.time()
        node.wait(timeout=30)
        waiter.join(timeout=5)
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
        try:
            if sigterm_at is not None:
                # The replacement, counted too: the deployment is whole again.
                first.restart()
                time.sleep(2 * POLL_SECONDS)
        finally:
            counter.stop()
    database_peak, redis_peak = counter.peak(sigterm_at, ended)
    database_replaced, redis_replaced = counter.peak(sigterm_at)
    result.pop('event')
    web_processes = len(deployment.web)
    lines = _log_lines(offsets)
    errors = [line for line in lines if LOG_ERROR.search(line)]
    warnings = [line for line in lines if LOG_WARNING.search(line) and not LOG_ERROR.search(line)]
    kinds = collections.Counter(_kind(line) for line in errors + warnings)
    return {
        **result,
        'connected_before': connected['connected'],
        'web_processes': web_processes,
        'posts_per_second': posts_per_second,
        'web1_exit_s': exit_time.get('web1_exit_s'),
        'db_connections_before': database_before,
        'db_connections_peak': database_peak,
        'db_connections_budget': web_processes * WEB_DATABASE_CONNECTIONS,
        'redis_connections_before': redis_before,
        'redis_connections_peak': redis_peak,
        'redis_connections_budget': web_processes * WEB_REDIS_CONNECTIONS,
        # From SIGTERM until the first web process, started again, serves.
        'db_connections_peak_with_replacement': database_replaced,
        'redis_connections_peak_with_replacement': redis_replaced,
        'plan_connection_limit': PLAN_CONNECTION_LIMIT,
        'connection_samples': len(counter.samples),
        'connection_sample_errors': counter.errors,
        'web_log_errors': len(errors),
        'web_log_warnings': len(warnings),
        'web_log_kinds': dict(kinds.most_common()),
    }


def _cell(value):
    return cell(value, digits=2)


def _of(value, bound):
    return f'{_cell(value)} / {bound}'


def render(records):
    """The storm's section of the report (Markdown), from the records with ``bench == 'storm'``."""
    storms = [record for record in records if record.get('bench') == 'storm']
    if not storms:
        return ''
    header = [
        'app',
        'C',
        'resynced',
        'last disconnected s',
        'last resynced s',
        'resync p50 s',
        'resync p99 s',
        '5xx',
        'failed requests',
        'posted',
        'missed',
        'duplicated',
        'PostgreSQL peak / budget',
        'Redis peak / budget',
        'web log errors',
    ]
    rows = [
        [
            record.get('app', 'flack-scaled')
            + f' ({record.get("web_processes", 2)} web, {record.get("async_mode", "eventlet")})',
            _cell(record.get('clients')),
            f'{_cell(record.get("resynced"))} of {_cell(record.get("connected"))}',
            _cell(record.get('last_disconnect_s')),
            _cell(record.get('last_resync_s')),
            _cell(record.get('resync_p50_s')),
            _cell(record.get('resync_p99_s')),
            _cell(record.get('http_5xx')),
            _cell(record.get('failed_requests')),
            _cell(record.get('messages_posted')),
            _cell(record.get('messages_missed')),
            _cell(record.get('duplicated')),
            _of(record.get('db_connections_peak'), record.get('db_connections_budget')),
            _of(record.get('redis_connections_peak'), record.get('redis_connections_budget')),
            _cell(record.get('web_log_errors')),
        ]
        for record in storms
    ]
    limit = storms[0].get('plan_connection_limit', PLAN_CONNECTION_LIMIT)
    heading = (
        '**Reconnect storm**: C websocket clients on the first web process, about '
        f'{storms[0].get("posts_per_second", 10):g} posts/s through the second; SIGTERM to the first, '
        "as on a restart or deploy. Each client comes back to the second with socket.io-client's "
        'backoff and reads what it missed (`updated_since`), as the browser client does. '
        'Last disconnected and last resynced: from SIGTERM; p50/p99: each client from its own '
        'disconnection; 5xx and failed requests: the catch-up reads and the posts; missed: messages '
        'posted (answered 201) that a client lacks at the end, summed over clients. Connections: the '
        'most sampled every 100 ms during the storm, against what the two web processes may hold '
        f'(README, Connection budgets; the plans allow {limit} each)'
    )
    return f'{heading}\n\n' + table(header, rows)


def targets(records):
    """The storm's rows of the targets table (issue 15): (what, measured, met), as report._targets."""
    record = next((r for r in records if r.get('bench') == 'storm'), None)
    what = [
        'storm: no 5xx nor failed request',
        'storm: every client resynced, no message missed',
        'storm: PostgreSQL and Redis connections within budget',
    ]
    if record is None:
        return [(row, 'not measured', '–') for row in what]
    clients = f' (C={record.get("clients")})'
    errors = (record.get('http_5xx') or 0) + (record.get('failed_requests') or 0)
    missed = record.get('messages_missed')
    peaks = [
        (record.get('db_connections_peak'), record.get('db_connections_budget')),
        (record.get('redis_connections_peak'), record.get('redis_connections_budget')),
    ]
    within = all(peak is not None and peak <= min(budget, PLAN_CONNECTION_LIMIT) for peak, budget in peaks)
    return [
        (what[0] + clients, errors, 'yes' if errors == 0 else 'NO'),
        (
            what[1] + clients,
            f'{record.get("resynced")} of {record.get("connected")}, {missed} missed',
            'yes' if record.get('all_resynced') and missed == 0 else 'NO',
        ),
        (
            what[2] + clients,
            f'{_of(*peaks[0])}, {_of(*peaks[1])}',
            'yes' if within else 'NO',
        ),
    ]


def main():
    import argparse

    from . import servers

    servers.stop_on_sigterm()
    parser = argparse.ArgumentParser(prog='python -m bench.storm', description=__doc__.splitlines()[0])
    parser.add_argument('--clients', type=int, default=200, help='websocket clients on the first web process')
    parser.add_argument(
        '--postgres',
        default=servers.DEFAULT_POSTGRES_URL,
        help='a PostgreSQL server the run may create a database on',
    )
    parser.add_argument('--rate', type=float, default=POSTS_PER_SECOND, help='posts per second (default 10)')
    parser.add_argument('--async-mode', choices=servers.ASYNC_MODES, default=servers.ASYNC_MODES[0])
    parser.add_argument(
        '--keep-logs', action='store_true', help="copy the web processes' logs to a temporary folder it names"
    )
    arguments = parser.parse_args()
    run_id = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())
    with servers.Services(arguments.postgres) as services:
        with servers.flack_scaled(
            services.database_url, services.redis_url, web_processes=2, async_mode=arguments.async_mode
        ) as deployment:
            figures = run(deployment, services, arguments.clients, run_id, arguments.rate)
            figures['async_mode'] = arguments.async_mode
            if arguments.keep_logs:
                kept = tempfile.mkdtemp(prefix='flack-storm-logs-')
                for log in Path(deployment.workdir).glob('*.log'):
                    shutil.copy(log, kept)
                print(f'logs kept in {kept}', file=sys.stderr)
    record = dict(run=run_id, bench='storm', app='flack-scaled', **figures)
    print(json.dumps(record, indent=2))
    print(render([record]))


if __name__ == '__main__':
    main()
