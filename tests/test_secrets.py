"""Tokens and password hashes never leave the server, except a token to its owner."""

from flack.extensions import db
from flack.models import User

from .conftest import basic_auth


def _everything_a_client_can_see(client, socket, susan, david):
    """Answers of every route and every Socket.IO event, as text, from a busy session."""
    seen = []

    def keep(response):
        seen.append(str(response.headers) + response.get_data(as_text=True))
        return response

    message = keep(client.post('/api/messages', json={'source': 'hi'}, headers=susan.headers)).json
    for url in (
        '/api/users',
        f'/api/users/{susan.id}',
        '/api/messages',
        f'/api/messages/{message["id"]}',
        '/api/users?online=1',
        '/stats',
        '/healthz',
        '/api/openapi.json',
        '/',
    ):
        keep(client.get(url, headers=david.headers))
    keep(client.put(f'/api/users/{susan.id}', json={'nickname': 'suzy'}, headers=susan.headers))
    keep(client.put(f'/api/messages/{message["id"]}', json={'source': 'yo'}, headers=susan.headers))
    keep(client.put(f'/api/users/{david.id}', json={'nickname': 'x'}, headers=susan.headers))
    keep(client.get('/api/users', headers={'Authorization': 'Bearer wrong'}))
    seen.append(str(socket.emit('post_message', {'source': 'ho'}, susan.token, callback=True)))
    seen.append(str(socket.emit('ping_user', david.token, callback=True)))
    seen.append(str(socket.get_received()))
    return '\n'.join(seen)


def test_no_answer_carries_a_token_or_a_password_hash(app, client, socket_client, susan, david):
    socket = socket_client()

    seen = _everything_a_client_can_see(client, socket, susan, david)

    with app.app_context():
        users = db.session.scalars(db.select(User)).all()
        secrets = (
            [u.password_hash for u in users] + [u.token_hash for u in users] + [u.token_salt for u in users]
        )
    for secret in [*secrets, susan.token, david.token, 'scrypt:', 'password_hash', 'token_hash']:
        assert secret not in seen


def test_only_the_owner_gets_their_token_back_when_signing_in(client, susan):
    response = client.post('/api/tokens', headers=basic_auth('susan', susan.password))

    assert response.json == {'token': susan.token}
