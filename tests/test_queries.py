"""How many SQL statements the API sends, counted as they reach the driver.

Two slow-downs pass every functional test unnoticed: an N+1 query (one more
statement per listed row, so the message list slows down as the chat grows)
and a write on a read (every poll by every client becoming a transaction).
"""

import time

import pytest
import redis
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from sqlalchemy import event, text

from flack import chat
from flack.extensions import db
from flack.models import Message, User

from .conftest import Accounts


def _post_messages(app, author_ids, count):
    """Store ``count`` messages, the authors taking turns; quicker than as many POSTs."""
    with app.app_context():
        authors = [db.session.get(User, author_id) for author_id in author_ids]
        for n in range(count):
            chat.post_message(authors[n % len(authors)], f'message {n}')


def _verb(statement):
    return statement.split(None, 1)[0].upper()


def test_listing_200_messages_from_10_users_takes_as_few_queries_as_listing_one(app, client, accounts, sql):
    reader = accounts.new('reader')
    author_ids = [reader.id] + [accounts.register(f'author {n}')['id'] for n in range(9)]

    _post_messages(app, [reader.id], 1)
    with sql() as for_one:
        assert len(client.get('/api/messages', headers=reader.headers).json['messages']) == 1
    _post_messages(app, author_ids, 199)
    with sql() as for_200:
        assert len(client.get('/api/messages', headers=reader.headers).json['messages']) == 200

    # Nothing per message or author: at most the change counters, the caller
    # by their token's hash (unless known from an earlier request) and the
    # listing itself.
    assert len(for_200) <= len(for_one) <= 3
    assert sum('FROM messages' in statement for statement in for_200) == 1


def test_authenticated_reads_write_nothing_to_the_database(client, susan, david, sql):
    message = client.post('/api/messages', json={'source': 'hello'}, headers=david.headers).json
    client.get('/api/messages', headers=susan.headers)  # susan is online from here on
    urls = ['/api/messages', f'/api/messages/{message["id"]}', '/api/users', f'/api/users/{david.id}']

    with sql() as sent:
        for url in urls:
            assert client.get(url, headers=susan.headers).status_code == 200

    assert [statement for statement in sent if _verb(statement) in ('INSERT', 'UPDATE', 'DELETE')] == []
    # Nothing but reads, so no transaction has anything to commit.
    assert sent and {_verb(statement) for statement in sent} == {'SELECT'}


def test_a_read_repeated_without_changes_sends_one_small_query_yet_every_change_shows_at_once(
    app, client, susan, sql, monkeypatch
):
    client.post('/api/messages', json={'source': 'one'}, headers=susan.headers)
    # The last day's listing is read anew each second (its bound moves).
    now = int(time.time())
    monkeypatch.setattr(chat, 'timestamp', lambda: now)
    first = client.get('/api/messages', headers=susan.headers).json

    with sql() as sent:
        assert client.get('/api/messages', headers=susan.headers).json == first
    # The change counters (flack.change_counters), and nothing else.
    assert len(sent) == 1 and 'FROM change_counters' in sent[0]
    monkeypatch.undo()

    # A post, an edit and a statement that changes rows without loading them.
    client.post('/api/messages', json={'source': 'two'}, headers=susan.headers)
    assert [m['source'] for m in client.get('/api/messages', headers=susan.headers).json['messages']] == [
        'one',
        'two',
    ]
    client.put(f'/api/messages/{first["messages"][0]["id"]}', json={'source': 'uno'}, headers=susan.headers)
    assert {m['source'] for m in client.get('/api/messages', headers=susan.headers).json['messages']} == {
        'uno',
        'two',
    }
    with app.app_context():
        db.session.execute(db.update(Message).values(source='changed'))
        db.session.commit()
    assert {m['source'] for m in client.get('/api/messages', headers=susan.headers).json['messages']} == {
        'changed'
    }

    # Signing out is seen at once, though the token's user was known.
    assert client.delete('/api/tokens', headers=susan.headers).status_code == 204
    assert client.get('/api/messages', headers=susan.headers).status_code == 401


