"""Who is calling: an Authorization header that holds no credentials a route
takes is a 401 with the Bearer challenge, before anything else is read."""

import pytest

from .conftest import stored_counts

CHALLENGE = 'Bearer realm="Authentication Required"'
# Authorization headers that are there but are not credentials a route takes.
MALFORMED_AUTHORIZATION = {
    'unknown scheme': 'Token x',
    'Bearer alone': 'Bearer',
    'Bearer and spaces': 'Bearer   ',
    'broken Basic': 'Basic !!!',
    'Basic alone': 'Basic',
    'Digest': 'Digest username="susan", realm="x", nonce="1", uri="/", response="2"',
    'no scheme': 'x' * 43,
    'empty': '',
}


@pytest.mark.parametrize('header', MALFORMED_AUTHORIZATION.values(), ids=MALFORMED_AUTHORIZATION)
def test_a_malformed_authorization_header_is_a_401_on_every_route_that_takes_credentials(
    app, client, susan, header
):
    message = client.post('/api/messages', json={'source': 'hello'}, headers=susan.headers).json
    routes = [
        ('get', '/api/users', {}),
        ('get', f'/api/users/{susan.id}', {}),
        ('put', f'/api/users/{susan.id}', {'json': {'nickname': 'x'}}),
        ('post', '/api/tokens', {}),
        ('delete', '/api/tokens', {}),
        ('get', '/api/messages', {}),
        ('get', f'/api/messages/{message["id"]}', {}),
        ('post', '/api/messages', {'json': {'source': 'x'}}),
        ('put', f'/api/messages/{message["id"]}', {'json': {'source': 'x'}}),
    ]
    before = stored_counts(app)

    for method, url, kwargs in routes:
        response = getattr(client, method)(url, headers={'Authorization': header}, **kwargs)

        assert response.status_code == 401, (method, url)
        assert response.headers['WWW-Authenticate'] == CHALLENGE, (method, url)
        assert response.json['error'] == 'authentication required', (method, url)
    assert stored_counts(app) == before
