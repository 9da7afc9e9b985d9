"""Change counters for the stored tables, kept by the database, and the caches they keep exact.

Each counted table has rows in ``change_counters`` that a trigger bumps in
the very transaction that changes the table: by any process, through the
ORM or plain SQL, in a request, a worker or a migration. So a counter read
after a commit sees that commit, whichever process made it, and no crash
between a commit and what follows it, nor a Redis restart, can leave one
behind.

A table's counter is spread over ``SHARDS`` rows, each transaction bumping
the row of its connection (PostgreSQL's backend pid): a row stays locked
until its transaction commits, so with one row, concurrent writers of a
table would take turns for the length of each commit's disk flush. The
counter is the sum of its rows.

A cache keeps what it computed with the counter it read before reading the
database, and serves it while the counter is unchanged; a change committed
meanwhile only costs a miss. A request reads all counters in one query, at
its first cache lookup, and again after each of its own transactions ends;
concurrent requests share such reads (``SharedRead``).

Caches belong to the app (``init_app``): two apps in one process share none.
"""

import threading
import weakref
from collections import OrderedDict

from flask import current_app
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from sqlalchemy import DDL, BigInteger, Column, Integer, String, Table, event, insert
from sqlalchemy.orm import scoped_session

from .extensions import db, listen_once
from .models import Message, User

EXTENSION = 'flack.change_counters'
# The counters read in the session's current transaction.
READ_KEY = 'flack.change_counts'
COUNTED_TABLES = (User.__table__, Message.__table__)
SHARDS = 64
# Rows only ever count up, so their sum moves with every commit.
READ_COUNTS = 'SELECT table_name, sum(count) FROM change_counters GROUP BY table_name'

change_counters = Table(
    'change_counters',
    db.metadata,
    Column('table_name', String(64), primary_key=True),
    Column('shard', Integer, primary_key=True, autoincrement=False),
    Column('count', BigInteger, nullable=False),
)

# PostgreSQL: once per statement, TRUNCATE included, on the connection's row.
POSTGRESQL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION flack_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_counters SET count = count + 1
    WHERE table_name = TG_TABLE_NAME AND shard = mod(pg_backend_pid(), {SHARDS});
    RETURN NULL;
END $$
"""  # noqa: S608  (SHARDS is a constant, not input)
POSTGRESQL_TRIGGER = """
CREATE TRIGGER {table}_count_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION flack_count_change()
"""
# SQLite has row triggers only, one per kind of change; it has one writer
# at a time, so one row (shard 0) serves.
SQLITE_CHANGES = ('INSERT', 'UPDATE', 'DELETE')
SQLITE_TRIGGER = """
CREATE TRIGGER {table}_count_{change} AFTER {change} ON {table}
BEGIN UPDATE change_counters SET count = count + 1 WHERE table_name = '{table}' AND shard = 0; END
"""


def counting_ddl(dialect, table_name):
    """The statements that make ``table_name``'s changes bump its counter, for ``dialect``."""
    if dialect == 'postgresql':
        return [POSTGRESQL_FUNCTION, POSTGRESQL_TRIGGER.format(table=table_name)]
    if dialect == 'sqlite':
        return [SQLITE_TRIGGER.format(table=table_name, change=change) for change in SQLITE_CHANGES]
    raise NotImplementedError(f'no change counting for {dialect}')


def uncounting_ddl(dialect, table_name):
    """The statements that undo ``counting_ddl`` (the PostgreSQL function stays: others may use it)."""
    if dialect == 'postgresql':
        return [f'DROP TRIGGER {table_name}_count_change ON {table_name}']
    return [f'DROP TRIGGER {table_name}_count_{change}' for change in SQLITE_CHANGES]


def first_counts():
    """The rows ``change_counters`` starts with: ``SHARDS`` per counted table."""
    return [
        {'table_name': table.name, 'shard': shard, 'count': 0}
        for table in COUNTED_TABLES
        for shard in range(SHARDS)
    ]


# ``create_all`` (tests, the shell) builds what the migrations build.
@event.listens_for(change_counters, 'after_create')
def _add_first_counts(target, connection, **kw):
    connection.execute(insert(change_counters), first_counts())


def _count_changes_of(table):
    @event.listens_for(table, 'after_create')
    def add_triggers(target, connection, **kw):
        for statement in counting_ddl(connection.dialect.name, table.name):
            connection.execute(DDL(statement))


for _table in COUNTED_TABLES:
    _count_changes_of(_table)


def current_counts(session):
    """Every table's counter as this transaction sees it (one query per transaction).

    A session in no transaction yet (a request's first statement, or its
    first after a commit) shares the read with every other such caller in
    the process (``SharedRead``) and keeps no database connection for it;
    one in a transaction reads on its own connection, which sees what it
    has written.
    """
    if isinstance(session, scoped_session):
        session = session()
    counts = session.info.get(READ_KEY)
    if counts is None:
        if session.in_transaction():
            counts = _read_counts(session.connection())
        else:
            counts = shared_read(session.get_bind()).counts()
        session.info[READ_KEY] = counts
    return counts


