"""Connecting to Redis: the TLS options a managed Redis needs; a Redis
server of the test's own, for the other modules' tests."""

import ssl

import pytest

from flack.redis_client import connect, redis_options

from .services import RedisServer


def test_plain_redis_needs_no_options():
    assert redis_options({'REDIS_URL': 'redis://localhost:6379/0', 'REDIS_TLS_VERIFY': False}) == {}


def test_rediss_encrypts_without_checking_a_self_signed_certificate_by_default():
    options = redis_options({'REDIS_URL': 'rediss://h:p@redis.example:6380', 'REDIS_TLS_VERIFY': False})

    assert options == {'ssl_cert_reqs': ssl.CERT_NONE}


def test_rediss_checks_the_certificate_when_asked():
    options = redis_options({'REDIS_URL': 'rediss://h:p@redis.example:6380', 'REDIS_TLS_VERIFY': True})

    assert options == {'ssl_cert_reqs': ssl.CERT_REQUIRED}


@pytest.fixture
def redis_server(tmp_path):
    """A Redis server of the test's own (see tests/services.py for when it is missing)."""
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def redis_connection(redis_server):
    """A client on it, on a pool made as Flack makes its own."""
    client = connect({'REDIS_URL': redis_server.url, 'REDIS_TLS_VERIFY': False}, max_connections=2)
    yield client
    client.connection_pool.disconnect()
