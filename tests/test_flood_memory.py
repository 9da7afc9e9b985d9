"""Memory is bounded under floods: the Procfile's web process, real
websockets on loopback, no mocks. The worker's resident memory (``/proc``)
is read before and after floods of ``ping_user`` events asking for acks
from clients that never read the answers.

The bounds here are generous, for a shared machine with two cores; the
figures (back within 10 % of the warmed-up value after five floods) come
from ``python -m bench.flood memory``. Before the bounds, the worker grew
by a fifth to half with each flood with the rate limits on, and to about
six times its size after one flood with them off.
"""

import socket
import threading
import time
from pathlib import Path

import pytest
import requests
import websocket

from .live import Listener, LiveFlack, raw_socketio, wait_for

# How much larger than before the floods the worker may be after them.
GROWTH_BOUND = 1.5


def worker_rss(live):
    """The resident memory of the gunicorn worker (the master's one child), in MB."""
    master = live.process.pid
    (worker,) = Path(f'/proc/{master}/task/{master}/children').read_text().split()
    for line in Path(f'/proc/{worker}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    raise AssertionError('no VmRSS')


def warmed_up_rss(live):
    """The worker's memory once one normal client has connected and left (warmed up)."""
    Listener(live, transports=['websocket']).close()
    time.sleep(0.5)
    return worker_rss(live)


def flood(live, seconds, outcome, receive_buffer=None, reconnect=True, timeout=1):
    """``ping_user`` with an ack id as fast as possible, never reading; connects again when cut off.

    A send that waits ``timeout`` (the server reads no faster than it
    answers, and the TCP buffers are full) ends the flood: it is not a cut-off.
    """
    options = [(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)] if receive_buffer else []
    deadline = time.monotonic() + seconds
    frames = connections = 0
    while time.monotonic() < deadline:
        try:
            ws = raw_socketio(live, check=False, sockopt=options, timeout=timeout)
        except (OSError, websocket.WebSocketException):
            time.sleep(0.05)
            continue
        connections += 1
        try:
            while time.monotonic() < deadline:
                for _ in range(100):
                    frames += 1
                    ws.send(f'42{frames}["ping_user"]')
        except websocket.WebSocketTimeoutException:
            break
        except (OSError, websocket.WebSocketException) as error:
            outcome.setdefault('cut_off_after', time.monotonic() - (deadline - seconds))
            outcome.setdefault('error', error)
            if not reconnect:
                break
        finally:
            ws.sock and ws.sock.close()
    outcome['frames'] = outcome.get('frames', 0) + frames
    outcome['connections'] = outcome.get('connections', 0) + connections


def floods(live, rounds, seconds, flooders=2, **options):
    outcomes = []
    for _ in range(rounds):
        round_outcomes = [{} for _ in range(flooders)]
        threads = [
            threading.Thread(target=flood, args=(live, seconds, outcome), kwargs=options)
            for outcome in round_outcomes
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outcomes.extend(round_outcomes)
    return outcomes


def problem_lines(live):
    lines = live.log.read_text().splitlines()
    return [line for line in lines if 'level=ERROR' in line or 'Traceback' in line or 'exception=' in line]


@pytest.fixture(
    scope='module',
    params=[('eventlet', 1), ('eventlet', 0), ('gevent', 1), ('gevent', 0)],
    ids=['eventlet, limits on', 'eventlet, limits off', 'gevent, limits on', 'gevent, limits off'],
)
def live(request, tmp_path_factory):
    async_mode, limits = request.param
    with LiveFlack(
        tmp_path_factory.mktemp('flood'), ASYNC_MODE=async_mode, RATELIMIT_ENABLED=limits, LINK_PREVIEWS=0
    ) as live:
        yield live


def test_the_worker_gives_memory_back_after_floods(live):
    before = warmed_up_rss(live)

    outcomes = floods(live, rounds=2, seconds=2.5)
    time.sleep(1)
    after = worker_rss(live)

    assert sum(outcome['frames'] for outcome in outcomes) > 10_000  # a flood, even on a busy machine
    assert after < GROWTH_BOUND * before, f'{before:.0f} MB before the floods, {after:.0f} MB after'
    assert requests.get(f'{live.url}/healthz', timeout=10).status_code == 200
    assert not problem_lines(live)


def test_a_client_that_never_reads_is_cut_off(live):
    """With the rate limits off too: its acks fill its TCP buffers (small
    here, to be quick), then the server's queue for it, and past
    ``SEND_QUEUE_LIMIT`` it is cut off. (With the limits on, the flood
    cut-off comes first.)"""
    before = warmed_up_rss(live)
    outcome = {}

    # Up to 40 s: it ends at the cut-off, which comes once the server's own
    # send buffer (megabytes of small acks) is full, later on a busy machine.
    flood(live, 40, outcome, receive_buffer=4096, reconnect=False, timeout=40)

    assert 'cut_off_after' in outcome, f'not cut off after {outcome["frames"]} frames'
    reason = 'flood' if live.environ['RATELIMIT_ENABLED'] == '1' else 'not_reading'
    cut_off = f'event=socketio_cut_off reason={reason}'
    wait_for(lambda: cut_off in live.log.read_text(), 'the warning', patience=5)
    assert worker_rss(live) < GROWTH_BOUND * before
    assert not problem_lines(live)
