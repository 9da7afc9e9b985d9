"""The two things Flack stores: users and their messages."""

import time

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db


def timestamp():
    """The current time as integer Unix seconds, the API's time format."""
    return int(time.time())


class Broadcast:
    """Models whose changes every client hears of (see flack.broadcast)."""

    def touch(self):
        """Record a change that clients should hear about."""
        self.updated_at = timestamp()
        # Read by the broadcast hook: comparing updated_at cannot tell two
        # changes apart within one second.
        self._touched = True

    def take_touched(self):
        touched, self._touched = getattr(self, '_touched', False), False
        return touched


class User(Broadcast, db.Model):
    __tablename__ = 'users'

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nickname: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    # Only a hash of the current token is stored; the salt lets the server
    # derive the same token again for a user who asks while it is valid.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_salt: Mapped[str | None] = mapped_column(String(64))
    token_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger, default=timestamp)
    # Bumped by touch(), with every change clients should see.
    updated_at: Mapped[int] = mapped_column(BigInteger, default=timestamp, index=True)
    last_seen_at: Mapped[int] = mapped_column(BigInteger, default=timestamp)
    online: Mapped[bool] = mapped_column(Boolean, default=False, index=True)

    messages: Mapped[list['Message']] = relationship(back_populates='user', lazy='dynamic')

    def set_password(self, password):
        self.password_hash = generate_password_hash(password)

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)

    def __repr__(self):
        return f'<User {self.id} {self.nickname!r}>'


class Message(Broadcast, db.Model):
    __tablename__ = 'messages'

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey('users.id'), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=timestamp)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=timestamp, index=True)
    # Set while link previews are still to be fetched, so that previews lost
    # to a crash or an unreachable queue are found and redone later.
    previews_pending: Mapped[bool] = mapped_column(Boolean, default=False, index=True)

    user: Mapped[User] = relationship(back_populates='messages')

    def __repr__(self):
        return f'<Message {self.id} by {self.user_id}>'
