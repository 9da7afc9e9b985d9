"""Socket.IO handlers. Each one checks its input and calls the same
functions as the REST routes."""

import logging

from apiflask import HTTPError
from flask import request
from flask_socketio import ConnectionRefusedError
from marshmallow import ValidationError

from . import chat, presence
from .api.errors import error_response
from .auth import user_for_token
from .extensions import socketio
from .schemas import MessageOut, MessageSource

log = logging.getLogger(__name__)


def _error(status, message):
    body, _, _ = error_response(HTTPError(status, message=message))
    return body


def _caller(token):
    """The user behind ``token``, else the user this connection belongs to."""
    if token is not None:
        return user_for_token(token)
    return presence.user_of_connection(request.sid)


@socketio.on('connect')
def on_connect(auth=None):
    """A connection may carry ``{"token": ...}``; a bad token is refused."""
    token = auth.get('token') if isinstance(auth, dict) else None
    if token is None:
        return
    user = user_for_token(token)
    if user is None:
        raise ConnectionRefusedError('authentication required')
    presence.connect(user, request.sid)


@socketio.on('ping_user')
def on_ping_user(token=None, *_):
    """Mark the user online and link this connection to them."""
    user = user_for_token(token)
    if user is None:
        return _error(401, 'The token is not valid.')
    presence.connect(user, request.sid)
    return {'status': 'ok'}


@socketio.on('post_message')
def on_post_message(data=None, token=None, *_):
    """Post a message, as ``POST /api/messages`` does; the ack carries the result."""
    user = _caller(token)
    if user is None:
        return _error(401, 'The token is not valid.')
    try:
        fields = MessageSource().load(data if isinstance(data, dict) else {'source': data})
        message = chat.post_message(user, fields['source'])
    except ValidationError as error:
        return error_response(HTTPError(400, detail={'json': error.normalized_messages()}))[0]
    except HTTPError as error:
        return error_response(error)[0]
    return MessageOut().dump(message)


@socketio.on('disconnect')
def on_disconnect(*_):
    presence.disconnect(request.sid)


@socketio.on_error_default
def on_error(error):
    # Whatever a client sends, it gets an answer, never a dead connection.
    log.exception('event=socketio_error sid=%s', request.sid)
    return _error(500, 'The server could not handle this event.')
