"""The soak run: the scaled formation under steady load, with faults injected on a schedule."""

import json
import math
import os
import random
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import redis
import requests

from tests.formation import Formation
from tests.live import descendants, wait_for
from tests.pages import LocalServer
from tests.services import PostgresServer, RedisServer

from .load import Load, Urls

ROOT = Path(__file__).resolve().parent.parent.parent
CLIENTS_SCRIPT = Path(__file__).resolve().parent / 'clients.mjs'
KINDS = ('web_kill', 'web_term', 'worker_kill', 'clock_kill', 'redis_restart', 'postgres_restart')
USERS = 10
POOL_SIZE = 3  # DATABASE_POOL_SIZE of each web process
SETTINGS = {
    'DATABASE_POOL_SIZE': POOL_SIZE,
    # Messages whose preview task was lost (a Redis restart empties the queue) are queued again soon.
    'PENDING_PREVIEWS_GRACE': 5,
    # Rate limits on, as in production, so that the flooder is cut off; the
    # load comes from one address and ten users, which they would rightly slow down.
    'RATELIMIT_ENABLED': 1,
    'RATELIMIT_POSTS_PER_USER': '100000 per minute',
    'RATELIMIT_TOKENS_PER_ADDRESS': '100000 per minute',
    'RATELIMIT_TOKENS_PER_NICKNAME': '100000 per minute',
    'RATELIMIT_REGISTRATIONS_PER_ADDRESS': '100000 per hour',
}
# The most connections (PostgreSQL, Redis) a process of each kind holds once
# its pools are full: a web process, DATABASE_POOL_SIZE and Flack's
# REDIS_MAX_CONNECTIONS (2), its subscription and Celery's producer; the
# worker, two to the broker in the main process, and per pool process
# (WORKER_CONCURRENCY, 1 by default) one to the database, Flack's one to
# Redis and Celery's producer (a task retried); the clock, one to the broker.
WORKER_PROCESSES = 1
POOLS = {
    'web': (POOL_SIZE, 2 + 1 + 1),
    'worker': (WORKER_PROCESSES, 2 + 2 * WORKER_PROCESSES),
    'clock': (0, 1),
}
READY_SECONDS = 90  # a process starting on a busy 2-core machine
SAMPLE_SECONDS = 5


def schedule(kind, minutes, seed, warmup, cooldown):
    """[(seconds after the load starts, fault kind)]: fixed (each kind once, in turn) or seeded at random."""
    duration = minutes * 60
    if kind == 'fixed':
        gap = (duration - warmup - cooldown) / len(KINDS)
        order = ('web_kill', 'worker_kill', 'redis_restart', 'web_term', 'clock_kill', 'postgres_restart')
        return [(warmup + i * gap, k) for i, k in enumerate(order)]
    rng = random.Random(seed)
    count = max(len(KINDS), round((duration - warmup - cooldown) / 75))
    kinds = list(KINDS) * math.ceil(count / len(KINDS))
    rng.shuffle(kinds)
    slot = (duration - warmup - cooldown) / len(kinds)
    return [(warmup + i * slot + rng.uniform(0, 0.5 * slot), k) for i, k in enumerate(kinds)]


