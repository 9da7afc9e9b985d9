"""Presence: online on activity, offline after the timeout, one event per change;
both presence stores held to one contract."""

import threading
import time

import pytest
import sqlalchemy

from flack import presence
from flack.extensions import db
from flack.models import User
from flack.presence import MemoryPresenceStore, RedisPresenceStore

from .conftest import database_fails_at


@pytest.fixture(params=['memory', 'redis'])
def store(request):
    """Each presence store: the embedded mode's, and the scaled mode's on a Redis of its own."""
    if request.param == 'memory':
        return MemoryPresenceStore()
    return RedisPresenceStore(request.getfixturevalue('redis_connection'))


def test_a_store_tells_of_each_flip_once(store):
    assert store.claim_online(1, now=100) is True
    assert store.claim_online(1, now=105) is False
    assert store.last_seen(1) == 105
    assert store.claim_offline(1) is True
    assert store.claim_offline(1) is False
    assert store.claim_online(1, now=110) is True


def test_a_store_counts_a_user_it_never_saw_as_online(store):
    # So that online flags left in the database by an earlier run are cleared.
    assert store.last_seen(2) is None
    assert store.claim_offline(2) is True


def test_of_callers_claiming_at_once_exactly_one_is_told_it_flipped(store):
    start = threading.Barrier(8)
    flips = []

    def claim():
        start.wait()
        flips.append(store.claim_online(3, now=100))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(flips) == [False] * 7 + [True]


def test_a_store_knows_which_connection_was_a_users_last(store):
    store.add_connection(1, 'a')
    store.add_connection(1, 'b')

    assert store.user_of_connection('a') == 1
    assert store.connections_of(1) == {'a', 'b'}
    assert store.remove_connection('a') == (1, False)
    assert store.remove_connection('b') == (1, True)
    assert store.remove_connection('b') == (None, False)
    assert store.user_of_connection('a') is None
    assert store.connections_of(1) == set()


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


def test_a_user_the_database_failed_to_bring_online_comes_online_with_their_next_request(app, client, susan):
    with app.app_context():
        presence.sweep(now=time.time() + app.config['PRESENCE_TIMEOUT'] + 1)

    with database_fails_at(app, 'UPDATE users'):
        assert client.get('/api/messages', headers=susan.headers).status_code == 503
    assert _online(client, susan) is False
    client.get('/api/messages', headers=susan.headers)

    assert _online(client, susan) is True


def test_a_user_the_database_failed_to_take_offline_is_taken_offline_by_the_next_sweep(app, client, susan):
    later = time.time() + app.config['PRESENCE_TIMEOUT'] + 1

    with app.app_context():
        with database_fails_at(app, 'UPDATE users'), pytest.raises(sqlalchemy.exc.OperationalError):
            presence.sweep(now=later)
        db.session.rollback()
        assert _online(client, susan) is True
        presence.sweep(now=later)

    assert _online(client, susan) is False


def test_last_seen_at_records_the_last_activity_when_going_offline(app, client, susan):
    with app.app_context():
        presence.store().claim_online(susan.id, 1234)
        presence.sweep(now=time.time() + app.config['PRESENCE_TIMEOUT'] + 1)

    assert client.get(f'/api/users/{susan.id}').json['last_seen_at'] == 1234
