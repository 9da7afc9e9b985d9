"""gunicorn settings for the web process (the Procfile's ``web``).

Each value answers a platform rule; the settings come from flack.config,
which reads the environment for the whole application.
"""

import logging
import signal

from flack.config import load_web_server_settings

settings = load_web_server_settings()

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
# Logs go to stdout, one line per event; the access line names no query
# string (it could carry anything a client typed).
accesslog = '-'
errorlog = '-'
loglevel = settings['log_level']
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
