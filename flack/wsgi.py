"""The web process's WSGI application, for gunicorn.

gunicorn's eventlet or gevent worker has monkey-patched the process by the
time this module is imported.
"""

from dotenv import load_dotenv

from . import create_app
from .config import exit_on_config_error
from .extensions import socketio

load_dotenv()
app = exit_on_config_error(create_app)
app.extensions['flack.background'].start_periodic()


def close_client_connections():
    """Close every Socket.IO connection of this process, so that clients
    reconnect (to another web process) at once instead of waiting for it to
    die at the end of the platform's shutdown window."""
    socketio.start_background_task(socketio.server.eio.disconnect)
