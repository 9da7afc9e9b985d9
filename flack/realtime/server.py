"""Where each app keeps its own Socket.IO server (a Flask-SocketIO object)."""

from flask import current_app, has_app_context

EXTENSION = 'flack.socketio'


def socketio(app=None):
    """The Flask-SocketIO object of ``app`` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION]


def socketio_if_any():
    """The current app's Flask-SocketIO object, or None outside an app or before one is made."""
    return current_app.extensions.get(EXTENSION) if has_app_context() else None