class Soak:
    """Starts everything, runs the load and the faults, checks, and stops everything."""

    def __init__(self, minutes, seed, clients, faults='random', posters=2, readers=2, pace=1.0, grace=15):
        self.minutes, self.seed, self.clients, self.grace = minutes, seed, clients, grace
        self.posters, self.readers, self.pace = posters, readers, pace
        self.warmup = min(60, max(15, minutes * 60 * 0.1))
        self.cooldown = min(90, max(30, minutes * 60 * 0.2))
        self.plan = schedule(faults, minutes, seed, self.warmup, self.cooldown)
        self.rng = random.Random(f'{seed}-victims')
        self.run_id = time.strftime('%Y%m%d-%H%M%S')
        self.workdir = Path(tempfile.mkdtemp(prefix='flack-soak-'))
        self.windows = []  # (kind, start, end + grace, detail)
        self.memory = {}  # process name -> [(time, MiB)]
        self.started = {}  # process name -> time started
        self.webs, self.worker, self.clock = [], None, None
        self.database = self.redis = self.formation = self.page = self.node = self.load = None
        self._stopping = threading.Event()

    # --- starting and stopping -------------------------------------------

    def setup(self):
        self.database = PostgresServer().start()
        self.redis = RedisServer(self.workdir).start()
        self.formation = Formation(self.workdir, self.database.url, self.redis.url, **SETTINGS).release()
        self.webs = [self._start('web'), self._start('web')]
        self.worker, self.clock = self._start('worker'), self._start('clock')
        self.urls = Urls(self._web_urls())
        self.page = LocalServer('127.0.0.1')
        self.tokens = [self._new_user(n) for n in range(USERS)]

    def _start(self, process_type):
        process = self.formation.start(process_type, wait=False)
        if process_type == 'web':
            wait_for(process.healthy, f'{process.name} to answer /healthz', READY_SECONDS)
        if process_type == 'worker':
            wait_for(lambda: b' ready.' in process.output(), f'{process.name} to be ready', READY_SECONDS)
        if process_type == 'clock':
            wait_for(lambda: b'beat: Starting' in process.output(), f'{process.name} to start', READY_SECONDS)
        self.started[process.name] = time.time()
        return process

    def _web_urls(self):
        return [web.url for web in self.webs]

    def _new_user(self, number):
        url, nickname = self.webs[0].url, f'soak{number}'
        password = 'correct horse battery'
        answer = requests.post(
            f'{url}/api/users', json={'nickname': nickname, 'password': password}, timeout=15
        )
        answer.raise_for_status()
        answer = requests.post(f'{url}/api/tokens', auth=(nickname, password), timeout=15)
        answer.raise_for_status()
        return answer.json()['token']

    def teardown(self):
        """Stops whatever was started, in the reverse order; never raises."""
        for step in (self._stop_node, self._stop_load, self._stop_formation):
            try:
                step()
            except Exception as error:  # noqa: BLE001  (the rest must still stop)
                print(f'soak: while stopping: {error!r}')
        if self.page is not None:
            self.page.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.database is not None:
            self.database.remove()

    def _stop_node(self):
        if self.node is not None and self.node.poll() is None:
            try:
                self._tell({'stop': True})
                self.node.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.node.kill()
                self.node.wait()

    def _stop_load(self):
        if self.load is not None:
            self.load.stop()

    def _stop_formation(self):
        if self.formation is not None:
            self.formation.stop()

    # --- the websocket clients (Node) ------------------------------------

    def start_clients(self):
        options = {'clients': self.clients, 'urls': self._web_urls(), 'tokens': self.tokens}
        self.node = subprocess.Popen(
            ['node', str(CLIENTS_SCRIPT), json.dumps(options)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(self.workdir / 'clients.log', 'wb'),  # noqa: SIM115  (closed with the process)
            text=True,
        )
        wait_for(lambda: self._clients_connected() >= self.clients, 'the websocket clients', READY_SECONDS)

    def _tell(self, command):
        self.node.stdin.write(json.dumps(command) + '\n')
        self.node.stdin.flush()

    def _hear(self, event):
        """The next line the clients print of ``event``."""
        for _ in range(1000):
            line = self.node.stdout.readline()
            if not line:
                raise RuntimeError('the websocket clients exited')
            answer = json.loads(line)
            if answer['event'] == event:
                return answer
        raise RuntimeError(f'no {event} from the websocket clients')

    def _clients_connected(self):
        self._tell({'status': True})
        return self._hear('status')['connected']

    # --- measuring -------------------------------------------------------

    def connections(self):
        """(PostgreSQL sessions on Flack's database, Redis clients, those by last command), ours left out."""
        sessions = self.database.connections()
        client = redis.Redis(port=self.redis.port, socket_timeout=5)
        try:
            clients = [c for c in client.client_list() if c['cmd'] != 'client|list']
        finally:
            client.close()
        return sessions, len(clients), dict(Counter(c['cmd'] for c in clients))

    def connections_by_process(self):
        """{process name: (PostgreSQL connections, Redis connections)} of every running process."""
        held = {}
        for process in self._running():
            pids = [process.popen.pid, *descendants(process.popen.pid)]
            held[process.name] = (
                tcp_connections(pids, self.database.port),
                tcp_connections(pids, self.redis.port),
            )
        return held

    def sample_memory(self):
        """Resident memory (MiB) of every running formation process, with its children."""
        now = time.time()
        for process in self._running():
            # A web process's memory follows its clients: their number goes with each sample.
            clients = served_connections(process.port) if process.name.startswith('web.') else None
            self.memory.setdefault(process.name, []).append((now, resident_mib(process.popen.pid), clients))

    def _running(self):
        return [p for p in self.formation.processes if p.popen.poll() is None]

    def _sampler(self):
        while not self._stopping.wait(SAMPLE_SECONDS):
            self.sample_memory()

    # --- faults ----------------------------------------------------------

    def inject(self, kind):
        """Does the fault ``kind``, and comes back once the formation is whole again."""
        started = time.time()
        detail = getattr(self, f'_{kind}')()
        ended = time.time()
        self.windows.append((kind, started, ended + self.grace, detail))
        print(
            f'soak: {time.strftime("%H:%M:%S")} {kind} {detail} recovered in {ended - started:.1f} s',
            flush=True,
        )

    def _replace_web(self, victim):
        self.webs.remove(victim)
        self.urls.set(self._web_urls())
        self._tell({'urls': self._web_urls()})

    def _add_web(self):
        web = self._start('web')
        self.webs.append(web)
        self.urls.set(self._web_urls())
        self._tell({'urls': self._web_urls()})
        return web

    def _web_kill(self):
        victim = self.rng.choice(self.webs)
        victim.signal(signal.SIGKILL)
        victim.wait(timeout=10)
        self._replace_web(victim)
        return f'{victim.name} -> {self._add_web().name}'

    def _web_term(self):
        """A deploy: the new process is up before the old one gets SIGTERM."""
        victim = self.rng.choice(self.webs)
        new = self._add_web()
        self._replace_web(victim)
        victim.signal(signal.SIGTERM)
        code = victim.wait(timeout=40)
        return f'{victim.name} (exit {code}) -> {new.name}'

    def _worker_kill(self):
        old = self.worker
        old.signal(signal.SIGKILL)
        old.wait(timeout=10)
        self.worker = self._start('worker')
        return f'{old.name} -> {self.worker.name}'

    def _clock_kill(self):
        old = self.clock
        old.signal(signal.SIGKILL)
        old.wait(timeout=10)
        self.clock = self._start('clock')
        return f'{old.name} -> {self.clock.name}'

    def _redis_restart(self):
        self.redis.stop()
        time.sleep(2)
        self.redis.start()
        self._await_healthy()
        return f'port {self.redis.port}'

    def _postgres_restart(self):
        self.database.stop()
        time.sleep(3)
        self.database.start()
        self._await_healthy()
        return f'port {self.database.port}'

    def _await_healthy(self):
        for web in self.webs:
            wait_for(web.healthy, f'{web.name} to answer /healthz again', READY_SECONDS)

    # --- the run ---------------------------------------------------------

    def run(self):
        """Runs the load and the faults; returns the summary (see checks.py)."""
        from .checks import summarize

        self.setup()
        self.start_clients()
        self.load = Load(
            self.urls, self.tokens, self.run_id, self.page, self.seed, self.posters, self.readers, self.pace
        ).start()
        began = time.time()
        sampler = threading.Thread(target=self._sampler, daemon=True)
        sampler.start()
        self.sample_memory()
        _sleep_until(began + self.warmup - 2)
        before = (*self.connections(), self.connections_by_process())
        for at, kind in self.plan:
            _sleep_until(began + at)
            self.inject(kind)
        _sleep_until(began + self.minutes * 60)
        self.load.stop()
        self._stopping.set()
        sampler.join(timeout=10)
        self.sample_memory()
        ended = time.time()
        return summarize(self, began, ended, before)


def _sleep_until(moment):
    time.sleep(max(0.0, moment - time.time()))


def tcp_connections(pids, port):
    """How many established TCP connections to 127.0.0.1:``port`` the processes ``pids`` hold (from /proc)."""
    inodes = set()
    for line in Path('/proc/net/tcp').read_text().splitlines()[1:]:
        fields = line.split()
        remote, state, inode = fields[2], fields[3], fields[9]
        if state == '01' and remote == f'0100007F:{port:04X}':
            inodes.add(f'socket:[{inode}]')
    count = 0
    for pid in pids:
        try:
            descriptors = list(Path(f'/proc/{pid}/fd').iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                count += os.readlink(descriptor) in inodes
            except OSError:
                continue
    return count


def served_connections(port):
    """How many established TCP connections the server on ``port`` holds (from /proc)."""
    local = f':{port:04X}'
    lines = (
        Path('/proc/net/tcp').read_text().splitlines()[1:]
        + Path('/proc/net/tcp6').read_text().splitlines()[1:]
    )
    return sum(1 for line in lines if line.split()[1].endswith(local) and line.split()[3] == '01')


def resident_mib(pid):
    """Resident memory of ``pid`` and its descendants, in MiB (from /proc)."""
    total = 0
    for current in [pid, *descendants(pid)]:
        try:
            status = Path(f'/proc/{current}/status').read_text()
        except OSError:
            continue
        match = re.search(r'^VmRSS:\s+(\d+) kB', status, re.MULTILINE)
        total += int(match.group(1)) if match else 0
    return round(total / 1024, 1)
