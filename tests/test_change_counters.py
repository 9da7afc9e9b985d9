"""Change counters: both kinds held to one contract (a cache never serves what
a commit has changed), and the embedded kind's caching, on a real database."""

import pytest
from sqlalchemy import func, select, update

from flack import change_counters
from flack.change_counters import MemoryChangeCounters, NoChangeCounters
from flack.extensions import db
from flack.models import Message, User


def _count_messages():
    return db.session.scalar(select(func.count()).select_from(Message))


@pytest.fixture
def author(app):
    with app.app_context():
        user = User(nickname='susan', password_hash='-')
        db.session.add(user)
        db.session.commit()
        return user.id


@pytest.mark.parametrize('counters', [MemoryChangeCounters, NoChangeCounters], ids=['memory', 'none'])
def test_a_cache_never_serves_what_a_commit_has_changed(app, author, counters):
    change_counters.init_app(app, db.session, counters())
    with app.app_context():
        listing = change_counters.cache('message count', 'messages', size=4)
        assert listing.get('all', _count_messages) == 0

        db.session.add(Message(source='a', html='a', user_id=author))
        db.session.commit()
        assert listing.get('all', _count_messages) == 1

        # A statement that changes rows without loading them counts too.
        db.session.execute(update(Message).values(html='b'))
        db.session.commit()
        assert listing.get('html', lambda: db.session.scalar(select(Message.html))) == 'b'
        db.session.execute(update(Message).values(html='c'))
        db.session.commit()
        assert listing.get('html', lambda: db.session.scalar(select(Message.html))) == 'c'


def test_the_embedded_cache_computes_once_per_change_of_its_table(app, author):
    change_counters.init_app(app, db.session, MemoryChangeCounters())
    computed = []

    def count():
        computed.append(1)
        return _count_messages()

    with app.app_context():
        listing = change_counters.cache('message count', 'messages', size=4)
        assert [listing.get('all', count) for _ in range(3)] == [0, 0, 0]
        # A change to another table leaves it as it is.
        db.session.get(User, author).nickname = 'susan2'
        db.session.commit()
        assert listing.get('all', count) == 0
        assert len(computed) == 1

        db.session.add(Message(source='a', html='a', user_id=author))
        db.session.commit()
        assert [listing.get('all', count) for _ in range(3)] == [1, 1, 1]
        assert len(computed) == 2


def test_a_rolled_back_change_counts_nothing(app, author):
    counters = MemoryChangeCounters()
    change_counters.init_app(app, db.session, counters)
    with app.app_context():
        before = counters.current('messages')
        db.session.add(Message(source='a', html='a', user_id=author))
        db.session.flush()
        db.session.rollback()
        assert counters.current('messages') == before
