"""Security headers on every response, Engine.IO's included; redirects that
never name the host a client claimed; and X-Forwarded-* believed for
TRUSTED_PROXY_HOPS hops only."""

import json
import secrets

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


@pytest.fixture(scope='module', params=['eventlet', 'gevent'])
def live(request, tmp_path_factory):
    """The web process, on each of the workers ASYNC_MODE chooses between."""
    path = tmp_path_factory.mktemp('security')
    with LiveFlack(path, ASYNC_MODE=request.param, SECRET_KEY=secrets.token_hex(32)) as server:
        yield server


@pytest.mark.parametrize(
    ('path', 'location'),
    # (The test client would read a path starting with // as a host.)
    [('/api//users', '/api/users'), ('/api///users?online=1', '/api/users?online=1')],
)
def test_a_slash_merging_redirect_does_not_name_the_host_the_client_sent(client, path, location):
    response = client.get(path, headers={'Host': 'evil.example'})

    assert response.status_code == 308
    assert response.headers['Location'] == location
    assert b'evil.example' not in response.data


def test_a_redirect_through_gunicorn_is_relative_too(live):
    response = requests.get(
        f'{live.url}//api//users', headers={'Host': 'evil.example'}, allow_redirects=False, timeout=10
    )

    assert response.status_code == 308
    assert response.headers['Location'] == '/api/users'
    assert 'evil.example' not in response.text


def assert_security_headers(headers):
    assert "frame-ancestors 'none'" in headers['Content-Security-Policy']
    assert headers['X-Content-Type-Options'] == 'nosniff'
    assert headers['Referrer-Policy'] == 'no-referrer'
    assert headers['X-Frame-Options'] == 'DENY'


def test_engineio_polling_answers_carry_the_security_headers(live):
    opened = requests.get(f'{live.url}/socket.io/?EIO=4&transport=polling', timeout=10)
    assert opened.status_code == 200 and opened.text.startswith('0{')
    sid = json.loads(opened.text[1:])['sid']
    joined = requests.post(f'{live.url}/socket.io/?EIO=4&transport=polling&sid={sid}', data='40', timeout=10)
    refused = requests.get(f'{live.url}/socket.io/?EIO=1&transport=polling', timeout=10)

    for response in (opened, joined, refused):
        assert_security_headers(response.headers)
    assert refused.status_code == 400


def test_engineio_answers_get_hsts_when_the_router_saw_https(app_factory):
    client = app_factory(TRUSTED_PROXY_HOPS=1).test_client()  # behind the platform's router

    response = client.get('/socket.io/?EIO=4&transport=polling', headers={'X-Forwarded-Proto': 'https'})

    assert response.status_code == 200
    assert_security_headers(response.headers)
    assert response.headers['Strict-Transport-Security'].startswith('max-age=')
