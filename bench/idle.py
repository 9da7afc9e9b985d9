"""Idle and half-sent connections against one web process: ``python -m bench.idle``.

Starts the Procfile's ``web`` process (tests.live.LiveFlack) on a free
loopback port and, for each ASYNC_MODE:

1. holds 0, 2,000 and 10,000 connections that send nothing, with
   ``REQUEST_HEADER_TIMEOUT=60`` so that they stay open while it measures,
   and times ``/healthz`` over a fresh connection each time (p50, p99, max);
2. on the default settings, opens 10,000 idle connections and 100 slowloris
   ones (a header byte every half second) and times how long the server
   takes to close them;
3. with ``--before``, the settings of before: 10,000 worker connections
   (``GUNICORN_CMD_ARGS``) and ``REQUEST_HEADER_TIMEOUT=95``, gunicorn's
   keepalive, held by 10,100 idle connections.

Loopback only; every wait has a deadline, and a run takes about two minutes.
Raises this process's soft limit on open files to its hard limit.
"""

import argparse
import http.client
import resource
import selectors
import socket
import statistics
import tempfile
import time
from pathlib import Path

from tests.live import LiveFlack

SLOWLORIS_REQUEST = b'GET /healthz HTTP/1.1\r\nHost: flack\r\nUser-Agent: slow\r\nX-Padding: ' + b'a' * 200


def raise_own_open_files_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_connections(port, count, source=None, timeout=10):
    """``count`` TCP connections to ``port`` that send nothing, non-blocking,
    from the loopback address ``source`` if given."""
    sockets = []
    source_address = (source, 0) if source else None
    try:
        for _ in range(count):
            sock = socket.create_connection(
                ('127.0.0.1', port), timeout=timeout, source_address=source_address
            )
            sock.setblocking(False)
            sockets.append(sock)
    except BaseException:
        close_all(sockets)
        raise
    return sockets


def close_all(sockets):
    for sock in sockets:
        sock.close()


