"""docs/api.md says what the server does: the same routes, methods and
statuses as the OpenAPI document, and the same Socket.IO events as the
server handles and sends.

The page states each route as a heading, ``### `GET /api/messages` ``,
followed by a table whose rows start with a status (``| 200 | ...``), and
each Socket.IO event as ``### `post_message` (client → server)`` or
``### `updated_model` (server → client)``.
"""

import ast
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from flack import create_app
from flack.realtime import socketio
from flack.realtime.socket_guard import REJECTED_EVENT

from .conftest import make_environ

ROOT = Path(__file__).resolve().parent.parent
API_DOC = ROOT / 'docs' / 'api.md'
METHODS = ('get', 'post', 'put', 'patch', 'delete')

ROUTE_HEADING = re.compile(r'^### `(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`$')
EVENT_HEADING = re.compile(r'^### `(\w+)` \((client → server|server → client)\)$')
STATUS_ROW = re.compile(r'^\| (\d{3}) \|')

# Routes the page documents that the OpenAPI document leaves out on purpose:
# the document itself, and the browser client with its library.
NOT_IN_OPENAPI = {'GET /api/openapi.json', 'GET /', 'GET /vendor/socket.io.min.js'}


def documented(text):
    """Routes (``'GET /api/users'`` -> statuses) and events (name -> direction)."""
    routes, events, current = {}, {}, None
    for line in text.splitlines():
        if line.startswith('#'):
            current = None
            route = ROUTE_HEADING.match(line)
            event = EVENT_HEADING.match(line)
            if route:
                current = f'{route[1]} {route[2]}'
                assert current not in routes, f'{current} is documented twice'
                routes[current] = set()
            elif event:
                assert event[1] not in events, f'the event {event[1]} is documented twice'
                events[event[1]] = event[2]
        elif current and (status := STATUS_ROW.match(line)):
            routes[current].add(int(status[1]))
    return routes, events


@pytest.fixture(scope='module')
def app(tmp_path_factory):
    return create_app(make_environ(tmp_path_factory.mktemp('api-docs'), LINK_PREVIEWS=0))


@pytest.fixture(scope='module')
def openapi(app):
    """``'GET /api/users'`` -> the statuses the OpenAPI document gives it."""
    spec = app.test_client().get('/api/openapi.json').get_json()
    return {
        f'{method.upper()} {path}': {int(status) for status in operation['responses']}
        for path, item in spec['paths'].items()
        for method, operation in item.items()
        if method in METHODS
    }


@pytest.fixture(scope='module')
def docs():
    return documented(API_DOC.read_text(encoding='utf-8'))


def test_every_operation_of_the_openapi_document_is_documented(openapi, docs):
    routes, _ = docs
    missing = sorted(set(openapi) - set(routes))
    assert not missing, f'docs/api.md has no heading for {missing}'


def test_every_documented_route_is_in_the_openapi_document(openapi, docs):
    routes, _ = docs
    extra = sorted(set(routes) - set(openapi) - NOT_IN_OPENAPI)
    assert not extra, f'docs/api.md documents {extra}, which the OpenAPI document does not have'


def test_the_routes_left_out_of_the_openapi_document_exist(app, openapi, docs):
    routes, _ = docs
    adapter = app.url_map.bind('localhost')
    for route in NOT_IN_OPENAPI:
        assert route in routes, f'docs/api.md has no heading for {route}'
        assert route not in openapi, f'{route} is in the OpenAPI document now: drop it from NOT_IN_OPENAPI'
        method, path = route.split(' ')
        adapter.match(path, method=method)  # raises NotFound or MethodNotAllowed


def test_each_route_documents_the_statuses_of_the_openapi_document(openapi, docs):
    routes, _ = docs
    differences = {
        route: {'openapi': sorted(statuses), 'docs/api.md': sorted(routes[route])}
        for route, statuses in openapi.items()
        if route in routes and routes[route] != statuses
    }
    assert not differences, f'statuses differ: {differences}'


def test_the_events_the_server_handles_are_documented(app, docs):
    _, events = docs
    # Less the name payloads that break the JSON rules are delivered under, which no client can send.
    handled = set(socketio(app).server.handlers['/']) - {REJECTED_EVENT}
    client_events = {name for name, direction in events.items() if direction == 'client → server'}
    assert client_events == handled, (
        f'handled but not documented: {sorted(handled - client_events)}; '
        f'documented but not handled: {sorted(client_events - handled)}'
    )


def emitted_event_names():
    """The names of the events Flack's code emits: ``socketio.emit('name', ...)``."""
    names = set()
    for source in (ROOT / 'flack').rglob('*.py'):
        for node in ast.walk(ast.parse(source.read_text(encoding='utf-8'))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else getattr(function, 'id', None)
            if called == 'emit':
                name = node.args[0]
                assert isinstance(name, ast.Constant), (
                    f'{source.name}:{node.lineno}: emit with a computed name'
                )
                names.add(name.value)
    return names


def test_the_events_the_server_sends_are_documented(docs):
    _, events = docs
    sent = emitted_event_names()
    server_events = {name for name, direction in events.items() if direction == 'server → client'}
    assert sent, 'found no emit call in flack/'
    assert server_events == sent, (
        f'sent but not documented: {sorted(sent - server_events)}; '
        f'documented but not sent: {sorted(server_events - sent)}'
    )


def test_the_page_names_the_socketio_protocol_the_server_speaks():
    # python-socketio 5 speaks Socket.IO protocol 5, python-engineio 4 Engine.IO 4.
    assert version('python-socketio').split('.')[0] == '5'
    assert version('python-engineio').split('.')[0] == '4'
    assert 'Socket.IO protocol 5 over Engine.IO protocol 4' in API_DOC.read_text(encoding='utf-8')
