"""What Flack stores: users, the channels they are members of, and their messages."""

import time

from flask import current_app
from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
    false,
    insert,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column, validates
from sqlalchemy.sql.functions import FunctionElement
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .nicknames import LONGEST_KEY, fold_nickname


def timestamp():
    """Now, as integer Unix seconds: the API's time format, and the one "now" of the code."""
    return int(time.time())


class database_now(FunctionElement):  # noqa: N801  (reads as the SQL function it renders)
    """Now on the database's clock, in integer Unix seconds, when the statement that writes it runs.

    ``updated_at`` is stamped with it, in the INSERT or UPDATE itself:
    readers ask for what changed after a time (``updated_since``), and a
    stamp taken earlier (when the request came in, by its process's clock)
    could reach them long after later ones. Taken in the writing
    statement, a stamp is at most the database's idle-transaction timeout
    (flack.app, ``STAMP_VISIBLE_WITHIN``) plus a commit older than the
    moment it can be read; one clock, whichever process writes.
    """

    type = BigInteger()
    inherit_cache = True


@compiles(database_now, 'postgresql')
def _postgresql_now(element, compiler, **kw):
    # clock_timestamp(), not now(): the transaction may have begun long before.
    return 'CAST(floor(extract(epoch FROM clock_timestamp())) AS BIGINT)'


@compiles(database_now, 'sqlite')
def _sqlite_now(element, compiler, **kw):
    # SQLite writes one transaction at a time: the stamp is taken under the
    # write lock, so stamps are in commit order.
    return "CAST(strftime('%s', 'now') AS INTEGER)"


class Announced:
    """Models whose changes every client hears of (flack.realtime.broadcast).

    Their stamps come back with the INSERT or UPDATE (RETURNING), so that
    the broadcast, made at the flush, carries them without another query.
    """

    __mapper_args__ = {'eager_defaults': True}

    def touch(self):
        """Record a change that clients should hear about; stamped by the database at the flush."""
        self.updated_at = database_now()
        # Read by the broadcast hook: comparing updated_at cannot tell two
        # changes apart within one second.
        self._touched = True

    def take_touched(self):
        touched, self._touched = getattr(self, '_touched', False), False
        return touched


class User(Announced, db.Model):
    __tablename__ = 'users'

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Shown as typed; nickname_key (flack.nicknames) is what makes it one person's.
    nickname: Mapped[str] = mapped_column(String(32), unique=True)
    nickname_key: Mapped[str] = mapped_column(String(LONGEST_KEY), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    # Only a hash of the current token is stored; the salt lets the server
    # derive the same token again for a user who asks while it is valid.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_salt: Mapped[str | None] = mapped_column(String(64))
    token_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger, default=timestamp)
    # Bumped by touch(), with every change clients should see.
    updated_at: Mapped[int] = mapped_column(BigInteger, default=database_now(), index=True)
    last_seen_at: Mapped[int] = mapped_column(BigInteger, default=timestamp)
    online: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    # Granted on the command line (ADMIN_NICKNAMES names others: flack.moderation).
    admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Set while an administrator keeps the user out.
    suspended_at: Mapped[int | None] = mapped_column(BigInteger)

    @validates('nickname')
    def _fold_nickname(self, attribute, nickname):
        # Every way of setting a nickname sets its key, so the two never disagree.
        self.nickname_key = fold_nickname(nickname)
        return nickname

    @property
    def is_admin(self):
        """Granted the role, or named by ADMIN_NICKNAMES, as nicknames are read (flack.moderation)."""
        return self.admin or self.nickname_key in current_app.config['ADMIN_NICKNAMES']

    def set_password(self, password):
        self.password_hash = generate_password_hash(password)

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)

    def __repr__(self):
        return f'<User {self.id} {self.nickname!r}>'


# The channel every user is a member of, made with the schema; the original
# API's messages are its messages.
GENERAL_CHANNEL_ID = 1
GENERAL_CHANNEL_NAME = 'general'
LONGEST_CHANNEL_NAME = 32
LONGEST_TOPIC = 250


