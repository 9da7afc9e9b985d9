"""Bad input gets a clear JSON 4xx and changes nothing."""

import io
import json

import pytest
import requests

from flack import create_app
from flack.body_limit import limit_chunked_bodies

from .conftest import Accounts, make_environ, stored_counts
from .live import LiveFlack

ONE_MEGABYTE = 1024 * 1024
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


@pytest.fixture
def world(client, susan, david):
    """Two users and a message, so that every write has a target."""
    message = client.post('/api/messages', json={'source': 'hello'}, headers=susan.headers).json
    return {'susan': susan, 'david': david, 'message': message}


def _cases(world):
    susan, message = world['susan'], world['message']
    auth = susan.headers
    json_type = {'Content-Type': 'application/json'}
    body_cases = [
        ('malformed JSON', '{"nickname": "x", ', 400),
        ('JSON list', '[{"nickname": "x", "password": "correct horse"}]', 400),
        ('JSON string', '"susan"', 400),
        ('JSON number', '42', 400),
        ('JSON null', 'null', 400),
    ]
    cases = []
    for label, body, status in body_cases:
        cases += [
            (f'POST users, {label}', 'post', '/api/users', {'data': body, 'headers': json_type}, status),
            (
                f'PUT user, {label}',
                'put',
                f'/api/users/{susan.id}',
                {'data': body, 'headers': {**json_type, **auth}},
                status,
            ),
            (
                f'POST messages, {label}',
                'post',
                '/api/messages',
                {'data': body, 'headers': {**json_type, **auth}},
                status,
            ),
            (
                f'PUT message, {label}',
                'put',
                f'/api/messages/{message["id"]}',
                {'data': body, 'headers': {**json_type, **auth}},
                status,
            ),
        ]
    cases += [
        (
            'nickname as number',
            'post',
            '/api/users',
            {'json': {'nickname': 5, 'password': 'correct horse'}},
            400,
        ),
        ('password as list', 'post', '/api/users', {'json': {'nickname': 'x', 'password': ['a'] * 9}}, 400),
        (
            'nickname as object',
            'put',
            f'/api/users/{susan.id}',
            {'json': {'nickname': {}}, 'headers': auth},
            400,
        ),
        (
            'nickname of 0 characters',
            'post',
            '/api/users',
            {'json': {'nickname': '', 'password': 'correct horse'}},
            400,
        ),
        (
            'nickname of 33 characters',
            'post',
            '/api/users',
            {'json': {'nickname': 'n' * 33, 'password': 'x' * 9}},
            400,
        ),
        (
            'nickname of 1000 characters',
            'put',
            f'/api/users/{susan.id}',
            {'json': {'nickname': 'n' * 1000}, 'headers': auth},
            400,
        ),
        (
            'empty nickname change',
            'put',
            f'/api/users/{susan.id}',
            {'json': {'nickname': ''}, 'headers': auth},
            400,
        ),
        ('source as number', 'post', '/api/messages', {'json': {'source': 5}, 'headers': auth}, 400),
        (
            'source as null',
            'put',
            f'/api/messages/{message["id"]}',
            {'json': {'source': None}, 'headers': auth},
            400,
        ),
        (
            '1 MB source',
            'post',
            '/api/messages',
            {'json': {'source': 'x' * ONE_MEGABYTE}, 'headers': auth},
            413,
        ),
        (
            '1 MB edit',
            'put',
            f'/api/messages/{message["id"]}',
            {'json': {'source': 'x' * ONE_MEGABYTE}, 'headers': auth},
            413,
        ),
        (
            '1 MB nickname',
            'post',
            '/api/users',
            {'json': {'nickname': 'n' * ONE_MEGABYTE, 'password': 'x' * 9}},
            413,
        ),
        ('updated_since=abc', 'get', '/api/messages?updated_since=abc', {}, 400),
        ('users updated_since=abc', 'get', '/api/users?updated_since=abc', {}, 400),
        ('updated_since too large', 'get', '/api/messages?updated_since=99999999999999999999', {}, 400),
        ('limit=-1', 'get', '/api/messages?limit=-1', {}, 400),
        ('before=-1', 'get', '/api/messages?limit=5&before=-1', {}, 400),
        ('user_id too large', 'get', '/api/messages?user_id=99999999999999999999', {}, 400),
        ('online=maybe', 'get', '/api/users?online=maybe', {}, 400),
        ('/api/messages/abc', 'get', '/api/messages/abc', {}, 404),
        ('/api/messages/-1', 'get', '/api/messages/-1', {}, 404),
        ('/api/users/99999999999999999999', 'get', '/api/users/99999999999999999999', {}, 404),
        (
            'PUT /api/users/99999999999999999999',
            'put',
            '/api/users/99999999999999999999',
            {'json': {}, 'headers': auth},
            404,
        ),
        (
            'PUT /api/messages/abc',
            'put',
            '/api/messages/abc',
            {'json': {'source': 'x'}, 'headers': auth},
            404,
        ),
        (
            'broken base64',
            'post',
            '/api/tokens',
            {'headers': {'Authorization': 'Basic %%%not base64%%%'}},
            401,
        ),
        (
            'base64 without colon',
            'post',
            '/api/tokens',
            {'headers': {'Authorization': 'Basic c3VzYW4='}},
            401,
        ),
        ('base64 of bytes', 'post', '/api/tokens', {'headers': {'Authorization': 'Basic //79/A=='}}, 401),
        (
            '10 kB Bearer token',
            'get',
            '/api/users',
            {'headers': {'Authorization': 'Bearer ' + 't' * 10_000}},
            401,
        ),
        (
            '10 kB token posting',
            'post',
            '/api/messages',
            {'json': {'source': 'x'}, 'headers': {'Authorization': 'Bearer ' + 't' * 10_000}},
            401,
        ),
        (
            'empty Bearer',
            'post',
            '/api/messages',
            {'json': {'source': 'x'}, 'headers': {'Authorization': 'Bearer '}},
            401,
        ),
        ('unknown scheme', 'delete', '/api/tokens', {'headers': {'Authorization': 'Negotiate abc'}}, 401),
        ('wrong method', 'delete', '/api/users', {}, 405),
        ('unknown route', 'get', '/api/nothing', {}, 404),
    ]
    return cases


