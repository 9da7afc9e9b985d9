"""Run the benchmarks: ``python -m bench`` (see bench/README.md).

Starts the floor, Flack on the embedded default, then the floor with its
broadcasts through Redis and Flack scaled out, one after the other,
measures each, appends the figures as JSON lines to bench/results/, and
prints the table.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from . import measure, report, servers

RESULTS = Path(__file__).resolve().parent / 'results'
CLIENT_COUNTS = (100, 500, 1000, 2000)
SCALED_CLIENT_COUNTS = (1000, 2000)
SCALED_WEB_PROCESSES = 2


def machine():
    cpuinfo = Path('/proc/cpuinfo').read_text()
    model = next(
        (line.split(':', 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith('model name')), ''
    )
    memory_kib = int(Path('/proc/meminfo').read_text().split()[1])
    return {
        'cpu': model or platform.machine(),
        'cores': os.cpu_count(),
        'memory_gib': round(memory_kib / 2**20),
        'os': f'{platform.system()} {platform.release()}',
        'python': platform.python_version(),
    }


def bench_single(deployment, app, run_id, client_counts, emit):
    """Each measure on a web process started afresh, so that none inherits
    the memory or the backlog of the one before."""
    web = deployment.web[0]
    token = deployment.tokens[0] if deployment.tokens else 'none'
    emit(bench='read', app=app, **measure.read([web.url], token))
    for clients in client_counts:
        web.restart()
        idle = web.resident_memory()
        figures = measure.fanout(app, [web.url], deployment.tokens, clients, run_id, web.resident_memory)
        emit(bench='fanout', app=app, rss_idle_mib=idle, **figures)
    for via in ('socketio',) if app == 'floor' else ('http', 'socketio'):
        web.restart()
        emit(bench='write', app=app, via=via, **measure.write(app, [web.url], deployment.tokens, run_id, via))


def bench_floor_redis(redis_url, run_id, emit):
    """Writes on the floor with a Redis message queue: one process, then two
    with the posters on the first and the listener on the second (as for
    Flack scaled out, the floor the scaled write targets compare with)."""
    for processes in (1, SCALED_WEB_PROCESSES):
        with servers.floor(message_queue=redis_url, web_processes=processes) as deployment:
            urls = [web.url for web in deployment.web]
            figures = measure.write('floor', urls, deployment.tokens, run_id, 'socketio')
            emit(bench='write', app='floor-redis', web_processes=processes, via='socketio', **figures)


def bench_scaled(deployment, run_id, client_counts, emit):
    urls = [web.url for web in deployment.web]
    token = deployment.tokens[0]
    for processes in (1, len(urls)):
        deployment.restart_web()
        emit(
            bench='read', app='flack-scaled', web_processes=processes, **measure.read(urls[:processes], token)
        )
    for clients in client_counts:
        deployment.restart_web()
        figures = measure.fanout('flack', urls, deployment.tokens, clients, run_id)
        emit(bench='fanout', app='flack-scaled', web_processes=len(urls), **figures)
    # Posted through the first web process, heard on the second: across Redis.
    deployment.restart_web()
    figures = measure.write('flack', urls, deployment.tokens, run_id, 'http')
    emit(bench='write', app='flack-scaled', web_processes=len(urls), via='http', **figures)


def _stop_on_sigterm(signum, frame):
    # Unwinds the ``with`` blocks, which stop every process the run started.
    raise SystemExit(128 + signum)


def main():
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    parser = argparse.ArgumentParser(prog='python -m bench', description=__doc__.splitlines()[0])
    parser.add_argument('--clients', default=','.join(map(str, CLIENT_COUNTS)), help='fan-out client counts')
    parser.add_argument('--skip-scaled', action='store_true', help='only the floor and the embedded default')
    parser.add_argument(
        '--postgres',
        default=os.environ.get('BENCH_POSTGRES_URL', 'postgresql://postgres@127.0.0.1:5432/postgres'),
        help='a PostgreSQL server the scaled run may create a database on',
    )
    parser.add_argument('--readme', action='store_true', help='also put the table into README.md')
    arguments = parser.parse_args()
    for tool in ('wrk', 'node', 'redis-server'):
        if shutil.which(tool) is None:
            sys.exit(f'bench: {tool} is not installed (Debian packages: wrk, nodejs, redis-server)')
    client_counts = [int(count) for count in arguments.clients.split(',')]

    run_id = datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')
    RESULTS.mkdir(exist_ok=True)
    results_path = RESULTS / f'{run_id}.jsonl'
    records = []

    def emit(**figures):
        record = dict(run=run_id, **figures)
        records.append(record)
        with results_path.open('a') as results:
            results.write(json.dumps(record) + '\n')
        print(json.dumps(record), file=sys.stderr, flush=True)

    emit(bench='machine', **machine())
    with servers.floor() as deployment:
        bench_single(deployment, 'floor', run_id, client_counts, emit)
    with servers.flack_embedded() as deployment:
        bench_single(deployment, 'flack', run_id, client_counts, emit)
    if not arguments.skip_scaled:
        with servers.Services(arguments.postgres) as services:
            bench_floor_redis(services.redis_url, run_id, emit)
            with servers.flack_scaled(
                services.database_url, services.redis_url, SCALED_WEB_PROCESSES
            ) as deployment:
                bench_scaled(
                    deployment,
                    run_id,
                    [c for c in SCALED_CLIENT_COUNTS if c in client_counts] or client_counts,
                    emit,
                )

    markdown = report.render(records)
    (RESULTS / 'latest.md').write_text(markdown)
    if arguments.readme:
        report.update_readme(markdown)
    print(markdown)


if __name__ == '__main__':
    main()
