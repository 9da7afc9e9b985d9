"""Who may act comes before what the body says.

A request to change someone else's message or account is refused (403), or
finds nothing (404), whatever its body: the answer says nothing about the
body, not even whether it would have been valid.
"""

import pytest

from .conftest import stored_counts

JSON = {'Content-Type': 'application/json'}
# Bodies each of which, sent for the caller's own resource, is a 400 (or 413
# for a body too large) that describes it.
BAD_BODIES = {
    'invalid field': {'json': {'source': '', 'nickname': ''}},
    'wrong type': {'json': {'source': 5, 'nickname': 5}},
    'malformed JSON': {'data': '{"source": ', 'headers': JSON},
    'JSON list': {'data': '["x"]', 'headers': JSON},
    'not JSON': {'data': 'source=x', 'headers': {'Content-Type': 'application/x-www-form-urlencoded'}},
    'too large': {'json': {'source': 'x' * 1024 * 1024, 'nickname': 'n' * 1024 * 1024}},
}


@pytest.fixture
def message(client, susan):
    """A message of susan's."""
    return client.post('/api/messages', json={'source': 'mine'}, headers=susan.headers).json


def _send(client, method, url, caller, body):
    headers = {**body.get('headers', {}), **caller.headers}
    return getattr(client, method)(url, **{**body, 'headers': headers})


def _says_nothing_about_the_body(response, status):
    assert response.status_code == status
    assert set(response.json) == {'error', 'message'}  # no 'detail'
    assert 'Invalid input' not in response.json['message']


@pytest.mark.parametrize('body', BAD_BODIES.values(), ids=BAD_BODIES)
def test_editing_another_users_message_is_a_403_whatever_the_body(app, client, david, message, body):
    before = stored_counts(app)

    response = _send(client, 'put', f'/api/messages/{message["id"]}', david, body)

    _says_nothing_about_the_body(response, 403)
    assert stored_counts(app) == before


@pytest.mark.parametrize('body', BAD_BODIES.values(), ids=BAD_BODIES)
def test_editing_a_missing_message_is_a_404_whatever_the_body(client, susan, body):
    response = _send(client, 'put', '/api/messages/4242', susan, body)

    _says_nothing_about_the_body(response, 404)


@pytest.mark.parametrize('body', BAD_BODIES.values(), ids=BAD_BODIES)
def test_changing_another_user_is_a_403_whatever_the_body(app, client, susan, david, body):
    before = stored_counts(app)

    response = _send(client, 'put', f'/api/users/{susan.id}', david, body)

    _says_nothing_about_the_body(response, 403)
    assert stored_counts(app) == before


@pytest.mark.parametrize('body', BAD_BODIES.values(), ids=BAD_BODIES)
def test_changing_a_missing_user_is_a_404_whatever_the_body(client, susan, body):
    response = _send(client, 'put', '/api/users/4242', susan, body)

    _says_nothing_about_the_body(response, 404)


def test_your_own_message_with_a_bad_body_is_still_a_400_that_says_why(client, susan, message):
    response = client.put(f'/api/messages/{message["id"]}', json={'source': ''}, headers=susan.headers)

    assert response.status_code == 400
    assert response.json['detail'] == {'json': {'source': ['Must not be empty.']}}


def test_your_own_account_with_a_bad_body_is_still_a_400_that_says_why(client, susan):
    response = client.put(f'/api/users/{susan.id}', json={'nickname': ''}, headers=susan.headers)

    assert response.status_code == 400
    assert set(response.json['detail']['json']) == {'nickname'}


@pytest.mark.parametrize('url', ['/api/messages/1', '/api/users/1'])
def test_without_a_token_a_change_is_a_401_whatever_the_body(client, susan, message, url):
    response = client.put(url, json={'source': '', 'nickname': ''})

    _says_nothing_about_the_body(response, 401)


def test_post_message_event_with_a_bad_token_is_a_401_whatever_the_data(client, socket_client):
    socket = socket_client()

    for data in ({}, {'source': ''}, {'source': 5}, ['x'], None):
        ack = socket.emit('post_message', data, 'bad-token', callback=True)
        assert ack['error'] == 'authentication required', data
        assert 'detail' not in ack, data
