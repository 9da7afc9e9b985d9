"""Socket.IO handlers. Each one checks its input and calls the same
functions as the REST routes."""

import functools
import logging

from apiflask import HTTPError
from flask import current_app, request
from flask_socketio import ConnectionRefusedError
from marshmallow import ValidationError

from . import chat, presence, socket_guard
from .api.errors import DATABASE_UNAVAILABLE, database_unavailable, error_response
from .auth import user_for_token
from .extensions import socketio
from .schemas import MessageOut, MessageSource
from .socket_guard import REJECTED_EVENT, RejectedPayload

log = logging.getLogger(__name__)


def _over_budget():
    # Counted in the connection's own environ (flack.socket_guard), in this
    # process: a connection lives in one, and its count goes with it.
    config = current_app.config
    if not config['RATELIMIT_ENABLED']:
        return False
    return socket_guard.over_budget(request.environ, config['SOCKETIO_EVENTS_PER_CONNECTION'])


def rate_limited(handler):
    """Answer a connection that sends events too fast with an error, not work.

    One that goes on, to twice its budget, is cut off (flack.socket_guard).
    """

    @functools.wraps(handler)
    def wrapper(*args):
        if _over_budget():
            return _error(429, 'Too many events in a short time; slow down.')
        return handler(*args)

    return wrapper


def _error(status, message):
    body, _, _ = error_response(HTTPError(status, message=message))
    return body


def _caller(token):
    """The user behind ``token``, else the user this connection belongs to."""
    if token is not None:
        return user_for_token(token)
    return presence.user_of_connection(request.sid)


# Connections of this process that finished their handshake: a client can
# also send an ordinary event named "connect", which must not be taken for one.
_established = set()


@socketio.on('connect')
def on_connect(auth=None, *_):
    """A connection may carry ``{"token": ...}``; a bad token is refused."""
    if request.sid in _established:
        return _error(400, '"connect" is not an event a client may send.')
    if isinstance(auth, RejectedPayload):
        raise ConnectionRefusedError('bad request', _invalid_input(auth.detail))
    token = auth.get('token') if isinstance(auth, dict) else None
    if token is not None:
        try:
            user = user_for_token(token)
        except DATABASE_UNAVAILABLE as error:
            # Refused rather than let in unchecked; the client tries again.
            body = error_response(database_unavailable(error))[0]
            raise ConnectionRefusedError(body['error'], body) from None
        if user is None:
            raise ConnectionRefusedError('authentication required')
        presence.connect(user, request.sid)
    _established.add(request.sid)


@socketio.on('ping_user')
@rate_limited
def on_ping_user(token=None, *_):
    """Mark the user online and link this connection to them."""
    user = user_for_token(token)
    if user is None:
        return _error(401, 'The token is not valid.')
    presence.connect(user, request.sid)
    return {'status': 'ok'}


@socketio.on('post_message')
@rate_limited
def on_post_message(data=None, token=None, *_):
    """Post a message, as ``POST /api/messages`` does; the ack carries the result."""
    user = _caller(token)
    if user is None:
        return _error(401, 'The token is not valid.')
    try:
        fields = MessageSource().load(data if isinstance(data, dict) else {'source': data})
        message = chat.post_message(user, fields['source'])
    except ValidationError as error:
        return _invalid_input({'json': error.normalized_messages()})
    except HTTPError as error:
        return error_response(error)[0]
    return MessageOut().dump(message)


@socketio.on(REJECTED_EVENT)
@rate_limited
def on_rejected_payload(rejected, *_):
    """Any event whose payload broke flack.json_input's rules (socket_guard.GuardedPacket).

    Its path counts from the packet's array, whose item 0 is the event's name.
    """
    return _invalid_input(rejected.detail)


def _invalid_input(detail):
    return error_response(HTTPError(400, detail=detail))[0]


@socketio.on('disconnect')
def on_disconnect(*_):
    _established.discard(request.sid)
    presence.disconnect(request.sid)


@socketio.on_error_default
def on_error(error):
    if (unavailable := database_unavailable(error)) is not None:
        return error_response(unavailable)[0]  # a 503, logged as one warning line
    # Whatever a client sends, it gets an answer, never a dead connection.
    log.exception('event=socketio_error sid=%s', request.sid)
    return _error(500, 'The server could not handle this event.')
