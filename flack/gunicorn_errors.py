"""gunicorn's own answers to the requests it refuses, in the API's JSON error shape.

gunicorn answers some requests itself, before Flask sees them
(``Worker.handle_error``): a malformed request line or header (400), too
many or too large headers (431), an ``Expect`` other than 100-continue
(417), a Transfer-Encoding it does not support (501), a failure of its own
(500). It writes an HTML page for each, with no setting to change it.
``answer_in_json`` wraps a worker's ``handle_error``: gunicorn still decides
the status, logs the refusal and writes the access line; the page goes out
as ``{"error": ..., "message": ...}``, with the security headers.

gunicorn.conf.py wraps the worker's method in ``post_worker_init``, once the
application (and so Flask, which flack.security imports) is loaded.
flack.serving's workers answer a connection over the per-address cap with
``error_answer`` too.
"""

import json
from http import HTTPStatus

from .security import HEADERS

# Flack's own sentences: gunicorn's text quotes what the client sent.
MESSAGES = {
    400: 'The request line or one of its headers is malformed.',
    403: 'The server does not accept this request.',
    417: 'The server understands no Expect header but "Expect: 100-continue".',
    431: 'The request has more headers, or a longer one, than the server accepts.',
    500: 'The server failed to answer this request.',
    501: 'The request uses a Transfer-Encoding the server does not support.',
}


def answer_in_json(handle_error):
    """``handle_error``, a gunicorn worker's, with its error page written as JSON."""

    def handle_error_in_json(req, client, addr, exc):
        handle_error(req, _JsonErrorSocket(client), addr, exc)

    return handle_error_in_json


def error_answer(status, message=None, headers=None):
    """The whole HTTP answer for ``status`` (an ``HTTPStatus``), as bytes:
    ``message`` (by default Flack's sentence for the status) and any extra
    ``headers`` (a mapping)."""
    message = message or MESSAGES.get(status, f'{status.phrase}.')
    body = json.dumps({'error': status.phrase.lower(), 'message': message}).encode()
    lines = [
        f'HTTP/1.1 {status.value} {status.phrase}',
        'Connection: close',  # as gunicorn's: the connection is closed after
        'Content-Type: application/json',
        f'Content-Length: {len(body)}',
        *(f'{name}: {value}' for name, value in {**(headers or {}), **HEADERS}.items()),
    ]
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1') + body


class _JsonErrorSocket:
    """The client's socket as ``handle_error`` sees it: the error page it
    writes there goes out as the JSON answer for the same status."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)  # gettimeout, setblocking...

    def sendall(self, data):
        try:
            status = HTTPStatus(int(data.split(b' ', 2)[1]))  # b'HTTP/1.1 400 Bad Request\r\n...'
        except (IndexError, ValueError):
            self._client.sendall(data)  # not a status line: as it is
            return
        self._client.sendall(error_answer(status))
