"""Posting, editing and reading messages: the work behind the REST routes
and the Socket.IO ``post_message`` event alike."""

import time

from apiflask import abort
from flask import current_app
from sqlalchemy import select

from .extensions import db
from .models import Message
from .render import render_message

# Reading without paging shows at most a day of conversation.
RECENT_SECONDS = 24 * 60 * 60
DEFAULT_PAGE_SIZE = 100


def _rendered(message, source):
    longest = current_app.config['MAX_MESSAGE_LENGTH']
    if len(source) > longest:
        abort(413, message=f'A message can be at most {longest} characters long.')
    message.source = source
    message.html, links = render_message(source)
    message.previews_pending = current_app.config['LINK_PREVIEWS'] and bool(links)
    message.touch()
    return message


def _after_commit(message):
    if message.previews_pending:
        current_app.extensions['flack.background'].enqueue_previews(message.id)


def post_message(user, source):
    """Store a new message by ``user``; previews are added later."""
    # By id: through the relationship, the flush would also weigh the user.
    message = _rendered(Message(user_id=user.id), source)
    db.session.add(message)
    db.session.commit()
    _after_commit(message)
    return message


def find_editable_message(user, message_id):
    """The message ``message_id`` if ``user`` wrote it: a 404 if there is none,
    a 403 if someone else wrote it."""
    message = db.get_or_404(Message, message_id)
    if message.user_id != user.id:
        abort(403, message='You can only edit your own messages.')
    return message


def edit_message(message, source):
    """Replace the text of ``message``; its previews are fetched anew."""
    _rendered(message, source)
    db.session.commit()
    _after_commit(message)
    return message


def recent_bound(updated_since=None):
    """The Unix time after which a listing without paging shows changes."""
    since = int(time.time()) - RECENT_SECONDS
    return since if updated_since is None else max(since, updated_since)


def recent_messages(since, user_id=None):
    """Messages changed after ``since`` (see recent_bound), oldest change first."""
    query = select(Message).where(Message.updated_at > since)
    if user_id is not None:
        query = query.where(Message.user_id == user_id)
    return db.session.scalars(query.order_by(Message.updated_at, Message.id)).all()


def message_page(limit=None, before=None, user_id=None):
    """Up to ``limit`` messages older than the id ``before``, newest last."""
    query = select(Message)
    if before is not None:
        query = query.where(Message.id < before)
    if user_id is not None:
        query = query.where(Message.user_id == user_id)
    query = query.order_by(Message.id.desc()).limit(limit or DEFAULT_PAGE_SIZE)
    return list(reversed(db.session.scalars(query).all()))
