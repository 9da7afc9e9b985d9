"""Run the benchmarks: ``python -m bench`` (see bench/README.md).

For each async mode (eventlet, gevent), starts the floor, Flack on the
embedded default (and searches its capacity within 512 MiB), then the floor
with its broadcasts through Redis and Flack scaled out, then the channels
workload on a scaled formation of its own, one after the other, measures
each, appends the figures as JSON lines to bench/results/, and prints the
table.
"""

import argparse
import functools
import json
import os
import platform
import resource
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from flack import serving

from . import channels, measure, report, servers, storm

RESULTS = Path(__file__).resolve().parent / 'results'
CLIENT_COUNTS = (100, 500, 1000, 2000)
# The fan-out with clients that offer no compression, as a Python client:
# at this count, or at the largest of --clients if it is not among them.
UNCOMPRESSED_CLIENT_COUNT = 1000
SCALED_CLIENT_COUNTS = (1000, 2000)
SCALED_WEB_PROCESSES = 2
# Clients on the first web process when it is stopped (bench/storm.py).
STORM_CLIENTS = 1000
# The capacity search: browser-like clients on one embedded web process,
# up from 2000 by 1000 until a step fails (within report.CAPACITY_MIB).
CAPACITY_STEPS = '2000,3000,...'
CAPACITY_MIB = report.CAPACITY_MIB
# File descriptors the load generator (one Node.js process) needs besides its clients.
NODE_RESERVED_FILES = 64


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


def bench_single(deployment, app, run_id, client_counts, uncompressed_counts, emit):
    """Each measure on a web process started afresh, so that none inherits
    the memory or the backlog of the one before. Fan-out with browser-like
    clients at every count, then with uncompressed ones at ``uncompressed_counts``."""
    web = deployment.web[0]
    token = deployment.tokens[0] if deployment.tokens else 'none'
    emit(bench='read', app=app, **measure.read([web.url], token))
    kinds = [(clients, True) for clients in client_counts] + [
        (clients, False) for clients in uncompressed_counts
    ]
    for clients, compression in kinds:
        web.restart()
        idle = web.memory_mib()
        figures = measure.fanout(
            app, [web.url], deployment.tokens, clients, run_id, web.memory_mib, compression=compression
        )
        emit(bench='fanout', app=app, memory_idle_mib=idle, **figures)
    for via in ('socketio',) if app == 'floor' else ('http', 'socketio'):
        web.restart()
        emit(bench='write', app=app, via=via, **measure.write(app, [web.url], deployment.tokens, run_id, via))


def client_ceiling():
    """The most clients one web process and the load generator can hold here.

    gunicorn.conf.py raises the web process's open files limit to the hard
    one and leaves the worker all but ``serving.RESERVED_FILES`` of it
    (``worker_connections``); Node.js raises its own soft limit to the hard
    one at start, one descriptor per client. Every client also takes a local
    port towards the one server address.
    """
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    files = serving.NR_OPEN if hard == resource.RLIM_INFINITY else hard
    low, high = map(int, Path('/proc/sys/net/ipv4/ip_local_port_range').read_text().split())
    return min(serving.worker_connections(files), files - NODE_RESERVED_FILES, high - low + 1)


def capacity_steps(text):
    """``2000,3000`` is those steps; a final ``...`` goes on by the last
    difference (by the only count if there is one) with no end."""
    parts = [part.strip() for part in text.split(',')]
    endless = parts[-1] == '...'
    try:
        counts = [int(part) for part in (parts[:-1] if endless else parts)]
    except ValueError:
        raise argparse.ArgumentTypeError(f'not a list of client counts: {text}') from None
    if not counts or counts != sorted(set(counts)) or counts[0] < 1:
        raise argparse.ArgumentTypeError(f'client counts must rise: {text}')
    step = (counts[-1] - counts[-2] if len(counts) > 1 else counts[-1]) if endless else None
    return counts, step


def _steps(counts, step):
    yield from counts
    clients = counts[-1]
    while step:
        clients += step
        yield clients


