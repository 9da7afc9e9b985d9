"""The largest request body, held to for bodies sent in chunks as well.

A body that declares its length (``Content-Length``) over MAX_CONTENT_LENGTH
is refused by Werkzeug with a 413 before it is read. A body sent with
``Transfer-Encoding: chunked`` declares none: gunicorn decodes the chunks and
sets ``wsgi.input_terminated``, and Werkzeug reads such a body through a
``LimitedStream`` capped at MAX_CONTENT_LENGTH, which stops at the cap
without a word (``LimitedStream.readall`` ends when the cap is reached, and
only a further read would raise). A larger body was cut to the cap and, when
what was left still parsed (JSON followed by white space), accepted.
"""

import io

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_content_length


def limit_chunked_bodies(app):
    """Make a chunked body over MAX_CONTENT_LENGTH a 413, as a declared one is."""
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, app.config['MAX_CONTENT_LENGTH'])


class ChunkedBodyLimit:
    """WSGI middleware: a body of unknown length raises ``RequestEntityTooLarge``
    when the read goes past ``limit`` bytes; Flask answers it as every error
    (flack.api.errors). A route that never reads the body never reads it here
    either."""

    def __init__(self, wsgi_app, limit):
        self.wsgi_app = wsgi_app
        self.limit = limit

    def __call__(self, environ, start_response):
        # Where Werkzeug reads up to the limit and stops (werkzeug.wsgi.get_input_stream).
        if environ.get('wsgi.input_terminated') and get_content_length(environ) is None:
            environ['wsgi.input'] = _BoundedBody(environ['wsgi.input'], self.limit)
        return self.wsgi_app(environ, start_response)


class _BoundedBody(io.RawIOBase):
    """A body read up to ``limit`` bytes; a byte beyond them is a 413.

    Werkzeug never asks for more than the limit, so once it is reached one
    byte more is read to tell a body of exactly that size from a larger one.
    The server has decoded the chunks, so that read ends at the end of the
    body instead of waiting for more.
    """

    def __init__(self, stream, limit):
        self._stream = stream
        self._left = limit

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._stream.read(min(len(buffer), self._left)) if self._left else b''
        buffer[: len(data)] = data
        self._left -= len(data)
        if not self._left and self._stream.read(1):
            raise RequestEntityTooLarge()
        return len(data)
