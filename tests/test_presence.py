"""Presence: online on activity, offline after the timeout, one event per change."""

import time

from flack import presence
from flack.extensions import db
from flack.models import User


def _online(client, user):
    return client.get(f'/api/users/{user.id}').json['online']


def _user_events(socket):
    return [
        event['args'][0]['model']
        for event in socket.get_received()
        if event['name'] == 'updated_model' and event['args'][0]['class'] == 'User'
    ]


def test_a_user_silent_past_the_timeout_is_swept_offline_once(app, client, socket_client, susan):
    listener = socket_client()
    later = time.time() + app.config['PRESENCE_TIMEOUT'] + 1

    with app.app_context():
        presence.sweep(now=later)
        presence.sweep(now=later)

    assert _online(client, susan) is False
    assert [user['online'] for user in _user_events(listener)] == [False]


def test_a_user_active_within_the_timeout_stays_online(app, client, susan):
    with app.app_context():
        presence.sweep(now=time.time() + app.config['PRESENCE_TIMEOUT'] - 5)

    assert _online(client, susan) is True


def test_activity_after_the_sweep_brings_the_user_back_online(app, client, susan):
    with app.app_context():
        presence.sweep(now=time.time() + app.config['PRESENCE_TIMEOUT'] + 1)

    client.get('/api/messages', headers=susan.headers)

    assert _online(client, susan) is True


def test_requests_while_online_write_nothing_to_the_database(app, client, susan):
    with app.app_context():
        before = db.session.get(User, susan.id).updated_at
        db.session.execute(db.update(User).values(updated_at=before - 100))
        db.session.commit()

    for _ in range(3):
        client.get('/api/messages', headers=susan.headers)

    with app.app_context():
        assert db.session.get(User, susan.id).updated_at == before - 100


def test_online_flags_left_by_an_earlier_run_are_swept(app_factory, client, susan):
    restarted = app_factory()  # a new process: its presence store knows nobody
    later = time.time() + restarted.config['PRESENCE_TIMEOUT'] + 1

    with restarted.app_context():
        db.session.execute(db.update(User).values(last_seen_at=int(time.time())))
        db.session.commit()
        presence.sweep(now=later)

    assert _online(restarted.test_client(), susan) is False


def test_last_seen_at_records_the_last_activity_when_going_offline(app, client, susan):
    with app.app_context():
        app.extensions['flack.presence'].claim_online(susan.id, 1234)
        presence.sweep(now=time.time() + app.config['PRESENCE_TIMEOUT'] + 1)

    assert client.get(f'/api/users/{susan.id}').json['last_seen_at'] == 1234