class Channel(Announced, db.Model):
    """A named conversation that anyone may join, or a direct one between two users.

    A direct conversation has no name; its ``direct_key`` names its two
    users, lower id first, so that two users have one at most.
    """

    __tablename__ = 'channels'

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Shown as typed; name_key (flack.nicknames' folding) makes it unique.
    name: Mapped[str | None] = mapped_column(String(LONGEST_CHANNEL_NAME))
    name_key: Mapped[str | None] = mapped_column(String(LONGEST_KEY), unique=True)
    direct_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    topic: Mapped[str] = mapped_column(String(LONGEST_TOPIC), default='', server_default='')
    # None for general, which no user made.
    creator_id: Mapped[int | None] = mapped_column(ForeignKey('users.id'))
    created_at: Mapped[int] = mapped_column(BigInteger, default=timestamp)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=database_now(), index=True)

    @validates('name')
    def _fold_name(self, attribute, name):
        self.name_key = fold_nickname(name)
        return name

    @property
    def direct(self):
        return self.direct_key is not None

    @property
    def user_ids(self):
        """The two users of a direct conversation (an empty list for a channel)."""
        return [int(user_id) for user_id in self.direct_key.split(':')] if self.direct else []

    @staticmethod
    def direct_key_of(user_id, other_id):
        low, high = sorted((user_id, other_id))
        return f'{low}:{high}'

    def __repr__(self):
        return f'<Channel {self.id} {self.name or self.direct_key!r}>'


class Membership(db.Model):
    """A user's membership of a channel."""

    __tablename__ = 'memberships'

    channel_id: Mapped[int] = mapped_column(ForeignKey('channels.id'), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey('users.id'), primary_key=True, index=True)
    joined_at: Mapped[int] = mapped_column(BigInteger, default=timestamp)
    # The last message of the channel the user has read (0: none); it only moves forward.
    last_read_id: Mapped[int] = mapped_column(Integer, default=0, server_default='0')


def add_general_channel(connection):
    """Store general in an empty channels table, as the schema starts with it."""
    channels = Channel.__table__
    now = timestamp()
    row = {'name': GENERAL_CHANNEL_NAME, 'name_key': fold_nickname(GENERAL_CHANNEL_NAME), 'topic': ''}
    connection.execute(insert(channels), [dict(row, id=GENERAL_CHANNEL_ID, created_at=now, updated_at=now)])
    if connection.dialect.name == 'postgresql':
        # An id given explicitly leaves the sequence behind: the next channel would take it.
        connection.execute(
            text("SELECT setval(pg_get_serial_sequence('channels', 'id'), max(id)) FROM channels")
        )


# ``create_all`` (tests, the shell) starts with general, as the migrations do.
@event.listens_for(Channel.__table__, 'after_create')
def _add_general(target, connection, **kw):
    add_general_channel(connection)


class Message(Announced, db.Model):
    __tablename__ = 'messages'
    __table_args__ = (
        # A channel's messages by id: its pages, its newest message and the
        # unread ones after a mark, read without visiting other channels' rows.
        Index('ix_messages_channel_id_id', 'channel_id', 'id'),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey('users.id'), index=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey('channels.id'),
        default=GENERAL_CHANNEL_ID,
        server_default=str(GENERAL_CHANNEL_ID),
    )
    created_at: Mapped[int] = mapped_column(BigInteger, default=timestamp)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=database_now(), index=True)
    # Set while link previews are still to be fetched, so that previews lost
    # to a crash or an unreachable queue are found and redone later.
    previews_pending: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    # How many runs have started fetching the previews of the current text
    # (see flack.previews): however often a run is redelivered, retried or
    # queued again, a message's links are fetched a bounded number of times.
    preview_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default='0')
    # Set when the message is deleted: its row stays, its text gone, so
    # that readers catching up (updated_since) learn of the deletion.
    deleted_at: Mapped[int | None] = mapped_column(BigInteger)

    @validates('source')
    def _new_text_gets_new_attempts(self, key, source):
        # An edited text has links of its own to preview: its count starts afresh.
        self.preview_attempts = 0
        return source

    def __repr__(self):
        return f'<Message {self.id} by {self.user_id}>'
