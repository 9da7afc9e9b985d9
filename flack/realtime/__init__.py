"""Socket.IO: each app's own server, its event handlers, the guard in front
of them, and the broadcast of every committed change.

``init_app`` wires all four for an app; ``socketio()`` is the current app's
Flask-SocketIO object (its ``emit``, ``sleep`` and ``start_background_task``).
"""

from flask_socketio import SocketIO

from .server import EXTENSION, socketio

__all__ = ['init_app', 'socketio']


def init_app(app, session, options, serves_clients):
    """Give ``app`` a Socket.IO server built with ``options``.

    A process that serves clients (web) gets the handlers and the guard; one
    that does not (the Celery worker) only emits. Either way, every commit
    on ``session`` in the app is broadcast.
    """
    # Imported here, not above: the handlers use chat and the API's errors,
    # whose modules use rooms from this package; importing the package for
    # rooms must not import them back half-made.
    from . import broadcast, compression, events, socket_guard

    server = SocketIO()
    if serves_clients:
        events.register(server)
    # Without an app, Flask-SocketIO only emits: what a worker needs.
    server.init_app(app if serves_clients else None, **options)
    app.extensions[EXTENSION] = server
    if serves_clients:
        # Counts every packet of a connection and cuts off one that floods
        # or sends a malformed packet, instead of answering it frame by frame.
        socket_guard.install(server.server, app.config)
        # How much memory each websocket's compression may take.
        compression.install(app, server.server.eio)
    broadcast.init_app(app, session)
    return server
