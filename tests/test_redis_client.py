"""Connecting to Redis: the TLS options a managed Redis needs."""

import ssl

from flack.redis_client import redis_options


def test_plain_redis_needs_no_options():
    assert redis_options({'REDIS_URL': 'redis://localhost:6379/0', 'REDIS_TLS_VERIFY': False}) == {}


def test_rediss_encrypts_without_checking_a_self_signed_certificate_by_default():
    options = redis_options({'REDIS_URL': 'rediss://h:p@redis.example:6380', 'REDIS_TLS_VERIFY': False})

    assert options == {'ssl_cert_reqs': ssl.CERT_NONE}


def test_rediss_checks_the_certificate_when_asked():
    options = redis_options({'REDIS_URL': 'rediss://h:p@redis.example:6380', 'REDIS_TLS_VERIFY': True})

    assert options == {'ssl_cert_reqs': ssl.CERT_REQUIRED}
