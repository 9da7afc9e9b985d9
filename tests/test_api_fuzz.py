"""The OpenAPI document tells the truth: Schemathesis sends generated requests
to every operation and checks each answer against the document (no 5xx,
documented status, content type, headers and body schema), and every route
is documented with the statuses the contract gives it."""

import json
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.core.failures import FailureGroup, ServerError
from schemathesis.openapi.checks import JsonSchemaError, UndefinedContentType, UndefinedStatusCode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from flack import create_app
from flack.auth import issue_token
from flack.extensions import db
from flack.models import Message, User

from .conftest import Accounts, basic_auth, bearer, make_environ

# Schemathesis makes one test per operation while pytest collects this file,
# so the app that serves the document exists from import on (its loader from
# a fixture, schemathesis.pytest.from_fixture, fails on pytest 9). It is one
# embedded app on SQLite: what is checked here is the document, not the
# database, which the other tests run on PostgreSQL too. The database file's
# folder is made when the tests run, not on import.
DATA_DIR = Path(tempfile.gettempdir()) / f'flack-fuzz-{uuid.uuid4().hex}'
APP = create_app(make_environ(DATA_DIR, LINK_PREVIEWS=0))
schema = schemathesis.openapi.from_wsgi('/api/openapi.json', APP)

# What docs/api.md says of each operation: who may call it, and the
# statuses it answers with, counting those every operation of its kind has:
# 401 wherever a token is read (an invalid optional token is a 401 too), 404
# where the path has an id, 400 where input is validated, 413 where a body
# is read (larger than the server accepts, or a message over the maximum),
# 429 where a rate limit guards the operation (flack/rate_limits.py).
CONTRACT = {
    ('POST', '/api/users'): (None, {201, 400, 413, 429}),
    ('GET', '/api/users'): ('optional token', {200, 400, 401}),
    ('GET', '/api/users/{id}'): ('optional token', {200, 401, 404}),
    ('PUT', '/api/users/{id}'): ('token', {204, 400, 401, 403, 404, 413}),
    ('POST', '/api/tokens'): ('basic', {200, 401, 403, 429}),
    ('DELETE', '/api/tokens'): ('token', {204, 401}),
    ('POST', '/api/messages'): ('token', {201, 400, 401, 413, 429}),
    ('GET', '/api/messages'): ('optional token', {200, 400, 401}),
    ('GET', '/api/messages/{id}'): ('optional token', {200, 401, 404}),
    ('PUT', '/api/messages/{id}'): ('token', {204, 400, 401, 403, 404, 413}),
    # New: moderation, channels and direct conversations.
    ('DELETE', '/api/messages/{id}'): ('token', {204, 401, 403, 404}),
    ('PUT', '/api/users/{id}/suspension'): ('token', {204, 401, 403, 404}),
    ('DELETE', '/api/users/{id}/suspension'): ('token', {204, 401, 403, 404}),
    ('POST', '/api/channels'): ('token', {201, 400, 401, 409, 413, 429}),
    ('GET', '/api/channels'): ('optional token', {200, 400, 401}),
    ('GET', '/api/channels/{id}'): ('optional token', {200, 401, 404}),
    ('GET', '/api/channels/{id}/members'): ('optional token', {200, 401, 404}),
    ('PUT', '/api/channels/{id}/members/{user_id}'): ('token', {204, 401, 403, 404}),
    ('DELETE', '/api/channels/{id}/members/{user_id}'): ('token', {204, 401, 403, 404}),
    ('GET', '/api/channels/{id}/messages'): ('optional token', {200, 400, 401, 404}),
    ('POST', '/api/channels/{id}/messages'): ('token', {201, 400, 401, 403, 404, 413, 429}),
    ('POST', '/api/conversations'): ('token', {200, 201, 400, 401, 404, 413}),
    ('GET', '/api/conversations'): ('token', {200, 401}),
    ('PUT', '/api/channels/{id}/read'): ('token', {204, 400, 401, 403, 404, 413}),
    ('GET', '/api/unread'): ('token', {200, 401}),
}
SEEDED = 500
SECURITY = {
    None: None,
    'basic': [{'BasicAuth': []}],
    'token': [{'BearerAuth': []}],
    'optional token': [{'BearerAuth': []}, {}],
}


@pytest.fixture(scope='module', autouse=True)
def database():
    DATA_DIR.mkdir()
    with APP.app_context():
        db.create_all()
    yield
    with APP.app_context():
        db.session.remove()
        db.engine.dispose()
    shutil.rmtree(DATA_DIR, ignore_errors=True)


class Fuzzer:
    """The user the generated requests are sent as, with credentials that work.

    The generated requests may sign it out (DELETE /api/tokens), or change
    its nickname or password (PUT /api/users/<its id>). Before each request
    it is signed in again where needed, in the database, where a token that
    is still valid costs no password hashing.
    """

    def __init__(self, app, signed_in):
        self.app = app
        self.id = signed_in.id
        self.password = signed_in.password
        with app.app_context():
            self.password_hash = db.session.get(User, self.id).password_hash

    def headers_for(self, case):
        with self.app.app_context():
            user = db.session.get(User, self.id)
            if case.operation.definition.raw.get('security') == SECURITY['basic']:
                headers = basic_auth(user.nickname, self._current_password(user))
            else:
                headers = bearer(issue_token(user))
            db.session.commit()
        return headers

    def _current_password(self, user):
        if user.password_hash != self.password_hash:
            user.set_password(self.password)
            self.password_hash = user.password_hash
        return self.password