def _read_counts(connection):
    # Plain SQL on the session's connection: the ORM's execution would cost
    # most of what a cache hit saves. On PostgreSQL, as a request's first
    # statement, outside a transaction: psycopg2 would send BEGIN before it
    # and ROLLBACK at the end, two round trips more for a request the cache
    # answers. What the request reads next begins a transaction as usual
    # (and PostgreSQL's READ COMMITTED gives each statement its own snapshot
    # anyway).
    dbapi_connection = connection.connection.dbapi_connection
    outside_transaction = (
        connection.dialect.name == 'postgresql'
        and dbapi_connection.get_transaction_status() == TRANSACTION_STATUS_IDLE
    )
    if outside_transaction:
        dbapi_connection.autocommit = True
    try:
        return dict(connection.exec_driver_sql(READ_COUNTS).all())
    finally:
        if outside_transaction and not dbapi_connection.closed:
            dbapi_connection.autocommit = False


class SharedRead:
    """The counters read for every caller of ``counts`` at once, one query at a time.

    A caller gets the result of a read that began after it called, so it
    sees every commit that ended before: one that arrives while a read is
    running waits for the next, which starts as soon as that one ends and
    serves everyone who came meanwhile. Under load a process thus sends
    one or two reads per round trip, whatever the number of requests, and
    the requests the caches then answer take no database connection at all.
    """

    def __init__(self, engine):
        self.engine = engine
        self._changed = threading.Condition()
        self._running = None  # the _Read under way
        self._next = None  # the _Read its callers wait to start

    def counts(self):
        while True:
            read, leading = self._join()
            if leading:
                return self._run(read)
            if read.error is not None:
                raise read.error
            if read.counts is not None:
                return read.counts
            # Its reader was interrupted (its green thread killed): read anew.

    def _join(self):
        """The read this caller gets, and whether the caller is to run it."""
        with self._changed:
            read = self._next
            if read is None:
                read = self._next = _Read()
            while not read.done:
                if self._running is None and not read.started:
                    read.started, self._running, self._next = True, read, None
                    return read, True
                self._changed.wait()
            return read, False

    def _run(self, read):
        try:
            with self.engine.connect() as connection:
                read.counts = _read_counts(connection)
            return read.counts
        except Exception as error:
            read.error = error
            raise
        finally:
            with self._changed:
                read.done, self._running = True, None
                self._changed.notify_all()


class _Read:
    def __init__(self):
        self.started = self.done = False
        self.counts = self.error = None


_shared_reads = weakref.WeakKeyDictionary()  # an app's engine goes with its app
_shared_reads_lock = threading.Lock()


def shared_read(engine):
    """The ``SharedRead`` of ``engine`` in this process."""
    with _shared_reads_lock:
        read = _shared_reads.get(engine)
        if read is None:
            read = _shared_reads[engine] = SharedRead(engine)
        return read


def _forget_counts(session, transaction):
    # A new transaction may come after commits of this process or others.
    session.info.pop(READ_KEY, None)


class ChangeCache:
    """The last ``size`` values computed, each kept with the counter it was computed at.

    A value missing at some counter is computed once: callers that ask for
    it meanwhile wait for that computation instead of sending the same
    query (after each commit, every reader at once, in a reconnect storm).
    """

    def __init__(self, session, table, size):
        self.session = session
        self.table = table
        self.size = size
        self._lock = threading.Lock()
        self._entries = OrderedDict()
        self._computing = {}  # (key, counter) -> _Computation

    def get(self, key, compute):
        """The value for ``key``, computed again if the table changed since."""
        version = current_counts(self.session).get(self.table)
        if version is None:  # a table without a counter is never cached
            return compute()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == version:
                self._entries.move_to_end(key)
                return entry[1]
            computation = self._computing.get((key, version))
            computing = computation is None
            if computing:
                computation = self._computing[(key, version)] = _Computation()
        if not computing:
            # The value the other caller computed, read after this caller's
            # counter read: as new as one computed here (or its failure,
            # then computed here).
            return computation.value() if computation.wait() else compute()
        try:
            value = compute()
        except BaseException:
            with self._lock:
                del self._computing[(key, version)]
            computation.fail()
            raise
        with self._lock:
            del self._computing[(key, version)]
            entry = self._entries.get(key)
            if entry is None or entry[0] < version:  # counters only go up
                self._entries[key] = (version, value)
                self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        computation.succeed(value)
        return value


class _Computation:
    def __init__(self):
        self._done = threading.Event()
        self._value = None
        self._succeeded = False

    def succeed(self, value):
        self._value, self._succeeded = value, True
        self._done.set()

    def fail(self):
        self._done.set()

    def wait(self):
        """Whether the computation succeeded, once it has ended."""
        self._done.wait()
        return self._succeeded

    def value(self):
        return self._value


class AppChanges:
    """An app's caches of what the database holds."""

    def __init__(self, session):
        self.session = session
        self._caches = {}
        self._lock = threading.Lock()

    def cache(self, name, table, size):
        """The cache ``name`` of changes to ``table``, made on first use."""
        with self._lock:
            if name not in self._caches:
                self._caches[name] = ChangeCache(self.session, table, size)
            return self._caches[name]


def init_app(app, session):
    """Give ``app`` caches kept exact by the counters ``session`` (a scoped session) reads."""
    app.extensions[EXTENSION] = AppChanges(session)
    listen_once(session, 'after_transaction_end', _forget_counts)


def changes(app=None):
    """The caches of ``app`` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION]


def cache(name, table, size):
    """The current app's cache ``name`` of changes to ``table`` (see ``AppChanges.cache``)."""
    return changes().cache(name, table, size)
