"""Request and response schemas: they validate input and describe the API.

The same classes produce the OpenAPI document at ``/api/openapi.json``.
"""

from apiflask import Schema
from apiflask.fields import Boolean, Dict, Float, Integer, List, Method, Nested, String
from apiflask.validators import Length, Range
from flask import current_app
from marshmallow import EXCLUDE, ValidationError, post_dump, validates

from .models import GENERAL_CHANNEL_ID, LONGEST_CHANNEL_NAME, LONGEST_TOPIC
from .nicknames import LONGEST_NICKNAME, describe_character, find_refused_character, fold_nickname

# Ids and timestamps must fit the database's 64-bit integers; larger values
# would overflow the driver instead of simply matching nothing.
LARGEST_ID = 2**63 - 1


class InputSchema(Schema):
    class Meta:
        # Clients written for the original API may send fields we ignore.
        unknown = EXCLUDE


NICKNAME_LENGTH = Length(1, LONGEST_NICKNAME)
CHANNEL_NAME_LENGTH = Length(1, LONGEST_CHANNEL_NAME)
# The pattern tells clients part of what _check_visible_name checks.
VISIBLE_NAME_PATTERN = r'^\S([\s\S]*\S)?$'
NICKNAME_HELP = {
    'example': 'susan',
    'pattern': VISIBLE_NAME_PATTERN,
    'description': (
        'Shown as typed. No invisible, control, bidirectional, private-use or unassigned '
        'characters. Taken if another nickname reads the same: case, width and lookalike '
        'characters (Unicode NFKC, case folding, UTS #39 confusables) do not count.'
    ),
}
PASSWORD_LENGTH = Length(max=128)
PASSWORD_HELP = {
    'description': 'At least PASSWORD_MIN_LENGTH (default 8), at most 128 characters.',
    # The document states the default; the setting is read when validating.
    'minLength': 8,
}


def _check_visible_name(value):
    """A nickname or channel name: what a reader sees is all there is (flack.nicknames)."""
    if value != value.strip():
        raise ValidationError('Must not start or end with white space.')
    refused = find_refused_character(value)
    if refused is not None:
        raise ValidationError(
            'Must not contain invisible, control, bidirectional, private-use or unassigned '
            f'characters; found {describe_character(refused)}.'
        )
    if not fold_nickname(value):
        raise ValidationError('Must contain a visible character.')


class UserChanges(InputSchema):
    """A change to a user: either field, or both."""

    nickname = String(validate=NICKNAME_LENGTH, metadata=NICKNAME_HELP)
    password = String(load_only=True, validate=PASSWORD_LENGTH, metadata=PASSWORD_HELP)

    @validates('nickname')
    def validate_nickname(self, value, data_key):
        _check_visible_name(value)

    @validates('password')
    def validate_password(self, value, data_key):
        minimum = current_app.config['PASSWORD_MIN_LENGTH']
        if len(value) < minimum:
            raise ValidationError(f'Must be at least {minimum} characters long.')


class NewUser(UserChanges):
    """A new user: both fields, checked as for a change."""

    nickname = String(required=True, validate=NICKNAME_LENGTH, metadata=NICKNAME_HELP)
    password = String(required=True, load_only=True, validate=PASSWORD_LENGTH, metadata=PASSWORD_HELP)


class UserOut(Schema):
    """A user; ``admin`` and ``suspended`` are there only when true, so that
    everyone else is as the original API had them."""

    id = Integer()
    nickname = String()
    created_at = Integer()
    updated_at = Integer()
    last_seen_at = Integer()
    online = Boolean()
    admin = Boolean(attribute='is_admin', metadata={'description': 'Only for an administrator: true.'})
    suspended = Method('is_suspended', metadata={'description': 'Only for a suspended user: true.'})
    _links = Method('user_links', data_key='_links', dump_only=True)

    def is_suspended(self, user):
        return user.suspended_at is not None

    @post_dump
    def _roles_only_when_held(self, data, **kwargs):
        for key in ('admin', 'suspended'):
            if not data.get(key):
                data.pop(key, None)
        return data

    def user_links(self, user):
        return {
            'self': f'/api/users/{user.id}',
            'messages': f'/api/messages?user_id={user.id}',
            'tokens': '/api/tokens',
        }


class UserList(Schema):
    users = List(Nested(UserOut))


class UserQuery(InputSchema):
    online = Boolean(metadata={'description': '1 for online users only, 0 for offline only.'})
    updated_since = Integer(
        validate=Range(0, LARGEST_ID),
        metadata={'description': 'Only users whose updated_at is later than this Unix time.'},
    )


class TokenOut(Schema):
    token = String()


class MessageSource(InputSchema):
    source = String(
        required=True,
        metadata={
            'description': 'Markdown, not all white space. Over MAX_MESSAGE_LENGTH characters is a 413.',
            # What validate_source checks: a JSON Schema pattern matches
            # anywhere in the value, so this one reads "not all white space".
            'pattern': r'\S',
        },
    )

    @validates('source')
    def validate_source(self, value, data_key):
        if not value.strip():
            raise ValidationError('Must not be empty.')


class EventMessageSource(MessageSource):
    """The data of the Socket.IO ``post_message`` event: a source, and the channel (general if none)."""

    channel_id = Integer(validate=Range(1, LARGEST_ID), load_default=GENERAL_CHANNEL_ID)