def healthz_latency(port, timeout=10):
    """Seconds for one ``GET /healthz`` over a new connection, or None if it failed."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        connection.request('GET', '/healthz')
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            return None
    except OSError:
        return None
    finally:
        connection.close()
    return time.perf_counter() - started


def percentiles(latencies):
    """p50, p99 and max in milliseconds, and how many failed."""
    done = sorted(latency for latency in latencies if latency is not None)
    failed = len(latencies) - len(done)
    if not done:
        return {'p50_ms': None, 'p99_ms': None, 'max_ms': None, 'failed': failed}
    p99 = done[min(len(done) - 1, int(len(done) * 0.99))]
    return {
        'p50_ms': round(statistics.median(done) * 1000, 1),
        'p99_ms': round(p99 * 1000, 1),
        'max_ms': round(done[-1] * 1000, 1),
        'failed': failed,
    }


def wait_until_closed(sockets, deadline, trickle=(), every=0.5):
    """Seconds from now until the server closed each of ``sockets`` and
    ``trickle`` (None: still open at ``deadline``), sending the next header
    byte to each ``trickle`` socket every ``every`` seconds."""
    started = time.monotonic()
    closed = {}
    position = dict.fromkeys(trickle, 0)
    selector = selectors.DefaultSelector()
    for sock in [*sockets, *trickle]:
        selector.register(sock, selectors.EVENT_READ)
    next_byte = started
    try:
        while len(closed) < len(sockets) + len(position) and time.monotonic() < deadline:
            if position and time.monotonic() >= next_byte:
                next_byte += every
                for sock, sent in position.items():
                    if sock in closed:
                        continue
                    try:
                        index = sent % len(SLOWLORIS_REQUEST)
                        sock.send(SLOWLORIS_REQUEST[index : index + 1])
                        position[sock] = sent + 1
                    except OSError:
                        closed[sock] = time.monotonic() - started
                        selector.unregister(sock)
            for key, _ in selector.select(timeout=0.1):
                sock = key.fileobj
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b''
                if not data:  # the server closed it
                    closed[sock] = time.monotonic() - started
                    selector.unregister(sock)
    finally:
        selector.close()
    return [closed.get(sock) for sock in sockets], [closed.get(sock) for sock in trickle]


def worker_memory_mib(server):
    """Resident memory of the web process and its workers, in MiB."""
    pids = [server.process.pid]
    for task in Path(f'/proc/{server.process.pid}/task').iterdir():
        pids += [int(pid) for pid in (task / 'children').read_text().split()]
    total = 0
    for pid in pids:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                total += int(line.split()[1])
    return round(total / 1024)


def held(async_mode, counts, samples, tmp):
    """/healthz latency while ``counts`` idle connections are held open."""
    rows = []
    with LiveFlack(tmp, ASYNC_MODE=async_mode, REQUEST_HEADER_TIMEOUT=60, LOG_LEVEL='WARNING') as server:
        for count in counts:
            idle = open_connections(server.port, count)
            try:
                time.sleep(1)  # let the worker accept the last of them
                latencies = [healthz_latency(server.port) for _ in range(samples)]
                memory = worker_memory_mib(server)
            finally:
                close_all(idle)
            rows.append(
                {'async_mode': async_mode, 'idle': count, 'rss_mib': memory, **percentiles(latencies)}
            )
            time.sleep(2)  # the server sees the closes
    return rows


def closing(async_mode, count, slow, tmp):
    """How long the default settings leave idle and slowloris connections open."""
    with LiveFlack(tmp, ASYNC_MODE=async_mode, LOG_LEVEL='WARNING') as server:
        started = time.monotonic()
        idle = open_connections(server.port, count)
        trickle = open_connections(server.port, slow)
        opening = time.monotonic() - started
        try:
            latencies = [healthz_latency(server.port) for _ in range(20)]
            waiting = time.monotonic()
            idle_closed, slow_closed = wait_until_closed(idle, waiting + 60, trickle)
        finally:
            close_all(idle + trickle)
    # Seconds from the first connect: the last ones opened got their timer later.
    offset = waiting - started
    return {
        'async_mode': async_mode,
        'idle': count,
        'slowloris': slow,
        'opening_s': round(opening, 1),
        'healthz': percentiles(latencies),
        'idle_closed_s': summary([s + offset if s is not None else None for s in idle_closed]),
        'slowloris_closed_s': summary([s + offset if s is not None else None for s in slow_closed]),
    }


def before(async_mode, count, tmp):
    """The settings of before, held by ``count`` idle connections."""
    settings = {
        'ASYNC_MODE': async_mode,
        'REQUEST_HEADER_TIMEOUT': 95,
        'GUNICORN_CMD_ARGS': '--worker-connections 10000',
        'LOG_LEVEL': 'WARNING',
    }
    with LiveFlack(tmp, **settings) as server:
        idle = open_connections(server.port, count)
        try:
            latencies = [healthz_latency(server.port, timeout=3) for _ in range(5)]
        finally:
            close_all(idle)
    return {'async_mode': async_mode, 'idle': count, 'before': True, **percentiles(latencies)}


def summary(seconds):
    done = sorted(s for s in seconds if s is not None)
    return {
        'min': round(done[0], 1) if done else None,
        'median': round(statistics.median(done), 1) if done else None,
        'max': round(done[-1], 1) if done else None,
        'still_open': len(seconds) - len(done),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--async-modes', default='eventlet,gevent')
    parser.add_argument('--counts', default='0,2000,10000', help='idle connections held while measuring')
    parser.add_argument('--samples', type=int, default=200, help='/healthz requests per count')
    parser.add_argument('--before', action='store_true', help='also the settings of before, with 10,100 idle')
    args = parser.parse_args()
    counts = [int(count) for count in args.counts.split(',')]
    print(f'open files limit of this process: {raise_own_open_files_limit()}')
    for async_mode in args.async_modes.split(','):
        with tempfile.TemporaryDirectory() as tmp:
            for row in held(async_mode, counts, args.samples, Path(tmp)):
                print(row, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            print(closing(async_mode, max(counts), 100, Path(tmp)), flush=True)
        if args.before:
            with tempfile.TemporaryDirectory() as tmp:
                print(before(async_mode, 10_100, Path(tmp)), flush=True)


if __name__ == '__main__':
    main()
