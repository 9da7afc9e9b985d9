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
  from one peer address (0: no cap); one more is answered 503 (JSON, as
  flack.gunicorn_errors answers) and closed.
- on SIGTERM, connections waiting for their next request, and websockets
  whose socket is already closed, are ended at once: gunicorn waits for
  every connection to end, and each of these would have held the worker
  for the whole graceful timeout.

gunicorn.conf.py names them in ``worker_class`` (``flack.serving.EventletWorker``
or ``flack.serving.GeventWorker``). Each class is built when gunicorn asks for
it, because importing gunicorn's eventlet worker monkey-patches the process:
only the one ``ASYNC_MODE`` chose may be imported.
"""

import errno
import functools
import logging
import resource
from http import HTTPStatus
from types import SimpleNamespace

from greenlet import getcurrent

from .config import load_web_server_settings

log = logging.getLogger('gunicorn.error')

# File descriptors a worker keeps for what it opens besides its clients:
# listening sockets, database and Redis connections, static files, pipes.
# The rest go to worker_connections, so that a full worker stops accepting
# (connections wait in the listen backlog) rather than failing accept() with
# EMFILE, which ends the eventlet worker's accept loop for good.
RESERVED_FILES = 256
# Seconds between two looks for connections to end, while stopping.
IDLE_CONNECTIONS_CHECK = 0.2
# When the hard limit is unlimited: Linux's default ceiling (fs.nr_open).
NR_OPEN = 1_048_576
REFUSAL_MESSAGE = 'Too many connections from your address; try again later.'
REFUSAL_RETRY_AFTER = 5  # seconds


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


@functools.cache
def refusal():
    """The answer to a connection over the per-address cap: a JSON 503, as gunicorn's own errors."""
    # Imported in the worker, on first use: flack.gunicorn_errors imports
    # Flask, which the master (gunicorn.conf.py imports this module) must not.
    from .gunicorn_errors import error_answer

    retry_after = {'Retry-After': str(REFUSAL_RETRY_AFTER)}
    return error_answer(HTTPStatus.SERVICE_UNAVAILABLE, REFUSAL_MESSAGE, retry_after)


class ConnectionLimits:
    """The two changes, on top of gunicorn's ``AsyncWorker`` subclass."""

    green = None  # the green-thread library: eventlet or gevent
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
            client.send(refusal())  # fits in an empty send buffer: never waits
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
        return _WaitingForRequest(self, connection, timer)

    def handle_exit(self, sig, frame):
        super().handle_exit(sig, frame)  # stop accepting; finish what is being answered
        self.green.spawn(self._end_idle_connections)  # not from within a signal handler

    def _end_idle_connections(self):
        """While stopping, end the connections that wait for a read that will not come.

        gunicorn waits for every connection to end, up to the graceful
        timeout: a keep-alive connection waiting for its next request would
        hold the worker that long, and so would a websocket whose read
        eventlet leaves waiting on its socket once it is closed (as
        gunicorn.conf.py closes every Socket.IO connection on SIGTERM). Each
        such read is told the connection is gone; requests being answered
        are left to finish.
        """
        gone = OSError(errno.ENOTCONN, 'the worker is stopping')  # gunicorn ends the connection quietly
        while self.clients:
            for connection, client in list(self.clients.items()):
                if connection in self.between_requests or client.fileno() == -1:
                    self.green.kill(connection, gone)
            self.green.sleep(IDLE_CONNECTIONS_CHECK)


class _WaitingForRequest:
    """The timer around reading a request, with the connection counted as
    waiting meanwhile (``ConnectionLimits.handle_exit`` ends those)."""

    def __init__(self, worker, connection, timer):
        self.worker, self.connection, self.timer = worker, connection, timer

    def __enter__(self):
        if not self.worker.alive:
            # Stopping already: no next request. gunicorn closes a connection
            # on StopIteration; reading instead could wait for ever on a
            # socket a websocket closed.
            raise StopIteration('the worker is stopping')
        self.worker.between_requests.add(self.connection)
        return self.timer.__enter__()

    def __exit__(self, *exc_info):
        self.worker.between_requests.discard(self.connection)
        return self.timer.__exit__(*exc_info)


def __getattr__(name):
    """``EventletWorker`` or ``GeventWorker``, built on first use."""
    if name == 'EventletWorker':
        import eventlet
        from gunicorn.workers.geventlet import EventletWorker as base

        timeout = eventlet.Timeout
        green = SimpleNamespace(spawn=eventlet.spawn, sleep=eventlet.sleep, kill=eventlet.greenthread.kill)
    elif name == 'GeventWorker':
        import gevent
        from gunicorn.workers.ggevent import GeventWorker as base

        timeout = gevent.Timeout
        green = SimpleNamespace(
            spawn=gevent.spawn,
            sleep=gevent.sleep,
            kill=lambda greenlet, error: greenlet.kill(error, block=False),
        )
    else:
        raise AttributeError(name)
    worker = type(
        name,
        (ConnectionLimits, base),
        {'green': green, 'timeout_class': timeout, '__module__': __name__},
    )
    globals()[name] = worker
    return worker
