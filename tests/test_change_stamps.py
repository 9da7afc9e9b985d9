"""When a change is stamped: ``updated_at``, which catch-up reads
(``updated_since``) go by, is the database's clock at the statement that
writes the change, and PostgreSQL ends a transaction that then stays open,
so that no change becomes readable long after its stamp: a client reading
again from a margin before the last change it saw misses none."""

import re
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

import flack.app
from flack import create_app
from flack.extensions import db
from flack.models import Message, User, timestamp
from flack.realtime.broadcast import serialized

from .conftest import empty_tables, make_environ

MAIN_JS = Path(flack.app.__file__).parent / 'static' / 'js' / 'main.js'


def _author(nickname='susan'):
    user = User(nickname=nickname)
    user.set_password('correct horse')
    db.session.add(user)
    db.session.commit()
    return user


def test_a_new_message_is_stamped_when_it_is_written_not_when_it_is_made(app, sql):
    with app.app_context():
        message = Message(user_id=_author().id, source='hello', html='hello')
        message.touch()
        db.session.add(message)
        made = timestamp()
        time.sleep(1.1)  # the request is held up between taking the post and writing it
        with sql() as sent:
            db.session.commit()

        assert message.updated_at >= made + 1
        assert isinstance(message.updated_at, int)
        # The stamp came back with the INSERT, and the broadcast carries it.
        assert not any(statement.startswith('SELECT') for statement in sent)
        assert serialized(message)['updated_at'] == message.updated_at
        stored = db.session.scalar(select(Message.updated_at).where(Message.id == message.id))
        assert stored == message.updated_at


def test_an_edit_is_stamped_when_it_is_written(app):
    with app.app_context():
        message = Message(user_id=_author().id, source='hello', html='hello')
        db.session.add(message)
        db.session.commit()
        first = message.updated_at

        message.source = message.html = 'hello again'
        message.touch()
        edited = timestamp()
        time.sleep(1.1)
        db.session.commit()

        assert message.updated_at >= edited + 1 > first
        assert serialized(message)['updated_at'] == message.updated_at


def test_postgresql_ends_a_transaction_left_open_after_its_write(tmp_path, postgres_database, monkeypatch):
    # A green thread starved between its INSERT and its COMMIT (a process
    # overloaded) would otherwise make its message readable any time later.
    monkeypatch.setattr(flack.app, 'STAMP_VISIBLE_WITHIN', 1)
    empty_tables(postgres_database.url)
    app = create_app(make_environ(tmp_path, DATABASE_URL=postgres_database.url))
    with app.app_context():
        author_id = _author().id
        message = Message(user_id=author_id, source='late', html='late')
        message.touch()
        db.session.add(message)
        db.session.flush()  # stamped, not committed
        time.sleep(2)

        with pytest.raises(OperationalError):
            db.session.commit()
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0
        db.engine.dispose()


def test_the_browser_client_reads_again_from_further_back_than_the_bound():
    margin = re.search(r'const CATCH_UP_MARGIN_SECONDS = (\d+);', MAIN_JS.read_text())

    assert int(margin.group(1)) > flack.app.STAMP_VISIBLE_WITHIN
