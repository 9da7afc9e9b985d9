"""Channels: list, create, read; join and leave; their messages. Direct conversations: open, list."""

from apiflask import abort

from .. import channels, chat
from ..auth import authorize, token_auth
from ..schemas import (
    ChannelFields,
    ChannelList,
    ChannelOut,
    ChannelQuery,
    ConversationWith,
    MessageList,
    MessageOut,
    MessageQuery,
    MessageSource,
    ReadMark,
    UnreadList,
    UserList,
)
from . import OPTIONAL_TOKEN, bp, json_response
from .messages import created


@bp.post('/channels')
@bp.auth_required(token_auth)
@bp.input(ChannelFields, arg_name='fields')
@bp.output(
    ChannelOut, status_code=201, description='The new channel, you its first member; Location has its URL'
)
@bp.doc(
    responses={
        400: 'Missing or bad name, or topic too long',
        409: 'The name is taken (case and lookalike characters aside)',
        413: 'Body larger than the server accepts',
        429: 'Too many channels made in a short time; see Retry-After',
    }
)
def new_channel(fields):
    """Create a channel."""
    channel = channels.create_channel(token_auth.current_user, fields['name'], fields['topic'])
    return channel, 201, {'Location': f'/api/channels/{channel.id}'}


@bp.get('/channels')
@bp.auth_required(token_auth, optional=True)
@bp.doc(security=OPTIONAL_TOKEN, responses={401: 'member=1 without a token'})
@bp.input(ChannelQuery, location='query', arg_name='query')
@bp.output(ChannelList)
def get_channels(query):
    """List channels by name; with ``member=1``, only yours."""
    member = None
    if query.get('member'):
        member = token_auth.current_user
        if member is None:
            abort(401, message='member=1 lists your channels: send your token.')
    return {'channels': channels.list_channels(member)}


@bp.get('/channels/<int:id>')
@bp.auth_required(token_auth, optional=True)
@bp.doc(security=OPTIONAL_TOKEN)
@bp.output(ChannelOut)
def get_channel(id):
    """Read a channel."""
    return channels.find_channel(id, token_auth.current_user)


@bp.get('/channels/<int:id>/members')
@bp.auth_required(token_auth, optional=True)
@bp.doc(security=OPTIONAL_TOKEN)
@bp.output(UserList)
def get_members(id):
    """List a channel's members, by nickname."""
    return {'users': channels.members(channels.find_channel(id, token_auth.current_user))}


def _own_membership(caller, id, user_id):
    channel = channels.find_channel(id, caller)
    if user_id != caller.id:
        abort(403, message='You can only join or leave channels yourself.')
    return channel


@bp.put('/channels/<int:id>/members/<int:user_id>')
@bp.auth_required(token_auth)
@bp.output({}, status_code=204)
@bp.doc(responses={403: 'Another user', 404: 'No such channel'})
def join_channel(id, user_id):
    """Join a channel: its messages reach your connections from now on."""
    channels.join(token_auth.current_user, _own_membership(token_auth.current_user, id, user_id))
    return ''


@bp.delete('/channels/<int:id>/members/<int:user_id>')
@bp.auth_required(token_auth)
@bp.output({}, status_code=204)
@bp.doc(responses={403: 'Another user, or general (everyone is a member)', 404: 'No such channel'})
def leave_channel(id, user_id):
    """Leave a channel."""
    channels.leave(token_auth.current_user, _own_membership(token_auth.current_user, id, user_id))
    return ''


@bp.get('/channels/<int:id>/messages')
@bp.auth_required(token_auth, optional=True)
@bp.doc(security=OPTIONAL_TOKEN)
@bp.input(MessageQuery, location='query', arg_name='query')
@bp.output(MessageList)
def get_channel_messages(id, query):
    """List a channel's messages, with the queries of ``GET /api/messages``."""
    channel = channels.find_channel(id, token_auth.current_user)
    return json_response(chat.listing_json(channel.id, **query))


@bp.post('/channels/<int:id>/messages')
@bp.auth_required(token_auth)
@authorize(channels.postable_channel)  # before the body is read: a 403 says nothing of it
@bp.input(MessageSource, arg_name='fields')
@bp.output(MessageOut, status_code=201, description='The stored message, rendered; Location has its URL')
@bp.doc(
    responses={
        400: 'Missing or empty source',
        403: 'Not a member of the channel',
        404: 'No such channel',
        413: 'Source longer than MAX_MESSAGE_LENGTH',
        429: 'Too many messages in a short time; see Retry-After',
    }
)
def new_channel_message(channel, fields):
    """Post a message in a channel you are a member of."""
    return created(chat.post_message(token_auth.current_user, fields['source'], channel.id))


@bp.post('/conversations')
@bp.auth_required(token_auth)
@bp.input(ConversationWith, arg_name='fields')
@bp.output(ChannelOut, status_code=201, description='A new conversation; 200 with the one you have')
@bp.doc(
    responses={
        200: 'The conversation you already have with that user',
        400: 'Yourself',
        404: 'No such user',
        413: 'Body larger than the server accepts',
    }
)
def new_conversation(fields):
    """Open a direct conversation with another user: only the two of you read
    it, and nobody else can tell that it exists. Its messages are a channel's."""
    conversation, made = channels.open_conversation(token_auth.current_user, fields['user_id'])
    return conversation, 201 if made else 200, {'Location': f'/api/channels/{conversation.id}'}


@bp.get('/conversations')
@bp.auth_required(token_auth)
@bp.output(ChannelList)
def get_conversations():
    """List your direct conversations, the newest first."""
    return {'channels': channels.conversations(token_auth.current_user)}


@bp.put('/channels/<int:id>/read')
@bp.auth_required(token_auth)
@bp.input(ReadMark, arg_name='fields')
@bp.output({}, status_code=204)
@bp.doc(
    responses={
        400: 'Missing or bad message_id',
        403: 'Not a member of the channel',
        404: 'No such channel',
        413: 'Body larger than the server accepts',
    }
)
def mark_read(id, fields):
    """Record what you have read in a channel: up to ``message_id``. The mark only moves forward."""
    caller = token_auth.current_user
    channels.mark_read(caller, channels.find_channel(id, caller), fields['message_id'])
    return ''


@bp.get('/unread')
@bp.auth_required(token_auth)
@bp.output(UnreadList)
def get_unread():
    """For each of your channels and conversations: the last message you read
    and how many messages of others came after it."""
    return {'channels': channels.unread_counts(token_auth.current_user)}
