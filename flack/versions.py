"""Change counters for the stored tables, so that caches are never stale.

Every commit that changes users or messages bumps that table's counter,
after the commit. A cache keeps what it computed with the counter it read
before reading the database, and serves it while the counter is unchanged;
a change committed meanwhile only costs a miss.

Counting is exact only where one process makes every change: the embedded
default. Scaled out, a change made by another process would go unseen, so
there is no counter (``current`` answers None) and nothing is cached.
"""

import secrets
import threading
from collections import OrderedDict

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

CHANGED_KEY = 'flack.changed_tables'


class MemoryVersions:
    """Counters of one process (embedded mode)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts = {}
        # Caches are module-wide; the epoch keeps apart the versions of two
        # apps in one process (the tests make many).
        self._epoch = secrets.token_hex(8)

    def current(self, table):
        with self._lock:
            return self._epoch, self._counts.get(table, 0)

    def bump(self, tables):
        with self._lock:
            for table in tables:
                self._counts[table] = self._counts.get(table, 0) + 1


class NoVersions:
    """No counters: every cache misses (scaled mode)."""

    def current(self, table):
        return None

    def bump(self, tables):
        pass


def current(table):
    return current_app.extensions['flack.versions'].current(table)


class VersionedCache:
    """The last ``size`` values computed, each kept with the version it was computed at."""

    def __init__(self, table, size):
        self.table = table
        self.size = size
        self._lock = threading.Lock()
        self._entries = OrderedDict()

    def get(self, key, compute):
        """The value for ``key``, computed again if the table changed since."""
        version = current(self.table)
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


@event.listens_for(Session, 'after_flush')
def _collect(session, flush_context):
    changed = session.info.setdefault(CHANGED_KEY, set())
    # A user gaining a message is in ``dirty`` too, with no column changed.
    dirty = (obj for obj in session.dirty if session.is_modified(obj, include_collections=False))
    for obj in (*session.new, *dirty, *session.deleted):
        table = getattr(obj, '__tablename__', None)
        if table is not None:
            changed.add(table)


@event.listens_for(Session, 'do_orm_execute')
def _collect_statement(execute_state):
    # UPDATE and DELETE statements change rows without loading them.
    if (execute_state.is_update or execute_state.is_delete) and execute_state.bind_mapper is not None:
        changed = execute_state.session.info.setdefault(CHANGED_KEY, set())
        changed.add(execute_state.bind_mapper.local_table.name)


# First of the after-commit hooks: a client that hears of a change from
# flack.broadcast and reads at once must not be served what came before it.
@event.listens_for(Session, 'after_commit', insert=True)
def _bump(session):
    changed = session.info.pop(CHANGED_KEY, None)
    if changed and has_app_context():
        current_app.extensions['flack.versions'].bump(changed)


@event.listens_for(Session, 'after_soft_rollback')
def _discard(session, previous_transaction):
    session.info.pop(CHANGED_KEY, None)