def test_every_bad_input_is_a_json_4xx_that_changes_nothing(app, client, world):
    for label, method, url, kwargs, status in _cases(world):
        before = stored_counts(app)

        response = getattr(client, method)(url, **kwargs)

        assert response.status_code == status, label
        assert response.is_json, label
        assert set(response.json) >= {'error', 'message'}, label
        assert isinstance(response.json['message'], str) and response.json['message'], label
        assert stored_counts(app) == before, label


def test_the_server_answers_normally_after_bad_input(app, client, world):
    for _, method, url, kwargs, _ in _cases(world):
        getattr(client, method)(url, **kwargs)
    susan = world['susan']

    posted = client.post('/api/messages', json={'source': 'still *here*'}, headers=susan.headers)
    listed = client.get('/api/messages', headers=susan.headers)

    assert posted.status_code == 201
    assert posted.json['html'] == 'still <em>here</em>'
    assert [m['source'] for m in listed.json['messages']] == ['hello', 'still *here*']
    assert client.get('/healthz').status_code == 200


def test_a_415_or_400_for_a_body_that_is_not_json(app, client, world):
    susan = world['susan']
    before = stored_counts(app)

    response = client.post(
        '/api/messages',
        data='source=hello',
        headers=susan.headers,
        content_type='application/x-www-form-urlencoded',
    )

    assert response.status_code in (400, 415)
    assert stored_counts(app) == before


