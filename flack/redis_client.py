"""Connecting to Redis: the one place that knows its TLS options and how many
connections each process may open (the plans count every one of them)."""

import functools
import logging
import ssl

import redis
import socketio
from flask import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

# How long a thread (or green thread) waits for a free connection of a full
# pool before the call fails as if Redis were away: longer than a command
# takes (socket_timeout), short enough not to hold a request for long.
POOL_TIMEOUT = 5
EXTENSION = 'flack.redis'


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


def init_app(app, process):
    """Give ``app`` the one bounded pool of ``process`` (scaled mode)."""
    app.extensions[EXTENSION] = connect(app.config, max_connections(app.config, process))
    return app.extensions[EXTENSION]


def connection(app=None):
    """The Redis client of ``app`` (default: the current app), on its process's pool."""
    return (app or current_app).extensions[EXTENSION]


# The event that announces a committed change (flack.realtime.broadcast).
CHANGE_EVENT = 'updated_model'


class SocketIOManager(socketio.RedisManager):
    """python-socketio's Redis manager, on Flack's bounded connections.

    Events are published through the process's shared ``client``; a manager
    that also listens (in a web process) holds one more connection for its
    subscription. The stock manager makes a new, unbounded pool at each
    (re)connection instead.

    Redis keeps nothing for a channel nobody listens to: what other
    processes published while this one's subscription was down (a Redis
    restart, say) never reaches its clients. So each time the subscription
    is back, the clients are disconnected at the transport, as on a restart
    of this process, to reconnect at once and read what they missed with
    ``updated_since`` (the latest change they heard, less a second), as
    clients do after every reconnect. For that to miss nothing, a client
    must hear no change newer than the ones it missed: so while the
    subscription is down, this process's own broadcasts are not delivered
    to its clients either (they read them on reconnecting), and the
    disconnection happens in the listener, as soon as Redis confirms the
    subscription, before any event published after it is passed on.
    """

    def __init__(self, client, config, **kwargs):
        super().__init__(config['REDIS_URL'], **kwargs)
        self.client = client
        self.subscriber = None
        if not self.write_only:
            # A subscription blocks on its socket until a message comes:
            # no socket timeout here, unlike the shared client. And no
            # retries: redis-py would otherwise reconnect and subscribe again
            # by itself, silently, and the listener would not learn that
            # events were missed in between.
            self.subscriber = redis.Redis(
                connection_pool=redis.BlockingConnectionPool.from_url(
                    config['REDIS_URL'],
                    max_connections=1,
                    timeout=POOL_TIMEOUT,
                    retry=Retry(NoBackoff(), 0),
                    **redis_options(config),
                )
            )
        self.subscribed_before = False
        self.listening = False

    def _redis_connect(self):
        # python-socketio calls this to publish again after a failure, and in
        # the listener to subscribe again: only the latter needs a new
        # subscription (replacing one that is being listened to would end it).
        self.redis = self.client
        if self.subscriber is not None and not self.listening:
            if self.pubsub is not None:
                self.pubsub.close()  # give its one connection back before taking it again
            self.pubsub = _Subscription(
                self.subscriber.connection_pool,
                on_subscribed=self._on_subscribed,
                on_lost=self._on_lost,
                ignore_subscribe_messages=True,
            )
        self.connected = True

    def _on_subscribed(self):
        if self.subscribed_before:
            log.warning(
                'event=socketio_resync reason="the Redis subscription was lost" clients=%s',
                len(self.server.eio.sockets),
            )
            self.server.eio.disconnect()
        self.subscribed_before = self.listening = True

    def _on_lost(self):
        self.listening = False

    def _handle_emit(self, message):
        deaf = self.subscribed_before and not self.listening
        own = message.get('host_id') == self.host_id
        if deaf and own and message.get('event') == CHANGE_EVENT:
            # A change this process announced, to everyone or to a channel's
            # room: its clients read it when they resync.
            return
        super()._handle_emit(message)


class _Subscription(redis.client.PubSub):
    """A subscription that calls ``on_subscribed`` when Redis confirms it,
    in the listener, before the listener reads what was published after it;
    and ``on_lost`` as soon as listening to it fails."""

    def __init__(self, connection_pool, on_subscribed, on_lost, **kwargs):
        super().__init__(connection_pool, **kwargs)
        self.on_subscribed, self.on_lost = on_subscribed, on_lost

    def listen(self):
        try:
            yield from super().listen()
        finally:
            self.on_lost()

    def handle_message(self, response, ignore_subscribe_messages=False):
        message = super().handle_message(response, ignore_subscribe_messages)
        if isinstance(response, list) and redis.utils.str_if_bytes(response[0]) == 'subscribe':
            self.on_subscribed()
        return message


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
