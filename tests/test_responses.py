"""Every response is the service's own: the requests gunicorn refuses before
Flask sees them are answered in the API's JSON error shape, a redirect never
names the host a client claimed, and Engine.IO's answers on /socket.io carry
the security headers as Flask's do."""

import json
import secrets
import socket

import pytest
import requests

from .live import LiveFlack


@pytest.fixture(scope='module', params=['eventlet', 'gevent'])
def live(request, tmp_path_factory):
    """The web process, on each of the workers ASYNC_MODE chooses between."""
    path = tmp_path_factory.mktemp('responses')
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


@pytest.mark.parametrize(
    ('path', 'location'),
    # (The test client would read a path starting with // as a host.)
    [('/api//users', '/api/users'), ('/api///users?online=1', '/api/users?online=1')],
)
def test_a_slash_merging_redirect_does_not_name_the_host_the_client_sent(client, path, location):
    response = client.get(path, headers={'Host': 'evil.example'})

    assert response.status_code == 308
    assert response.headers['Location'] == location
    assert b'evil.example' not in response.data


def test_a_redirect_through_gunicorn_is_relative_too(live):
    response = requests.get(
        f'{live.url}//api//users', headers={'Host': 'evil.example'}, allow_redirects=False, timeout=10
    )

    assert response.status_code == 308
    assert response.headers['Location'] == '/api/users'
    assert 'evil.example' not in response.text


def assert_security_headers(headers):
    assert "frame-ancestors 'none'" in headers['Content-Security-Policy']
    assert headers['X-Content-Type-Options'] == 'nosniff'
    assert headers['Referrer-Policy'] == 'no-referrer'
    assert headers['X-Frame-Options'] == 'DENY'


def test_engineio_polling_answers_carry_the_security_headers(live):
    opened = requests.get(f'{live.url}/socket.io/?EIO=4&transport=polling', timeout=10)
    assert opened.status_code == 200 and opened.text.startswith('0{')
    sid = json.loads(opened.text[1:])['sid']
    joined = requests.post(f'{live.url}/socket.io/?EIO=4&transport=polling&sid={sid}', data='40', timeout=10)
    refused = requests.get(f'{live.url}/socket.io/?EIO=1&transport=polling', timeout=10)

    for response in (opened, joined, refused):
        assert_security_headers(response.headers)
    assert refused.status_code == 400


def test_engineio_answers_get_hsts_when_the_router_saw_https(app_factory):
    client = app_factory(TRUSTED_PROXY_HOPS=1).test_client()  # behind the platform's router

    response = client.get('/socket.io/?EIO=4&transport=polling', headers={'X-Forwarded-Proto': 'https'})

    assert response.status_code == 200
    assert_security_headers(response.headers)
    assert response.headers['Strict-Transport-Security'].startswith('max-age=')