class MessageOut(Schema):
    """A message; one outside general names its channel (``channel_id``, and
    ``_links.channel``), one in general is as the original API had it."""

    id = Integer()
    source = String()
    html = String()
    user_id = Integer()
    channel_id = Integer(metadata={'description': 'Absent for a message in general.'})
    deleted = Method(
        'is_deleted',
        metadata={'description': 'Only for a deleted message (a tombstone, its text gone): true.'},
    )
    created_at = Integer()
    updated_at = Integer()
    _links = Method('message_links', data_key='_links', dump_only=True)

    def message_links(self, message):
        links = {'self': f'/api/messages/{message.id}', 'user': f'/api/users/{message.user_id}'}
        if _outside_general(message):
            links['channel'] = f'/api/channels/{message.channel_id}'
        return links

    def is_deleted(self, message):
        return message.deleted_at is not None

    @post_dump(pass_original=True)
    def _general_as_the_original(self, data, message, **kwargs):
        if not _outside_general(message):
            data.pop('channel_id', None)
        if not data.get('deleted'):
            data.pop('deleted', None)
        return data


def _outside_general(message):
    # A message not yet stored has no channel_id; it goes to general then.
    return message.channel_id not in (None, GENERAL_CHANNEL_ID)


class MessageList(Schema):
    messages = List(Nested(MessageOut))


class MessageQuery(InputSchema):
    updated_since = Integer(
        validate=Range(0, LARGEST_ID),
        metadata={'description': 'Only messages whose updated_at is later than this Unix time.'},
    )
    user_id = Integer(validate=Range(0, LARGEST_ID), metadata={'description': "Only this user's messages."})
    limit = Integer(
        validate=Range(1, 500),
        metadata={'description': 'Page size (default 100); pages are ordered by id, newest last.'},
    )
    before = Integer(
        validate=Range(0, LARGEST_ID),
        metadata={'description': 'Page of messages with an id lower than this one.'},
    )


class ChannelFields(InputSchema):
    """A new channel's name and topic."""

    name = String(
        required=True,
        validate=CHANNEL_NAME_LENGTH,
        metadata={
            'example': 'random',
            'pattern': VISIBLE_NAME_PATTERN,
            'description': (
                'Shown as typed, unique as nicknames are (case and lookalike characters '
                'aside), from the same characters.'
            ),
        },
    )
    topic = String(validate=Length(0, LONGEST_TOPIC), load_default='')

    @validates('name')
    def validate_name(self, value, data_key):
        _check_visible_name(value)


class ChannelOut(Schema):
    """A channel, or a direct conversation: ``direct``, no name, and ``user_ids``, its two users."""

    id = Integer()
    name = String(allow_none=True)
    topic = String()
    direct = Boolean()
    user_ids = List(Integer(), metadata={'description': 'The two users of a direct conversation only.'})
    creator_id = Integer(allow_none=True)
    created_at = Integer()
    updated_at = Integer()
    _links = Method('channel_links', data_key='_links', dump_only=True)

    @post_dump(pass_original=True)
    def _users_of_conversations_only(self, data, channel, **kwargs):
        if not channel.direct:
            data.pop('user_ids', None)
        return data

    def channel_links(self, channel):
        return {
            'self': f'/api/channels/{channel.id}',
            'messages': f'/api/channels/{channel.id}/messages',
            'members': f'/api/channels/{channel.id}/members',
        }


class ChannelList(Schema):
    channels = List(Nested(ChannelOut))


class ConversationWith(InputSchema):
    user_id = Integer(
        required=True, validate=Range(1, LARGEST_ID), metadata={'description': 'The other user.'}
    )


class ReadMark(InputSchema):
    message_id = Integer(
        required=True,
        validate=Range(0, LARGEST_ID),
        metadata={'description': 'The last message of the channel you have read.'},
    )


class Unread(Schema):
    channel_id = Integer()
    last_read_id = Integer(metadata={'description': 'The last message you have read (0: none).'})
    unread = Integer(metadata={'description': "Others' messages after it, deleted ones aside."})
    newest_id = Integer(
        metadata={
            'description': 'The newest message of the channel as it was counted (0: none): '
            'of the messages a client hears of meanwhile, only those after it are not in unread.'
        }
    )


class UnreadList(Schema):
    channels = List(Nested(Unread))


class ChannelQuery(InputSchema):
    member = Boolean(metadata={'description': "1 for the caller's channels only (a token is needed)."})


class Error(Schema):
    """The body of every error (flack.api.errors)."""

    error = String(required=True, metadata={'description': 'A short reason, such as "not found".'})
    message = String(required=True, metadata={'description': 'What went wrong, in a sentence.'})
    detail = Dict(metadata={'description': 'For invalid input: the problems, by location and field.'})


class Health(Schema):
    status = String(metadata={'description': 'ok, or unavailable'})
    database = String()
    redis = String()


class Stats(Schema):
    requests_per_second = Float()


def json_bytes(schema, data):
    """``data`` dumped through ``schema``, as the JSON bytes a response carries:
    what a cache keeps of a listing, serialized once per change."""
    return current_app.json.response(schema.dump(data)).get_data()
