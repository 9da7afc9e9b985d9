"""What a flooding client costs everyone else: latency and memory.

Runs the Procfile's web process (embedded mode, loopback, a free port) and
floods it with anonymous websockets that send ``ping_user`` as fast as they
can, each frame asking for an ack, never reading the answers (an attacker's
way); a flooder that is cut off connects again. Meanwhile it measures:

- ``latency``: ``/healthz`` (a new connection each time) and the fan-out
  of a post (``POST /api/messages`` until a listening python-socketio client
  hears its ``updated_model``), with 0, 1 and 10 flooders;
- ``memory``: the RSS of the gunicorn worker (``/proc``) before (after one
  normal client has connected and left: warmed up), at the end of and
  after each of five floods, then after an idle wait; and the cut-offs the
  worker logged during each flood, by reason.

    .venv/bin/python -m bench.flood latency --seconds 5
    .venv/bin/python -m bench.flood memory --floods 5 --idle 30 --ratelimit 0

Bounded in time (a few minutes at most with the defaults); not a test.
"""

import argparse
import collections
import multiprocessing
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests
import websocket

from tests.live import Listener, LiveFlack, raw_socketio

PASSWORD = 'correct horse battery'


def flood(url, seconds, kind, counts):
    """One flooding client for ``seconds``: reconnects when cut off; counts frames and connections."""
    deadline = time.monotonic() + seconds
    frames = connections = 0
    while time.monotonic() < deadline:
        try:
            ws = raw_socketio(url, check=False, timeout=5)
        except (OSError, websocket.WebSocketException):
            time.sleep(0.05)
            continue
        connections += 1
        try:
            while time.monotonic() < deadline:
                for _ in range(100):
                    frames += 1
                    ws.send(f'42{frames}["ping_user"]' if kind == 'ping' else '42{bad')
        except (OSError, websocket.WebSocketException):
            pass  # cut off: connect again, as an attacker would
        finally:
            ws.sock and ws.sock.close()
    counts.put((frames, connections))


class Flooders:
    """``n`` flooding processes (each its own interpreter: the GIL would hold them back)."""

    def __init__(self, url, n, seconds, kind='ping'):
        self.counts = multiprocessing.Queue()
        self.processes = [
            multiprocessing.Process(target=flood, args=(url, seconds, kind, self.counts), daemon=True)
            for _ in range(n)
        ]

    def __enter__(self):
        for process in self.processes:
            process.start()
        return self

    def __exit__(self, *exc):
        self.frames = self.connections = 0
        for _ in self.processes:
            frames, connections = self.counts.get(timeout=60)
            self.frames += frames
            self.connections += connections
        for process in self.processes:
            process.join(timeout=10)