def test_error_bodies_are_json_with_the_json_content_type(client):
    response = client.get('/api/users/abc')

    assert response.headers['Content-Type'] == 'application/json'
    assert json.loads(response.data)['error'] == 'not found'


@pytest.mark.parametrize('header', MALFORMED_AUTHORIZATION.values(), ids=MALFORMED_AUTHORIZATION)
def test_a_malformed_authorization_header_is_a_401_on_every_route_that_takes_credentials(
    app, client, world, header
):
    susan, message = world['susan'], world['message']
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


def _padded_json(source, size):
    """A JSON body of exactly ``size`` bytes: ``{"source": ...}`` and white space after it."""
    body = json.dumps({'source': source}).encode()
    return body + b' ' * (size - len(body))


def _as_gunicorn_passes_a_chunked_body(wsgi_app):
    """What gunicorn hands the application for a ``Transfer-Encoding: chunked``
    request: the decoded body, no length, and ``wsgi.input_terminated``."""

    def chunked(environ, start_response):
        environ.pop('CONTENT_LENGTH', None)
        environ['HTTP_TRANSFER_ENCODING'] = 'chunked'
        environ['wsgi.input_terminated'] = True
        return wsgi_app(environ, start_response)

    return chunked


@pytest.fixture
def served_app(app_factory):
    """An app with a small body limit, wrapped as flack.wsgi wraps the one gunicorn serves."""
    app = app_factory(MAX_MESSAGE_LENGTH=10)
    limit_chunked_bodies(app)
    app.wsgi_app = _as_gunicorn_passes_a_chunked_body(app.wsgi_app)
    return app


@pytest.mark.parametrize('excess', [1, 10_000])
def test_a_chunked_body_over_the_limit_is_a_413(served_app, excess):
    client = served_app.test_client()
    susan = Accounts(client).new('susan')
    before = stored_counts(served_app)
    body = _padded_json('hi', served_app.config['MAX_CONTENT_LENGTH'] + excess)

    response = client.post(
        '/api/messages', input_stream=io.BytesIO(body), content_type='application/json', headers=susan.headers
    )

    assert response.status_code == 413
    assert response.json['error'] == 'too large'
    assert stored_counts(served_app) == before


def test_a_chunked_body_of_the_largest_size_is_accepted(served_app):
    client = served_app.test_client()
    susan = Accounts(client).new('susan')
    body = _padded_json('hi', served_app.config['MAX_CONTENT_LENGTH'])

    response = client.post(
        '/api/messages', input_stream=io.BytesIO(body), content_type='application/json', headers=susan.headers
    )

    assert response.status_code == 201
    assert response.json['source'] == 'hi'


def test_gunicorn_answers_a_chunked_body_over_the_limit_with_a_413(tmp_path):
    limit = create_app(make_environ(tmp_path, MAX_MESSAGE_LENGTH=10)).config['MAX_CONTENT_LENGTH']
    with LiveFlack(tmp_path, MAX_MESSAGE_LENGTH=10) as server, requests.Session() as http:
        url = server.url
        http.post(f'{url}/api/users', json={'nickname': 'susan', 'password': 'correct horse'}, timeout=10)
        token = http.post(f'{url}/api/tokens', auth=('susan', 'correct horse'), timeout=10).json()['token']

        def post_chunked(body):
            # A generator body makes requests send it in chunks, with no Content-Length.
            chunks = (body[start : start + 1024] for start in range(0, len(body), 1024))
            headers = {'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'}
            return http.post(f'{url}/api/messages', data=chunks, headers=headers, timeout=10)

        too_large = post_chunked(_padded_json('too large', limit + 1))
        largest = post_chunked(_padded_json('largest', limit))
        listed = http.get(f'{url}/api/messages', timeout=10).json()['messages']

    assert too_large.status_code == 413
    assert too_large.json()['error'] == 'too large'
    assert largest.status_code == 201
    assert [message['source'] for message in listed] == ['largest']
