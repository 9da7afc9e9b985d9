"""The migrations, not create_all, build the schema, and match the models."""

import pytest
import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask_migrate import downgrade, upgrade
from werkzeug.security import generate_password_hash

from flack import create_app
from flack.extensions import db
from flack.models import GENERAL_CHANNEL_ID, Channel, User

from .conftest import basic_auth, make_environ
from .services import PostgresDatabase


def test_upgrading_an_empty_database_builds_the_schema_of_the_models(tmp_path):
    app = create_app(make_environ(tmp_path), process='cli')
    with app.app_context():
        upgrade()
        upgrade()  # a second release on the same database is a no-op

        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)

    assert differences == []


NICKNAME_KEYS = '0004_nicknames'


@pytest.fixture(params=['sqlite', 'postgresql'])
def empty_database_url(request, tmp_path):
    """A database with no tables at all, on SQLite and on PostgreSQL."""
    if request.param == 'sqlite':
        return f'sqlite:///{tmp_path / "flack.sqlite"}'
    database = PostgresDatabase()
    request.addfinalizer(database.drop)
    return database.url


def _add_users(nicknames):
    """Users as the revision before the nickname keys stored them."""
    columns = 'id, nickname, password_hash, created_at, updated_at, last_seen_at, online'
    statement = sqlalchemy.text(
        f'INSERT INTO users ({columns}) VALUES (:id, :nickname, :password_hash, 1, 1, 1, false)'
    )
    rows = [
        {'id': id, 'nickname': nickname, 'password_hash': generate_password_hash('correct horse')}
        for id, nickname in nicknames.items()
    ]
    with db.engine.begin() as connection:
        connection.execute(statement, rows)


def _users_columns():
    return {column['name'] for column in sqlalchemy.inspect(db.engine).get_columns('users')}


def test_nickname_keys_are_not_made_when_stored_nicknames_collide_and_the_collisions_are_named(
    tmp_path, empty_database_url
):
    app = create_app(make_environ(tmp_path, DATABASE_URL=empty_database_url), process='cli')
    with app.app_context():
        config = app.extensions['migrate'].migrate.get_config()
        previous = ScriptDirectory.from_config(config).get_revision(NICKNAME_KEYS).down_revision
        upgrade(revision=previous)
        _add_users({1: 'Dave', 2: 'susan', 3: 'DAVE', 4: 'd\u0430ve', 5: 'bob', 6: 'SUSAN'})

        with pytest.raises(CommandError) as stopped:
            command.upgrade(config, NICKNAME_KEYS)

        message = str(stopped.value)
        assert "'Dave' (id 1), 'DAVE' (id 3), 'd\u0430ve' (id 4)" in message
        assert "'susan' (id 2), 'SUSAN' (id 6)" in message
        assert 'bob' not in message
        assert 'Nothing was changed' in message
        # As it was: no new column, still at the previous revision.
        assert 'nickname_key' not in _users_columns()
        with db.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_heads() == (previous,)
        db.engine.dispose()


def test_nickname_keys_are_filled_in_and_the_stored_users_sign_in_under_a_lookalike(
    tmp_path, empty_database_url
):
    app = create_app(make_environ(tmp_path, DATABASE_URL=empty_database_url), process='cli')
    with app.app_context():
        config = app.extensions['migrate'].migrate.get_config()
        previous = ScriptDirectory.from_config(config).get_revision(NICKNAME_KEYS).down_revision
        upgrade(revision=previous)
        _add_users({1: 'Dave', 2: 'susan', 3: 'DAVE'})
        # What an operator does with the names the failed upgrade gave.
        with db.engine.begin() as connection:
            connection.execute(sqlalchemy.text("UPDATE users SET nickname = 'dave-2' WHERE id = 3"))

        upgrade(revision=NICKNAME_KEYS)

        keys = db.session.execute(sqlalchemy.select(User.id, User.nickname_key).order_by(User.id)).all()
        assert keys == [(1, 'dave'), (2, 'susan'), (3, 'dave-2')]
        db.session.remove()
        upgrade()  # the application's models are those of the latest revision
        response = app.test_client().post('/api/tokens', headers=basic_auth('D\u0430VE', 'correct horse'))
        assert response.status_code == 200

        db.session.remove()
        downgrade(revision=previous)
        assert 'nickname_key' not in _users_columns()
        db.engine.dispose()


CHANNELS = '0006_channels'


def test_channels_keep_every_stored_message_in_general_and_every_user_a_member(tmp_path, empty_database_url):
    app = create_app(make_environ(tmp_path, DATABASE_URL=empty_database_url), process='cli')
    with app.app_context():
        config = app.extensions['migrate'].migrate.get_config()
        previous = ScriptDirectory.from_config(config).get_revision(CHANNELS).down_revision
        upgrade(revision=previous)
        users = [
            {'id': id, 'nickname': nickname, 'key': nickname, 'hash': generate_password_hash('correct horse')}
            for id, nickname in ((1, 'susan'), (2, 'david'))
        ]
        messages = [{'id': id, 'source': f'message {id}', 'user_id': 1 + id % 2} for id in range(1, 31)]
        with db.engine.begin() as connection:
            connection.execute(
                sqlalchemy.text(
                    'INSERT INTO users (id, nickname, nickname_key, password_hash, created_at, updated_at,'
                    ' last_seen_at, online) VALUES (:id, :nickname, :key, :hash, 1, 1, 1, false)'
                ),
                users,
            )
            connection.execute(
                sqlalchemy.text(
                    'INSERT INTO messages (id, source, html, user_id, created_at, updated_at,'
                    ' previews_pending) VALUES (:id, :source, :source, :user_id, 1, 1, false)'
                ),
                messages,
            )

        upgrade()

        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
            channels = connection.execute(sqlalchemy.text('SELECT id, name FROM channels')).all()
            members = connection.execute(sqlalchemy.text('SELECT channel_id, user_id FROM memberships')).all()
            placed = connection.execute(
                sqlalchemy.text('SELECT id, channel_id FROM messages ORDER BY id')
            ).all()
        assert channels == [(GENERAL_CHANNEL_ID, 'general')]
        assert sorted(members) == [(GENERAL_CHANNEL_ID, 1), (GENERAL_CHANNEL_ID, 2)]
        assert placed == [(message['id'], GENERAL_CHANNEL_ID) for message in messages]
        # Members from before the unread state start with everything read.
        with db.engine.connect() as connection:
            marks = (
                connection.execute(sqlalchemy.text('SELECT last_read_id FROM memberships')).scalars().all()
            )
        assert marks == [len(messages)] * 2
        # The messages' changes are still counted (flack.change_counters):
        # on SQLite the table was copied, and its triggers made again.
        counted = sqlalchemy.text("SELECT sum(count) FROM change_counters WHERE table_name = 'messages'")
        with db.engine.begin() as connection:
            before = connection.execute(counted).scalar()
            connection.execute(sqlalchemy.text('UPDATE messages SET html = source WHERE id = 1'))
            assert connection.execute(counted).scalar() > before
        # The original API reads them where they were.
        listed = app.test_client().get('/api/messages?limit=500').json['messages']
        assert [message['source'] for message in listed] == [message['source'] for message in messages]
        # The next channel made takes the next id.
        channel = Channel(name='random', creator_id=1)
        db.session.add(channel)
        db.session.commit()
        assert channel.id == GENERAL_CHANNEL_ID + 1

        db.session.remove()
        downgrade(revision=previous)
        with db.engine.connect() as connection:
            kept = connection.execute(sqlalchemy.text('SELECT count(*) FROM messages')).scalar()
        assert kept == len(messages)
        db.engine.dispose()
