"""Who is online.

A user is online after an authenticated request or a ``ping_user`` and goes
offline after ``PRESENCE_TIMEOUT`` seconds of silence, or when their last
Socket.IO connection closes. Activity is recorded in the app's presence
store (``PresenceStore``: in memory in the embedded mode, in Redis when
scaled) so that requests write no database row, and for someone already
online at most once every ``PRESENCE_TIMEOUT / 6`` seconds per process
(``ActivityThrottle``); the row changes, and a ``User`` event goes out, only
when ``online`` flips. The store decides each flip atomically, so each one
is announced exactly once.
"""

import threading
from collections import defaultdict
from typing import Protocol

from flask import current_app
from sqlalchemy import select

from .extensions import db
from .models import User, timestamp
from .redis_client import survives_outage

EXTENSION = 'flack.presence'
THROTTLE_EXTENSION = 'flack.presence.throttle'


class PresenceStore(Protocol):
    """Who is online and through which Socket.IO connections.

    ``MemoryPresenceStore`` (embedded mode) and ``RedisPresenceStore``
    (scaled mode) below; ``create_app`` gives each app one (``init_app``).
    Each claim is atomic: of any number of callers flipping a user at once,
    exactly one is told it did.
    """

    def claim_online(self, user_id: int, now: int) -> bool:
        """Record activity at ``now``; True if this call turned the user online."""

    def claim_offline(self, user_id: int) -> bool:
        """True if this call turned the user offline (an unknown user counts as online)."""

    def last_seen(self, user_id: int) -> int | None:
        """When the user was last active, or None if the store never saw them."""

    def add_connection(self, user_id: int, sid: str) -> None:
        """Link the Socket.IO connection ``sid`` to the user."""

    def remove_connection(self, sid: str) -> tuple[int | None, bool]:
        """Forget ``sid``; return (its user id, whether it was their last)."""

    def user_of_connection(self, sid: str) -> int | None:
        """The user id linked to ``sid``, or None."""

    def connections_of(self, user_id: int) -> set[str]:
        """The connection ids linked to the user."""


class MemoryPresenceStore:
    """Presence bookkeeping for a single process (embedded mode)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._state = {}
        self._last_seen = {}
        self._user_of_connection = {}
        self._connections = defaultdict(set)

    def claim_online(self, user_id, now):
        """Record activity; True if this call turned the user online."""
        with self._lock:
            self._last_seen[user_id] = now
            return self._flip(user_id, 'online')

    def claim_offline(self, user_id):
        """True if this call turned the user offline.

        A user the store has never heard of counts as online, so that flags
        left in the database by an earlier run are cleared too.
        """
        with self._lock:
            return self._flip(user_id, 'offline')

    def _flip(self, user_id, state):
        previous = self._state.get(user_id)
        self._state[user_id] = state
        return previous != state

    def last_seen(self, user_id):
        with self._lock:
            return self._last_seen.get(user_id)

    def add_connection(self, user_id, sid):
        with self._lock:
            self._user_of_connection[sid] = user_id
            self._connections[user_id].add(sid)

    def remove_connection(self, sid):
        """Forget ``sid``; return (its user id, whether it was their last)."""
        with self._lock:
            user_id = self._user_of_connection.pop(sid, None)
            if user_id is None:
                return None, False
            connections = self._connections[user_id]
            connections.discard(sid)
            if connections:
                return user_id, False
            del self._connections[user_id]
            return user_id, True

    def user_of_connection(self, sid):
        with self._lock:
            return self._user_of_connection.get(sid)

    def connections_of(self, user_id):
        with self._lock:
            return set(self._connections.get(user_id, ()))


class RedisPresenceStore:
    """Presence shared by every process through Redis (scaled mode).

    ``SET ... GET`` swaps a user's state and returns the old one in one
    atomic step, so of any number of processes flipping a user at once,
    exactly one sees the flip and announces it.
    """

    STATE = 'flack:presence:state:'
    LAST_SEEN = 'flack:presence:last-seen'
    USER_OF = 'flack:presence:user-of:'
    CONNECTIONS = 'flack:presence:connections:'

    def __init__(self, redis):
        self.redis = redis

    @survives_outage(False)
    def claim_online(self, user_id, now):
        pipe = self.redis.pipeline()
        pipe.hset(self.LAST_SEEN, user_id, now)
        pipe.set(f'{self.STATE}{user_id}', 'online', get=True)
        _, previous = pipe.execute()
        return previous != 'online'

    @survives_outage(False)
    def claim_offline(self, user_id):
        return self.redis.set(f'{self.STATE}{user_id}', 'offline', get=True) != 'offline'

    @survives_outage(None)
    def last_seen(self, user_id):
        value = self.redis.hget(self.LAST_SEEN, user_id)
        return None if value is None else int(value)

    @survives_outage(None)
    def add_connection(self, user_id, sid):
        pipe = self.redis.pipeline()
        pipe.set(f'{self.USER_OF}{sid}', user_id)
        pipe.sadd(f'{self.CONNECTIONS}{user_id}', sid)
        pipe.execute()

    @survives_outage((None, False))
    def remove_connection(self, sid):
        user_id = self.redis.getdel(f'{self.USER_OF}{sid}')
        if user_id is None:
            return None, False
        pipe = self.redis.pipeline()
        pipe.srem(f'{self.CONNECTIONS}{user_id}', sid)
        pipe.scard(f'{self.CONNECTIONS}{user_id}')
        _, remaining = pipe.execute()
        return int(user_id), remaining == 0

    @survives_outage(None)
    def user_of_connection(self, sid):
        user_id = self.redis.get(f'{self.USER_OF}{sid}')
        return None if user_id is None else int(user_id)

    @survives_outage(set)
    def connections_of(self, user_id):
        return self.redis.smembers(f'{self.CONNECTIONS}{user_id}')


class ActivityThrottle:
    """Which users this process has recorded as active within the last ``interval`` seconds.

    Someone online who keeps making requests needs their activity recorded
    now and then, not on every request: the sweep only asks whether they
    were active within ``PRESENCE_TIMEOUT``.
    """

    # Beyond this many users, those not seen within the interval are forgotten.
    REMEMBERED = 10_000

    def __init__(self, interval):
        self.interval = interval
        self._lock = threading.Lock()
        self._recorded = {}

    def due(self, user_id, now):
        """True, and noted, if the user's activity was not recorded within the interval."""
        with self._lock:
            last = self._recorded.get(user_id)
            if last is not None and now - last < self.interval:
                return False
            self._recorded[user_id] = now
            if len(self._recorded) > self.REMEMBERED:
                cutoff = now - self.interval
                self._recorded = {uid: t for uid, t in self._recorded.items() if t >= cutoff}
            return True


