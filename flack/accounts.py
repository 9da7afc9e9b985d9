"""Registering users, listing them, changing their accounts, signing them in and out.

Every function here that commits a change to a user broadcasts it to every
client (flack.realtime.broadcast).
"""

from apiflask import abort
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import channels, presence
from .auth import find_user, issue_token, revoke_token
from .change_counters import cache
from .extensions import db
from .models import User
from .realtime.server import socketio
from .schemas import UserList, json_bytes

# User lists as sent, serialized once per change to the users: every client
# reads them when it comes back after a disconnection.
LISTINGS_CACHE = {'name': 'user listings', 'table': 'users', 'size': 32}


def _ensure_nickname_free(nickname, user=None):
    # Free means that no other account's nickname reads the same (flack.nicknames).
    owner = find_user(nickname)
    if owner is None or owner == user:
        return
    if owner.nickname == nickname:
        abort(400, message=f'The nickname {nickname!r} is taken.')
    abort(400, message=f'The nickname {nickname!r} is taken: it reads the same as {owner.nickname!r}.')


def _commit_or_nickname_taken(nickname):
    # Two requests can pass the check above at once; the unique indexes decide.
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        abort(400, message=f'The nickname {nickname!r} is taken.')


def register(nickname, password):
    """Create a user."""
    _ensure_nickname_free(nickname)
    user = User(nickname=nickname)
    user.set_password(password)
    db.session.add(user)
    try:
        channels.add_to_general(user)
    except IntegrityError:  # the flush: another request took the nickname since the check
        db.session.rollback()
        abort(400, message=f'The nickname {nickname!r} is taken.')
    _commit_or_nickname_taken(nickname)
    return user


def listing_json(online=None, updated_since=None):
    """The body of ``GET /api/users`` for these query values, as JSON bytes
    (see ``list_users``), kept in a cache that a commit to the users invalidates."""
    return cache(**LISTINGS_CACHE).get(
        (online, updated_since),
        lambda: json_bytes(UserList(), {'users': list_users(online, updated_since)}),
    )


def list_users(online=None, updated_since=None):
    """Users by time of last change, then nickname: those ``online`` (or not),
    changed after ``updated_since``, if given."""
    statement = select(User).order_by(User.updated_at, User.nickname)
    if online is not None:
        statement = statement.where(User.online.is_(online))
    if updated_since is not None:
        statement = statement.where(User.updated_at > updated_since)
    return db.session.scalars(statement).all()


def sign_in(user):
    """The user's token (the same one while it is valid); the user comes online."""
    token = issue_token(user)
    db.session.commit()
    presence.mark_seen(user)
    return token


def find_changeable_account(user, account_id):
    """The account ``account_id`` if it is ``user``'s own: a 404 if there is
    none, a 403 if it is someone else's."""
    account = db.get_or_404(User, account_id)
    if account.id != user.id:
        abort(403, message='You can only change your own account.')
    return account


def change(user, nickname=None, password=None):
    """Change the nickname and/or password; a new password signs the user out."""
    if nickname is not None:
        _ensure_nickname_free(nickname, user)
        user.nickname = nickname
    if password is not None:
        user.set_password(password)
        revoke_token(user)
    user.touch()
    _commit_or_nickname_taken(nickname)
    if password is not None:
        _disconnect_sockets(user)


def sign_out(user):
    """Revoke the user's token, close their Socket.IO connections, take them offline."""
    revoke_token(user)
    db.session.commit()
    _disconnect_sockets(user)
    presence.mark_offline(user)


def _disconnect_sockets(user):
    for sid in presence.connections_of(user):
        socketio().server.disconnect(sid, namespace='/')
