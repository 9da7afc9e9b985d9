"""Security headers on every response, and the router trusted for one hop."""

import pytest


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


def test_hsts_when_the_router_says_the_request_came_over_https(client):
    headers = client.get('/api/users', headers={'X-Forwarded-Proto': 'https'}).headers

    assert headers['Strict-Transport-Security'].startswith('max-age=')


def test_only_the_last_hop_of_x_forwarded_for_is_trusted(app_factory):
    app = app_factory(RATELIMIT_ENABLED=1, RATELIMIT_REGISTRATIONS_PER_ADDRESS='1 per hour')
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
