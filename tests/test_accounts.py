"""Accounts: signing out or changing the password ends every session of the
user, their Socket.IO connections included, and a change is heard once."""

from flack.accounts import change
from flack.extensions import db
from flack.models import User

from .conftest import basic_auth
from .realtime.test_broadcast import heard_models


def test_signing_out_closes_the_users_connections_and_takes_them_offline(client, socket_client, susan):
    socket = socket_client(auth={'token': susan.token})

    client.delete('/api/tokens', headers=susan.headers)

    assert not socket.is_connected()
    assert client.get(f'/api/users/{susan.id}').json['online'] is False


def test_a_new_password_signs_the_user_out_everywhere(client, socket_client, susan):
    socket = socket_client(auth={'token': susan.token})

    changed = client.put(f'/api/users/{susan.id}', json={'password': 'battery staple'}, headers=susan.headers)

    assert changed.status_code == 204
    assert not socket.is_connected()
    assert client.get('/api/messages', headers=susan.headers).status_code == 401
    assert client.post('/api/tokens', headers=basic_auth('susan', 'battery staple')).status_code == 200


def test_a_change_made_by_calling_accounts_is_heard_once_by_every_client(app, socket_client, susan):
    listener = socket_client()

    with app.app_context():
        change(db.session.get(User, susan.id), nickname='Susan Q')

    assert [user['nickname'] for user in heard_models(listener, 'User')] == ['Susan Q']
