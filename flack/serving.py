"""The web process's gunicorn workers: connections bounded in time and per address.

gunicorn's eventlet and gevent workers (``AsyncWorker.handle``) read each
request's line and headers under ``timeout_ctx()``, a timer of ``keepalive``
seconds, and gunicorn has no other header timeout. ``keepalive`` must outlast
the router's idle keep-alive (see gunicorn.conf.py), so a connection that
never sent a byte held a green thread and one of ``worker_connections`` slots
for 95 s: 10,000 of them and nobody else got in. These workers are gunicorn's
own with two changes:

- the first request of a connection must have sent its headers within
  ``REQUEST_HEADER_TIMEOUT`` seconds of the accept (idle connections and
  slowloris clients trickling header bytes are closed then); the wait between
  requests stays ``keepalive``. A request being answered (a long poll, a
  websocket) is not under this timer: Engine.IO's ping timeout bounds those.
- a worker keeps at most ``MAX_CONNECTIONS_PER_ADDRESS`` connections open
  from one peer address (0: no cap); one more is answered 503 and closed.
- on SIGTERM, connections waiting for their next request are closed at once:
  gunicorn waits for every connection to end, and an idle keep-alive one
  would have held the worker for the whole graceful timeout.

gunicorn.conf.py names them in ``worker_class`` (``flack.serving.EventletWorker``
or ``flack.serving.GeventWorker``). Each class is built when gunicorn asks for
it, because importing gunicorn's eventlet worker monkey-patches the process:
only the one ``ASYNC_MODE`` chose may be imported.
"""

import contextlib
import logging
import resource
import socket

from greenlet import getcurrent

from .config import load_web_server_settings

log = logging.getLogger('gunicorn.error')

# File descriptors a worker keeps for what it opens besides its clients:
# listening sockets, database and Redis connections, static files, pipes.
# The rest go to worker_connections, so that a full worker stops accepting
# (connections wait in the listen backlog) rather than failing accept() with
# EMFILE, which ends the eventlet worker's accept loop for good.
RESERVED_FILES = 256
# When the hard limit is unlimited: Linux's default ceiling (fs.nr_open).
NR_OPEN = 1_048_576
REFUSAL = (
    b'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 5\r\n\r\n'
)


def raise_open_files_limit():
    """Raise this process's soft limit on open files to its hard limit and
    return the limit in force. Every connection is a file descriptor; the soft
    limit is often 1024 while the hard one allows far more."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = NR_OPEN if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft


def worker_connections(open_files_limit):
    """Clients one worker may hold: what the open files limit leaves."""
    return max(open_files_limit - RESERVED_FILES, 64)


class ConnectionLimits:
    """The two changes, on top of gunicorn's ``AsyncWorker`` subclass."""

    timeout_class = None  # eventlet.Timeout or gevent.Timeout

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        settings = load_web_server_settings()
        self.header_timeout = settings['request_header_timeout']
        self.per_address = settings['max_connections_per_address']
        self.open_by_address = {}
        self.refused_addresses = set()
        self.awaiting_first_request = set()
        self.clients = {}  # connection (its green thread) -> its socket
        self.between_requests = set()

    def handle(self, listener, client, addr):
        address = addr[0] if isinstance(addr, tuple) else str(addr)
        count = self.open_by_address.get(address, 0)
        if self.per_address and count >= self.per_address:
            self.refuse(client, address)
            return
        self.open_by_address[address] = count + 1
        connection = getcurrent()
        self.awaiting_first_request.add(connection)
        self.clients[connection] = client
        try:
            super().handle(listener, client, addr)
        finally:
            self.awaiting_first_request.discard(connection)
            self.between_requests.discard(connection)
            del self.clients[connection]
            count = self.open_by_address.pop(address) - 1
            if count:
                self.open_by_address[address] = count
            else:
                self.refused_addresses.discard(address)

    def refuse(self, client, address):
        # Logged once while the address stays at its cap, not once per try.
        if address not in self.refused_addresses:
            self.refused_addresses.add(address)
            log.warning(
                'event=connection_refused address=%s reason=max_connections_per_address limit=%s',
                address,
                self.per_address,
            )
        try:
            client.send(REFUSAL)  # fits in an empty send buffer: never waits
        except OSError:
            pass
        finally:
            client.close()

    def timeout_ctx(self):
        """The timer around reading a request's line and headers."""
        connection = getcurrent()
        if connection in self.awaiting_first_request:
            self.awaiting_first_request.discard(connection)
            timer = self.timeout_class(self.header_timeout, False)
        else:
            timer = super().timeout_ctx()
        return self._waiting_for_request(connection, timer)

    @contextlib.contextmanager
    def _waiting_for_request(self, connection, timer):
        self.between_requests.add(connection)
        if not self.alive:  # stopping already: no next request
            self._end(connection)
        try:
            with timer:
                yield
        finally:
            self.between_requests.discard(connection)

    def handle_exit(self, sig, frame):
        super().handle_exit(sig, frame)  # stop accepting; finish what is being answered
        for connection in list(self.between_requests):
            self._end(connection)

    def _end(self, connection):
        """End a connection waiting for its next request: its read returns at once."""
        try:
            self.clients[connection].shutdown(socket.SHUT_RDWR)
        except (KeyError, OSError):
            pass


def __getattr__(name):
    """``EventletWorker`` or ``GeventWorker``, built on first use."""
    if name == 'EventletWorker':
        import eventlet
        from gunicorn.workers.geventlet import EventletWorker as base

        timeout = eventlet.Timeout
    elif name == 'GeventWorker':
        import gevent
        from gunicorn.workers.ggevent import GeventWorker as base

        timeout = gevent.Timeout
    else:
        raise AttributeError(name)
    worker = type(name, (ConnectionLimits, base), {'timeout_class': timeout, '__module__': __name__})
    globals()[name] = worker
    return worker
