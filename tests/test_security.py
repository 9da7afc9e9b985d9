"""Security headers on every response, and X-Forwarded-* believed for TRUSTED_PROXY_HOPS hops only."""

import pytest
import requests

from .conftest import Accounts, basic_auth
from .live import LiveFlack

# A client's address; every address here is from the documentation ranges (RFC 5737).
CLIENT = '203.0.113.1'


@pytest.mark.parametrize(
    'path', ['/', '/api/users', '/api/users/999', '/stats', '/api/openapi.json', '/nope']
)
def test_every_response_carries_the_security_headers(client, path):
    headers = client.get(path).headers

    policy = headers['Content-Security-Policy']
    assert "script-src 'self'" in policy and 'unsafe-inline' not in policy
    assert "frame-ancestors 'none'" in policy
    assert headers['X-Content-Type-Options'] == 'nosniff'
    assert headers['Referrer-Policy'] == 'no-referrer'
    assert 'Strict-Transport-Security' not in headers  # plain HTTP


def test_hsts_when_the_router_says_the_request_came_over_https(app_factory):
    client = app_factory(TRUSTED_PROXY_HOPS=1).test_client()
    headers = client.get('/api/users', headers={'X-Forwarded-Proto': 'https'}).headers

    assert headers['Strict-Transport-Security'].startswith('max-age=')


def test_with_no_proxy_trusted_x_forwarded_proto_is_ignored(app_factory):
    client = app_factory().test_client()  # the default: reached directly
    headers = client.get('/api/users', headers={'X-Forwarded-Proto': 'https'}).headers

    # Plain HTTP, whatever the client says it used.
    assert 'Strict-Transport-Security' not in headers


def test_with_no_proxy_trusted_the_web_process_ignores_x_forwarded_proto_from_its_own_machine(tmp_path):
    # By default gunicorn believes it from 127.0.0.1 and ::1, and sets the
    # scheme the application sees (HSTS shows it), ProxyFix or not.
    with LiveFlack(tmp_path) as server:
        responses = [
            requests.get(
                f'http://{host}:{server.port}/healthz', headers={'X-Forwarded-Proto': 'https'}, timeout=5
            )
            for host in ('127.0.0.1', '[::1]')
        ]

    assert [response.status_code for response in responses] == [200, 200]
    assert not any('Strict-Transport-Security' in response.headers for response in responses)


def test_with_no_proxy_trusted_x_forwarded_for_is_ignored(app_factory):
    app = app_factory(RATELIMIT_ENABLED=1, RATELIMIT_REGISTRATIONS_PER_ADDRESS='1 per hour')
    register = lambda nickname, forwarded, peer=CLIENT: app.test_client().post(  # noqa: E731
        '/api/users',
        json={'nickname': nickname, 'password': 'correct horse'},
        headers={'X-Forwarded-For': forwarded},
        environ_base={'REMOTE_ADDR': peer},
    )

    assert register('first', '198.51.100.7').status_code == 201
    # The limit counts the connection's peer: a new forged address, alone or
    # in front of one that looks like a router's, does not escape it.
    assert register('second', '198.51.100.8').status_code == 429
    assert register('third', '198.51.100.9, 203.0.113.200').status_code == 429
    assert register('fourth', '198.51.100.7', peer='203.0.113.2').status_code == 201


def test_behind_one_proxy_forged_entries_do_not_escape_the_sign_in_limit(app_factory):
    app = app_factory(
        TRUSTED_PROXY_HOPS=1,
        RATELIMIT_ENABLED=1,
        RATELIMIT_TOKENS_PER_ADDRESS='20 per hour',
        RATELIMIT_TOKENS_PER_NICKNAME='3 per hour',
    )
    client = app.test_client()  # every request from one peer, as from the router
    Accounts(client).register('susan')
    sign_in = lambda password, forwarded: client.post(  # noqa: E731
        '/api/tokens', headers={**basic_auth('susan', password), 'X-Forwarded-For': forwarded}
    )

    # The router appends the address it saw; a new forged one in front each time.
    for n in range(3):
        assert sign_in('wrong password', f'198.51.100.{n}, {CLIENT}').status_code == 401
    assert sign_in('correct horse', f'198.51.100.9, {CLIENT}').status_code == 429
    # Susan, at the address the router saw for her, is not held by those failures.
    assert sign_in('correct horse', '203.0.113.2').status_code == 200


def test_behind_one_proxy_only_the_last_entry_of_x_forwarded_for_is_trusted(app_factory):
    app = app_factory(
        TRUSTED_PROXY_HOPS=1, RATELIMIT_ENABLED=1, RATELIMIT_REGISTRATIONS_PER_ADDRESS='1 per hour'
    )
    client = app.test_client()
    register = lambda nickname, forwarded: client.post(  # noqa: E731
        '/api/users',
        json={'nickname': nickname, 'password': 'correct horse'},
        headers={'X-Forwarded-For': forwarded},
    )

    assert register('first', '198.51.100.7, 203.0.113.1').status_code == 201
    # A client cannot escape its limit by inventing an address in front of the router's.
    assert register('second', '198.51.100.8, 203.0.113.1').status_code == 429
    assert register('third', '203.0.113.2').status_code == 201
