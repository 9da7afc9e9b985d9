"""Running Flack for real: the Procfile's commands on a free loopback port."""

import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests
import socketio
import websocket

ROOT = Path(__file__).resolve().parent.parent
# A loop that waits for something the server does in the background gives
# up after this long; it normally ends within a fraction of it.
PATIENCE = 20


def flack_settings():
    """The names of Flack's settings: every variable ``.env.example`` documents, set or commented out."""
    return set(re.findall(r'^(?:# )?([A-Z][A-Z0-9_]*)=', (ROOT / '.env.example').read_text(), re.MULTILINE))


def child_environ(settings=None):
    """The environment for a process the tests start: this one's, with Flack's ``settings`` given here.

    Everything else is inherited, as on a platform: Heroku's Python, for one,
    cannot load without the ``LD_LIBRARY_PATH`` the dyno sets. Flack's own
    settings are dropped first, so that none leaks in from the developer's
    shell or the CI dyno (which sets ``DATABASE_URL``, ``REDIS_URL``, ``PORT``
    and ``WEB_CONCURRENCY``), and ``.env`` files are not read, so that each
    process runs with exactly the ``settings`` given (a mapping of names to
    values; a value of None leaves the variable unset).
    """
    environ = {key: value for key, value in os.environ.items() if key not in flack_settings()}
    # The virtual environment's bin comes first, as on a platform's slug.
    environ['PATH'] = f'{Path(sys.executable).parent}{os.pathsep}{os.environ.get("PATH", "")}'
    # python-dotenv (wsgi.py, worker.py) and Flask's command line would read a .env in the checkout.
    environ.update(PYTHON_DOTENV_DISABLED='1', FLASK_SKIP_DOTENV='1')
    for key, value in (settings or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = str(value)
    return environ


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def descendants(pid):
    """The processes started from ``pid`` (its children, theirs...), as ``/proc`` shows them now."""
    children = defaultdict(list)
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                # The parent's pid follows the program name, which may hold spaces and parentheses.
                parent = int((entry / 'stat').read_text().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):  # ended meanwhile
                continue
            children[parent].append(int(entry.name))
    found, pending = [], list(children[pid])
    while pending:
        child = pending.pop()
        if child not in found:  # a pid reused while /proc was read could make a loop
            found.append(child)
            pending.extend(children[child])
    return found


def procfile_commands():
    """The Procfile's process types and their command lines."""
    commands = {}
    for line in (ROOT / 'Procfile').read_text().splitlines():
        if line.strip() and not line.startswith('#'):
            name, command = line.split(':', 1)
            commands[name.strip()] = command.strip()
    return commands


def wait_for(condition, what, patience=PATIENCE):
    """Poll ``condition`` until it returns something true; fail after ``patience``."""
    deadline = time.monotonic() + patience
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f'gave up waiting for {what}')
        time.sleep(0.05)


def answers_healthz(url, process, log_path):
    """Whether the web process at ``url`` answers; fails at once if it has exited."""
    if process.poll() is not None:
        raise AssertionError(f'the process exited:\n{log_path.read_text(errors="replace")[-5000:]}')
    try:
        return requests.get(f'{url}/healthz', timeout=2).status_code == 200
    except requests.RequestException:  # not listening yet, or still booting
        return False


class LiveFlack:
    """The release and web processes of the Procfile, run as the platform would."""

    def __init__(self, tmp_path, **settings):
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.log = tmp_path / f'web-{self.port}.log'
        self.environ = child_environ(
            {
                'SECRET_KEY': secrets.token_hex(32),  # as strong as production asks
                'PORT': self.port,
                'DATABASE_URL': f'sqlite:///{tmp_path / "live.sqlite"}',
                **settings,
            }
        )
        self.process = None

    def run(self, process_type, **kwargs):
        """Run a Procfile command to its end, in bash as a platform does."""
        command = ['bash', '-c', procfile_commands()[process_type]]
        return subprocess.run(command, cwd=ROOT, env=self.environ, check=True, **kwargs)

    def start(self):
        self.run('release', capture_output=True)
        with open(self.log, 'wb') as log:
            self.process = subprocess.Popen(
                ['bash', '-c', procfile_commands()['web']],
                cwd=ROOT,
                env=self.environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._healthy, f'the web process on port {self.port}')
        return self

    def _healthy(self):
        return answers_healthz(self.url, self.process, self.log)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Listener:
    """A python-socketio client that records the ``updated_model`` events it hears."""

    def __init__(self, server, transports=None, auth=None):
        self.url = server if isinstance(server, str) else server.url
        self.events = []
        self._lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        self.client.on('updated_model', self._record)
        self.client.connect(self.url, transports=transports, auth=auth, wait_timeout=10)

    def _record(self, payload):
        with self._lock:
            self.events.append(payload)

    def messages(self):
        with self._lock:
            return [e['model'] for e in self.events if e['class'] == 'Message']

    def users(self):
        with self._lock:
            return [e['model'] for e in self.events if e['class'] == 'User']

    def channels(self):
        with self._lock:
            return [e['model'] for e in self.events if e['class'] == 'Channel']

    def close(self):
        self.client.disconnect()


def raw_socketio(server, join=True, check=True, **options):
    """A bare websocket to ``server`` (a LiveFlack or its URL), through the Engine.IO open.

    If ``join``, the Socket.IO connect too. With ``check``, fails unless the
    server's answers are those of a handshake that went through; a flooder,
    as an attacker, does not look. ``options`` go to websocket-client's
    ``create_connection`` (``timeout``, ``sockopt``...).
    """
    url = (server if isinstance(server, str) else server.url).replace('http', 'ws', 1)
    ws = websocket.create_connection(f'{url}/socket.io/?EIO=4&transport=websocket', **options)
    opened = ws.recv()  # Engine.IO open
    if check:
        assert opened.startswith('0{'), f'no Engine.IO open: {opened!r}'
    if join:
        ws.send('40')  # Socket.IO connect to the default namespace
        joined = ws.recv()
        if check:
            assert joined.startswith('40{'), f'no Socket.IO connect: {joined!r}'
    return ws