def init_app(app, presence_store):
    """Keep ``presence_store`` as ``app``'s presence store."""
    app.extensions[EXTENSION] = presence_store
    # Well inside the timeout, so that the sweep never takes an active user offline.
    interval = max(1, app.config['PRESENCE_TIMEOUT'] // 6)
    app.extensions[THROTTLE_EXTENSION] = ActivityThrottle(interval)


def store(app=None) -> PresenceStore:
    """The presence store of ``app`` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION]


def mark_seen(user):
    """Record activity by ``user``; if that brings them online, commit it (a broadcast)."""
    now = timestamp()
    if user.online and not current_app.extensions[THROTTLE_EXTENSION].due(user.id, now):
        return
    if store().claim_online(user.id, now) and not user.online:
        user.online = True
        user.last_seen_at = now
        user.touch()
        _commit_or_give_back(lambda: store().claim_offline(user.id))


def mark_offline(user):
    """Take ``user`` offline now; if they were online, commit it (a broadcast)."""
    if store().claim_offline(user.id) and user.online:
        last_seen = store().last_seen(user.id) or user.last_seen_at
        user.online = False
        user.last_seen_at = last_seen
        user.touch()
        _commit_or_give_back(lambda: store().claim_online(user.id, last_seen))


def _commit_or_give_back(give_back):
    """Commit a flip the store let this caller make; if the database fails,
    give the claim back, so that the next caller (the user's next sign of
    life, the sweep's next tick) makes it again rather than find it made."""
    try:
        db.session.commit()
    except Exception:
        # The session is unusable until rolled back: the request's error
        # answer (a 503) reads nothing through it then.
        db.session.rollback()
        give_back()
        raise


def connect(user, sid):
    """Link the Socket.IO connection ``sid`` to ``user`` and mark them seen."""
    store().add_connection(user.id, sid)
    mark_seen(user)


def disconnect(sid):
    """Forget ``sid``; a user whose last connection closed goes offline."""
    user_id, was_last = store().remove_connection(sid)
    if was_last:
        user = db.session.get(User, user_id)
        if user is not None:
            mark_offline(user)


def unlink(sid):
    """Forget ``sid``, a connection refused after it was linked, as the
    database failed: nothing is committed. Its user's online claim goes with
    their last connection, so that their next one brings them online; if
    the database has them online, the sweep takes them offline."""
    user_id, was_last = store().remove_connection(sid)
    if was_last:
        store().claim_offline(user_id)


def user_of_connection(sid):
    """The user linked to the Socket.IO connection ``sid``, or None."""
    user_id = store().user_of_connection(sid)
    return None if user_id is None else db.session.get(User, user_id)


def connections_of(user):
    """The Socket.IO connection ids linked to ``user``."""
    return store().connections_of(user.id)


def sweep(now=None):
    """Take offline every online user silent for longer than the timeout."""
    now = timestamp() if now is None else now
    cutoff = now - current_app.config['PRESENCE_TIMEOUT']
    for user in db.session.scalars(select(User).where(User.online.is_(True))).all():
        last_seen = store().last_seen(user.id) or user.last_seen_at
        if last_seen < cutoff:
            mark_offline(user)
