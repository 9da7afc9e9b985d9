"""Flack in its scaled mode: the Procfile's processes on a real PostgreSQL and Redis."""

import os
import secrets
import signal
import subprocess

from .live import ROOT, answers_healthz, child_environ, free_port, procfile_commands, wait_for


class Formation:
    """Starts the Procfile's process types one by one, as a platform's dynos.

    Each process runs its Procfile command line in bash, with its own PORT,
    in a process group of its own so that a test can kill it whole (a Celery
    worker with its pool children, say).
    """

    def __init__(self, tmp_path, database_url, redis_url, **settings):
        self.tmp_path = tmp_path
        self.environ = child_environ(
            {
                'FLACK_ENV': 'production',
                'SECRET_KEY': secrets.token_hex(32),  # as strong as production asks
                'DATABASE_URL': database_url,
                'REDIS_URL': redis_url,
                'LINK_PREVIEWS_ALLOW_PRIVATE': '1',
                'LINK_PREVIEW_TIMEOUT': '10',
                'SOCKETIO_TRANSPORTS': 'websocket',
                'PYTHONWARNINGS': 'ignore::DeprecationWarning',
                **settings,
            }
        )
        self.processes = []
        self._counts = {}

    def release(self):
        subprocess.run(
            ['bash', '-c', procfile_commands()['release']],
            cwd=ROOT,
            env=self.environ,
            check=True,
            capture_output=True,
        )
        return self

    def start(self, process_type, wait=True):
        """Start one process of ``process_type``; a web process is awaited on /healthz."""
        number = self._counts[process_type] = self._counts.get(process_type, 0) + 1
        name = f'{process_type}.{number}'
        port = free_port()
        log = open(self.tmp_path / f'{name}.log', 'wb')  # noqa: SIM115  (closed with the process)
        process = subprocess.Popen(
            ['bash', '-c', procfile_commands()[process_type]],
            cwd=ROOT,
            env={**self.environ, 'PORT': str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        running = Process(name, process, port, log, self.tmp_path / f'{name}.log')
        self.processes.append(running)
        if wait and process_type == 'web':
            wait_for(running.healthy, f'{name} to answer /healthz')
        if wait and process_type == 'worker':
            wait_for(lambda: b' ready.' in running.output(), f'{name} to be ready')
        return running

    def stop(self):
        for process in self.processes:
            process.signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(timeout=40)

    def logs(self):
        return '\n'.join(
            f'--- {p.name}\n{p.output().decode(errors="replace")[-3000:]}' for p in self.processes
        )


class Process:
    """One running process of the formation."""

    def __init__(self, name, popen, port, log, log_path):
        self.name = name
        self.popen = popen
        self.port = port
        self.url = f'http://127.0.0.1:{port}'
        self._log = log
        self._log_path = log_path

    def healthy(self):
        return answers_healthz(self.url, self.popen, self._log_path)

    def output(self):
        return self._log_path.read_bytes()

    def signal(self, signum):
        """Send ``signum`` to the whole process group, as a platform does to a dyno."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signum)
            except ProcessLookupError:
                pass

    def wait(self, timeout):
        """Wait for the process to end; kill it if it outlives ``timeout``. Returns its exit code."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait()
            return None
        finally:
            self._log.close()