@pytest.fixture(scope='module')
def fuzzer(database):
    accounts = Accounts(APP.test_client())
    signed_in = accounts.new('fuzzer')
    other = accounts.register('other')
    # Enough users and messages, half of them the fuzzer's, that generated ids
    # (often in the hundreds) find one to read, edit, or be refused (403).
    with APP.app_context():
        password_hash = db.session.get(User, other['id']).password_hash
        users = [User(nickname=f'user {number}', password_hash=password_hash) for number in range(SEEDED)]
        db.session.add_all(users)
        db.session.add_all(
            Message(
                user_id=(signed_in.id, other['id'])[number % 2], source='*seeded*', html='<em>seeded</em>'
            )
            for number in range(SEEDED)
        )
        db.session.commit()
    return Fuzzer(APP, signed_in)


NICKNAME_RULES = ('is taken', 'Must not contain invisible', 'Must contain a visible character')
# A channel name follows the nickname's; a conversation with yourself is none.
CONVERSATION_RULES = ('A direct conversation is between two users',)
# flack.json_input's bounds on every document (docs/api.md, Conventions).
JSON_RULES = (
    'Must not contain NUL',
    'Must not contain a lone surrogate',
    'A key must not contain',
    'Nested deeper than',
    'More than',
    'digits.',
    'is too large or too long',
)


def _refused_for_a_rule_in_words(body):
    """Whether a 400's JSON body refuses only what the document states in words."""
    message = body.get('message', '') if isinstance(body, dict) else ''
    return any(rule in message for rule in NICKNAME_RULES + CONVERSATION_RULES + JSON_RULES)


def call_and_check(case, headers, **transport):
    """Send ``case`` and run Schemathesis's checks on the answer."""
    response = case.call(headers=headers, **transport)
    excluded = []
    if response.status_code == 400 and _refused_for_a_rule_in_words(response.json()):
        # The contract answers a taken nickname with 400 (not 409), and the
        # characters a nickname may not hold (unassigned code points among
        # them) are more than a pattern can list; no JSON Schema says "no NUL
        # in any key" either: the document states these in words. A request
        # that fits the document can still be refused, for these reasons only.
        excluded.append(positive_data_acceptance)
    case.validate_response(
        response,
        headers=headers,
        excluded_checks=excluded,
        transport_kwargs={'headers': headers, **transport},
    )
    return response


@schema.parametrize()
# The operations without parameters (/stats, /healthz) have one request to
# make; every other one gets 100 generated ones on top of the examples and
# edge cases Schemathesis derives from the document.
@settings(max_examples=100, deadline=None, derandomize=True)
def test_every_answer_matches_the_document(case, fuzzer):
    call_and_check(case, fuzzer.headers_for(case))


def test_every_api_route_is_documented_with_its_statuses():
    document = APP.test_client().get('/api/openapi.json').json
    routes = {
        (method, rule.rule.replace('<int:', '{').replace('>', '}'))
        for rule in APP.url_map.iter_rules()
        if rule.rule.startswith('/api/') and rule.endpoint != 'openapi.spec'
        for method in rule.methods - {'HEAD', 'OPTIONS'}
    }

    assert routes == set(CONTRACT)
    for (method, path), (auth, statuses) in CONTRACT.items():
        operation = document['paths'][path][method.lower()]
        assert statuses <= {int(status) for status in operation['responses']}, (method, path)
        assert operation.get('security') == SECURITY[auth], (method, path)


def canned(status, body, content_type='application/json'):
    """A WSGI app that gives every request the same answer."""

    def app(environ, start_response):
        start_response(status, [('Content-Type', content_type)])
        return [json.dumps(body).encode()]

    return app


USER = {
    'id': 1,
    'nickname': 'susan',
    'created_at': 1700000000,
    'updated_at': 1700000000,
    'last_seen_at': 1700000000,
    'online': True,
    '_links': {'self': '/api/users/1', 'messages': '/api/messages?user_id=1', 'tokens': '/api/tokens'},
}
ERROR = {'error': 'some reason', 'message': 'Something went wrong.'}


@pytest.mark.parametrize(
    ('answer', 'failure'),
    [
        (canned('500 INTERNAL SERVER ERROR', ERROR), ServerError),
        (canned('409 CONFLICT', ERROR), UndefinedStatusCode),
        (canned('200 OK', {**USER, 'id': 'one'}), JsonSchemaError),
        (canned('200 OK', {**USER, 'password_hash': 'scrypt:...'}), JsonSchemaError),
        (canned('200 OK', USER, content_type='text/html'), UndefinedContentType),
        (canned('404 NOT FOUND', {'message': 'No such user.'}), JsonSchemaError),
    ],
    ids=['5xx', 'undocumented status', 'wrong type', 'extra field', 'content type', 'error without reason'],
)
def test_the_checks_catch_an_answer_the_document_does_not_allow(fuzzer, answer, failure):
    case = schema['/api/users/{id}']['GET'].Case(path_parameters={'id': fuzzer.id})
    call_and_check(case, fuzzer.headers_for(case))  # Flack's own answer passes

    with pytest.raises(FailureGroup) as caught:
        call_and_check(case, fuzzer.headers_for(case), app=answer)

    assert caught.group_contains(failure)
