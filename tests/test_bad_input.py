"""Bad input gets a clear JSON 4xx and changes nothing."""

import pytest

from .conftest import stored_counts

ONE_MEGABYTE = 1024 * 1024


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
