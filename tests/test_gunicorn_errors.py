"""gunicorn's answers to the requests it refuses before Flask sees them: the
API's JSON error shape, with the security headers, never echoing the client's
bytes (flack.gunicorn_errors); on each worker ASYNC_MODE chooses between."""

import json
import secrets
import socket

import pytest

from .live import LiveFlack


@pytest.fixture(scope='module', params=['eventlet', 'gevent'])
def live(request, tmp_path_factory):
    """The web process, on each of the workers ASYNC_MODE chooses between."""
    path = tmp_path_factory.mktemp('gunicorn_errors')
    with LiveFlack(path, ASYNC_MODE=request.param, SECRET_KEY=secrets.token_hex(32)) as server:
        yield server


def raw_exchange(live, request):
    """Send ``request`` (bytes) on a connection of its own; the status, headers and body of the answer."""
    with socket.create_connection(('127.0.0.1', live.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b''
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b'\r\n\r\n')
    status_line, *header_lines = head.decode('latin-1').split('\r\n')
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(':')
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


MANY_HEADERS = ''.join(f'X-Header-{n}: {n}\r\n' for n in range(120))


@pytest.mark.parametrize(
    ('request_text', 'status', 'reason'),
    [
        ('GARBAGE\r\n\r\n', 400, 'bad request'),
        ('GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n', 400, 'bad request'),
        (f'GET / HTTP/1.1\r\nHost: x\r\n{MANY_HEADERS}\r\n', 431, 'request header fields too large'),
        ('GET / HTTP/1.1\r\nHost: x\r\nExpect: the-impossible\r\n\r\n', 417, 'expectation failed'),
        ('POST /api/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: brotli\r\n\r\n', 501, 'not implemented'),
    ],
    ids=['request line', 'header without colon', 'too many headers', 'expect', 'transfer coding'],
)
def test_a_request_gunicorn_refuses_is_answered_in_the_json_error_shape(live, request_text, status, reason):
    answered, headers, body = raw_exchange(live, request_text.encode('latin-1'))

    assert answered == status
    assert headers['content-type'] == 'application/json'
    assert int(headers['content-length']) == len(body)
    error = json.loads(body)
    assert set(error) == {'error', 'message'}
    assert error['error'] == reason
    assert error['message'] and '<' not in error['message']
    assert headers['x-content-type-options'] == 'nosniff'
    # The client's bytes are not echoed back.
    assert 'GARBAGE' not in error['message'] and 'brotli' not in error['message']
