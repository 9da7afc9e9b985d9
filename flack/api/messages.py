"""Messages: post, list, read, edit."""

from apiflask import abort

from .. import chat
from ..auth import token_auth
from ..extensions import db
from ..models import Message
from ..schemas import MessageList, MessageOut, MessageQuery, MessageSource
from . import OPTIONAL_TOKEN, bp


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
    if 'limit' in query or 'before' in query:
        messages = chat.message_page(query.get('limit'), query.get('before'), query.get('user_id'))
    else:
        messages = chat.recent_messages(query.get('updated_since'), query.get('user_id'))
    return {'messages': messages}


@bp.get('/messages/<int:id>')
@bp.auth_required(token_auth, optional=True)
@bp.doc(security=OPTIONAL_TOKEN)
@bp.output(MessageOut)
def get_message(id):
    """Read a message."""
    return db.get_or_404(Message, id)


@bp.put('/messages/<int:id>')
@bp.auth_required(token_auth)
@bp.input(MessageSource, arg_name='fields')
@bp.output({}, status_code=204)
@bp.doc(responses={403: 'Not the author', 404: 'No such message', 413: 'Source too long'})
def edit_message(id, fields):
    """Edit one of your messages."""
    message = db.get_or_404(Message, id)
    if message.user_id != token_auth.current_user.id:
        abort(403, message='You can only edit your own messages.')
    chat.edit_message(message, fields['source'])
    return ''
