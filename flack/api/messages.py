"""Messages: post, list, read, edit."""

from flask import current_app

from .. import chat, moderation
from ..auth import authorize, token_auth
from ..realtime.broadcast import serialized
from ..schemas import MessageList, MessageOut, MessageQuery, MessageSource
from . import OPTIONAL_TOKEN, bp, json_response


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
    return created(chat.post_message(token_auth.current_user, fields['source']))


def created(message):
    """The 201 answering a post: the JSON its broadcast carried, made once
    (a Response passes APIFlask's output as it is)."""
    response = current_app.json.response(serialized(message))
    response.status_code = 201
    response.headers['Location'] = f'/api/messages/{message.id}'
    return response


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
    # Serialized by chat, once per change to the messages (a cache).
    return json_response(chat.listing_json(**query))


@bp.get('/messages/<int:id>')
@bp.auth_required(token_auth, optional=True)
@bp.doc(security=OPTIONAL_TOKEN)
@bp.output(MessageOut)
def get_message(id):
    """Read a message."""
    return chat.find_visible_message(token_auth.current_user, id)


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


@bp.delete('/messages/<int:id>')
@bp.auth_required(token_auth)
@authorize(moderation.deletable_message)
@bp.output({}, status_code=204)
@bp.doc(responses={403: 'Not the author, and not an administrator', 404: 'No such message'})
def delete_message(message):
    """Delete a message: yours, or any if you are an administrator. Its
    tombstone reaches clients as an ``updated_model`` event marked ``deleted``."""
    moderation.delete_message(token_auth.current_user, message)
    return ''
