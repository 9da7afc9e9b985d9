"""create_app: everything an app holds is its own. Two apps in one process,
one embedded (SQLite, memory) and one scaled (PostgreSQL, a Redis of its
own), share no cache, counter or connection."""

import pytest
import socketio

from flack import create_app, fanout, presence, realtime, redis_client
from flack.change_counters import changes, current_counts
from flack.extensions import db

from .conftest import Accounts, empty_tables, make_environ
from .live import wait_for
from .services import RedisServer


@pytest.fixture
def two_apps(tmp_path, postgres_database):
    empty_tables(postgres_database.url)
    redis_server = RedisServer(tmp_path).start()
    embedded = create_app(make_environ(tmp_path))
    scaled = create_app(
        make_environ(tmp_path, DATABASE_URL=postgres_database.url, REDIS_URL=redis_server.url)
    )
    with embedded.app_context():
        db.create_all()
    try:
        yield embedded, scaled
    finally:
        for app in (embedded, scaled):
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        redis_server.stop()


def _listener(url, token):
    """A python-socketio client connected as the token's holder; it keeps the sources it hears."""
    heard = []
    client = socketio.Client(reconnection=False)
    client.on(
        'updated_model', lambda event: event['class'] == 'Message' and heard.append(event['model']['source'])
    )
    client.connect(url, transports=['polling'], auth={'token': token}, wait_timeout=10)
    return client, heard


def _message_changes(app):
    with app.app_context():
        return current_counts(db.session)['messages']


def test_two_apps_in_one_process_share_no_cache_counter_or_connection(two_apps, serve_app):
    embedded, scaled = two_apps
    susan = Accounts(embedded.test_client()).new('susan')
    david = Accounts(scaled.test_client()).new('david')
    embedded_client, embedded_heard = _listener(serve_app(embedded), susan.token)
    scaled_client, scaled_heard = _listener(serve_app(scaled), david.token)
    try:
        # Each app's caches are its own, and so are the counters its database keeps.
        embedded.test_client().get('/api/messages')
        embedded.test_client().post('/api/messages', json={'source': 'here'}, headers=susan.headers)
        assert changes(embedded) is not changes(scaled)
        assert _message_changes(embedded) == 1
        listings = changes(embedded).cache('message listings', 'messages', 32)
        assert listings is not changes(scaled).cache('message listings', 'messages', 32)
        # A subscription starts listening a moment after the first connection.
        wait_for(
            lambda: redis_client.connection(scaled).pubsub_numsub(fanout.CHANNEL)[0][1], 'the subscription'
        )
        scaled.test_client().post('/api/messages', json={'source': 'there'}, headers=david.headers)
        assert _message_changes(embedded) == 1
        assert [m['source'] for m in embedded.test_client().get('/api/messages').json['messages']] == ['here']

        # Each app's Socket.IO server, connections and broadcasts are its own.
        assert realtime.socketio(embedded).server is not realtime.socketio(scaled).server
        wait_for(lambda: embedded_heard and scaled_heard, 'both broadcasts', 10)
        assert (embedded_heard, scaled_heard) == (['here'], ['there'])
        embedded_sids = {
            sid for sid, _ in realtime.socketio(embedded).server.manager.get_participants('/', None)
        }
        scaled_sids = {sid for sid, _ in realtime.socketio(scaled).server.manager.get_participants('/', None)}
        assert len(embedded_sids) == len(scaled_sids) == 1 and not embedded_sids & scaled_sids

        # Presence: each store holds its own app's connection only (both users have id 1).
        assert susan.id == david.id
        assert presence.store(embedded).connections_of(susan.id) == embedded_sids
        assert presence.store(scaled).connections_of(david.id) == scaled_sids
    finally:
        embedded_client.disconnect()
        scaled_client.disconnect()
