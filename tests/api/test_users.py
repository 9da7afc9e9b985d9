"""The users rows of the API contract."""

import pytest

from flack import presence
from flack.extensions import db
from flack.models import User

from ..conftest import basic_auth, bearer

USER_FIELDS = {'id', 'nickname', 'created_at', 'updated_at', 'last_seen_at', 'online', '_links'}


def test_registering_answers_201_with_the_user_and_its_location(client):
    response = client.post('/api/users', json={'nickname': 'susan', 'password': 'correct horse'})

    assert response.status_code == 201
    user = response.json
    assert set(user) == USER_FIELDS
    assert user['nickname'] == 'susan'
    assert user['online'] is False
    assert isinstance(user['created_at'], int)
    assert response.headers['Location'] == f'/api/users/{user["id"]}'
    assert user['_links'] == {
        'self': f'/api/users/{user["id"]}',
        'messages': f'/api/messages?user_id={user["id"]}',
        'tokens': '/api/tokens',
    }


@pytest.mark.parametrize(
    'body',
    [
        {'password': 'correct horse'},
        {'nickname': 'susan'},
        {},
        {'nickname': '', 'password': 'correct horse'},
        {'nickname': 'x' * 33, 'password': 'correct horse'},
        {'nickname': ' susan', 'password': 'correct horse'},
        {'nickname': 'susan', 'password': 'short'},
        {'nickname': 'susan', 'password': 'x' * 129},
    ],
    ids=[
        'no-nickname',
        'no-password',
        'empty',
        'nickname-0',
        'nickname-33',
        'padded',
        'password-5',
        'password-129',
    ],
)
def test_registering_with_a_bad_field_is_a_400(client, body):
    response = client.post('/api/users', json=body)

    assert response.status_code == 400
    assert response.json['error'] == 'bad request'
    assert response.json['message']
    assert client.get('/api/users').json['users'] == []


def test_nicknames_of_1_and_32_characters_are_accepted(client):
    assert client.post('/api/users', json={'nickname': 'a', 'password': 'correct horse'}).status_code == 201
    assert (
        client.post('/api/users', json={'nickname': 'b' * 32, 'password': 'correct horse'}).status_code == 201
    )


def test_registering_a_taken_nickname_is_a_400(client, accounts):
    accounts.register('susan')

    response = client.post('/api/users', json={'nickname': 'susan', 'password': 'another password'})

    assert response.status_code == 400
    assert 'taken' in response.json['message']
    assert len(client.get('/api/users').json['users']) == 1


def test_users_are_listed_by_last_change_then_nickname(app, client, accounts):
    for nickname in ('carol', 'alice', 'bob'):
        accounts.register(nickname)
    with app.app_context():
        db.session.execute(db.update(User).values(updated_at=1000))
        db.session.execute(db.update(User).where(User.nickname == 'alice').values(updated_at=2000))
        db.session.commit()

    users = client.get('/api/users').json['users']

    assert [user['nickname'] for user in users] == ['bob', 'carol', 'alice']


def test_online_filter_lists_only_online_or_offline_users(client, accounts):
    online = accounts.new('susan')
    accounts.register('david')

    assert [u['nickname'] for u in client.get('/api/users?online=1').json['users']] == ['susan']
    assert [u['nickname'] for u in client.get('/api/users?online=0').json['users']] == ['david']
    assert client.get(f'/api/users/{online.id}').json['online'] is True


def test_updated_since_lists_only_users_changed_after_it(app, client, accounts):
    accounts.register('old')
    accounts.register('new')
    with app.app_context():
        db.session.execute(db.update(User).where(User.nickname == 'old').values(updated_at=1000))
        db.session.execute(db.update(User).where(User.nickname == 'new').values(updated_at=3000))
        db.session.commit()

    users = client.get('/api/users?updated_since=2000').json['users']

    assert [user['nickname'] for user in users] == ['new']
    assert client.get('/api/users?updated_since=3000').json['users'] == []


def test_updated_since_that_is_not_an_integer_is_a_400(client):
    response = client.get('/api/users?updated_since=yesterday')

    assert response.status_code == 400
    assert 'updated_since' in response.json['message']


def test_reading_a_user(client, accounts):
    user = accounts.register('susan')

    response = client.get(f'/api/users/{user["id"]}')

    assert response.status_code == 200
    assert response.json == user


def test_reading_a_missing_user_is_a_404(client):
    response = client.get('/api/users/42')

    assert response.status_code == 404
    assert response.json['error'] == 'not found'


def test_a_valid_token_on_an_open_endpoint_marks_the_caller_online(app, client, accounts):
    susan = accounts.new('susan')
    presence.store(app).claim_offline(susan.id)
    with app.app_context():
        db.session.execute(db.update(User).values(online=False))
        db.session.commit()

    client.get('/api/messages', headers=susan.headers)

    assert client.get(f'/api/users/{susan.id}').json['online'] is True


def test_an_invalid_token_on_an_open_endpoint_is_a_401_with_the_bearer_challenge(client):
    response = client.get('/api/users', headers=bearer('not-a-token'))

    assert response.status_code == 401
    assert response.headers['WWW-Authenticate'] == 'Bearer realm="Authentication Required"'
    assert response.json['error'] == 'authentication required'


def test_basic_credentials_on_an_open_endpoint_are_a_401_not_anonymous(client, susan):
    response = client.get('/api/users', headers=basic_auth('susan', susan.password))

    assert response.status_code == 401
    assert response.headers['WWW-Authenticate'] == 'Bearer realm="Authentication Required"'


def test_the_bearer_scheme_may_be_written_in_any_case(client, susan):
    for scheme in ('bearer', 'BEARER'):
        response = client.get('/api/users', headers={'Authorization': f'{scheme} {susan.token}'})

        assert response.status_code == 200, scheme


def test_changing_your_nickname(client, susan):
    response = client.put(f'/api/users/{susan.id}', json={'nickname': 'suzy'}, headers=susan.headers)

    assert response.status_code == 204
    assert client.get(f'/api/users/{susan.id}').json['nickname'] == 'suzy'


def test_changing_your_password_revokes_your_token(client, susan):
    response = client.put(
        f'/api/users/{susan.id}', json={'password': 'a new password'}, headers=susan.headers
    )

    assert response.status_code == 204
    assert client.get('/api/users', headers=susan.headers).status_code == 401
    assert client.post('/api/tokens', headers=basic_auth('susan', susan.password)).status_code == 401
    assert client.post('/api/tokens', headers=basic_auth('susan', 'a new password')).status_code == 200


def test_changing_another_user_is_forbidden(client, susan, david):
    response = client.put(f'/api/users/{david.id}', json={'nickname': 'hacked'}, headers=susan.headers)

    assert response.status_code == 403
    assert client.get(f'/api/users/{david.id}').json['nickname'] == 'david'


def test_changing_to_a_taken_nickname_is_a_400(client, susan, david):
    response = client.put(f'/api/users/{susan.id}', json={'nickname': 'david'}, headers=susan.headers)

    assert response.status_code == 400
    assert client.get(f'/api/users/{susan.id}').json['nickname'] == 'susan'


def test_changing_a_missing_user_is_a_404(client, susan):
    response = client.put('/api/users/4242', json={'nickname': 'x'}, headers=susan.headers)

    assert response.status_code == 404


def test_changing_a_user_needs_a_token(client, susan):
    response = client.put(f'/api/users/{susan.id}', json={'nickname': 'x'})

    assert response.status_code == 401
    assert response.headers['WWW-Authenticate'] == 'Bearer realm="Authentication Required"'
