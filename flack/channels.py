"""Channels and direct conversations: listing, creating, joining and
leaving them, and who may read and post where.

Every user is a member of general, from registration on, and cannot leave
it; any user may create another channel (becoming its first member) or
join one. Anyone may read a channel; only its members post in it.

A direct conversation is a channel of exactly two users, who are its
members for good. To anyone else it does not exist: every lookup that
goes through ``find_channel`` (its messages, its members, a message of it
by id) answers them the 404 of a channel that was never made.

A channel's messages reach its members' connections only
(flack.realtime.rooms).
"""

import logging

from apiflask import abort
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import GENERAL_CHANNEL_ID, Channel, Membership, Message, User
from .nicknames import fold_nickname
from .realtime import rooms

log = logging.getLogger(__name__)


def list_channels(member=None):
    """Every channel by name, or those ``member`` (a user) is a member of; no direct conversation."""
    statement = select(Channel).where(Channel.direct_key.is_(None)).order_by(Channel.name_key, Channel.id)
    if member is not None:
        statement = statement.join(Membership).where(Membership.user_id == member.id)
    return db.session.scalars(statement).all()


def find_channel(channel_id, viewer=None):
    """The channel ``channel_id`` if ``viewer`` (a user, or None) may see it, else
    a 404 (an error the Socket.IO events answer too): a direct conversation
    is seen by its two users only."""
    channel = db.session.get(Channel, channel_id)
    if channel is None or not can_see(viewer, channel):
        abort(404, message='There is no such channel.')
    return channel


def can_see(viewer, channel):
    return not channel.direct or (viewer is not None and viewer.id in channel.user_ids)


def is_member(user, channel_id):
    return db.session.get(Membership, (channel_id, user.id)) is not None


def members(channel):
    """The users who are members of ``channel``, by nickname."""
    statement = (
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.channel_id == channel.id)
        .order_by(User.nickname_key, User.id)
    )
    return db.session.scalars(statement).all()


def postable_channel(user, channel_id):
    """The channel ``channel_id`` if ``user`` may post in it: a 404 if there is
    none, a 403 if they are not a member."""
    channel = find_channel(channel_id, user)
    if not is_member(user, channel.id):
        abort(403, message=f'Join #{channel.name} to post in it.')
    return channel


def create_channel(creator, name, topic=''):
    """Make a channel with ``creator`` as its first member; a 409 if the name is taken."""
    taken = db.session.scalar(select(Channel).where(Channel.name_key == fold_nickname(name)))
    if taken is not None:
        _name_taken(name, taken)
    channel = Channel(name=name, topic=topic, creator_id=creator.id)
    channel.touch()
    db.session.add(channel)
    try:
        db.session.flush()
        db.session.add(Membership(channel_id=channel.id, user_id=creator.id))
        db.session.commit()
    except IntegrityError:  # made by another request since the check
        db.session.rollback()
        abort(409, message=f'The channel name {name!r} is taken.')
    rooms.enter(creator, channel.id)
    log.info('event=channel_created channel_id=%s user_id=%s', channel.id, creator.id)
    return channel


def _name_taken(name, channel):
    if channel.name == name:
        abort(409, message=f'The channel name {name!r} is taken.')
    abort(409, message=f'The channel name {name!r} is taken: it reads the same as {channel.name!r}.')


def join(user, channel):
    """Make ``user`` a member of ``channel`` (nothing if they are); their connections hear it from now on."""
    if not is_member(user, channel.id):
        db.session.add(Membership(channel_id=channel.id, user_id=user.id))
        try:
            db.session.commit()
        except IntegrityError:  # joined by another request of theirs meanwhile
            db.session.rollback()
    rooms.enter(user, channel.id)


def leave(user, channel):
    """End ``user``'s membership of ``channel``; general cannot be left (a 403)."""
    if channel.id == GENERAL_CHANNEL_ID:
        abort(403, message=f'Everyone is a member of #{channel.name}; it cannot be left.')
    if channel.direct:
        abort(403, message='A direct conversation cannot be left.')
    db.session.execute(
        delete(Membership).where(Membership.channel_id == channel.id, Membership.user_id == user.id)
    )
    db.session.commit()
    rooms.leave(user, channel.id)


def add_to_general(user):
    """Make a new user a member of general, in the transaction that stores them."""
    db.session.flush()  # the user's id
    db.session.add(Membership(channel_id=GENERAL_CHANNEL_ID, user_id=user.id))


def conversations(user):
    """``user``'s direct conversations, the newest first."""
    statement = (
        select(Channel)
        .join(Membership)
        .where(Membership.user_id == user.id, Channel.direct_key.is_not(None))
        .order_by(Channel.id.desc())
    )
    return db.session.scalars(statement).all()


def open_conversation(user, other_id):
    """The direct conversation of ``user`` and the user ``other_id``, made if
    there is none yet: (conversation, whether it was made)."""
    if other_id == user.id:
        abort(400, message='A direct conversation is between two users.')
    other = db.session.get(User, other_id)
    if other is None:
        abort(404, message='There is no such user.')
    key = Channel.direct_key_of(user.id, other.id)
    existing = db.session.scalar(select(Channel).where(Channel.direct_key == key))
    if existing is not None:
        return existing, False
    conversation = Channel(direct_key=key, creator_id=user.id)
    conversation.touch()
    db.session.add(conversation)
    try:
        db.session.flush()
        db.session.add_all(Membership(channel_id=conversation.id, user_id=m.id) for m in (user, other))
        db.session.commit()
    except IntegrityError:  # made by the other user meanwhile
        db.session.rollback()
        return db.session.scalar(select(Channel).where(Channel.direct_key == key)), False
    for member in (user, other):
        rooms.enter(member, conversation.id)
    log.info('event=conversation_created channel_id=%s user_id=%s', conversation.id, user.id)
    return conversation, True


def mark_read(user, channel, message_id):
    """Record that ``user`` has read ``channel`` up to the message ``message_id``
    (a member only: a 403 otherwise); the mark never moves back."""
    membership = db.session.get(Membership, (channel.id, user.id))
    if membership is None:
        abort(403, message=f'Join #{channel.name} to keep track of what you read in it.')
    if message_id > membership.last_read_id:
        membership.last_read_id = message_id
        db.session.commit()


def unread_counts(user):
    """For each of ``user``'s channels and conversations: the last message they
    read, how many messages of others came after it (deleted ones aside), and
    the newest message when counted, so that a client hearing of messages as
    it asks counts only those after that one."""
    newest = (
        select(func.coalesce(func.max(Message.id), 0))
        .where(Message.channel_id == Membership.channel_id)
        .scalar_subquery()
    )
    unread = (
        select(func.count(Message.id))
        .where(
            Message.channel_id == Membership.channel_id,
            Message.id > Membership.last_read_id,
            Message.user_id != user.id,
            Message.deleted_at.is_(None),
        )
        .scalar_subquery()
    )
    statement = (
        select(Membership.channel_id, Membership.last_read_id, unread, newest)
        .where(Membership.user_id == user.id)
        .order_by(Membership.channel_id)
    )
    return [
        {'channel_id': channel_id, 'last_read_id': last_read_id, 'unread': count, 'newest_id': newest_id}
        for channel_id, last_read_id, count, newest_id in db.session.execute(statement)
    ]
