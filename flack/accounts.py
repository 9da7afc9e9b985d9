"""Registering users, changing their accounts, signing them out."""

from apiflask import abort
from sqlalchemy.exc import IntegrityError

from . import presence
from .auth import find_user, revoke_token
from .extensions import db, socketio
from .models import User


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
    _commit_or_nickname_taken(nickname)
    return user


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
        socketio.server.disconnect(sid, namespace='/')
