"""Moderation: who the administrators are, deleting messages, suspending users.

Administrators are the users named by ``ADMIN_NICKNAMES`` (read as
nicknames are: any nickname that reads the same) and those granted the
role with ``python manage.py admin grant NAME``. An author deletes their own
messages, an administrator any message; an administrator suspends a user
(not another administrator) and reinstates them.

A deleted message keeps its row as a tombstone, its text gone: readers
that catch up with ``updated_since`` learn of the deletion, and clients
hear it as an ``updated_model`` event marked ``deleted``. Every action is
logged as one line, naming who did it.
"""

import logging

from apiflask import abort

from . import accounts, chat
from .extensions import db
from .models import User, timestamp

log = logging.getLogger(__name__)


def deletable_message(user, message_id):
    """The message ``message_id`` if ``user`` may delete it: a 404 if they
    cannot read it, a 403 if it is someone else's and they are no administrator."""
    message = chat.find_visible_message(user, message_id)
    if message.user_id != user.id and not user.is_admin:
        abort(403, message='You can only delete your own messages.')
    return message


def delete_message(user, message):
    """Replace ``message`` by its tombstone and broadcast it."""
    message.source = message.html = ''
    message.previews_pending = False
    message.deleted_at = timestamp()
    message.touch()
    db.session.commit()
    log.info(
        'event=message_deleted message_id=%s author_id=%s by_user_id=%s', message.id, message.user_id, user.id
    )


def suspendable_user(admin, user_id):
    """The user ``user_id`` if ``admin`` may suspend or reinstate them: a 403
    if the caller is no administrator or the user is one, a 404 if there is none."""
    if not admin.is_admin:
        abort(403, message='Only administrators suspend and reinstate users.')
    user = db.get_or_404(User, user_id)
    if user.is_admin:
        abort(403, message='An administrator cannot be suspended.')
    return user


def suspend(admin, user):
    """Suspend ``user``: signed out as by ``DELETE /api/tokens`` (token
    revoked, connections closed, offline), and signing in is refused until
    they are reinstated."""
    newly = user.suspended_at is None
    if newly:
        user.suspended_at = timestamp()
        user.touch()
    accounts.sign_out(user)  # commits the suspension with the revoked token
    if newly:
        log.info('event=user_suspended user_id=%s by_user_id=%s', user.id, admin.id)


def reinstate(admin, user):
    """Lift ``user``'s suspension: they may sign in again."""
    if user.suspended_at is not None:
        user.suspended_at = None
        user.touch()
        db.session.commit()
        log.info('event=user_reinstated user_id=%s by_user_id=%s', user.id, admin.id)


def set_admin(user, granted):
    """Grant or revoke the administrator role stored with ``user`` (the command line's)."""
    user.admin = granted
    user.touch()
    db.session.commit()
    log.info('event=%s user_id=%s', 'admin_granted' if granted else 'admin_revoked', user.id)
