"""gunicorn settings for the web process (the Procfile's ``web``).

Each value answers a platform rule; the settings come from flack.config,
which reads the environment for the whole application.
"""

import gc
import logging
import signal
import warnings

from flack.config import INSTANCE_PATH, exit_on_config_error, load_settings, load_web_server_settings

# Every setting is checked here, in the master, so that a wrong one stops
# the process with one line before any worker starts.
exit_on_config_error(load_settings, INSTANCE_PATH)
settings = exit_on_config_error(load_web_server_settings)

# eventlet warns at import that it is in maintenance mode (the architecture
# notes say why Flack keeps it), in a multi-line message no log drain reads.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')

# The platform routes traffic to $PORT on every interface.
bind = f'0.0.0.0:{settings["port"]}'
# The green-thread library (ASYNC_MODE); the worker monkey-patches the
# process before it imports flack.wsgi.
worker_class = settings['async_mode']
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
# per worker would turn client number 1001 away.
worker_connections = 10000
# The platform sends SIGTERM and kills after 30 s: finish in-flight
# requests within 25 s.
graceful_timeout = 25
# Longer than the router's idle timeout, so the router closes idle
# connections first and never sends a request into a closing socket.
keepalive = 95
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
    'handlers': {
        'stdout': {'class': 'logging.StreamHandler', 'stream': 'ext://sys.stdout', 'formatter': 'key_value'},
    },
    # The application adds its own handler to the root logger (flack.logs).
    'root': {'handlers': [], 'level': 'WARNING'},
    'loggers': {
        'gunicorn.error': {
            'handlers': ['stdout'],
            'level': settings['log_level'].upper(),
            'propagate': False,
        },
        'gunicorn.access': {'handlers': ['stdout'], 'level': 'INFO', 'propagate': False},
    },
}
access_log_format = (
    'event=request method=%(m)s path="%(U)s" status=%(s)s bytes=%(B)s '
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
    # Every collection pauses all connected clients at once. What the app
    # loaded lives as long as the process, so it is kept out of the scans;
    # and a request allocates thousands of objects (the ORM, the schemas),
    # several collections' worth at the default threshold of 700: measured
    # with bench/, a higher one took the fan-out p99 at 1000 clients from
    # about 145 ms to about 90 ms. Cycles are still collected, less often.
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
