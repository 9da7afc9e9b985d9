"""Channels: listing, creating, joining and leaving them, and who may post where.

Every user is a member of general, from registration on, and cannot leave
it; any user may create another channel (becoming its first member) or
join one. Anyone may read a channel; only its members post in it. A
channel's messages reach its members' connections only
(flack.realtime.rooms).
"""

import logging

from apiflask import abort
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import GENERAL_CHANNEL_ID, Channel, Membership, User
from .nicknames import fold_nickname
from .realtime import rooms

log = logging.getLogger(__name__)


def list_channels(member=None):
    """Every channel by name, or those ``member`` (a user) is a member of."""
    statement = select(Channel).order_by(Channel.name_key, Channel.id)
    if member is not None:
        statement = statement.join(Membership).where(Membership.user_id == member.id)
    return db.session.scalars(statement).all()


def find_channel(channel_id):
    """The channel ``channel_id``, else a 404 (an error the Socket.IO events answer too)."""
    channel = db.session.get(Channel, channel_id)
    if channel is None:
        abort(404, message='There is no such channel.')
    return channel


def is_member(user, channel_id):
    statement = select(Membership).where(Membership.channel_id == channel_id, Membership.user_id == user.id)
    return db.session.scalar(statement) is not None


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
    channel = find_channel(channel_id)
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
    db.session.flush()
    db.session.add(Membership(channel_id=channel.id, user_id=creator.id))
    try:
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
    db.session.execute(
        delete(Membership).where(Membership.channel_id == channel.id, Membership.user_id == user.id)
    )
    db.session.commit()
    rooms.leave(user, channel.id)


def add_to_general(user):
    """Make a new user a member of general, in the transaction that stores them."""
    db.session.flush()  # the user's id
    db.session.add(Membership(channel_id=GENERAL_CHANNEL_ID, user_id=user.id))
