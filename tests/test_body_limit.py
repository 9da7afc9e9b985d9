"""A body sent in chunks (no Content-Length), as gunicorn decodes it, is held
to the same limit as one with a length: over it, a 413 and nothing stored."""

import io
import json

import pytest
import requests

from flack import create_app
from flack.body_limit import limit_chunked_bodies

from .conftest import Accounts, make_environ, stored_counts
from .live import LiveFlack


def _padded_json(source, size):
    """A JSON body of exactly ``size`` bytes: ``{"source": ...}`` and white space after it."""
    body = json.dumps({'source': source}).encode()
    return body + b' ' * (size - len(body))


def _as_gunicorn_passes_a_chunked_body(wsgi_app):
    """What gunicorn hands the application for a ``Transfer-Encoding: chunked``
    request: the decoded body, no length, and ``wsgi.input_terminated``."""

    def chunked(environ, start_response):
        environ.pop('CONTENT_LENGTH', None)
        environ['HTTP_TRANSFER_ENCODING'] = 'chunked'
        environ['wsgi.input_terminated'] = True
        return wsgi_app(environ, start_response)

    return chunked


@pytest.fixture
def served_app(app_factory):
    """An app with a small body limit, wrapped as flack.wsgi wraps the one gunicorn serves."""
    app = app_factory(MAX_MESSAGE_LENGTH=10)
    limit_chunked_bodies(app)
    app.wsgi_app = _as_gunicorn_passes_a_chunked_body(app.wsgi_app)
    return app


@pytest.mark.parametrize('excess', [1, 10_000])
def test_a_chunked_body_over_the_limit_is_a_413(served_app, excess):
    client = served_app.test_client()
    susan = Accounts(client).new('susan')
    before = stored_counts(served_app)
    body = _padded_json('hi', served_app.config['MAX_CONTENT_LENGTH'] + excess)

    response = client.post(
        '/api/messages', input_stream=io.BytesIO(body), content_type='application/json', headers=susan.headers
    )

    assert response.status_code == 413
    assert response.json['error'] == 'too large'
    assert stored_counts(served_app) == before


def test_a_chunked_body_of_the_largest_size_is_accepted(served_app):
    client = served_app.test_client()
    susan = Accounts(client).new('susan')
    body = _padded_json('hi', served_app.config['MAX_CONTENT_LENGTH'])

    response = client.post(
        '/api/messages', input_stream=io.BytesIO(body), content_type='application/json', headers=susan.headers
    )

    assert response.status_code == 201
    assert response.json['source'] == 'hi'


def test_gunicorn_answers_a_chunked_body_over_the_limit_with_a_413(tmp_path):
    limit = create_app(make_environ(tmp_path, MAX_MESSAGE_LENGTH=10)).config['MAX_CONTENT_LENGTH']
    with LiveFlack(tmp_path, MAX_MESSAGE_LENGTH=10) as server, requests.Session() as http:
        url = server.url
        http.post(f'{url}/api/users', json={'nickname': 'susan', 'password': 'correct horse'}, timeout=10)
        token = http.post(f'{url}/api/tokens', auth=('susan', 'correct horse'), timeout=10).json()['token']

        def post_chunked(body):
            # A generator body makes requests send it in chunks, with no Content-Length.
            chunks = (body[start : start + 1024] for start in range(0, len(body), 1024))
            headers = {'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'}
            return http.post(f'{url}/api/messages', data=chunks, headers=headers, timeout=10)

        too_large = post_chunked(_padded_json('too large', limit + 1))
        largest = post_chunked(_padded_json('largest', limit))
        listed = http.get(f'{url}/api/messages', timeout=10).json()['messages']

    assert too_large.status_code == 413
    assert too_large.json()['error'] == 'too large'
    assert largest.status_code == 201
    assert [message['source'] for message in listed] == ['largest']
