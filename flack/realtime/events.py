"""Socket.IO handlers. Each one checks the caller, then validates its data
with the REST route's schema, calls the same function as the route, and
answers with the same JSON, in its acknowledgement. ``register`` puts them
on a server."""

import functools
import logging

from apiflask import HTTPError
from flask import current_app, request
from flask_socketio import ConnectionRefusedError, join_room
from marshmallow import ValidationError

from .. import channels, chat, presence
from ..api.errors import DATABASE_UNAVAILABLE, database_unavailable, error_response
from ..auth import user_for_token
from ..models import GENERAL_CHANNEL_ID
from ..schemas import EventMessageSource
from . import broadcast, rooms, socket_guard
from .socket_guard import REJECTED_EVENT, RejectedPayload

log = logging.getLogger(__name__)

# Set in a connection's environ once its handshake is done: a client can
# also send an ordinary event named "connect", which must not be taken for one.
ESTABLISHED = 'flack.established'


def register(server):
    """Put the handlers on ``server`` (a Flask-SocketIO object), before its ``init_app``."""
    server.on_event('connect', on_connect)
    server.on_event('ping_user', on_ping_user)
    server.on_event('post_message', on_post_message)
    server.on_event(REJECTED_EVENT, on_rejected_payload)
    server.on_event('disconnect', on_disconnect)
    server.on_error_default(on_error)


def _over_budget():
    # Counted in the connection's own environ (flack.realtime.socket_guard), in
    # this process: a connection lives in one, and its count goes with it.
    config = current_app.config
    if not config['RATELIMIT_ENABLED']:
        return False
    return socket_guard.over_budget(request.environ, config['SOCKETIO_EVENTS_PER_CONNECTION'])


def answered(function):
    """An event handler whose failures are answered as the REST routes answer them.

    A connection that sends events too fast is answered 429 instead of
    being handled (one that goes on, to twice its budget, is cut off by
    socket_guard); arguments a schema refuses are a 400 with ``detail``;
    an ``HTTPError`` raised by the work is its status's error object.
    """

    @functools.wraps(function)
    def wrapper(*args):
        if _over_budget():
            return _error(429, 'Too many events in a short time; slow down.')
        try:
            return function(*args)
        except ValidationError as error:
            return _invalid_input({'json': error.normalized_messages()})
        except HTTPError as error:
            return error_response(error)[0]

    return wrapper


def _error(status, message):
    body, _, _ = error_response(HTTPError(status, message=message))
    return body


def _invalid_input(detail):
    return error_response(HTTPError(400, detail=detail))[0]


def _caller(token):
    """The user behind ``token``, else the user this connection belongs to."""
    if token is not None:
        return user_for_token(token)
    return presence.user_of_connection(request.sid)


def on_connect(auth=None, *_):
    """A connection may carry ``{"token": ...}``; a bad token is refused."""
    if request.environ.get(ESTABLISHED):
        return _error(400, '"connect" is not an event a client may send.')
    if isinstance(auth, RejectedPayload):
        raise ConnectionRefusedError('bad request', _invalid_input(auth.detail))
    # A credential, not data: anything but a valid token is refused alike.
    token = auth.get('token') if isinstance(auth, dict) else None
    if token is not None:
        try:
            _link(token)
        except DATABASE_UNAVAILABLE as error:
            # Refused rather than let in unchecked, or deaf to the channels
            # whose rooms it could not be put in; the client tries again.
            presence.unlink(request.sid)
            body = error_response(database_unavailable(error))[0]
            raise ConnectionRefusedError(body['error'], body) from None
    else:
        # Anyone may read general; a user's other channels come with ping_user.
        join_room(rooms.channel_room(GENERAL_CHANNEL_ID))
    request.environ[ESTABLISHED] = True


def _link(token):
    """Link this connection to the token's user and put it in their channels' rooms."""
    user = user_for_token(token)
    if user is None:
        raise ConnectionRefusedError('authentication required')
    presence.connect(user, request.sid)
    rooms.enter_channels(user, request.sid)


@answered
def on_ping_user(token=None, *_):
    """Mark the user online and link this connection to them (a commit that may broadcast)."""
    user = user_for_token(token)
    if user is None:
        return _error(401, 'The token is not valid.')
    presence.connect(user, request.sid)
    rooms.enter_channels(user, request.sid)
    return {'status': 'ok'}


@answered
def on_post_message(data=None, token=None, *_):
    """Post a message, as ``POST /api/messages`` does (or, with a
    ``channel_id``, ``POST /api/channels/<id>/messages``); the ack carries the result.

    The caller first (a 401 says nothing of the data), then the data, with
    the route's schema: an object, or the source alone.
    """
    user = _caller(token)
    if user is None:
        return _error(401, 'The token is not valid.')
    fields = EventMessageSource().load(data if isinstance(data, dict) else {'source': data})
    channel = channels.postable_channel(user, fields['channel_id'])
    posted = chat.post_message(user, fields['source'], channel.id)
    return broadcast.serialized(posted)


@answered
def on_rejected_payload(rejected, *_):
    """Any event whose payload broke flack.json_input's rules (socket_guard.GuardedPacket):
    a 400 whose path counts from the packet's array, whose item 0 is the event's name."""
    return _invalid_input(rejected.detail)


def on_disconnect(*_):
    presence.disconnect(request.sid)


def on_error(error):
    if (unavailable := database_unavailable(error)) is not None:
        return error_response(unavailable)[0]  # a 503, logged as one warning line
    # Whatever a client sends, it gets an answer, never a dead connection.
    log.exception('event=socketio_error sid=%s', request.sid)
    return _error(500, 'The server could not handle this event.')
