"""The tokens rows of the API contract."""

import time

import pytest

from flack.extensions import db
from flack.models import User

from ..conftest import basic_auth, bearer, stored_counts
from ..test_auth import CHALLENGE, MALFORMED_AUTHORIZATION

# Headers that hold no credentials (test_auth's, and two more).
MALFORMED = {
    **MALFORMED_AUTHORIZATION,
    'Bearer of two words': 'Bearer a b',
    'Basic without a colon': 'Basic c3VzYW4=',
}
# The API routes an anonymous caller may use: one takes no credentials, the reads an optional token.
OPEN_ROUTES = [
    'POST /api/users',
    'GET /api/users',
    'GET /api/users/{user}',
    'GET /api/messages',
    'GET /api/messages/{message}',
]


def test_signing_in_gives_a_long_random_token(client, accounts):
    accounts.register('susan')

    response = client.post('/api/tokens', headers=basic_auth('susan', 'correct horse'))

    assert response.status_code == 200
    assert set(response.json) == {'token'}
    assert len(response.json['token']) >= 43  # 32 bytes, base64


def test_signing_in_again_gives_the_same_token(client, susan):
    response = client.post('/api/tokens', headers=basic_auth('susan', susan.password))

    assert response.json['token'] == susan.token


def test_the_server_stores_only_a_hash_of_the_token(app, susan):
    with app.app_context():
        user = db.session.get(User, susan.id)
        stored = [str(value) for value in (user.token_hash, user.token_salt, user.password_hash)]

    assert all(susan.token not in value for value in stored)


def test_a_wrong_password_is_a_401_with_the_bearer_challenge(client, accounts):
    accounts.register('susan')

    response = client.post('/api/tokens', headers=basic_auth('susan', 'wrong password'))

    assert response.status_code == 401
    assert response.headers['WWW-Authenticate'] == 'Bearer realm="Authentication Required"'
    assert response.json['error'] == 'authentication required'


def test_an_unknown_nickname_is_a_401(client):
    assert client.post('/api/tokens', headers=basic_auth('nobody', 'correct horse')).status_code == 401


def test_asking_for_a_token_without_credentials_is_a_401(client):
    response = client.post('/api/tokens')

    assert response.status_code == 401
    assert response.headers['WWW-Authenticate'] == 'Bearer realm="Authentication Required"'


def test_a_token_is_not_accepted_in_place_of_basic_auth(client, susan):
    assert client.post('/api/tokens', headers=susan.headers).status_code == 401


def test_basic_auth_is_not_accepted_in_place_of_a_token(client, susan):
    response = client.post(
        '/api/messages', json={'source': 'hi'}, headers=basic_auth('susan', susan.password)
    )

    assert response.status_code == 401


@pytest.mark.parametrize('header', MALFORMED.values(), ids=MALFORMED)
@pytest.mark.parametrize('route', OPEN_ROUTES)
def test_a_malformed_authorization_header_is_a_401_on_the_routes_open_to_anonymous_callers(
    app, client, susan, route, header
):
    message = client.post('/api/messages', json={'source': 'hello'}, headers=susan.headers).json
    method, path = route.split(' ')
    path = path.format(user=susan.id, message=message['id'])
    new_user = {'nickname': 'david', 'password': 'correct horse'} if method == 'POST' else None
    before = stored_counts(app)

    response = client.open(path, method=method, json=new_user, headers={'Authorization': header})

    assert response.status_code == 401
    assert response.headers['WWW-Authenticate'] == CHALLENGE
    assert response.json['error'] == 'authentication required'
    assert stored_counts(app) == before


def test_registering_ignores_well_formed_credentials(client, susan):
    # The route takes no credentials (docs/api.md): well-formed ones, even a
    # token that does not work, are ignored.
    for number, headers in enumerate([susan.headers, bearer('not-a-token'), basic_auth('susan', 'wrong')]):
        new_user = {'nickname': f'david{number}', 'password': 'correct horse'}

        assert client.post('/api/users', json=new_user, headers=headers).status_code == 201


def test_revoking_a_token_makes_it_stop_working(client, susan):
    response = client.delete('/api/tokens', headers=susan.headers)

    assert response.status_code == 204
    assert client.get('/api/users', headers=susan.headers).status_code == 401
    assert client.post('/api/messages', json={'source': 'hi'}, headers=susan.headers).status_code == 401


def test_signing_in_after_revoking_gives_a_new_token(client, susan):
    client.delete('/api/tokens', headers=susan.headers)

    token = client.post('/api/tokens', headers=basic_auth('susan', susan.password)).json['token']

    assert token != susan.token
    assert client.get('/api/users', headers=bearer(token)).status_code == 200


def test_revoking_without_a_token_is_a_401(client):
    response = client.delete('/api/tokens')

    assert response.status_code == 401
    assert response.headers['WWW-Authenticate'] == 'Bearer realm="Authentication Required"'


def test_signing_out_takes_the_user_offline(client, susan):
    client.delete('/api/tokens', headers=susan.headers)

    assert client.get(f'/api/users/{susan.id}').json['online'] is False


def test_an_expired_token_stops_working_and_signing_in_gives_a_new_one(app, client, susan):
    with app.app_context():
        db.session.execute(db.update(User).values(token_expires_at=1))
        db.session.commit()

    assert client.get('/api/users', headers=susan.headers).status_code == 401
    token = client.post('/api/tokens', headers=basic_auth('susan', susan.password)).json['token']
    assert token != susan.token
    assert client.get('/api/users', headers=bearer(token)).status_code == 200


def test_a_token_lasts_the_configured_lifetime(app, client, susan):
    with app.app_context():
        expires_at = db.session.get(User, susan.id).token_expires_at

    assert abs(expires_at - (time.time() + app.config['TOKEN_LIFETIME'])) < 5


def test_passwords_are_stored_with_a_modern_hash(app, susan):
    with app.app_context():
        assert db.session.get(User, susan.id).password_hash.startswith(('scrypt:', 'pbkdf2:sha256'))


def test_the_token_answer_is_never_stored_by_a_cache(client, accounts):
    accounts.register('susan')

    response = client.post('/api/tokens', headers=basic_auth('susan', 'correct horse'))

    assert response.status_code == 200
    assert 'no-store' in response.headers['Cache-Control']
    assert response.headers['Pragma'] == 'no-cache'