def _capacity_failure(clients, figures, memory):
    """Why a step of the capacity search failed, or None if it passed."""
    reasons = []
    if figures['connected'] < clients:
        reasons.append(f'{clients - figures["connected"]} clients could not connect')
    if figures['failed_posts']:
        reasons.append(f'{figures["failed_posts"]} posts failed')
    if figures['lost'] or figures['duplicated']:
        reasons.append(f'{figures["lost"]} lost, {figures["duplicated"]} duplicated')
    if memory > CAPACITY_MIB:
        reasons.append(f'{memory:.0f} MiB > {CAPACITY_MIB}')
    return '; '.join(reasons) or None


def bench_capacity(deployment, run_id, steps, emit):
    """The most browser-like clients one web process holds within 512 MiB
    with nothing lost: up by steps, each on a web process started afresh,
    until one fails (or would pass what the machine's limits allow)."""
    web = deployment.web[0]
    ceiling = client_ceiling()
    for clients in _steps(*steps):
        if clients > ceiling:
            emit(
                bench='capacity',
                app='flack',
                clients=clients,
                passed=None,
                reason=f'not tried: over {ceiling} clients, what the open files limit and local ports allow',
            )
            return
        web.restart()
        idle = web.memory_mib()
        try:
            figures = measure.fanout(
                'flack', [web.url], deployment.tokens, clients, run_id, web.memory_mib, stop_on_loss=True
            )
        except (RuntimeError, ValueError) as error:  # the load generator gave up, or died
            emit(
                bench='capacity',
                app='flack',
                clients=clients,
                memory_idle_mib=idle,
                passed=False,
                reason=str(error),
            )
            return
        memory = max(figures['memory_mib'], figures['memory_after_mib'])
        reason = _capacity_failure(clients, figures, memory)
        emit(
            bench='capacity',
            memory_idle_mib=idle,
            limit_mib=CAPACITY_MIB,
            passed=reason is None,
            reason=reason,
            app='flack',
            **figures,
        )
        if reason:
            return


def bench_floor_redis(redis_url, run_id, emit, async_mode):
    """Writes on the floor with a Redis message queue: one process, then two
    with the posters on the first and the listener on the second (as for
    Flack scaled out, the floor the scaled write targets compare with)."""
    for processes in (1, SCALED_WEB_PROCESSES):
        with servers.floor(
            message_queue=redis_url, web_processes=processes, async_mode=async_mode
        ) as deployment:
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


def bench_channels(postgres_url, mode, run_id, emit):
    """The channels workload (bench/channels.py) on a scaled formation of its
    own: its 2,000 users and their posts stay out of the other measures."""
    ceiling = client_ceiling()
    if channels.USERS > ceiling:
        emit(
            bench='channels',
            app='flack-scaled',
            clients=channels.USERS,
            reason=f'not tried: over {ceiling} clients, what the open files limit and local ports allow',
        )
        return
    with servers.Services(postgres_url) as services:
        with servers.flack_scaled(
            services.database_url, services.redis_url, SCALED_WEB_PROCESSES, mode
        ) as deployment:
            for record in channels.run(deployment, services, run_id):
                emit(bench='channels', **record)


def bench_mode(arguments, mode, run_id, client_counts, uncompressed_counts, emit):
    """Every measure but the channels workload, under one async mode."""
    with servers.floor(async_mode=mode) as deployment:
        bench_single(deployment, 'floor', run_id, client_counts, uncompressed_counts, emit)
    with servers.flack_embedded(async_mode=mode) as deployment:
        bench_single(deployment, 'flack', run_id, client_counts, uncompressed_counts, emit)
        if arguments.capacity:
            bench_capacity(deployment, run_id, arguments.capacity_steps, emit)
    if arguments.skip_scaled:
        return
    # A database of its own per mode: each seeds the same users.
    with servers.Services(arguments.postgres) as services:
        bench_floor_redis(services.redis_url, run_id, emit, mode)
        with servers.flack_scaled(
            services.database_url, services.redis_url, SCALED_WEB_PROCESSES, mode
        ) as deployment:
            bench_scaled(
                deployment,
                run_id,
                [c for c in SCALED_CLIENT_COUNTS if c in client_counts] or client_counts,
                emit,
            )
            # Last: it stops the first web process (started again after).
            deployment.restart_web()
            storm_clients = STORM_CLIENTS if STORM_CLIENTS in client_counts else max(client_counts)
            figures = storm.run(deployment, services, storm_clients, run_id)
            emit(bench='storm', app='flack-scaled', **figures)


