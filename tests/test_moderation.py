"""Moderation: authors delete their messages, administrators any message,
and suspend and reinstate users; every action one log line."""

import logging
import subprocess
import sys

import pytest

from .conftest import Accounts, basic_auth, make_environ, stored_counts
from .live import ROOT, child_environ
from .realtime.test_broadcast import heard_models


@pytest.fixture
def moderated(app_factory):
    """An app whose administrator is whoever registers as boss."""
    app = app_factory(ADMIN_NICKNAMES='Boss, someone else')
    client = app.test_client()
    accounts = Accounts(client)
    return app, client, accounts.new('boss'), accounts.new('susan'), accounts.new('david')


def _post(client, user, source):
    return client.post('/api/messages', json={'source': source}, headers=user.headers).json


def test_an_author_deletes_their_message_and_readers_learn_of_it(moderated, socket_client, caplog):
    app, client, _, susan, _ = moderated
    listener = app.extensions['flack.socketio'].test_client(app)
    kept, gone = _post(client, susan, 'kept'), _post(client, susan, 'oops')
    listener.get_received()

    with caplog.at_level(logging.INFO, logger='flack.moderation'):
        assert client.delete(f'/api/messages/{gone["id"]}', headers=susan.headers).status_code == 204

    assert client.get(f'/api/messages/{gone["id"]}').status_code == 404
    assert [m['id'] for m in client.get('/api/messages').json['messages']] == [kept['id']]
    assert [m['id'] for m in client.get('/api/messages?limit=10').json['messages']] == [kept['id']]
    # A reader catching up gets the tombstone, as every client heard it.
    caught_up = client.get(f'/api/messages?updated_since={kept["updated_at"] - 1}').json['messages']
    tombstone = next(m for m in caught_up if m['id'] == gone['id'])
    assert (tombstone['deleted'], tombstone['source'], tombstone['html']) == (True, '', '')
    assert heard_models(listener, 'Message') == [tombstone]
    assert 'deleted' not in next(m for m in caught_up if m['id'] == kept['id'])
    assert f'event=message_deleted message_id={gone["id"]} author_id={susan.id} by_user_id={susan.id}' in (
        caplog.text
    )
    # Gone for good: not edited, not deleted again.
    assert (
        client.put(f'/api/messages/{gone["id"]}', json={'source': 'x'}, headers=susan.headers).status_code
        == 404
    )
    assert client.delete(f'/api/messages/{gone["id"]}', headers=susan.headers).status_code == 404
    listener.disconnect()


def test_only_an_administrator_deletes_someone_elses_message(moderated):
    app, client, boss, susan, david = moderated
    message = _post(client, susan, 'mine')
    stored = stored_counts(app)

    refused = client.delete(f'/api/messages/{message["id"]}', headers=david.headers)
    assert refused.status_code == 403
    assert stored_counts(app) == stored
    assert client.delete(f'/api/messages/{message["id"]}', headers=boss.headers).status_code == 204
    assert client.get('/api/messages').json['messages'] == []
    assert client.delete('/api/messages/999', headers=boss.headers).status_code == 404
    assert client.delete(f'/api/messages/{message["id"]}').status_code == 401


def test_the_administrators_are_those_the_setting_names_however_typed(moderated):
    _, client, boss, susan, _ = moderated

    assert client.get(f'/api/users/{boss.id}').json['admin'] is True
    assert 'admin' not in client.get(f'/api/users/{susan.id}').json


def test_a_suspended_user_is_signed_out_everywhere_and_refused_until_reinstated(moderated, caplog):
    app, client, boss, susan, david = moderated
    socket = app.extensions['flack.socketio'].test_client(app, auth={'token': david.token})
    assert socket.is_connected()

    caplog.set_level(logging.INFO, logger='flack.moderation')
    assert client.put(f'/api/users/{david.id}/suspension', headers=boss.headers).status_code == 204

    assert not socket.is_connected()
    assert client.get('/api/messages', headers=david.headers).status_code == 401
    refused = client.post('/api/tokens', headers=basic_auth('david', 'correct horse'))
    assert refused.status_code == 403
    assert 'suspended' in refused.json['message']
    # Without the password, nothing tells that the account is suspended.
    assert client.post('/api/tokens', headers=basic_auth('david', 'wrong horse')).status_code == 401
    shown = client.get(f'/api/users/{david.id}').json
    assert (shown['suspended'], shown['online']) == (True, False)
    assert f'event=user_suspended user_id={david.id} by_user_id={boss.id}' in caplog.text

    assert client.delete(f'/api/users/{david.id}/suspension', headers=boss.headers).status_code == 204
    assert client.post('/api/tokens', headers=basic_auth('david', 'correct horse')).status_code == 200
    assert 'suspended' not in client.get(f'/api/users/{david.id}').json
    assert f'event=user_reinstated user_id={david.id} by_user_id={boss.id}' in caplog.text


def test_only_administrators_suspend_and_never_an_administrator(moderated):
    app, client, boss, susan, david = moderated
    stored = stored_counts(app)

    assert client.put(f'/api/users/{david.id}/suspension', headers=susan.headers).status_code == 403
    assert client.delete(f'/api/users/{david.id}/suspension', headers=susan.headers).status_code == 403
    assert client.put(f'/api/users/{boss.id}/suspension', headers=boss.headers).status_code == 403
    assert client.put('/api/users/999/suspension', headers=boss.headers).status_code == 404
    assert client.put(f'/api/users/{david.id}/suspension').status_code == 401
    assert stored_counts(app) == stored
    assert client.get('/api/messages', headers=david.headers).status_code == 200


def test_the_command_line_grants_and_revokes_the_role(tmp_path, app_factory):
    app = app_factory()
    client = app.test_client()
    susan = Accounts(client).new('susan')
    environ = child_environ(make_environ(tmp_path, DATABASE_URL=app.config['SQLALCHEMY_DATABASE_URI']))

    def admin(*arguments):
        return subprocess.run(
            [sys.executable, 'manage.py', 'admin', *arguments],
            cwd=ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )

    granted = admin('grant', 'SUSAN')
    assert granted.returncode == 0, granted.stderr
    assert 'susan' in granted.stdout
    assert client.get(f'/api/users/{susan.id}').json['admin'] is True
    assert 'susan' in admin('list').stdout
    assert admin('revoke', 'susan').returncode == 0
    assert 'admin' not in client.get(f'/api/users/{susan.id}').json
    missing = admin('grant', 'nobody')
    assert missing.returncode != 0 and 'nobody' in missing.stderr
