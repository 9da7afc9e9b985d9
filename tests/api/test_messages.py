"""The messages rows of the API contract."""

import time

import pytest

from flack.extensions import db
from flack.models import Message

from ..conftest import Accounts

MESSAGE_FIELDS = {'id', 'source', 'html', 'user_id', 'created_at', 'updated_at', '_links'}


@pytest.fixture
def post(client):
    def post(author, source):
        response = client.post('/api/messages', json={'source': source}, headers=author.headers)
        assert response.status_code == 201, response.json
        return response.json

    return post


def _age(app, message_id, seconds):
    """Make a stored message look ``seconds`` old."""
    with app.app_context():
        then = int(time.time()) - seconds
        db.session.execute(
            db.update(Message).where(Message.id == message_id).values(created_at=then, updated_at=then)
        )
        db.session.commit()


def test_posting_answers_201_with_the_rendered_message_and_its_location(client, susan):
    response = client.post('/api/messages', json={'source': 'hello *world*!'}, headers=susan.headers)

    assert response.status_code == 201
    message = response.json
    assert set(message) == MESSAGE_FIELDS
    assert message['html'] == 'hello <em>world</em>!'
    assert message['user_id'] == susan.id
    assert response.headers['Location'] == f'/api/messages/{message["id"]}'
    assert message['_links'] == {'self': f'/api/messages/{message["id"]}', 'user': f'/api/users/{susan.id}'}


def test_posting_needs_a_token(client):
    response = client.post('/api/messages', json={'source': 'hi'})

    assert response.status_code == 401
    assert response.headers['WWW-Authenticate'] == 'Bearer realm="Authentication Required"'


@pytest.mark.parametrize('body', [{}, {'source': ''}, {'source': '   \n'}], ids=['missing', 'empty', 'blank'])
def test_posting_without_a_source_is_a_400(client, susan, body):
    response = client.post('/api/messages', json=body, headers=susan.headers)

    assert response.status_code == 400
    assert client.get('/api/messages').json['messages'] == []


def test_posting_more_than_the_maximum_length_is_a_413(app_factory):
    client = app_factory(MAX_MESSAGE_LENGTH=10).test_client()
    author = Accounts(client).new('susan')

    assert client.post('/api/messages', json={'source': 'x' * 10}, headers=author.headers).status_code == 201
    response = client.post('/api/messages', json={'source': 'x' * 11}, headers=author.headers)

    assert response.status_code == 413
    assert response.json['error'] == 'too large'
    assert len(client.get('/api/messages').json['messages']) == 1


def test_messages_are_listed_by_last_change(app, client, susan, post):
    first = post(susan, 'first')
    second = post(susan, 'second')
    _age(app, second['id'], 100)

    messages = client.get('/api/messages').json['messages']

    assert [m['id'] for m in messages] == [second['id'], first['id']]


def test_messages_older_than_a_day_are_not_listed(app, client, susan, post):
    old = post(susan, 'yesterday')
    recent = post(susan, 'today')
    _age(app, old['id'], 25 * 3600)

    assert [m['id'] for m in client.get('/api/messages').json['messages']] == [recent['id']]
    assert [m['id'] for m in client.get('/api/messages?updated_since=0').json['messages']] == [recent['id']]


def test_updated_since_lists_only_messages_changed_after_it(app, client, susan, post):
    old = post(susan, 'old')
    new = post(susan, 'new')
    _age(app, old['id'], 600)

    messages = client.get(f'/api/messages?updated_since={int(time.time()) - 300}').json['messages']

    assert [m['id'] for m in messages] == [new['id']]


def test_updated_since_that_is_not_an_integer_is_a_400(client):
    assert client.get('/api/messages?updated_since=abc').status_code == 400


def test_user_id_lists_only_that_users_messages(client, susan, david, post):
    post(susan, 'from susan')
    mine = post(david, 'from david')

    messages = client.get(f'/api/messages?user_id={david.id}').json['messages']

    assert [m['id'] for m in messages] == [mine['id']]


def test_user_id_that_is_not_an_integer_is_a_400(client):
    assert client.get('/api/messages?user_id=susan').status_code == 400


def test_paging_back_with_limit_and_before(client, susan, post):
    ids = [post(susan, f'message {n}')['id'] for n in range(5)]

    page = client.get(f'/api/messages?limit=2&before={ids[3]}').json['messages']
    newest = client.get('/api/messages?limit=2').json['messages']

    assert [m['id'] for m in page] == [ids[1], ids[2]]
    assert [m['id'] for m in newest] == [ids[3], ids[4]]


def test_paging_reaches_messages_older_than_a_day(app, client, susan, post):
    old = post(susan, 'last week')
    _age(app, old['id'], 7 * 24 * 3600)

    assert [m['id'] for m in client.get('/api/messages?limit=10').json['messages']] == [old['id']]


@pytest.mark.parametrize('query', ['limit=0', 'limit=501', 'limit=ten', 'before=x', 'limit=-1'])
def test_bad_paging_values_are_a_400(client, query):
    assert client.get(f'/api/messages?{query}').status_code == 400


def test_reading_a_message(client, susan, post):
    message = post(susan, 'hello')

    response = client.get(f'/api/messages/{message["id"]}')

    assert response.status_code == 200
    assert response.json == message


def test_reading_a_missing_message_is_a_404(client):
    assert client.get('/api/messages/42').status_code == 404


def test_editing_your_message_renders_it_again(client, susan, post):
    message = post(susan, 'hello')

    response = client.put(
        f'/api/messages/{message["id"]}', json={'source': 'hello **again**'}, headers=susan.headers
    )

    assert response.status_code == 204
    edited = client.get(f'/api/messages/{message["id"]}').json
    assert edited['source'] == 'hello **again**'
    assert edited['html'] == 'hello <strong>again</strong>'


def test_editing_another_users_message_is_forbidden(client, susan, david, post):
    message = post(susan, 'mine')

    response = client.put(f'/api/messages/{message["id"]}', json={'source': 'yours'}, headers=david.headers)

    assert response.status_code == 403
    assert client.get(f'/api/messages/{message["id"]}').json['source'] == 'mine'


def test_editing_a_missing_message_is_a_404(client, susan):
    assert client.put('/api/messages/42', json={'source': 'x'}, headers=susan.headers).status_code == 404


def test_editing_needs_a_token(client, susan, post):
    message = post(susan, 'mine')

    assert client.put(f'/api/messages/{message["id"]}', json={'source': 'x'}).status_code == 401