def healthz_probe(url, stop, latencies):
    """``/healthz`` one after the other, a new connection each; a failure counts as its timeout."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            requests.get(f'{url}/healthz', timeout=15)
        except requests.RequestException:
            pass
        latencies.append(time.monotonic() - started)
        stop.wait(0.05)


def fanout_probe(url, token, listener, stop, latencies):
    """A post over REST every 0.1 s, timed until ``listener`` hears it."""
    session = requests.Session()
    session.headers['Authorization'] = f'Bearer {token}'
    n = 0
    while not stop.is_set():
        n += 1
        source = f'probe {n} {time.monotonic()}'
        started = time.monotonic()
        try:
            session.post(f'{url}/api/messages', json={'source': source}, timeout=15)
        except requests.RequestException:
            continue
        deadline = started + 15
        while time.monotonic() < deadline and not any(m['source'] == source for m in listener.messages()):
            time.sleep(0.002)
        latencies.append(time.monotonic() - started)
        stop.wait(0.1)


def percentiles(values):
    if not values:
        return 'no samples'
    ordered = sorted(values)
    p50, p99 = statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    high = ordered[-1]
    return f'p50 {p50 * 1e3:7.1f} ms  p99 {p99 * 1e3:7.1f} ms  max {high * 1e3:7.1f} ms  n={len(ordered)}'


def sign_up(url):
    requests.post(f'{url}/api/users', json={'nickname': 'prober', 'password': PASSWORD}, timeout=10)
    answer = requests.post(f'{url}/api/tokens', auth=('prober', PASSWORD), timeout=10)
    return answer.json()['token']


def worker_rss(live):
    """The RSS of the gunicorn worker (the master's one child), in MB."""
    master = live.process.pid
    children = Path(f'/proc/{master}/task/{master}/children').read_text().split()
    for line in Path(f'/proc/{children[0]}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    raise RuntimeError('no VmRSS')


def sample_rss(live, stop, peak):
    """The highest RSS of the worker until ``stop``, in ``peak[0]``."""
    while not stop.is_set():
        peak[0] = max(peak[0], worker_rss(live))
        stop.wait(0.2)


def cut_offs(live):
    """The ``event=socketio_cut_off`` lines logged so far, counted by reason."""
    return collections.Counter(re.findall(r'event=socketio_cut_off reason=(\w+)', live.log.read_text()))


def warm_up(live):
    """One normal client connects, is answered and leaves: what a first client allocates once."""
    Listener(live, transports=['websocket']).close()
    requests.get(f'{live.url}/api/messages', timeout=10)
    time.sleep(1)


def live_flack(directory, args):
    return LiveFlack(
        Path(directory),
        ASYNC_MODE=args.async_mode,
        RATELIMIT_ENABLED=args.ratelimit,
        RATELIMIT_POSTS_PER_USER='100000 per minute',
        LINK_PREVIEWS=0,
    )


def latency(args):
    with tempfile.TemporaryDirectory() as directory, live_flack(directory, args) as live:
        token = sign_up(live.url)
        listener = Listener(live, transports=['websocket'])
        try:
            for n in args.flooders:
                healthz, fanout, stop = [], [], threading.Event()
                probes = [
                    threading.Thread(target=healthz_probe, args=(live.url, stop, healthz)),
                    threading.Thread(target=fanout_probe, args=(live.url, token, listener, stop, fanout)),
                ]
                with Flooders(live.url, n, args.seconds, args.kind) as flooders:
                    time.sleep(0.5)  # let the flood build up
                    for probe in probes:
                        probe.start()
                    time.sleep(args.seconds - 0.5)
                    stop.set()
                    for probe in probes:
                        probe.join()
                print(f'{n:2} flooders ({args.kind}): {flooders.frames} frames', end=' ')
                print(f'on {flooders.connections} connections', flush=True)
                print(f'   /healthz  {percentiles(healthz)}', flush=True)
                print(f'   fan-out   {percentiles(fanout)}', flush=True)
                time.sleep(2)  # the server settles before the next round
        finally:
            listener.close()


def memory(args):
    with tempfile.TemporaryDirectory() as directory, live_flack(directory, args) as live:
        print(f'ratelimit={args.ratelimit} async_mode={args.async_mode} kind={args.kind}', flush=True)
        print(f'started: {worker_rss(live):.0f} MB', flush=True)
        warm_up(live)
        print(f'before (warmed up): {worker_rss(live):.0f} MB', flush=True)
        for flood_number in range(1, args.floods + 1):
            logged = cut_offs(live)
            peak, stop = [0.0], threading.Event()
            sampler = threading.Thread(target=sample_rss, args=(live, stop, peak))
            sampler.start()
            with Flooders(live.url, args.flooders, args.seconds, args.kind) as flooders:
                pass
            end = worker_rss(live)
            stop.set()
            sampler.join()
            time.sleep(args.settle)
            print(
                f'flood {flood_number}: {flooders.frames} frames on {flooders.connections} connections;',
                end=' ',
            )
            print(f'peak {peak[0]:.0f} MB, at its end {end:.0f} MB,', end=' ')
            print(f'{args.settle:.0f} s later {worker_rss(live):.0f} MB;', end=' ')
            print(f'cut off: {dict(cut_offs(live) - logged)}', flush=True)
        time.sleep(args.idle)
        print(f'after {args.idle} s idle: {worker_rss(live):.0f} MB', flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('what', choices=['latency', 'memory'])
    parser.add_argument('--seconds', type=float, default=5, help='length of each flood')
    parser.add_argument('--kind', choices=['ping', 'malformed'], default='ping')
    parser.add_argument('--ratelimit', type=int, choices=[0, 1], default=1)
    parser.add_argument('--async-mode', choices=['eventlet', 'gevent'], default='eventlet')
    parser.add_argument(
        '--flooders', type=lambda text: [int(n) for n in text.split(',')], default=None, help='e.g. 0,1,10'
    )
    parser.add_argument('--floods', type=int, default=5)
    parser.add_argument('--settle', type=float, default=5, help='seconds after each flood')
    parser.add_argument('--idle', type=float, default=30, help='seconds idle after the last flood')
    args = parser.parse_args()
    if args.what == 'latency':
        args.flooders = args.flooders or [0, 1, 10]
        latency(args)
    else:
        args.flooders = (args.flooders or [1])[0]
        memory(args)


if __name__ == '__main__':
    main()
