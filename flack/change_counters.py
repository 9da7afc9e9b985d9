"""Change counters for the stored tables, and the caches they keep exact.

Every commit that changes users or messages bumps that table's counter,
after the commit. A cache keeps what it computed with the counter it read
before reading the database, and serves it while the counter is unchanged;
a change committed meanwhile only costs a miss.

Counting is exact only where one process makes every change: the embedded
default. Scaled out, a change made by another process would go unseen, so
there is no counter (``current`` answers None) and nothing is cached.

Counters and caches belong to the app (``init_app``): two apps in one
process share neither.
"""

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Protocol

from flask import current_app, has_app_context

from .extensions import listen_once

EXTENSION = 'flack.change_counters'
# The tables a transaction changed, kept in its session's info until it ends.
CHANGED_KEY = 'flack.changed_tables'


class ChangeCounters(Protocol):
    """A counter per table, bumped after each commit that changed it."""

    def current(self, table: str) -> Hashable | None:
        """The table's counter, or None if changes cannot be counted here."""

    def bump(self, tables: Iterable[str]) -> None:
        """Count one change of each of ``tables``."""


class MemoryChangeCounters:
    """Counters of one process (embedded mode)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts = {}

    def current(self, table):
        with self._lock:
            return self._counts.get(table, 0)

    def bump(self, tables):
        with self._lock:
            for table in tables:
                self._counts[table] = self._counts.get(table, 0) + 1


class NoChangeCounters:
    """No counters: every cache misses (scaled mode)."""

    def current(self, table):
        return None

    def bump(self, tables):
        pass


class ChangeCache:
    """The last ``size`` values computed, each kept with the counter it was computed at."""

    def __init__(self, counters, table, size):
        self.counters = counters
        self.table = table
        self.size = size
        self._lock = threading.Lock()
        self._entries = OrderedDict()

    def get(self, key, compute):
        """The value for ``key``, computed again if the table changed since."""
        version = self.counters.current(self.table)
        if version is None:
            return compute()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == version:
                self._entries.move_to_end(key)
                return entry[1]
        value = compute()
        with self._lock:
            self._entries[key] = (version, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value


class AppChanges:
    """An app's change counters and the caches that read them."""

    def __init__(self, counters):
        self.counters = counters
        self._caches = {}
        self._lock = threading.Lock()

    def cache(self, name, table, size):
        """The cache ``name`` of changes to ``table``, made on first use."""
        with self._lock:
            if name not in self._caches:
                self._caches[name] = ChangeCache(self.counters, table, size)
            return self._caches[name]


def init_app(app, session, counters):
    """Count ``app``'s commits on ``session`` (a scoped session) with ``counters``."""
    app.extensions[EXTENSION] = AppChanges(counters)
    # The listeners are the same function for every app (registered once);
    # each commit bumps the counters of the app it ran in.
    listeners = [
        ('after_flush', _collect, {}),
        ('do_orm_execute', _collect_statement, {}),
        # First of the after-commit hooks: a client that hears of a change
        # from flack.realtime.broadcast and reads at once must not be served
        # what came before it.
        ('after_commit', _bump, {'insert': True}),
        ('after_soft_rollback', _discard, {}),
    ]
    for name, listener, options in listeners:
        listen_once(session, name, listener, **options)


def changes(app=None):
    """The change counters and caches of ``app`` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION]


def cache(name, table, size):
    """The current app's cache ``name`` of changes to ``table`` (see ``AppChanges.cache``)."""
    return changes().cache(name, table, size)


def _collect(session, flush_context):
    changed = session.info.setdefault(CHANGED_KEY, set())
    # A user gaining a message is in ``dirty`` too, with no column changed.
    dirty = (obj for obj in session.dirty if session.is_modified(obj, include_collections=False))
    for obj in (*session.new, *dirty, *session.deleted):
        table = getattr(obj, '__tablename__', None)
        if table is not None:
            changed.add(table)


def _collect_statement(execute_state):
    # UPDATE and DELETE statements change rows without loading them.
    if (execute_state.is_update or execute_state.is_delete) and execute_state.bind_mapper is not None:
        changed = execute_state.session.info.setdefault(CHANGED_KEY, set())
        changed.add(execute_state.bind_mapper.local_table.name)


def _bump(session):
    changed = session.info.pop(CHANGED_KEY, None)
    if changed and has_app_context() and EXTENSION in current_app.extensions:
        changes().counters.bump(changed)


def _discard(session, previous_transaction):
    session.info.pop(CHANGED_KEY, None)
