"""Connecting to Redis: the one place that knows its TLS options and how many
connections each process may open (the plans count every one of them)."""

import functools
import logging
import ssl

import redis
import socketio

log = logging.getLogger(__name__)

# How long a thread (or green thread) waits for a free connection of a full
# pool before the call fails as if Redis were away: longer than a command
# takes (socket_timeout), short enough not to hold a request for long.
POOL_TIMEOUT = 5


def redis_options(config):
    """Keyword arguments for redis-py (and Celery) for ``REDIS_URL``."""
    if not config['REDIS_URL'].startswith('rediss://'):
        return {}
    # Managed Redis add-ons present self-signed certificates: the link is
    # encrypted, but the certificate can only be checked where asked to.
    return {'ssl_cert_reqs': ssl.CERT_REQUIRED if config['REDIS_TLS_VERIFY'] else ssl.CERT_NONE}


def max_connections(config, process):
    """How many connections Flack's own pool opens at most in ``process``.

    A web process runs many requests at once and shares ``REDIS_MAX_CONNECTIONS``
    among them; a Celery pool child (or the clock) does one thing at a time
    and needs one.
    """
    return config['REDIS_MAX_CONNECTIONS'] if process in ('web', 'cli') else 1


def connect(config, max_connections):
    """A client for ``REDIS_URL`` on a pool of at most ``max_connections``.

    Presence, /stats, the rate limits and the Socket.IO events a process
    sends all share it. When every connection is busy, a caller waits for
    one (a green thread yields meanwhile) instead of opening another: the
    redis-py default would open one per concurrent caller, about one per
    connected client at a peak. It fails fast while Redis is away.
    """
    pool = redis.BlockingConnectionPool.from_url(
        config['REDIS_URL'],
        max_connections=max_connections,
        timeout=POOL_TIMEOUT,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
        **redis_options(config),
    )
    return redis.Redis(connection_pool=pool)


class SocketIOManager(socketio.RedisManager):
    """python-socketio's Redis manager, on Flack's bounded connections.

    Events are published through the process's shared ``client``; a manager
    that also listens (in a web process) holds one more connection for its
    subscription. The stock manager makes a new, unbounded pool at each
    (re)connection instead.
    """

    def __init__(self, client, config, **kwargs):
        super().__init__(config['REDIS_URL'], **kwargs)
        self.client = client
        self.subscriber = None
        if not self.write_only:
            # A subscription blocks on its socket until a message comes:
            # no socket timeout here, unlike the shared client.
            self.subscriber = redis.Redis(
                connection_pool=redis.BlockingConnectionPool.from_url(
                    config['REDIS_URL'], max_connections=1, timeout=POOL_TIMEOUT, **redis_options(config)
                )
            )
        self.resync_pending = False

    def _redis_connect(self):
        self.redis = self.client
        if self.subscriber is not None:
            if self.pubsub is not None:
                if self.pubsub.subscribed:  # it was listening: events may have been missed
                    self._resync_clients_once_subscribed()
                self.pubsub.close()  # give its one connection back before taking it again
            self.pubsub = self.subscriber.pubsub(ignore_subscribe_messages=True)
        self.connected = True

    def _resync_clients_once_subscribed(self):
        """After a lost subscription, have this process's clients read what they missed.

        Redis keeps nothing for a channel nobody listens to: what was
        published while the subscription was down (a Redis restart, say)
        never reaches this process's clients. Once it is back, they are
        disconnected at the transport, as on a restart of this process, so
        that they reconnect at once and read what they missed with
        ``updated_since``, as clients do after every reconnect.
        """
        if self.resync_pending:
            return
        self.resync_pending = True
        self.server.start_background_task(self._resync_clients)

    def _resync_clients(self):
        while self.pubsub is None or not self.pubsub.subscribed:
            self.server.sleep(0.1)
        self.resync_pending = False
        log.warning(
            'event=socketio_resync reason="the Redis subscription was lost" clients=%s',
            len(self.server.eio.sockets),
        )
        self.server.eio.disconnect()


def survives_outage(default):
    """Make a Redis call answer ``default`` (and log) while Redis is unreachable.

    Presence and statistics are worth less than the request that records
    them: an outage degrades them for a while, and never fails a request.
    """

    def decorate(method):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except redis.RedisError as error:
                log.warning(
                    'event=redis_unavailable call=%s error=%s', method.__qualname__, type(error).__name__
                )
                return default() if callable(default) else default

        return wrapper

    return decorate
