"""Tokens and password hashes never leave the server, except a token to its
owner; and the key they are derived with is strong enough in production."""

import subprocess

import pytest

from flack.extensions import db
from flack.models import User

from .conftest import basic_auth
from .live import ROOT, child_environ, procfile_commands


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


@pytest.mark.parametrize('process_type', ['web', 'release'])
def test_a_weak_secret_key_stops_a_production_process_with_one_line(tmp_path, process_type):
    done = subprocess.run(
        ['bash', '-c', procfile_commands()[process_type]],
        cwd=ROOT,
        env=child_environ(
            {'SECRET_KEY': 'x', 'PORT': '5999', 'DATABASE_URL': f'sqlite:///{tmp_path / "flack.sqlite"}'}
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith('level=ERROR event=config_error error=')
    assert 'SECRET_KEY' in lines[0] and '32 bytes' in lines[0]
