"""The web process's WSGI application, for gunicorn.

gunicorn's eventlet or gevent worker has monkey-patched the process by the
time this module is imported.
"""

import logging

from dotenv import load_dotenv

from . import create_app
from .body_limit import limit_chunked_bodies
from .config import exit_on_config_error
from .logs import LogStream
from .realtime import socketio
from .work import background_work

load_dotenv()
app = exit_on_config_error(create_app)
background_work(app).start_periodic()
# gunicorn decodes chunked bodies, which Werkzeug alone would cut to
# MAX_CONTENT_LENGTH without a word (flack.body_limit).
limit_chunked_bodies(app)

# What a library writes to a request's wsgi.errors, gunicorn copies as is to
# stderr: eventlet's websocket writes "socket shutdown error: ..." there with
# no newline, which glued onto the next log line. Each write becomes a log
# record instead. That one is harmless and comes with every orderly
# disconnect: the client's close frame makes eventlet close the socket, then
# Engine.IO closes the websocket again and finds the descriptor gone (EBADF).
_errors = LogStream(logging.getLogger(__name__), quiet=[r'socket shutdown error: \[Errno 9\]'])


def _logged_errors(wsgi_app):
    def wsgi_app_with_logged_errors(environ, start_response):
        environ['wsgi.errors'] = _errors
        return wsgi_app(environ, start_response)

    return wsgi_app_with_logged_errors


app.wsgi_app = _logged_errors(app.wsgi_app)


def close_client_connections():
    """Close every Socket.IO connection of this process, so that clients
    reconnect (to another web process) at once instead of waiting for it to
    die at the end of the platform's shutdown window."""
    server = socketio(app)
    server.start_background_task(server.server.eio.disconnect)