def main():
    servers.stop_on_sigterm()
    parser = argparse.ArgumentParser(prog='python -m bench', description=__doc__.splitlines()[0])
    parser.add_argument('--clients', default=','.join(map(str, CLIENT_COUNTS)), help='fan-out client counts')
    parser.add_argument(
        '--uncompressed-clients',
        help='fan-out client counts for clients without permessage-deflate '
        f'(default: {UNCOMPRESSED_CLIENT_COUNT}, or the largest of --clients if it is not among them)',
    )
    parser.add_argument(
        '--async-modes',
        default=','.join(servers.ASYNC_MODES),
        help='ASYNC_MODE of every web process, one full run each (default: eventlet,gevent; '
        'eventlet alone for a quicker run)',
    )
    parser.add_argument(
        '--capacity',
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f'search the most browser-like clients one web process holds within {CAPACITY_MIB} MiB (long)',
    )
    parser.add_argument(
        '--capacity-steps',
        type=capacity_steps,
        default=CAPACITY_STEPS,
        help='client counts of the capacity search; a final ... goes on by the last step '
        f'(default: {CAPACITY_STEPS})',
    )
    parser.add_argument('--skip-scaled', action='store_true', help='only the floor and the embedded default')
    parser.add_argument(
        '--skip-channels',
        action='store_true',
        help='leave out the channels workload of the scaled formation (about 4 minutes per async mode)',
    )
    parser.add_argument(
        '--only',
        choices=('channels',),
        help='run this workload alone, under each async mode: channels (2,000 clients in 100 channels)',
    )
    parser.add_argument(
        '--postgres',
        default=servers.DEFAULT_POSTGRES_URL,
        help='a PostgreSQL server the scaled run may create a database on',
    )
    parser.add_argument('--readme', action='store_true', help='also put the table into README.md')
    arguments = parser.parse_args()
    if arguments.only and (arguments.skip_scaled or arguments.skip_channels):
        parser.error(f'--only {arguments.only} runs what --skip-scaled and --skip-channels leave out')
    # The channels workload alone reads nothing with wrk.
    for tool in ('node', 'redis-server') if arguments.only else ('wrk', 'node', 'redis-server'):
        if shutil.which(tool) is None:
            sys.exit(f'bench: {tool} is not installed (Debian packages: wrk, nodejs, redis-server)')
    client_counts = [int(count) for count in arguments.clients.split(',')]
    if arguments.uncompressed_clients is not None:
        uncompressed_counts = [int(count) for count in arguments.uncompressed_clients.split(',') if count]
    elif UNCOMPRESSED_CLIENT_COUNT in client_counts:
        uncompressed_counts = [UNCOMPRESSED_CLIENT_COUNT]
    else:
        uncompressed_counts = [max(client_counts)]
    async_modes = [mode.strip() for mode in arguments.async_modes.split(',') if mode.strip()]
    if not async_modes or not set(async_modes) <= set(servers.ASYNC_MODES):
        sys.exit(f'bench: --async-modes takes {", ".join(servers.ASYNC_MODES)}')

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
    # Each mode a whole run of its own, each compared with the floor under
    # the same worker class.
    for mode in async_modes:
        emit_mode = functools.partial(emit, async_mode=mode)
        if arguments.only is None:
            bench_mode(arguments, mode, run_id, client_counts, uncompressed_counts, emit_mode)
        if not arguments.skip_scaled and not arguments.skip_channels:
            bench_channels(arguments.postgres, mode, run_id, emit_mode)

    markdown = report.render(records)
    (RESULTS / 'latest.md').write_text(markdown)
    if arguments.readme:
        report.update_readme(markdown)
    print(markdown)


if __name__ == '__main__':
    main()
