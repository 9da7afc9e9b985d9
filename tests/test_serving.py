"""Connections bounded in time and per address, on the Procfile's web process.

2,000 connections that send nothing, and a few that trickle header bytes
(slowloris), do not keep ``/healthz`` waiting, and the server closes them
``REQUEST_HEADER_TIMEOUT`` seconds after it accepted them; a connection that
finished a request stays open for keep-alive. bench/idle.py measures the same
at 10,000.
"""

import json
import re
import time

import pytest

from bench.idle import (
    close_all,
    healthz_latency,
    open_connections,
    raise_own_open_files_limit,
    wait_until_closed,
)

from .live import Listener, LiveFlack

HEADER_TIMEOUT = 3
IDLE = 2000
GRACEFUL_TIMEOUT = 25  # gunicorn.conf.py


@pytest.fixture(scope='module', autouse=True)
def open_files():
    assert raise_own_open_files_limit() > IDLE + 100


@pytest.mark.parametrize('async_mode', ['eventlet', 'gevent'])
def test_idle_and_half_sent_connections_are_closed_while_healthz_answers(tmp_path, async_mode):
    settings = {'ASYNC_MODE': async_mode, 'REQUEST_HEADER_TIMEOUT': HEADER_TIMEOUT}
    with LiveFlack(tmp_path, **settings) as server:
        kept_alive = open_connections(server.port, 1)
        kept_alive[0].setblocking(True)
        kept_alive[0].sendall(b'GET /healthz HTTP/1.1\r\nHost: flack\r\n\r\n')
        assert kept_alive[0].recv(4096).startswith(b'HTTP/1.1 200')
        kept_alive[0].setblocking(False)
        opened = time.monotonic()
        idle = open_connections(server.port, IDLE)
        slowloris = open_connections(server.port, 20)
        try:
            latencies = [healthz_latency(server.port, timeout=5) for _ in range(20)]
            held_for = time.monotonic() - opened
            idle_closed, slow_closed = wait_until_closed(
                idle, opened + HEADER_TIMEOUT + 15, trickle=slowloris, every=0.25
            )
            waited = time.monotonic() - opened
            # Kept alive after a complete request: keepalive, not the header timeout.
            [still_open], _ = wait_until_closed(kept_alive, time.monotonic() + 0.5)
        finally:
            close_all(kept_alive + idle + slowloris)

    assert held_for < HEADER_TIMEOUT, 'the idle connections were not all held while /healthz was timed'
    assert None not in latencies and max(latencies) < 2, latencies
    assert None not in idle_closed, (
        f'{idle_closed.count(None)} idle connections still open after {waited:.0f} s'
    )
    assert None not in slow_closed, 'a slowloris connection is still open'
    # Measured from when the test started opening them: none closed before the
    # timeout could have run out, all soon after it.
    since_opened = [at + (waited - max(idle_closed + slow_closed)) for at in idle_closed + slow_closed]
    assert min(since_opened) >= HEADER_TIMEOUT - 1
    assert max(since_opened) < HEADER_TIMEOUT + 10
    assert still_open is None


def test_connections_over_the_per_address_cap_are_refused_with_503(tmp_path):
    settings = {'MAX_CONNECTIONS_PER_ADDRESS': 50, 'REQUEST_HEADER_TIMEOUT': 30}
    with LiveFlack(tmp_path, **settings) as server:
        # Every loopback address is this machine: 127.0.0.2 is another client.
        held = open_connections(server.port, 50, source='127.0.0.2')
        refused = admitted = held[0]
        try:
            time.sleep(0.5)
            [refused] = open_connections(server.port, 1, source='127.0.0.2')
            refused.setblocking(True)
            refused.settimeout(5)
            answer = _whole_response(refused)
            other_client = healthz_latency(server.port)
            close_all(held[:1])
            time.sleep(0.5)
            [admitted] = open_connections(server.port, 1, source='127.0.0.2')
            admitted.setblocking(True)
            admitted.sendall(b'GET /healthz HTTP/1.1\r\nHost: flack\r\nConnection: close\r\n\r\n')
            admitted.settimeout(5)
            readmitted = admitted.recv(4096)
        finally:
            close_all(held + [refused, admitted])
        log = server.log.read_text()

    head, _, body = answer.partition(b'\r\n\r\n')
    status_line, *header_lines = head.decode('latin-1').split('\r\n')
    headers = {name.lower(): value for name, value in (line.split(': ', 1) for line in header_lines)}
    assert status_line == 'HTTP/1.1 503 Service Unavailable', answer
    # The API's error shape, with the headers of every other answer.
    assert headers['content-type'] == 'application/json'
    assert json.loads(body)['error'] == 'service unavailable'
    assert 'too many connections' in json.loads(body)['message'].lower()
    assert headers['retry-after'] == '5'
    assert headers['x-content-type-options'] == 'nosniff'
    assert other_client is not None
    assert readmitted.startswith(b'HTTP/1.1 200'), readmitted
    assert log.count('event=connection_refused') == 1


@pytest.mark.parametrize('async_mode', ['eventlet', 'gevent'])
def test_on_sigterm_keep_alive_and_socketio_connections_are_closed_and_the_process_does_not_wait_for_them(
    tmp_path, async_mode
):
    with LiveFlack(tmp_path, ASYNC_MODE=async_mode) as server:
        kept_alive = open_connections(server.port, 3)
        socketio_clients = [Listener(server, transports=['websocket']) for _ in range(3)]
        try:
            for connection in kept_alive:
                connection.setblocking(True)
                connection.sendall(b'GET /healthz HTTP/1.1\r\nHost: flack\r\n\r\n')
                assert _whole_response(connection).startswith(b'HTTP/1.1 200')
            stopping = time.monotonic()
            server.process.terminate()  # as the platform stops a dyno
            for connection in kept_alive:
                connection.settimeout(GRACEFUL_TIMEOUT)
                assert connection.recv(4096) == b'', 'the server did not close a connection'
            exit_code = server.process.wait(timeout=GRACEFUL_TIMEOUT + 10)
            took = time.monotonic() - stopping
        finally:
            close_all(kept_alive)
        log = server.log.read_text()

    assert exit_code == 0
    assert not any(client.client.connected for client in socketio_clients)
    # Before, idle keep-alive connections and websockets (whose reads eventlet
    # left waiting on their closed sockets) held the worker for the whole
    # graceful timeout, after which gunicorn killed it.
    assert took < GRACEFUL_TIMEOUT / 2, f'stopped in {took:.1f} s'
    assert 'Worker exiting' in log
    assert 'level=ERROR' not in log and 'Traceback' not in log


def _whole_response(connection):
    """One HTTP response with a Content-Length, read to its last byte."""
    data = b''
    while b'\r\n\r\n' not in data:
        data += _received(connection, data)
    head, _, body = data.partition(b'\r\n\r\n')
    length = int(re.search(rb'(?i)content-length: *(\d+)', head).group(1))
    while len(body) < length:
        received = _received(connection, data)
        body, data = body + received, data + received
    return data


def _received(connection, so_far):
    received = connection.recv(4096)
    assert received, f'the server closed the connection after {so_far!r}'
    return received
