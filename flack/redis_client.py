"""Connecting to Redis, the one place that knows about its TLS options."""

import functools
import logging
import ssl

import redis

log = logging.getLogger(__name__)


def redis_options(config):
    """Keyword arguments for redis-py (and Celery) for ``REDIS_URL``."""
    if not config['REDIS_URL'].startswith('rediss://'):
        return {}
    # Managed Redis add-ons present self-signed certificates: the link is
    # encrypted, but the certificate can only be checked where asked to.
    return {'ssl_cert_reqs': ssl.CERT_REQUIRED if config['REDIS_TLS_VERIFY'] else ssl.CERT_NONE}


def connect(config):
    """A client for ``REDIS_URL`` that fails fast while Redis is away."""
    return redis.Redis.from_url(
        config['REDIS_URL'],
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
        **redis_options(config),
    )


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
