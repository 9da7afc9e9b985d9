"""Posting, editing and reading messages: the work behind the REST routes
and the Socket.IO ``post_message`` event alike.

Posting and editing commit, and each commit is broadcast to every client
(flack.realtime.broadcast) and counted (flack.change_counters); a message
with links then has its previews queued (flack.work).
"""

from apiflask import abort
from flask import current_app
from sqlalchemy import select

from . import channels
from .change_counters import cache
from .extensions import db
from .models import GENERAL_CHANNEL_ID, Channel, Message, timestamp
from .render import render_message
from .schemas import MessageList, json_bytes
from .work import background_work

# Reading without paging shows at most a day of conversation.
RECENT_SECONDS = 24 * 60 * 60
DEFAULT_PAGE_SIZE = 100
# Message lists as sent, serialized once per change to the messages rather
# than once per request: every client reads them, often.
LISTINGS_CACHE = {'name': 'message listings', 'table': 'messages', 'size': 32}


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
        background_work().enqueue_previews(message.id)


def post_message(user, source, channel_id=GENERAL_CHANNEL_ID):
    """Store a new message by ``user`` in a channel they are a member of
    (flack.channels checks) and broadcast it; previews are queued, added later."""
    message = _rendered(Message(user_id=user.id, channel_id=channel_id), source)
    db.session.add(message)
    db.session.commit()
    _after_commit(message)
    return message


def find_visible_message(viewer, message_id):
    """The message ``message_id`` if ``viewer`` (a user, or None) may read it, else
    the same 404 whether there is none, it was deleted, or it is in someone
    else's direct conversation."""
    message = db.session.get(Message, message_id)
    if (
        message is None
        or message.deleted_at is not None
        or not channels.can_see(viewer, db.session.get(Channel, message.channel_id))
    ):
        abort(404)
    return message


def find_editable_message(user, message_id):
    """The message ``message_id`` if ``user`` wrote it: a 404 if there is none
    (or they may not read it), a 403 if someone else wrote it."""
    message = find_visible_message(user, message_id)
    if message.user_id != user.id:
        abort(403, message='You can only edit your own messages.')
    return message


def edit_message(message, source):
    """Replace the text of ``message`` and broadcast it; its previews are fetched anew."""
    _rendered(message, source)
    db.session.commit()
    _after_commit(message)
    return message


def listing_json(channel_id=GENERAL_CHANNEL_ID, limit=None, before=None, user_id=None, updated_since=None):
    """The body of ``GET /api/messages`` (general) or of a channel's messages
    for these query values, as JSON bytes.

    Without ``limit`` or ``before``: the last 24 hours, by time of last
    change. With them: a page of older messages by id, newest last, not
    limited to the last day (for scrolling back). Deleted messages are left
    out, but from a catch-up (``updated_since``), which lists their
    tombstones. Kept in a cache that a commit to the messages invalidates.
    """
    if limit is not None or before is not None:
        key = ('page', channel_id, limit, before, user_id)
        find = lambda: message_page(channel_id, limit, before, user_id)  # noqa: E731
    else:
        # The bound moves with the clock, so a listing is kept for a second at most.
        since = recent_bound(updated_since)
        tombstones = updated_since is not None
        key = ('recent', channel_id, since, user_id, tombstones)
        find = lambda: recent_messages(channel_id, since, user_id, tombstones)  # noqa: E731
    listings = cache(**LISTINGS_CACHE)
    return listings.get(key, lambda: json_bytes(MessageList(), {'messages': find()}))


def recent_bound(updated_since=None):
    """The Unix time after which a listing without paging shows changes."""
    since = timestamp() - RECENT_SECONDS
    return since if updated_since is None else max(since, updated_since)


def recent_messages(channel_id, since, user_id=None, tombstones=False):
    """A channel's messages changed after ``since`` (see recent_bound), oldest
    change first; deleted ones (as tombstones) only with ``tombstones``."""
    query = select(Message).where(Message.channel_id == channel_id, Message.updated_at > since)
    if not tombstones:
        query = query.where(Message.deleted_at.is_(None))
    if user_id is not None:
        query = query.where(Message.user_id == user_id)
    return db.session.scalars(query.order_by(Message.updated_at, Message.id)).all()


def message_page(channel_id, limit=None, before=None, user_id=None):
    """Up to ``limit`` of a channel's messages older than the id ``before``, newest last."""
    query = select(Message).where(Message.channel_id == channel_id, Message.deleted_at.is_(None))
    if before is not None:
        query = query.where(Message.id < before)
    if user_id is not None:
        query = query.where(Message.user_id == user_id)
    query = query.order_by(Message.id.desc()).limit(limit or DEFAULT_PAGE_SIZE)
    return list(reversed(db.session.scalars(query).all()))
