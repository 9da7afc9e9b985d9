"""Change counters, kept by the database: a cache never serves what a commit
has changed, whoever made the commit, on SQLite and on PostgreSQL."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import delete, event, func, insert, select, update

from flack import change_counters
from flack.change_counters import SHARDS, current_counts
from flack.extensions import db
from flack.models import Message, User

from .conftest import empty_tables
from .live import wait_for
from .services import engine_for


def _count_messages():
    return db.session.scalar(select(func.count()).select_from(Message))


def _new_message(author):
    """An INSERT of a message by ``author``, as a process other than the app's might send."""
    return insert(Message.__table__).values(
        source='x', html='x', user_id=author, created_at=0, updated_at=0, preview_attempts=0
    )


@pytest.fixture
def author(app):
    with app.app_context():
        user = User(nickname='susan', password_hash='-')
        db.session.add(user)
        db.session.commit()
        return user.id


@pytest.fixture
def other_process(app, database_url):
    """A connection of its own to the app's database, as another process would have."""
    engine = engine_for(database_url)
    yield engine
    engine.dispose()


def test_a_cache_never_serves_what_a_commit_has_changed(app, author):
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


def test_a_commit_by_another_process_is_seen_by_the_next_transaction(app, author, other_process):
    with app.app_context():
        listing = change_counters.cache('message count', 'messages', size=4)
        assert listing.get('all', _count_messages) == 0
        db.session.rollback()  # the request ends

        with other_process.begin() as connection:
            connection.execute(_new_message(author))
        assert listing.get('all', _count_messages) == 1
        db.session.rollback()

        with other_process.begin() as connection:
            connection.execute(delete(Message.__table__))
        assert listing.get('all', _count_messages) == 0


def test_a_cache_computes_once_per_change_of_its_table(app, author):
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
    with app.app_context():
        before = current_counts(db.session)['messages']
        db.session.add(Message(source='a', html='a', user_id=author))
        db.session.flush()
        db.session.rollback()
        assert current_counts(db.session)['messages'] == before


def test_a_transaction_reads_the_counters_once(app, author, sql):
    with app.app_context():
        first = change_counters.cache('first', 'messages', size=4)
        second = change_counters.cache('second', 'users', size=4)
        with sql() as sent:
            first.get('all', lambda: 1)
            second.get('all', lambda: 2)
            first.get('all', lambda: 3)
        assert [s for s in sent if 'change_counters' in s] == [sent[0]]
        assert len(sent) == 1


def test_writers_on_other_connections_do_not_wait_for_each_others_commit(postgres_database):
    empty_tables(postgres_database.url)
    engine = engine_for(postgres_database.url)
    connections = []
    try:
        with engine.begin() as connection:
            author = connection.execute(
                insert(User.__table__).values(nickname='susan', nickname_key='susan', password_hash='-')
            ).inserted_primary_key[0]
        # Two connections whose transactions bump different rows of the counter.
        for _ in range(4 * SHARDS):
            connections.append(engine.connect())
            shards = {
                c.exec_driver_sql(f'SELECT mod(pg_backend_pid(), {SHARDS})').scalar() for c in connections
            }
            if len(shards) == 2:
                break
        first, second = connections[0], connections[-1]
        new_message = _new_message(author)
        first.execute(new_message)  # its transaction holds its counter row until it ends
        second.exec_driver_sql("SET lock_timeout = '2s'")
        second.execute(new_message)  # would wait, then fail, on a row the first holds
        second.commit()
        first.commit()
        assert second.execute(select(func.count()).select_from(Message.__table__)).scalar() == 2
    finally:
        for connection in connections:
            connection.close()
        engine.dispose()


