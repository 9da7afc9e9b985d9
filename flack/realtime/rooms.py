"""Socket.IO rooms: one per channel, holding its members' connections, and one per user.

A channel's messages are emitted to its room only (flack.realtime.broadcast).
A connection enters the rooms of its user's channels once it is linked to
the user (``enter_channels``); when a user joins or leaves a channel later,
each of their connections enters or leaves its room, on whichever web
process it is (python-socketio passes such changes for another process's
connection on through the message queue).
"""

from sqlalchemy import select

from .. import presence
from ..extensions import db
from ..models import Membership
from .server import socketio_if_any

NAMESPACE = '/'


def channel_room(channel_id):
    """The room of a channel's members' connections."""
    return f'channel:{channel_id}'


def user_room(user_id):
    """The room of a user's connections: what concerns them alone (a direct conversation made)."""
    return f'user:{user_id}'


def enter_channels(user, sid):
    """Put ``sid``, a connection of this process just linked to ``user``
    (flack.presence), into the rooms of the user's channels.

    Linked first, then read: a channel the user joins meanwhile is either
    read here or finds ``sid`` among the user's connections (``enter``).
    """
    server = socketio_if_any().server
    server.enter_room(sid, user_room(user.id), namespace=NAMESPACE)
    channel_ids = db.session.scalars(select(Membership.channel_id).where(Membership.user_id == user.id))
    for channel_id in channel_ids:
        server.enter_room(sid, channel_room(channel_id), namespace=NAMESPACE)


def enter(user, channel_id):
    """Put every connection of ``user`` into the channel's room."""
    for server, sid in _connections(user):
        server.enter_room(sid, channel_room(channel_id), namespace=NAMESPACE)


def leave(user, channel_id):
    """Take every connection of ``user`` out of the channel's room."""
    for server, sid in _connections(user):
        server.leave_room(sid, channel_room(channel_id), namespace=NAMESPACE)


def _connections(user):
    # None in a process with no Socket.IO server (a command).
    socketio = socketio_if_any()
    if socketio is None or socketio.server is None:
        return []
    return [(socketio.server, sid) for sid in presence.connections_of(user)]
