"""Fan-out: which clients hear a Socket.IO event.

Each function takes the app and whether its process serves clients, and
returns the python-socketio client manager its Socket.IO server is built
with; ``create_app`` picks one for the mode.
"""

import socketio

from .redis_client import SocketIOManager, connection

# The Redis channel every process of a deployment publishes and listens on.
CHANNEL = 'flack-socketio'


def in_process_fanout(app, serves_clients):
    """The clients of this process only: the embedded mode's one process holds them all."""
    return socketio.Manager()


def redis_fanout(app, serves_clients):
    """Through Redis, so that an event reaches the clients of every web process,
    whichever process (web or worker) emitted it (scaled mode). A process
    that serves no clients only publishes."""
    return SocketIOManager(connection(app), app.config, channel=CHANNEL, write_only=not serves_clients)
