"""gunicorn settings for the web process (the Procfile's ``web``).

Each value answers a platform rule; the settings come from flack.config,
which reads the environment for the whole application.
"""

import gc
import logging
import signal
import socket
import warnings

from flack import serving
from flack.config import INSTANCE_PATH, exit_on_config_error, load_settings, load_web_server_settings

# Every setting is checked here, in the master, so that a wrong one stops
# the process with one line before any worker starts.
exit_on_config_error(load_settings, INSTANCE_PATH)
settings = exit_on_config_error(load_web_server_settings)

# eventlet warns at import that it is in maintenance mode (docs/architecture.md
# says why Flack keeps it), in a multi-line message no log drain reads;
# gunicorn 25 warns that its eventlet worker goes in 26, at import and in a
# log line at every boot (dropped by the filter below). The README's "How it
# runs" answers both: gunicorn stays on 25, and ASYNC_MODE=gevent leaves
# eventlet behind.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
warnings.filterwarnings('ignore', message='The eventlet worker is deprecated', category=DeprecationWarning)
# Any other warning (with PYTHONWARNINGS set, say) is a log line like the rest
# (logger py.warnings below), not several lines on stderr.
logging.captureWarnings(True)


def all_interfaces(port):
    """Where the platform's router reaches $PORT: the older generation routes
    over IPv4, the newer (Heroku's Fir) over IPv6 only, to ``[::]:$PORT``.
    On Linux an IPv6 socket on ``::`` takes IPv4 too, unless the host says
    IPv6 sockets are IPv6-only (bindv6only); then IPv4 needs a socket of
    its own (with both on a dual-stack host the second bind would fail).
    A host without IPv6 gets IPv4 alone."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(('::', 0))
            v6_only = probe.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
    except OSError:
        return [f'0.0.0.0:{port}']
    return [f'0.0.0.0:{port}', f'[::]:{port}'] if v6_only else [f'[::]:{port}']


# `manage.py run` (and `make run`) replaces this with 127.0.0.1 on its
# command line, which gunicorn reads after this file.
bind = all_interfaces(settings['port'])
# The green-thread library (ASYNC_MODE): gunicorn's eventlet or gevent
# worker, with a header timeout for new connections and a cap per address
# (flack.serving explains both). The worker monkey-patches the process
# before it imports flack.wsgi.
worker_class = {'eventlet': 'flack.serving.EventletWorker', 'gevent': 'flack.serving.GeventWorker'}[
    settings['async_mode']
]
# The platform sets WEB_CONCURRENCY; more than one worker needs Redis and
# websocket-only clients, so otherwise one is used (see flack.config).
workers = settings['workers']
if workers < settings['requested_workers']:
    logging.getLogger('gunicorn.error').warning(
        'event=web_concurrency_reduced requested=%s used=1 '
        'reason="needs REDIS_URL and SOCKETIO_TRANSPORTS=websocket"',
        settings['requested_workers'],
    )
# Every chat client holds a connection open; gunicorn's default of 1000
# per worker would turn client number 1001 away. Each one is a file
# descriptor: the soft limit is raised to the hard one (the workers inherit
# it), and a worker takes as many clients as that leaves, so that idle
# connections (closed after REQUEST_HEADER_TIMEOUT) do not keep everyone
# else out while they last.
open_files_limit = serving.raise_open_files_limit()
worker_connections = serving.worker_connections(open_files_limit)
# The platform sends SIGTERM and kills after 30 s: finish in-flight
# requests within 25 s.
graceful_timeout = 25
# Longer than the router's idle timeout (Heroku's Router 2.0 closes a
# keep-alive connection to a dyno after 90 s idle), so the router closes
# idle connections first and never sends a request into a closing socket.
# A new connection gets REQUEST_HEADER_TIMEOUT for its first request instead.
keepalive = 95
# gunicorn believes X-Forwarded-Proto from 127.0.0.1 and ::1 by default, so a
# client on this machine could claim HTTPS: TRUSTED_PROXY_HOPS says (flack.config).
forwarded_allow_ips = settings['forwarded_allow_ips']
# A believed peer's SCRIPT_NAME header would move the path; no proxy here sends one.
forwarder_headers = ''
# gunicorn's control socket (a file in the home folder) is of no use on a
# platform; the web process opens nothing but its port.
control_socket_disable = True
# Logs go to stdout, one key=value line per event, gunicorn's own too; the
# access line names no query string (it could carry anything a client typed).
accesslog = '-'
errorlog = '-'
loglevel = settings['log_level']
logconfig_dict = {
    'version': 1,
    'disable_existing_loggers': False,
    'formatters': {'key_value': {'()': 'flack.logs.KeyValueFormatter'}},
    'filters': {
        # The eventlet worker's deprecation notice, logged at every boot;
        # answered once, in the README, instead.
        'answered': {'()': 'flack.logs.DropMessages', 'prefixes': ['The eventlet worker is DEPRECATED']},
    },
    'handlers': {
        'stdout': {'class': 'logging.StreamHandler', 'stream': 'ext://sys.stdout', 'formatter': 'key_value'},
    },
    # The application adds its own handler to the root logger (flack.logs).
    'root': {'handlers': [], 'level': 'WARNING'},
    'loggers': {
        'gunicorn.error': {
            'handlers': ['stdout'],
            'filters': ['answered'],
            'level': settings['log_level'].upper(),
            'propagate': False,
        },
        'gunicorn.access': {'handlers': ['stdout'], 'level': 'INFO', 'propagate': False},
        'py.warnings': {'handlers': ['stdout'], 'propagate': False},
    },
}
# Every value of the access line comes from the client or answers it: the
# logger writes each as one value (flack.gunicorn_logging), so that a
# %0d%0a in the path or a header with spaces cannot add lines or pairs; the
# path is always in quotes, path="/api/users".
logger_class = 'flack.gunicorn_logging.Logger'
access_log_format = (
    'event=request method=%(m)s path=%(U)s status=%(s)s bytes=%(B)s '
    'duration_ms=%(M)s request_id=%({x-request-id}i)s'
)


def post_worker_init(worker):
    """On SIGTERM, stop accepting (gunicorn's own handling), and also close
    the Socket.IO connections: they would otherwise keep the worker alive
    until the graceful timeout, with their clients waiting on a process that
    is going away instead of reconnecting to another one."""
    stop_accepting = worker.handle_exit

    def handle_exit(sig, frame):
        stop_accepting(sig, frame)
        from flack.wsgi import close_client_connections

        close_client_connections()

    signal.signal(signal.SIGTERM, handle_exit)
    # A request gunicorn refuses before the application sees it (a malformed
    # line or header, too many headers) is answered in the API's JSON error
    # shape, not gunicorn's HTML page. Imported here, in the worker, once the
    # application is loaded: flack.gunicorn_errors imports Flask.
    from flack.gunicorn_errors import answer_in_json

    worker.handle_error = answer_in_json(worker.handle_error)
    # Every collection pauses all connected clients at once. What the app
    # loaded lives as long as the process, so it is kept out of the scans;
    # and a request allocates thousands of objects (the ORM, the schemas),
    # several collections' worth at the default threshold of 700: measured
    # with bench/, a higher one took the fan-out p99 at 1000 clients from
    # about 145 ms to about 90 ms. Cycles are still collected, less often.
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def when_ready(server):
    """One line saying how many connections a worker holds, and for how long
    without a request: what bounds the web process under idle connections."""
    server.log.info(
        'event=connection_limits open_files=%s worker_connections=%s '
        'request_header_timeout=%s keepalive=%s max_connections_per_address=%s',
        open_files_limit,
        worker_connections,
        settings['request_header_timeout'],
        keepalive,
        settings['max_connections_per_address'],
    )