def test_a_read_shared_by_concurrent_requests_began_after_each_of_them(app, author, other_process, sql):
    """Requests in no transaction share one read of the counters (SharedRead);
    one that arrives while a read is under way waits for the next: the read
    it gets sees every commit that ended before it arrived."""
    with app.app_context():
        engine = db.engine
    reader = change_counters.SharedRead(engine)
    executed, release = threading.Event(), threading.Event()

    def hold_the_first_read(*_):
        if not executed.is_set():
            executed.set()
            assert release.wait(10)

    event.listen(engine, 'after_cursor_execute', hold_the_first_read)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            first = pool.submit(reader.counts)
            assert executed.wait(10)  # the first read has its answer, not yet handed out
            with other_process.begin() as connection:
                connection.execute(_new_message(author))
            # Arrived after that commit: they wait for the first read to end, then share one more.
            later = [pool.submit(reader.counts) for _ in range(6)]
            wait_for(lambda: len(reader._changed._waiters) == 6, 'the six to wait')
            with sql() as sent:
                release.set()
                counts = [future.result(timeout=10) for future in later]
            assert counts == [counts[0]] * 6
            assert counts[0]['messages'] == first.result(timeout=10)['messages'] + 1
            assert len(sent) == 1
    finally:
        event.remove(engine, 'after_cursor_execute', hold_the_first_read)


def test_a_value_missing_is_computed_once_for_all_who_ask_meanwhile(app, author):
    """After a commit, every reader misses at once: one of them computes, the
    others wait for its value; if it fails, they compute it themselves."""
    started, release = threading.Event(), threading.Event()
    computed = []

    def compute():
        computed.append(1)
        started.set()
        assert release.wait(10)
        return _count_messages()

    def failing():
        computed.append(1)
        started.set()
        assert release.wait(10)
        raise RuntimeError('the database went away')

    def ask(listing, key, function):
        with app.app_context():
            return listing.get(key, function)

    with app.app_context():
        listing = change_counters.cache('message count', 'messages', size=4)
    with ThreadPoolExecutor(max_workers=6) as pool:
        first = pool.submit(ask, listing, 'all', compute)
        assert started.wait(10)
        others = [pool.submit(ask, listing, 'all', compute) for _ in range(5)]
        wait_for(lambda: len(listing._computing) == 1 and _waiting(listing) == 5, 'the others to wait')
        release.set()
        assert [future.result(timeout=10) for future in [first, *others]] == [0] * 6
        assert len(computed) == 1

        started.clear(), release.clear(), computed.clear()
        first = pool.submit(ask, listing, 'failing', failing)
        assert started.wait(10)
        others = [pool.submit(ask, listing, 'failing', compute) for _ in range(5)]
        wait_for(lambda: _waiting(listing) == 5, 'the others to wait')
        release.set()
        with pytest.raises(RuntimeError):
            first.result(timeout=10)
        assert [future.result(timeout=10) for future in others] == [0] * 5


def _waiting(listing):
    return sum(len(computation._done._cond._waiters) for computation in listing._computing.values())


class Interrupted(BaseException):
    """What a killed green thread gets (GreenletExit is a BaseException too)."""


def test_callers_read_anew_when_the_read_they_waited_for_was_interrupted(app, author):
    with app.app_context():
        engine = db.engine
    reader = change_counters.SharedRead(engine)
    executions, executed, release = [], threading.Event(), threading.Event()

    def hold_the_first_read_and_interrupt_the_second(*_):
        executions.append(1)
        if len(executions) == 1:
            executed.set()
            assert release.wait(10)
        elif len(executions) == 2:
            raise Interrupted

    event.listen(engine, 'after_cursor_execute', hold_the_first_read_and_interrupt_the_second)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            first = pool.submit(reader.counts)
            assert executed.wait(10)
            # Arrived during the first read: they share the second, which one
            # of them runs and which is interrupted.
            later = [pool.submit(reader.counts) for _ in range(3)]
            wait_for(lambda: len(reader._changed._waiters) == 3, 'the three to wait')
            release.set()
            assert 'messages' in first.result(timeout=10)
            outcomes = []
            for future in later:
                try:
                    outcomes.append(future.result(timeout=10))
                except Interrupted:
                    outcomes.append('interrupted')
            assert outcomes.count('interrupted') == 1
            assert all('messages' in outcome for outcome in outcomes if outcome != 'interrupted')
    finally:
        event.remove(engine, 'after_cursor_execute', hold_the_first_read_and_interrupt_the_second)
