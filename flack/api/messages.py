"""Messages: post, list, read, edit."""

import functools

from flask import current_app

from .. import chat
from ..auth import authorize, token_auth
from ..extensions import db
from ..models import Message
from ..schemas import MessageList, MessageOut, MessageQuery, MessageSource
from ..versions import VersionedCache
from . import OPTIONAL_TOKEN, bp

# Message lists as sent, serialized once per change to the messages rather
# than once per request: every client reads them, often.
_listings = VersionedCache('messages', size=32)


@bp.post('/messages')
@bp.auth_required(token_auth)
@bp.input(MessageSource, arg_name='fields')
@bp.output(MessageOut, status_code=201, description='The stored message, rendered; Location has its URL')
@bp.doc(
    responses={
        400: 'Missing or empty source',
        413: 'Source longer than MAX_MESSAGE_LENGTH',
        429: 'Too many messages in a short time; see Retry-After',
    }
)
def new_message(fields):
    """Post a message. Link previews are added later and broadcast."""
    message = chat.post_message(token_auth.current_user, fields['source'])
    return message, 201, {'Location': f'/api/messages/{message.id}'}


@bp.get('/messages')
@bp.auth_required(token_auth, optional=True)
@bp.doc(security=OPTIONAL_TOKEN)
@bp.input(MessageQuery, location='query', arg_name='query')
@bp.output(MessageList)
def get_messages(query):
    """List messages.

    Without ``limit`` or ``before``: the last 24 hours, by time of last
    change. With them: a page of older messages by id, newest last, not
    limited to the last day (for scrolling back).
    """
    user_id = query.get('user_id')
    if 'limit' in query or 'before' in query:
        key = ('page', query.get('limit'), query.get('before'), user_id)
        find = functools.partial(chat.message_page, query.get('limit'), query.get('before'), user_id)
    else:
        # The bound moves with the clock, so a listing is kept for a second at most.
        since = chat.recent_bound(query.get('updated_since'))
        key = ('recent', since, user_id)
        find = functools.partial(chat.recent_messages, since, user_id)
    body = _listings.get(key, lambda: _serialized(find()))
    return current_app.response_class(body, mimetype=current_app.json.mimetype)


def _serialized(messages):
    """The body apiflask's output (jsonify) would send for ``messages``."""
    return current_app.json.response(MessageList().dump({'messages': messages})).get_data()


@bp.get('/messages/<int:id>')
@bp.auth_required(token_auth, optional=True)
@bp.doc(security=OPTIONAL_TOKEN)
@bp.output(MessageOut)
def get_message(id):
    """Read a message."""
    return db.get_or_404(Message, id)


@bp.put('/messages/<int:id>')
@bp.auth_required(token_auth)
@authorize(chat.find_editable_message)  # before the body is read: a 403 says nothing of it
@bp.input(MessageSource, arg_name='fields')
@bp.output({}, status_code=204)
@bp.doc(responses={403: 'Not the author', 404: 'No such message', 413: 'Source too long'})
def edit_message(message, fields):
    """Edit one of your messages."""
    chat.edit_message(message, fields['source'])
    return ''