def test_a_user_listing_repeated_without_changes_sends_one_small_query_yet_changes_show_at_once(
    client, susan, david, sql
):
    first = client.get('/api/users?updated_since=0', headers=susan.headers).json
    with sql() as sent:
        assert client.get('/api/users?updated_since=0', headers=susan.headers).json == first
    assert len(sent) == 1 and 'FROM change_counters' in sent[0]

    client.put(f'/api/users/{david.id}', json={'nickname': 'dave'}, headers=david.headers)
    nicknames = {
        user['nickname']
        for user in client.get('/api/users?updated_since=0', headers=susan.headers).json['users']
    }
    assert nicknames == {'susan', 'dave'}


def _redis_calls(server):
    """How many commands the Redis ``server`` has run, its INFO commands left out."""
    stats = redis.Redis.from_url(server.url).info('commandstats')
    return sum(entry['calls'] for name, entry in stats.items() if name != 'cmdstat_info')


def _transactions_left_open(app):
    """A list that gets, at each rollback on ``app``'s engine, whether the
    driver had a transaction open (it sent BEGIN, so the rollback sends ROLLBACK)."""
    open_at_rollback = []

    def record(connection):
        if connection.dialect.name == 'postgresql':
            status = connection.connection.dbapi_connection.get_transaction_status()
            open_at_rollback.append(status != TRANSACTION_STATUS_IDLE)

    with app.app_context():
        event.listen(db.engine, 'rollback', record)
    return open_at_rollback


def test_a_scaled_read_sends_one_small_query_and_redis_hears_of_it_only_now_and_then(
    app_factory, redis_server, sql, monkeypatch
):
    scaled = app_factory(REDIS_URL=redis_server.url)
    open_at_rollback = _transactions_left_open(scaled)
    client = scaled.test_client()
    susan = Accounts(client).new('susan')
    client.post('/api/messages', json={'source': 'one'}, headers=susan.headers)
    first = client.get('/api/messages', headers=susan.headers).json

    calls = _redis_calls(redis_server)
    started = time.monotonic()
    open_at_rollback.clear()
    # The last day's listing is read anew each second (its bound moves): on a
    # loaded machine the 50 requests would span seconds.
    now = int(time.time())
    monkeypatch.setattr(chat, 'timestamp', lambda: now)
    with sql() as sent:
        for _ in range(50):
            assert client.get('/api/messages', headers=susan.headers).json == first
    seconds = time.monotonic() - started
    monkeypatch.undo()
    # One query each: the change counters, the same as in the embedded mode;
    # on PostgreSQL, outside a transaction: no BEGIN before it, no ROLLBACK after.
    assert len(sent) == 50 and all('FROM change_counters' in statement for statement in sent)
    assert not any(open_at_rollback)
    # Presence is recorded now and then, and the request counts once a
    # second (INCRBY and EXPIRE per second counted), not on every request.
    assert _redis_calls(redis_server) - calls <= 4 * (seconds + 2) < 50

    # A post is seen at once all the same.
    client.post('/api/messages', json={'source': 'two'}, headers=susan.headers)
    listing = client.get('/api/messages', headers=susan.headers).json['messages']
    assert [m['source'] for m in listing] == ['one', 'two']


@pytest.mark.parametrize('database_url', ['postgresql'], indirect=True)
def test_postgresql_sessions_compile_no_query_and_end_idle_transactions(app):
    # JIT compiling cost a member of 101 channels 0.2 s on every unread count
    # (docs/architecture.md); an idle transaction would hold back change stamps.
    with app.app_context():
        settings = db.session.execute(
            text("SELECT current_setting('jit'), current_setting('idle_in_transaction_session_timeout')")
        ).one()
    assert tuple(settings) == ('off', '10s')
